//! Registering one exporter twice with one manager is refused with a typed
//! error, so it never gets two delivery threads and every batch twice;
//! two exporters of the same type are two exporters. (QA of issues #2
//! and #6: before the fix the second registration succeeded and the final
//! batch was exported to the exporter twice.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use census_core::{Error, ExportError, Exporter, Producer, TagMap, View, ViewData};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::{sum_of, sum_view, CapturingExporter, PATIENCE};
use crossbeam_channel::{Receiver, Sender};

#[test]
fn the_same_arc_registered_twice_is_refused_and_exports_once() -> Result<(), Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    let (exporter, captured) = CapturingExporter::new();
    let exporter = Arc::new(exporter.named("shared"));
    vm.register_exporter(Arc::clone(&exporter))?;

    let err = vm.register_exporter(Arc::clone(&exporter)).unwrap_err();
    assert_eq!(
        err,
        Error::ExporterAlreadyRegistered {
            exporter: "shared".to_owned()
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("shared") && message.contains("already registered"),
        "{message}"
    );
    // The refused registration did not attach a second time.
    assert_eq!(captured.attached(), 1);

    MeasurementMap::new()
        .put(&m, 5)
        .record_to(&vm, &TagMap::new());
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    let exports = captured.exports();
    assert_eq!(
        exports.len(),
        1,
        "one final export, not one per registration"
    );
    assert_eq!(sum_of(&exports[0], "v"), 5);
    assert_eq!(captured.shutdowns(), 1);
    Ok(())
}

#[test]
fn two_exporters_of_one_type_are_both_registered() -> Result<(), Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    let (first, first_captured) = CapturingExporter::new();
    let (second, second_captured) = CapturingExporter::new();
    vm.register_exporter(first)?;
    vm.register_exporter(second)?;
    MeasurementMap::new()
        .put(&m, 2)
        .record_to(&vm, &TagMap::new());
    vm.shutdown();
    for captured in [first_captured, second_captured] {
        assert_eq!(captured.shutdowns(), 1);
        let last = captured.last_export().expect("a final export");
        assert_eq!(sum_of(&last, "v"), 2);
    }
    Ok(())
}

#[test]
fn an_exporter_registered_again_after_shutdown_is_told_of_the_shutdown() -> Result<(), Error> {
    let vm = ViewManager::new();
    let (exporter, _captured) = CapturingExporter::new();
    let exporter = Arc::new(exporter);
    vm.register_exporter(Arc::clone(&exporter))?;
    vm.shutdown();
    // The documented answer after shutdown, whatever was registered
    // before: "already registered" would send the caller looking for a
    // second registration that is not there.
    assert_eq!(
        vm.register_exporter(Arc::clone(&exporter)),
        Err(Error::ShutDown)
    );
    Ok(())
}

/// Holds up its first `check_view` until told to go on, and counts the
/// `attach` and `export` calls it gets.
struct HeldChecker {
    entered: Sender<()>,
    proceed: Receiver<()>,
    held: AtomicUsize,
    attached: AtomicUsize,
    exports: AtomicUsize,
}

impl Exporter for HeldChecker {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        // Relaxed: read after shutdown, which joins the export thread.
        self.exports.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn attach(&self, _: Arc<dyn Producer>) {
        // Relaxed: read after both registrations returned.
        self.attached.fetch_add(1, Ordering::Relaxed);
    }

    fn check_view(&self, _: &View, _: &[View]) -> Result<(), ExportError> {
        // Relaxed: only picks the first call.
        if self.held.fetch_add(1, Ordering::Relaxed) == 0 {
            let _ = self.entered.send(());
            let _ = self.proceed.recv_timeout(PATIENCE);
        }
        Ok(())
    }
}

// Two registrations of one exporter at once: one is refused before it
// attaches, since `attach` is called once per registration and a
// Prometheus exporter attached twice warns that it was registered with a
// second manager. (The refusal used to come under the lock only, after the
// loser had attached the registered exporter a second time.)
#[test]
fn of_two_racing_registrations_the_refused_one_never_attaches() -> Result<(), Error> {
    let vm = Arc::new(ViewManager::new());
    let _m = sum_view(&vm);
    let (entered, first_entered) = crossbeam_channel::bounded(1);
    let (go, proceed) = crossbeam_channel::bounded(1);
    let exporter = Arc::new(HeldChecker {
        entered,
        proceed,
        held: AtomicUsize::new(0),
        attached: AtomicUsize::new(0),
        exports: AtomicUsize::new(0),
    });
    let first = {
        let (vm, exporter) = (Arc::clone(&vm), Arc::clone(&exporter));
        std::thread::spawn(move || vm.register_exporter(exporter))
    };
    first_entered
        .recv_timeout(PATIENCE)
        .expect("the first registration checks the view");
    // The first registration is checking views: this one races it.
    let second = vm.register_exporter(Arc::clone(&exporter));
    go.send(()).expect("the first check waits");
    let first = first.join().expect("register_exporter returns");

    let results = [first, second];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(Error::ExporterAlreadyRegistered { .. }))),
        "{results:?}"
    );
    assert_eq!(exporter.attached.load(Ordering::Relaxed), 1);
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(exporter.exports.load(Ordering::Relaxed), 1);
    Ok(())
}
