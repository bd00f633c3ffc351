//! OTLP bodies, JSON and protobuf, are valid `ExportMetricsServiceRequest`s
//! for protobuf's own parsers (unknown fields refused; the protobuf bytes
//! exactly the canonical encoding), hold the recorded values with the
//! documented mapping (issue #4), and say the same thing field by field
//! for the same batch (issue #14).

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census_core::Exporter;
use census_core::{Aggregation, AggregationData, MeasureF64, Number, Row, View, ViewData};
use census_exporter_http::{HttpExporter, HttpFormat};
use serde_json::{json, Value};
use support::{otlp_python, parse_otlp, parse_otlp_protobuf, sample_batch, Reply, TestServer};

fn metric<'a>(parsed: &'a Value, name: &str) -> &'a Value {
    parsed["resource_metrics"][0]["scope_metrics"][0]["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("metric {name} missing from {parsed:#}"))
}

fn attrs(point: &Value) -> Vec<(String, Value)> {
    point["attributes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap_or("").to_owned(),
                        kv["value"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn otlp_json_and_protobuf_bodies_parse_and_agree() -> Result<(), Box<dyn std::error::Error>> {
    let Some(python) = otlp_python() else {
        return Ok(());
    };
    let server = TestServer::start(|_| Reply::Status(200));
    let exporter = |format: HttpFormat, gzip: bool| {
        HttpExporter::builder(server.url())
            .format(format)
            .gzip(gzip)
            .service_name("checkout-test")
            .resource_attribute("deployment.environment", "test")
            .build()
    };
    let json = exporter(HttpFormat::OtlpJson, false)?;
    let protobuf = exporter(HttpFormat::OtlpProtobuf, true)?;
    let mut batch = sample_batch(7);
    // Non-finite values and a view with no rows yet.
    let odd = MeasureF64::new("test/odd", "odd values", "1")?;
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let odd_sum = View::builder("test/odd_sum", &odd)
        .aggregation(Aggregation::Sum)
        .build()?;
    let odd_last = View::builder("test/odd_last", &odd)
        .aggregation(Aggregation::LastValue)
        .build()?;
    let empty = View::builder("test/empty", &odd)
        .aggregation(Aggregation::Count)
        .build()?;
    let now = SystemTime::now();
    batch.push(ViewData::new(
        odd_sum,
        start,
        now,
        vec![Row::new(
            vec![],
            AggregationData::Sum(Number::Float(f64::INFINITY)),
            start,
        )],
    ));
    batch.push(ViewData::new(
        odd_last,
        start,
        now,
        vec![Row::new(
            vec![],
            AggregationData::LastValue(Number::Float(f64::NAN)),
            start,
        )],
    ));
    batch.push(ViewData::new(empty, start, now, vec![]));
    json.export(&batch)?;
    let json_request = server.take(1, Duration::from_secs(10)).remove(0);
    protobuf.export(&batch)?;
    let protobuf_request = server.take(1, Duration::from_secs(10)).remove(0);
    json.shutdown()?;
    protobuf.shutdown()?;
    assert_eq!(
        json_request.header("Content-Type"),
        Some("application/json")
    );
    assert_eq!(
        protobuf_request.header("Content-Type"),
        Some("application/x-protobuf")
    );
    assert_eq!(protobuf_request.header("Content-Encoding"), Some("gzip"));

    let from_json = parse_otlp(&python, &json_request.body)
        .map_err(|e| format!("protobuf refused the JSON body: {e}"))?;
    let from_protobuf = parse_otlp_protobuf(&python, &protobuf_request.body)
        .map_err(|e| format!("protobuf refused the protobuf body: {e}"))?;
    check_recorded_values(&from_json)?;
    check_recorded_values(&from_protobuf)?;
    // Every field, not only those checked above: the two encodings of one
    // batch are one message.
    assert_eq!(from_json, from_protobuf);
    Ok(())
}

/// Every field of `sample_batch(7)` and the odd views, as protobuf read it.
fn check_recorded_values(parsed: &Value) -> Result<(), Box<dyn std::error::Error>> {
    let parsed = parsed.clone();
    let resource = &parsed["resource_metrics"][0]["resource"];
    let resource_attrs = attrs(resource);
    assert!(resource_attrs.contains(&(
        "service.name".into(),
        json!({"string_value": "checkout-test"})
    )));
    assert!(resource_attrs.contains(&(
        "deployment.environment".into(),
        json!({"string_value": "test"})
    )));
    assert_eq!(
        parsed["resource_metrics"][0]["scope_metrics"][0]["scope"]["name"],
        "census"
    );

    let count = metric(&parsed, "test/requests_count");
    assert_eq!(count["unit"], "1");
    assert_eq!(count["sum"]["is_monotonic"], true);
    assert_eq!(
        count["sum"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    let points = count["sum"]["data_points"].as_array().ok_or("points")?;
    assert_eq!(points.len(), 3);
    assert_eq!(
        attrs(&points[0]),
        [("method".to_owned(), json!({"string_value": "GET"}))]
    );
    assert_eq!(points[0]["as_int"], "7");
    assert_eq!(points[0]["start_time_unix_nano"], "1700000000000000000");
    assert_eq!(points[1]["as_int"], "14");
    assert_eq!(
        attrs(&points[2]),
        [(
            "otel.metric.overflow".to_owned(),
            json!({"bool_value": true})
        )]
    );
    assert_eq!(points[2]["as_int"], "1");

    let bytes = metric(&parsed, "test/bytes_sum");
    assert_eq!(bytes["unit"], "By");
    assert_eq!(bytes["sum"]["data_points"][0]["as_int"], "1007");

    let temp = metric(&parsed, "test/temperature");
    let point = &temp["gauge"]["data_points"][0];
    assert_eq!(point["as_double"], 7.5);
    assert!(
        point.get("attributes").is_none(),
        "absent tag sent: {point}"
    );
    assert!(point.get("start_time_unix_nano").is_none());

    let latency = metric(&parsed, "test/latency");
    assert_eq!(
        latency["histogram"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    let h = &latency["histogram"]["data_points"][0];
    assert_eq!(h["count"], "3");
    assert_eq!(h["sum"], 562.0);
    assert_eq!(h["min"], 5.0);
    assert_eq!(h["max"], 507.0);
    assert_eq!(h["bucket_counts"], json!(["1", "1", "1"]));
    assert_eq!(h["explicit_bounds"], json!([10.0, 100.0]));

    assert_eq!(
        metric(&parsed, "test/odd_sum")["sum"]["data_points"][0]["as_double"],
        "Infinity"
    );
    assert_eq!(
        metric(&parsed, "test/odd_last")["gauge"]["data_points"][0]["as_double"],
        "NaN"
    );
    let names: Vec<&str> = parsed["resource_metrics"][0]["scope_metrics"][0]["metrics"]
        .as_array()
        .map(|ms| ms.iter().filter_map(|m| m["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(!names.contains(&"test/empty"), "{names:?}");
    Ok(())
}

#[test]
fn the_validators_refuse_malformed_bodies() {
    // Guards the test above: the parsers really reject unknown fields.
    let Some(python) = otlp_python() else { return };
    let err = parse_otlp(&python, br#"{"resourceMetrics":[{"bogus":1}]}"#);
    assert!(err.is_err(), "{err:?}");
    // resource_metrics (field 1) holding a message with an unknown field
    // 15 (a varint): protobuf keeps it as unknown, which the strict
    // check refuses.
    let err = parse_otlp_protobuf(&python, &[0x0a, 0x02, 0x78, 0x01]);
    assert!(err.is_err(), "{err:?}");
    // Not protobuf at all.
    let err = parse_otlp_protobuf(&python, b"\xff\xff\xff");
    assert!(err.is_err(), "{err:?}");
    // And the well-formed empty request passes.
    assert!(parse_otlp_protobuf(&python, b"").is_ok());
}
