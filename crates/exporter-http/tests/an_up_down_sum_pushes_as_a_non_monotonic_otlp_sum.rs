//! An up-down sum pushes as an OTLP sum with `isMonotonic: false` holding
//! -2 after +3 and -5, which protobuf's own parser accepts, and as
//! `up_down_sum` in census.v1; a callback view of one pushes the same way
//! (issue #12).

mod support;

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_stats::{MeasurementMap, ViewManager};
use serde_json::Value;
use support::{otlp_python, parse_otlp, Reply, TestServer};

/// Pushes +3 and -5 into an UpDownSum view, and a callback UpDownSum view
/// reading -7, through one manager's final batch in `format`.
fn push(format: HttpFormat) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url()).format(format).build()?;
    let in_flight = MeasureI64::new("http/in_flight", "requests being served", "1")?;
    let route = TagKey::new("route")?;
    let home = TagMap::new().with(&route, "/home")?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3_600));
    vm.register_view(
        View::builder("http/in_flight", &in_flight)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::UpDownSum)
            .build()?,
    )?;
    let observed = home.clone();
    vm.register_callback(
        View::builder("pool/checked_out", &in_flight)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::UpDownSum)
            .build()?,
        move |out| out.observe(&observed, -7),
    )?;
    vm.register_exporter(http)?;
    vm.bind(&in_flight, &home).record(3);
    MeasurementMap::new()
        .put(&in_flight, -5)
        .record_to(&vm, &home);
    vm.shutdown();
    let mut requests = server.take(1, Duration::from_secs(10));
    Ok(requests.remove(0).body)
}

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|m| m[key] == name))
        .unwrap_or_else(|| panic!("{name} missing from {list:#}"))
}

#[test]
fn otlp_says_not_monotonic() -> Result<(), Box<dyn std::error::Error>> {
    let body: Value = serde_json::from_slice(&push(HttpFormat::OtlpJson)?)?;
    let metrics = &body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    for (name, want) in [("http/in_flight", "-2"), ("pool/checked_out", "-7")] {
        let sum = &find(metrics, "name", name)["sum"];
        assert_eq!(sum["isMonotonic"], false, "{name}: {sum:#}");
        assert_eq!(sum["aggregationTemporality"], 2, "{name}: {sum:#}");
        let point = &sum["dataPoints"][0];
        assert_eq!(point["asInt"], want, "{name}: {sum:#}");
        assert!(point["startTimeUnixNano"].is_string(), "{name}: {sum:#}");
    }
    if let Some(python) = otlp_python() {
        let raw = serde_json::to_vec(&body)?;
        let parsed = parse_otlp(&python, &raw)?;
        let metrics = &parsed["resource_metrics"][0]["scope_metrics"][0]["metrics"];
        let sum = &find(metrics, "name", "http/in_flight")["sum"];
        // protobuf prints false booleans only when set, and leaves a false
        // is_monotonic out: absent is false.
        assert_ne!(sum["is_monotonic"], true, "{sum:#}");
        assert_eq!(sum["data_points"][0]["as_int"], "-2", "{sum:#}");
    }
    Ok(())
}

#[test]
fn census_json_names_the_aggregation() -> Result<(), Box<dyn std::error::Error>> {
    let body: Value = serde_json::from_slice(&push(HttpFormat::Json)?)?;
    let view = find(&body["views"], "name", "http/in_flight");
    assert_eq!(view["aggregation"], "up_down_sum", "{view:#}");
    assert_eq!(view["rows"][0]["sum"], "-2", "{view:#}");
    let view = find(&body["views"], "name", "pool/checked_out");
    assert_eq!(view["aggregation"], "up_down_sum", "{view:#}");
    assert_eq!(view["rows"][0]["sum"], "-7", "{view:#}");
    Ok(())
}
