//! Registration scales with the number of views (issue #16, finding 10):
//! registering 10,000 views took 8.7 s, each registration rebuilding the
//! whole routing table and scanning every view, and after an unregister
//! the next record on every thread took up to 37 ms, matching its index
//! of every view against every other. Both are now linear at worst. The
//! bounds below are loose (a debug build on a busy machine) and still
//! far under what the quadratic code took; `benches/registration.rs` has
//! the release figures.

use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

const VIEWS: usize = 10_000;

#[test]
fn ten_thousand_views_register_fast_and_an_unregister_costs_microseconds(
) -> Result<(), census_core::Error> {
    let measures: Vec<MeasureI64> = (0..VIEWS)
        .map(|i| MeasureI64::new(format!("m{i}"), "", "1"))
        .collect::<Result<_, _>>()?;
    let views: Vec<View> = measures
        .iter()
        .enumerate()
        .map(|(i, m)| {
            View::builder(format!("v{i}"), m)
                .aggregation(Aggregation::Count)
                .build()
        })
        .collect::<Result<_, _>>()?;
    let vm = ViewManager::new();
    let started = Instant::now();
    for view in views {
        vm.register_view(view)?;
    }
    let took = started.elapsed();
    println!("registering {VIEWS} views took {took:?}");
    assert!(took < Duration::from_secs(3), "registering took {took:?}");

    let record = |m: &MeasureI64| {
        MeasurementMap::new()
            .put(m, 1)
            .record_to(&vm, &TagMap::new());
    };
    // This thread's routing copy now knows every view.
    for m in &measures {
        record(m);
    }
    let mut worst = Duration::ZERO;
    for i in (0..VIEWS).step_by(VIEWS / 20) {
        vm.unregister_view(&format!("v{i}"))?;
        let started = Instant::now();
        record(&measures[i + 1]);
        worst = worst.max(started.elapsed());
    }
    println!("the slowest record after an unregister took {worst:?}");
    assert!(worst < Duration::from_millis(20), "a record took {worst:?}");
    assert_eq!(vm.views().len(), VIEWS - 20);
    Ok(())
}
