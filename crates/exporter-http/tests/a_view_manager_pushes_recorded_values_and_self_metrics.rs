//! End to end with a real ViewManager: recorded values reach the endpoint
//! in the final batch at shutdown, with the exporter's own
//! census/http_exporter/... views beside them (issue #4).

mod support;

use std::time::Duration;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_exporter_http::HttpExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{Reply, TestServer};

#[test]
fn a_view_manager_pushes_recorded_values_and_self_metrics() -> Result<(), Box<dyn std::error::Error>>
{
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url())
        .self_metrics(true)
        .build()?;

    let requests = MeasureI64::new("e2e/requests", "requests", "1")?;
    let latency = MeasureF64::new("e2e/latency", "latency", "ms")?;
    let method = TagKey::new("method")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("e2e/requests_count", &requests)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("e2e/latency", &latency)
            .aggregation(Aggregation::distribution([10.0, 100.0])?)
            .build()?,
    )?;
    // Only the final batch: the period is far longer than the test.
    vm.set_reporting_period(Duration::from_secs(3_600));
    vm.register_exporter(http.clone())?;

    let get = TagMap::new().with(&method, "GET")?;
    let post = TagMap::new().with(&method, "POST")?;
    for (tags, ms) in [(&get, 5.0), (&get, 50.0), (&get, 500.0), (&post, 10.0)] {
        MeasurementMap::new()
            .put(&requests, 1)
            .put(&latency, ms)
            .record_to(&vm, tags);
    }
    vm.shutdown();
    // The manager called the exporter's shutdown: the batch is delivered.
    let m = http.metrics();
    assert_eq!((m.sent, m.pending, m.abandoned), (1, 0, 0));
    let body = server.take(1, Duration::from_secs(10)).remove(0).json();
    assert!(server.drain().is_empty());

    let view = |name: &str| {
        body["views"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == name).cloned())
            .unwrap_or_else(|| panic!("view {name} missing from {body:#}"))
    };
    let counts = view("e2e/requests_count");
    let count_of = |m: &str| {
        counts["rows"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["tags"]["method"] == m))
            .map(|r| r["count"].clone())
    };
    assert_eq!(count_of("GET"), Some("3".into()));
    assert_eq!(count_of("POST"), Some("1".into()));
    let dist = &view("e2e/latency")["rows"][0]["distribution"];
    assert_eq!(dist["count"], "4");
    assert_eq!(dist["sum"], 565.0);
    assert_eq!(dist["bucket_counts"], serde_json::json!(["2", "1", "1"]));

    let sent = view("census/http_exporter/sent");
    assert_eq!(sent["rows"][0]["tags"]["endpoint"], server.url());
    assert_eq!(
        sent["rows"][0]["sum"], "0",
        "nothing was sent before this batch"
    );
    assert_eq!(
        view("census/http_exporter/pending")["aggregation"],
        "last_value"
    );
    Ok(())
}
