//! When the clock passes the next period's end while an export is under
//! way, that period is exported at once afterwards, not skipped as if the
//! process had stalled. A callback view advances the clock from inside
//! the export, so the interleaving is certain, not left to the scheduler.

use std::sync::atomic::{AtomicI64, Ordering};
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
    // A loaded machine must not let the callback miss its export.
    vm.set_callback_budget(Duration::from_secs(10));
    let in_callback: ManualClock = clock.clone();
    let calls = AtomicI64::new(0);
    vm.register_callback(view, move |out| {
        // The first export moves time on by a whole period, as a test
        // thread would if it advanced right after receiving the batch.
        // Each call reports how many calls there were: one per export.
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == 1 {
            in_callback.advance(PERIOD);
        }
        out.observe(&census_core::TagMap::new(), call);
    })?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;

    // The second export's batch carries 2. The exporter takes batches
    // through a one-batch mailbox, so when the two exports come back to
    // back the first may be replaced by the second before it is taken:
    // look for the second export's batch, not for two batches.
    let mut batch = captured.export_after(&clock, PERIOD);
    if sum_of(&batch, "v") == 1 {
        // No further advance: the clock already stands at the second
        // period's end.
        batch = captured
            .next_export_within(Duration::from_secs(5))
            .expect("the period that ended mid-export was skipped");
    }
    assert_eq!(sum_of(&batch, "v"), 2);
    vm.shutdown();
    Ok(())
}
