//! A scrape renders the views as of the request, through the producer the
//! manager hands over at registration, not as of the last reporting tick.

mod support;

use std::time::Duration;

use census_core::{Aggregation, Exporter, MeasureI64, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{get, parse, TestResult};

#[test]
fn scrapes_show_values_recorded_a_moment_ago() -> TestResult {
    let vm = ViewManager::new();
    // No tick will come during the test.
    vm.set_reporting_period(Duration::from_secs(3600));
    let requests = MeasureI64::new("fresh/requests", "requests", "1")?;
    vm.register_view(
        View::builder("fresh/requests", &requests)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;

    let value = |body: &str| -> Result<Option<f64>, String> {
        Ok(parse(body, false)?.find("fresh_requests_total", &[]))
    };
    MeasurementMap::new()
        .put(&requests, 5)
        .record_to(&vm, &TagMap::new());
    assert_eq!(value(&exporter.render().1)?, Some(5.0));
    MeasurementMap::new()
        .put(&requests, 7)
        .record_to(&vm, &TagMap::new());
    assert_eq!(value(&get(&endpoint.url(), None)?.body)?, Some(12.0));

    // Shutting the manager down shuts the exporter down, which stops the
    // endpoint it started.
    let url = endpoint.url();
    vm.shutdown();
    assert!(get(&url, None).is_err(), "endpoint still up after shutdown");
    // The handle outlives the stop harmlessly.
    drop(endpoint);
    exporter.shutdown()?;
    Ok(())
}
