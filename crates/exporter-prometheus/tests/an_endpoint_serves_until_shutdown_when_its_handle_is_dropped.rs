//! Issue #3 writes `exporter.serve("127.0.0.1:9464")?;` as a statement: a
//! built-in endpoint "on its own thread" that "stops cleanly on shutdown".
//! Written so, the handle is dropped at once, which used to stop the
//! endpoint: every scrape was refused (found checking programs written
//! against the issues). Dropping the handle now leaves the endpoint
//! serving until the manager's shutdown, an explicit `stop`, or the drop
//! of the exporter's last clone; after shutdown, `serve` refuses (a review:
//! an endpoint started then, or by an exporter nobody kept, served until
//! the process exited).

mod support;

use census_core::{Aggregation, Error, MeasureI64, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::get;

#[test]
fn a_dropped_handle_leaves_the_endpoint_serving_until_shutdown(
) -> Result<(), Box<dyn std::error::Error>> {
    let jobs = MeasureI64::new("jobs", "jobs done", "1")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("jobs", &jobs)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    // The handle is dropped at the end of this statement.
    let url = exporter.serve("127.0.0.1:0")?.url();
    drop(exporter);
    MeasurementMap::new()
        .put(&jobs, 3)
        .record_to(&vm, &TagMap::new());
    let scrape = get(&url, None)?;
    assert_eq!(scrape.status, 200);
    assert!(scrape.body.contains("jobs_total 3"), "{}", scrape.body);
    vm.shutdown();
    assert!(get(&url, None).is_err(), "the endpoint stops on shutdown");
    Ok(())
}

#[test]
fn stop_ends_an_endpoint_before_shutdown() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let url = endpoint.url();
    assert_eq!(get(&url, None)?.status, 200);
    endpoint.stop();
    assert!(get(&url, None).is_err(), "stopped");
    Ok(())
}

#[test]
fn an_exporter_nobody_keeps_stops_its_endpoint() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = PrometheusExporter::builder().build()?;
    let url = exporter.serve("127.0.0.1:0")?.url();
    assert_eq!(get(&url, None)?.status, 200);
    drop(exporter);
    assert!(get(&url, None).is_err(), "stopped with the last clone");
    Ok(())
}

#[test]
fn serve_after_shutdown_is_refused() -> Result<(), Box<dyn std::error::Error>> {
    let vm = ViewManager::new();
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    vm.shutdown();
    let refused = exporter.serve("127.0.0.1:0");
    assert!(matches!(refused, Err(Error::ShutDown)), "{refused:?}");
    Ok(())
}
