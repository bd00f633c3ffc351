//! The HTTP exporter's two JSON encoders on arbitrary batches: every body
//! the exporter POSTs parses with serde_json, and holds each row's 64-bit
//! integers exactly (as decimal strings) and each finite float bit for bit.
//!
//! The encoders are private, so the bodies are taken where a receiver sees
//! them: one exporter per format posts to a local server that lives as
//! long as the fuzzing process, and each input waits for its own body.
#![no_main]

mod arbitrary_batch;

use std::sync::OnceLock;
use std::time::Duration;

use census::exporters::{HttpExporter, HttpFormat};
use census::{AggregationData, Exporter, Number, ViewData};
use crossbeam_channel::Receiver;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

struct Endpoint {
    json: HttpExporter,
    otlp: HttpExporter,
    bodies: Receiver<Vec<u8>>,
}

fn endpoint() -> &'static Endpoint {
    static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!(
            "http://{}/v1/metrics",
            server.server_addr().to_ip().expect("an IP address")
        );
        let (tx, bodies) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let _ = tx.send(body);
                let _ = request.respond(tiny_http::Response::empty(200));
            }
        });
        let exporter = |format| {
            HttpExporter::builder(url.clone())
                .format(format)
                .max_attempts(1)
                .build()
                .expect("the exporter builds")
        };
        Endpoint {
            json: exporter(HttpFormat::Json),
            otlp: exporter(HttpFormat::OtlpJson),
            bodies,
        }
    })
}

fn post(exporter: &HttpExporter, bodies: &Receiver<Vec<u8>>, batch: &[ViewData]) -> Value {
    exporter.export(batch).expect("export accepts the batch");
    let body = bodies
        .recv_timeout(Duration::from_secs(30))
        .expect("the body arrives");
    match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(e) => panic!(
            "the body is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(batch) = arbitrary_batch::batch(&mut u) else {
        return;
    };
    let end = endpoint();

    let json = post(&end.json, &end.bodies, &batch);
    assert_eq!(json["schema"], "census.v1");
    let views = json["views"].as_array().expect("views");
    assert_eq!(views.len(), batch.len());
    for (data, view) in batch.iter().zip(views) {
        assert_eq!(view["name"], data.view.name());
        assert_eq!(view["description"], data.view.description());
        assert_eq!(int(&view["folded"]), i128::from(data.folded));
        let rows = view["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), data.rows.len());
        for (row, got) in data.rows.iter().zip(rows) {
            for (key, tag) in data.view.tag_keys().iter().zip(&row.tags) {
                let want = tag.as_ref().map(|t| Value::from(t.as_str()));
                assert_eq!(got["tags"].get(key.name()), want.as_ref());
            }
            match &row.data {
                AggregationData::Count(n) => assert_eq!(int(&got["count"]), i128::from(*n)),
                AggregationData::Sum(v) => number(&got["sum"], *v),
                AggregationData::LastValue(v) => number(&got["last_value"], *v),
                AggregationData::Distribution(d) => {
                    let dist = &got["distribution"];
                    assert_eq!(int(&dist["count"]), i128::from(d.count));
                    float(&dist["sum"], d.sum);
                    float(
                        &dist["sum_of_squared_deviation"],
                        d.sum_of_squared_deviation,
                    );
                    let counts = dist["bucket_counts"].as_array().expect("bucket counts");
                    assert_eq!(counts.len(), d.bucket_counts.len());
                    for (c, want) in counts.iter().zip(&d.bucket_counts) {
                        assert_eq!(int(c), i128::from(*want));
                    }
                }
            }
        }
    }

    let otlp = post(&end.otlp, &end.bodies, &batch);
    let metrics = otlp["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .expect("metrics");
    let shown: Vec<&ViewData> = batch.iter().filter(|d| !d.rows.is_empty()).collect();
    assert_eq!(metrics.len(), shown.len());
    for (data, metric) in shown.into_iter().zip(metrics) {
        assert_eq!(metric["name"], data.view.name());
        let points = ["sum", "gauge", "histogram"]
            .iter()
            .find_map(|kind| metric[*kind]["dataPoints"].as_array())
            .expect("data points");
        assert_eq!(points.len(), data.rows.len());
        for (row, point) in data.rows.iter().zip(points) {
            match &row.data {
                // OTLP's asInt is an int64: a count past i64::MAX is capped.
                AggregationData::Count(n) => {
                    assert_eq!(int(&point["asInt"]), i128::from(*n).min(i64::MAX as i128))
                }
                AggregationData::Sum(Number::Int(v))
                | AggregationData::LastValue(Number::Int(v)) => {
                    assert_eq!(int(&point["asInt"]), i128::from(*v))
                }
                AggregationData::Sum(Number::Float(v))
                | AggregationData::LastValue(Number::Float(v)) => float(&point["asDouble"], *v),
                AggregationData::Distribution(d) => {
                    assert_eq!(int(&point["count"]), i128::from(d.count));
                    float(&point["sum"], d.sum);
                    let counts = point["bucketCounts"].as_array().expect("bucket counts");
                    assert_eq!(counts.len(), d.bucket_counts.len());
                    for (c, want) in counts.iter().zip(&d.bucket_counts) {
                        assert_eq!(int(c), i128::from(*want));
                    }
                }
            }
        }
    }
});

/// A 64-bit integer written as a decimal string, read exactly.
fn int(v: &Value) -> i128 {
    let text = v.as_str().unwrap_or_else(|| panic!("{v} is not a string"));
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an integer: {e}"))
}

fn number(v: &Value, want: Number) {
    match want {
        Number::Int(i) => assert_eq!(int(v), i128::from(i)),
        Number::Float(f) => float(v, f),
    }
}

/// A finite float is a JSON number read back bit for bit; the others are
/// the proto3 JSON strings.
fn float(v: &Value, want: f64) {
    if want.is_nan() {
        assert_eq!(v, "NaN");
    } else if want.is_infinite() {
        assert_eq!(v, if want > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let got = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
        assert_eq!(got.to_bits(), want.to_bits(), "{got} != {want}");
    }
}
