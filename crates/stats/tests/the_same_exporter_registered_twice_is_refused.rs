//! Registering one exporter twice with one manager is refused with a typed
//! error, so it never gets two delivery threads and every batch twice;
//! two exporters of the same type are two exporters. (QA of issues #2
//! and #6: before the fix the second registration succeeded and the final
//! batch was exported to the exporter twice.)

use std::sync::Arc;

use census_core::{Error, TagMap};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::{sum_of, sum_view, CapturingExporter};

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
