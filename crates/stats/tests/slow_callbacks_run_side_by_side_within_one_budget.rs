//! Callbacks that are slow but within the budget each get a thread of
//! their own when they hold up the ones queued behind them: three
//! callbacks of 150 ms each all answer within one 400 ms budget, where
//! calling them one after another would take 450 ms (issue #12).

use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_stats::ViewManager;
use census_testkit::{find_view, rows_of, CapturingExporter};

#[test]
fn three_slow_callbacks_fit_one_budget() -> Result<(), census_core::Error> {
    let m = MeasureI64::new("slow/m", "a measure", "1")?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    let budget = Duration::from_millis(400);
    vm.set_callback_budget(budget);
    for i in 0..3 {
        vm.register_callback(
            View::builder(format!("slow/{i}"), &m)
                .aggregation(Aggregation::LastValue)
                .build()?,
            move |out| {
                // The slow work a callback might do: a call to a service.
                std::thread::sleep(Duration::from_millis(150));
                out.observe(&TagMap::new(), i);
            },
        )?;
    }
    let (capture, captured) = CapturingExporter::new();
    vm.register_exporter(capture)?;
    let began = Instant::now();
    let batch = captured.pull();
    let took = began.elapsed();
    println!("three 150 ms callbacks: {took:?}");
    for i in 0..3 {
        let view = find_view(&batch, &format!("slow/{i}")).map(rows_of);
        assert_eq!(
            view,
            Some(vec![(vec![], Some(i))]),
            "slow/{i} after {took:?}"
        );
    }
    assert_eq!(vm.stats().callback_timeouts, 0);
    assert!(took < budget, "took {took:?}");
    vm.shutdown();
    Ok(())
}
