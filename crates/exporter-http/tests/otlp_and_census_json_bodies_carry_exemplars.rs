//! Exemplars recorded with attachments reach both body formats: OTLP JSON
//! `exemplars` on the histogram point (trace and span ids in their own
//! fields, other attachments as filtered attributes), parsed strictly by
//! protobuf's own JSON parser, and census.v1 `exemplars` on the row
//! (issue #13).

mod support;

use std::time::Duration;

use census_core::{Aggregation, Exporter, MeasureF64, TagKey, TagMap, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_stats::{MeasurementMap, ViewManager};
use serde_json::{json, Value};
use support::{otlp_python, parse_otlp, Reply, TestServer};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

fn batch() -> Result<Vec<census_core::ViewData>, census_core::Error> {
    let latency = MeasureF64::new("ex/latency", "latency", "ms")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("ex/latency", &latency)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::distribution([10.0, 100.0])?)
            .build()?,
    )?;
    let tags = TagMap::new().with(&route, "/cart")?;
    MeasurementMap::new()
        .put(&latency, 3.0)
        .record_to(&vm, &tags);
    MeasurementMap::new()
        .put(&latency, 42.5)
        .attach("trace_id", TRACE)
        .attach("span_id", SPAN)
        .attach("user", "alice")
        .record_to(&vm, &tags);
    // Not a valid id: it stays an attribute.
    MeasurementMap::new()
        .put(&latency, 250.0)
        .attach("trace_id", "not-hex")
        .record_to(&vm, &tags);
    let data = vm.retrieve_data("ex/latency")?;
    vm.shutdown();
    Ok(vec![data])
}

fn post(format: HttpFormat) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url()).format(format).build()?;
    http.export(&batch()?)?;
    let body = server.take(1, Duration::from_secs(10)).remove(0).body;
    http.shutdown()?;
    Ok(body)
}

#[test]
fn otlp_json_bodies_carry_exemplars_protobuf_accepts() -> Result<(), Box<dyn std::error::Error>> {
    let body = post(HttpFormat::OtlpJson)?;
    let sent: Value = serde_json::from_slice(&body)?;
    let point =
        &sent["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0];
    let exemplars = point["exemplars"].as_array().ok_or("no exemplars")?;
    assert_eq!(exemplars.len(), 2, "{point}");
    // OTLP/JSON writes ids as hex, not base64.
    assert_eq!(exemplars[0]["traceId"], TRACE);
    assert_eq!(exemplars[0]["spanId"], SPAN);
    assert_eq!(exemplars[0]["asDouble"], 42.5);
    assert_eq!(
        exemplars[0]["filteredAttributes"],
        json!([{"key": "user", "value": {"stringValue": "alice"}}])
    );
    assert!(exemplars[0]["timeUnixNano"]
        .as_str()
        .is_some_and(|t| t.len() >= 19));
    assert!(exemplars[1].get("traceId").is_none());
    assert_eq!(
        exemplars[1]["filteredAttributes"],
        json!([{"key": "trace_id", "value": {"stringValue": "not-hex"}}])
    );

    let Some(python) = otlp_python() else {
        return Ok(());
    };
    let parsed = parse_otlp(&python, &body).map_err(|e| format!("protobuf refused: {e}"))?;
    let point = &parsed["resource_metrics"][0]["scope_metrics"][0]["metrics"][0]["histogram"]
        ["data_points"][0];
    let exemplars = point["exemplars"].as_array().ok_or("exemplars lost")?;
    assert_eq!(exemplars.len(), 2, "{point}");
    assert_eq!(exemplars[0]["as_double"], 42.5);
    assert_eq!(exemplars[1]["as_double"], 250.0);
    // protobuf's generic parser reads bytes fields as base64, which a
    // hex id also is: the fields arrive, well-formed.
    assert!(exemplars[0]["trace_id"].is_string(), "{point}");
    assert!(exemplars[0]["span_id"].is_string(), "{point}");
    Ok(())
}

#[test]
fn census_json_bodies_carry_exemplars_on_their_rows() -> Result<(), Box<dyn std::error::Error>> {
    let body: Value = serde_json::from_slice(&post(HttpFormat::Json)?)?;
    let row = &body["views"][0]["rows"][0];
    assert_eq!(row["distribution"]["count"], "3");
    let exemplars = row["exemplars"].as_array().ok_or("no exemplars")?;
    assert_eq!(exemplars.len(), 2, "{row}");
    assert_eq!(exemplars[0]["value"], 42.5);
    assert_eq!(
        exemplars[0]["attachments"],
        json!({"trace_id": TRACE, "span_id": SPAN, "user": "alice"})
    );
    assert!(exemplars[0]["time_unix_nano"].is_string());
    assert_eq!(exemplars[1]["attachments"], json!({"trace_id": "not-hex"}));
    Ok(())
}
