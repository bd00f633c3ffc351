//! `shutdown_async` drains on a thread of its own: the task awaiting it is
//! never blocked while an exporter takes its time, is woken when the drain
//! is done, and then gets the same report `shutdown` gives.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use census::ViewManager;
use census_testkit::{record, sum_of, sum_view, CapturingExporter, HangingExporter};
use crossbeam_channel::Sender;

/// Sends on a channel each time the task is woken.
struct Signal(Sender<()>);

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        let _ = self.0.send(());
    }
}

#[test]
fn the_awaiting_task_is_woken_with_the_report_once_exporters_finish(
) -> Result<(), Box<dyn std::error::Error>> {
    let vm = ViewManager::new();
    // Long enough that only the test's release can end the drain.
    vm.set_shutdown_timeout(Duration::from_secs(120));
    let m = sum_view(&vm);
    let (capture, captured) = CapturingExporter::new();
    let (stuck, release) = HangingExporter::new();
    vm.register_exporter(capture)?;
    vm.register_exporter(stuck)?;
    record(&vm, &m, 7);

    let (woken_tx, woken) = crossbeam_channel::unbounded();
    let waker = Waker::from(Arc::new(Signal(woken_tx)));
    let mut cx = Context::from_waker(&waker);
    let mut shutdown = pin!(vm.shutdown_async());

    // The first poll starts the drain and returns at once: the hanging
    // exporter holds the drain until released.
    assert!(shutdown.as_mut().poll(&mut cx).is_pending());
    // Meanwhile the healthy exporter gets the final batch, with the value.
    let last = captured.next_export();
    assert_eq!(sum_of(&last, "v"), 7);
    assert!(shutdown.as_mut().poll(&mut cx).is_pending());
    assert!(woken.try_recv().is_err(), "woken before the drain was done");

    drop(release);
    woken.recv_timeout(Duration::from_secs(30))?;
    let report = match shutdown.as_mut().poll(&mut cx) {
        Poll::Ready(report) => report,
        Poll::Pending => panic!("woken, but the drain is not done"),
    };
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(captured.shutdowns(), 1);
    assert!(vm.is_shut_down());
    // Polled again, it answers with the same report rather than panic.
    assert_eq!(shutdown.as_mut().poll(&mut cx), Poll::Ready(report.clone()));
    assert_eq!(vm.shutdown(), report);
    Ok(())
}

#[test]
fn a_future_never_polled_shuts_nothing_down() {
    let vm = ViewManager::new();
    drop(vm.shutdown_async());
    assert!(!vm.is_shut_down());
}
