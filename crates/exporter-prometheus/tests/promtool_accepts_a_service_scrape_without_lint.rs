//! `promtool check metrics` prints nothing for the scrape of a service
//! shaped like examples/prometheus.rs (latency distribution by method,
//! request counts by method and status, an in-flight gauge), taken from the
//! real endpoint of a real view manager, with the exporter's own metrics.

mod support;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{get, parse, promtool_check, TestResult};

#[test]
fn promtool_accepts_the_service_scrape() -> TestResult {
    let vm = ViewManager::new();
    let (method, status) = (TagKey::new("method")?, TagKey::new("status")?);
    let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
    let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
    let in_flight = MeasureI64::new("demo/in_flight", "requests being served", "1")?;
    vm.register_view(
        View::builder("demo/latency", &latency)
            .description("request latency in milliseconds, by method")
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([
                5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("demo/requests", &requests)
            .description("requests served, by method and status")
            .tag_keys([method.clone(), status.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("demo/in_flight", &in_flight)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;
    let exporter = PrometheusExporter::builder()
        .namespace("myapp")
        .const_label("service", "checkout")?
        .build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    // One scrape first, so the exporter's own counters are not all zero.
    get(&endpoint.url(), None)?;

    for (i, m) in ["GET", "POST", "DELETE"].iter().enumerate() {
        for (j, s) in ["200", "404", "500"].iter().enumerate() {
            let tags = TagMap::new().with(&method, *m)?.with(&status, *s)?;
            MeasurementMap::new()
                .put(&latency, (i * 37 + j * 11) as f64 + 0.5)
                .put(&requests, 1)
                .put(&in_flight, (i + j) as i64)
                .record_to(&vm, &tags);
        }
    }
    // A request with no status tag: the label is omitted, not empty.
    let tags = TagMap::new().with(&method, "GET")?;
    MeasurementMap::new()
        .put(&requests, 1)
        .record_to(&vm, &tags);

    let body = get(&endpoint.url(), None)?.body;
    let parsed = parse(&body, false)?;
    assert_eq!(
        parsed.find(
            "myapp_demo_requests_total",
            &[("service", "checkout"), ("method", "GET")]
        ),
        Some(1.0),
        "{body}"
    );
    assert!(
        body.contains("myapp_census_prometheus_scrapes_total"),
        "{body}"
    );
    if let Some(result) = promtool_check(&body) {
        match result {
            Ok(output) => assert_eq!(output, "", "promtool lint findings on\n{body}"),
            Err(output) => panic!("promtool refused the scrape: {output}\n{body}"),
        }
    }
    vm.shutdown();
    endpoint.stop();
    Ok(())
}
