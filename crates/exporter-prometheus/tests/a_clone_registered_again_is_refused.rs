//! Clones of one Prometheus exporter share its endpoints and claims, so a
//! manager takes them as one exporter and refuses the second: registered
//! twice, its self-metrics were offered twice and clashed with
//! themselves, and six views went missing from every scrape. (QA of
//! issue #2.) Two exporters built apart are two exporters.

use census_core::Error;
use census_exporter_prometheus::PrometheusExporter;
use census_stats::ViewManager;

#[test]
fn a_second_clone_is_refused_and_another_exporter_is_not() -> Result<(), Error> {
    let vm = ViewManager::new();
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    let err = vm.register_exporter(exporter.clone()).unwrap_err();
    assert!(
        matches!(err, Error::ExporterAlreadyRegistered { .. }),
        "{err:?}"
    );

    let other = ViewManager::new();
    other.register_exporter(PrometheusExporter::builder().build()?)?;
    other.register_exporter(PrometheusExporter::builder().self_metrics(false).build()?)?;
    vm.shutdown();
    other.shutdown();
    Ok(())
}
