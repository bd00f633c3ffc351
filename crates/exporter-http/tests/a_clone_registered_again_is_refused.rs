//! Clones of one HTTP exporter share its queue and sender, so a manager
//! takes them as one exporter and refuses the second: registered twice, it
//! got every batch twice, and its shutdown report named it failed for the
//! batch the second registration could no longer queue. (QA of issue #2.)

use census_core::Error;
use census_exporter_http::HttpExporter;
use census_stats::ViewManager;

#[test]
fn a_second_clone_is_refused() -> Result<(), Error> {
    let vm = ViewManager::new();
    // No batch is sent: the test ends before the first period, and the
    // manager is dropped without a shutdown.
    let exporter = HttpExporter::builder("http://127.0.0.1:9/v1/metrics").build()?;
    vm.register_exporter(exporter.clone())?;
    let err = vm.register_exporter(exporter.clone()).unwrap_err();
    assert!(
        matches!(err, Error::ExporterAlreadyRegistered { .. }),
        "{err:?}"
    );
    vm.register_exporter(HttpExporter::builder("http://127.0.0.1:9/v1/metrics").build()?)?;
    Ok(())
}
