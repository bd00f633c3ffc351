//! When the clock passes the next period's end while an export is under
//! way, that period is exported at once afterwards, not skipped as if the
//! process had stalled. A callback view advances the clock from inside
//! the export, so the interleaving is certain, not left to the scheduler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use census_core::{Aggregation, MeasureI64, View};
use census_stats::ManualClock;
use census_testkit::{clocked_manager, sum_of, CapturingExporter};

const PERIOD: Duration = Duration::from_secs(10);

#[test]
fn the_period_ended_mid_export_comes_without_another_advance() -> Result<(), census_core::Error> {
    let (vm, clock) = clocked_manager(PERIOD);
    let m = MeasureI64::new("demo/ticks", "ticks", "1")?;
    let view = View::builder("v", &m)
        .aggregation(Aggregation::Sum)
        .build()?;
    let in_callback: ManualClock = clock.clone();
    let advanced = AtomicBool::new(false);
    vm.register_callback(view, move |out| {
        // The first export moves time on by a whole period, as a test
        // thread would if it advanced right after receiving the batch.
        if !advanced.swap(true, Ordering::SeqCst) {
            in_callback.advance(PERIOD);
        }
        out.observe(&census_core::TagMap::new(), 1);
    })?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;

    let first = captured.export_after(&clock, PERIOD);
    assert_eq!(sum_of(&first, "v"), 1);
    // No further advance: the clock already stands at the second period's end.
    let second = captured.next_export_within(Duration::from_secs(5));
    assert!(
        second.is_some(),
        "the period that ended mid-export was skipped"
    );
    vm.shutdown();
    Ok(())
}
