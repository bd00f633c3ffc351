//! Registration scales with the number of views (issue #16, finding 10):
//! registering 10,000 views took 8.7 s, each registration rebuilding the
//! whole routing table and scanning every view, and after an unregister
//! the next record on every thread took up to 37 ms, matching its index
//! of every view against every other. Both are now linear at worst. The
//! bounds below are loose (a debug build on a busy machine) and still
//! far under what the quadratic code took; `benches/registration.rs` has
//! the release figures.

use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

const VIEWS: usize = 10_000;

/// A manager with `views` registered, which must take under three seconds.
fn registered_within_three_seconds(
    views: Vec<View>,
    shape: &str,
) -> Result<ViewManager, census_core::Error> {
    let (n, vm) = (views.len(), ViewManager::new());
    let started = Instant::now();
    for view in views {
        vm.register_view(view)?;
    }
    let took = started.elapsed();
    println!("registering {n} views, {shape}, took {took:?}");
    assert!(took < Duration::from_secs(3), "registering took {took:?}");
    Ok(vm)
}

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
    let vm = registered_within_three_seconds(views, "one per measure")?;

    let record = |m: &MeasureI64| {
        MeasurementMap::new()
            .put(m, 1)
            .record_to(&vm, &TagMap::new());
    };
    // This thread's routing copy now knows every view.
    for m in &measures {
        record(m);
    }
    let mut took = Vec::new();
    for i in (0..VIEWS).step_by(VIEWS / 20) {
        vm.unregister_view(&format!("v{i}"))?;
        let started = Instant::now();
        record(&measures[i + 1]);
        took.push(started.elapsed());
    }
    took.sort();
    println!("the records after an unregister took {took:?}");
    // The slowest is let off: on a loaded two-core machine one of twenty
    // sub-millisecond records can be descheduled past 20 ms (seen once).
    // The quadratic code was slow at nearly every unregister, not once.
    let second = took.iter().rev().nth(1).copied().unwrap_or_default();
    assert!(second < Duration::from_millis(20), "records took {took:?}");
    assert_eq!(vm.views().len(), VIEWS - 20);
    Ok(())
}

// The same, with every view on one measure (issue #16's promise holds for
// any spread of views over measures): each registration used to mark the
// measure's views sharing keys anew and copy them all into the routing
// table's few-handles list, so this shape was quadratic (884 ms for
// 10,000 views in a release build, 4.8 s in a debug one). Views of three
// key sets interleave, so insertions land mid-list, and a record must
// still reach each view with its own projection.
#[test]
fn twenty_thousand_views_of_one_measure_register_fast() -> Result<(), census_core::Error> {
    const ONE_MEASURE_VIEWS: usize = 20_000;
    let m = MeasureI64::new("one/m", "", "1")?;
    let (a, b) = (TagKey::new("a")?, TagKey::new("b")?);
    let key_sets = [vec![], vec![a.clone()], vec![b.clone()]];
    let views: Vec<View> = (0..ONE_MEASURE_VIEWS)
        .map(|i| {
            View::builder(format!("one/v{i}"), &m)
                .tag_keys(key_sets[i % 3].clone())
                .aggregation(Aggregation::Sum)
                .build()
        })
        .collect::<Result<_, _>>()?;
    let vm = registered_within_three_seconds(views, "all of one measure")?;

    let tags = TagMap::new().with(&a, "x")?.with(&b, "y")?;
    MeasurementMap::new().put(&m, 5).record_to(&vm, &tags);
    vm.unregister_view("one/v4")?;
    MeasurementMap::new().put(&m, 2).record_to(&vm, &tags);
    for i in [0, 1, 2, 3, 5, 9_999, 19_998, 19_999] {
        let data = vm.retrieve_data(&format!("one/v{i}"))?;
        let want: Vec<Option<&str>> = match i % 3 {
            0 => vec![],
            1 => vec![Some("x")],
            _ => vec![Some("y")],
        };
        let rows: Vec<(Vec<Option<&str>>, Option<i64>)> = data
            .rows
            .iter()
            .map(|r| {
                let tags = r
                    .tags
                    .iter()
                    .map(|t| t.as_ref().map(|v| v.as_str()))
                    .collect();
                (tags, r.data.as_i64())
            })
            .collect();
        assert_eq!(rows, vec![(want, Some(7))], "one/v{i}");
    }
    assert!(vm.retrieve_data("one/v4").is_err());
    Ok(())
}
