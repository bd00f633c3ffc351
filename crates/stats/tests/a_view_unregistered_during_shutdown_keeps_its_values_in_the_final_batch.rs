//! Once `shutdown()` has been called, `unregister_view` is refused with
//! `Error::ShutDown`, as `register_view` is, so the final batch still
//! holds every view registered when shutdown was called with every value
//! recorded before. (QA of issues #2 and #6: an unregister racing the
//! drain used to succeed and drop, from the final batch, values recorded
//! before `shutdown()` was called.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use census_core::{Aggregation, Error, MeasureI64, TagMap, View};
use census_testkit::{clocked_manager, record, sum_of, sum_view, CapturingExporter, PATIENCE};

#[test]
fn an_unregister_after_shutdown_was_called_is_refused_and_loses_nothing() -> Result<(), Error> {
    let (vm, clock) = clocked_manager(Duration::from_secs(1));
    // The periodic snapshot below waits for the gate, however long.
    vm.set_callback_budget(Duration::from_secs(3600));
    let m = sum_view(&vm);
    record(&vm, &m, 5);

    // A callback that holds the periodic snapshot until the test lets it
    // go: shutdown, called meanwhile, has set its flag and waits for that
    // snapshot before it takes the final one.
    let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let gate = View::builder("gate", MeasureI64::new("gate", "", "1")?)
        .aggregation(Aggregation::LastValue)
        .build()?;
    let first = AtomicBool::new(true);
    vm.register_callback(gate, move |out| {
        // SeqCst: calls may come from different callback threads.
        if first.swap(false, Ordering::SeqCst) {
            let _ = entered_tx.send(());
            let _ = released.recv_timeout(PATIENCE);
        }
        out.observe(&TagMap::new(), 1);
    })?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;

    clock.advance(Duration::from_secs(1));
    entered
        .recv_timeout(PATIENCE)
        .expect("the periodic snapshot calls the gate");
    std::thread::scope(|s| {
        let shutting = s.spawn(|| vm.shutdown());
        let deadline = Instant::now() + PATIENCE;
        while !vm.is_shut_down() {
            assert!(Instant::now() < deadline, "shutdown never began");
            std::thread::yield_now();
        }
        assert_eq!(vm.unregister_view("v"), Err(Error::ShutDown));
        release.send(()).expect("the gate waits");
        let report = shutting.join().expect("shutdown returns");
        assert!(report.is_complete(), "{report:?}");
    });

    let last = captured.last_export().expect("the final batch");
    assert_eq!(sum_of(&last, "v"), 5, "the value recorded before shutdown");
    // Refused after shutdown returned, too; the view is still listed.
    assert_eq!(vm.unregister_view("v"), Err(Error::ShutDown));
    assert!(vm.views().iter().any(|v| v.name() == "v"));
    Ok(())
}
