//! Issue #3 writes `exporter.serve("127.0.0.1:9464")?;` as a statement: a
//! built-in endpoint "on its own thread" that "stops cleanly on shutdown".
//! Written so, the handle is dropped at once, which used to stop the
//! endpoint: every scrape was refused (found checking programs written
//! against the issues). Dropping the handle now leaves the endpoint
//! serving until the manager's shutdown, or an explicit `stop`.

mod support;

use std::net::TcpListener;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::get;

/// A port free a moment ago, as a user picks one for `serve(..)?;`.
fn free_port() -> Result<u16, std::io::Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

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
    let addr = format!("127.0.0.1:{}", free_port()?);
    exporter.serve(&addr)?;
    MeasurementMap::new()
        .put(&jobs, 3)
        .record_to(&vm, &TagMap::new());
    let url = format!("http://{addr}/metrics");
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
