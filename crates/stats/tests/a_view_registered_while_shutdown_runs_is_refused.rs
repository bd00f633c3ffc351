//! `register_view` asks every exporter about the new view without the
//! registry lock. A shutdown that ran meanwhile has taken its final
//! snapshot without the view: the registration must then be refused with
//! `Error::ShutDown`, as one begun after shutdown is. (Review of the
//! unregister-after-shutdown fix: the registration returned `Ok(())` after
//! `shutdown()` had returned, and the view, listed by `views()`, was in no
//! batch ever.)

use std::sync::Arc;

use census_core::{Aggregation, Error, ExportError, Exporter, View, ViewData};
use census_stats::ViewManager;
use census_testkit::{int_measure, view, CapturingExporter, PATIENCE};
use crossbeam_channel::{Receiver, Sender};

/// Holds up `check_view` of the view named `late` until told to go on.
struct SlowChecker {
    entered: Sender<()>,
    proceed: Receiver<()>,
}

impl Exporter for SlowChecker {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Ok(())
    }

    fn check_view(&self, view: &View, _registered: &[View]) -> Result<(), ExportError> {
        if view.name() == "late" {
            let _ = self.entered.send(());
            let _ = self.proceed.recv_timeout(PATIENCE);
        }
        Ok(())
    }
}

#[test]
fn a_view_checked_while_shutdown_runs_is_refused() -> Result<(), Error> {
    let vm = Arc::new(ViewManager::new());
    let (entered_tx, entered) = crossbeam_channel::bounded(1);
    let (go, proceed) = crossbeam_channel::bounded(1);
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    vm.register_exporter(SlowChecker {
        entered: entered_tx,
        proceed,
    })?;

    let registering = {
        let vm = Arc::clone(&vm);
        let late = view("late", int_measure("late"), &[], Aggregation::Sum);
        std::thread::spawn(move || vm.register_view(late))
    };
    entered
        .recv_timeout(PATIENCE)
        .expect("the exporter is asked about the view");
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    go.send(()).expect("the check waits");
    let registered = registering.join().expect("register_view returns");

    assert_eq!(registered, Err(Error::ShutDown));
    assert!(vm.views().iter().all(|v| v.name() != "late"));
    let last = captured.last_export().expect("the final batch");
    assert!(last.iter().all(|d| d.view.name() != "late"));
    Ok(())
}
