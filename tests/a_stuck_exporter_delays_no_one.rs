//! An exporter whose `export` never returns delays no other exporter and
//! no recording, and shutdown still returns within its timeout, naming it.
//! (Issue 6, stuck and slow exporters.)

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use census_testkit::{
    clocked_manager, record, sum_of, sum_view, CapturingExporter, HangingExporter, SlowExporter,
};

const PERIOD: Duration = Duration::from_secs(10);

#[test]
fn stuck_exporter_is_isolated_and_named_at_shutdown() -> Result<(), census::Error> {
    let (vm, clock) = clocked_manager(PERIOD);
    let m = sum_view(&vm);
    let (stuck, release) = HangingExporter::new();
    vm.register_exporter(stuck)?;
    let (healthy, captured) = CapturingExporter::new();
    vm.register_exporter(healthy)?;
    vm.set_shutdown_timeout(Duration::from_millis(300));

    // The healthy exporter gets every period's batch while the other one
    // is stuck in its first export.
    for expected in 1..=5 {
        record(&vm, &m, 1);
        let batch = captured.export_after(&clock, PERIOD);
        assert_eq!(sum_of(&batch, "v"), expected);
    }
    let started = Instant::now();
    let report = vm.shutdown();
    let took = started.elapsed();
    assert_eq!(report.unfinished, vec!["hanging".to_owned()]);
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(!report.is_complete());
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    // The healthy one got its final batch and its shutdown call.
    assert_eq!(captured.shutdowns(), 1);
    let final_batch = captured.last_export().expect("a final export");
    assert_eq!(sum_of(&final_batch, "v"), 5);
    // Asking again gives the same answer without waiting again.
    assert_eq!(vm.shutdown(), report);
    drop(release);
    Ok(())
}

#[test]
fn slow_exporter_does_not_pile_up_work() -> Result<(), census::Error> {
    let (vm, clock) = clocked_manager(PERIOD);
    sum_view(&vm);
    // A tenth of a second per batch, where the periods below come as fast
    // as the healthy exporter takes them.
    let (slow, exports) = SlowExporter::new(Duration::from_millis(100));
    vm.register_exporter(slow)?;
    let (healthy, captured) = CapturingExporter::new();
    vm.register_exporter(healthy)?;
    let started = Instant::now();
    for _ in 0..40 {
        captured.export_after(&clock, PERIOD);
    }
    let elapsed = started.elapsed();
    let stats = vm.stats();
    // The slow one handled at most one batch per 100 ms (plus the one in
    // hand); the rest were replaced by newer ones and counted, not queued.
    let max_handled = (elapsed.as_millis() / 100) as usize + 2;
    assert!(exports.load(Ordering::SeqCst) <= max_handled, "{stats:?}");
    assert!(stats.skipped_batches >= 20, "{stats:?}");
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    Ok(())
}
