//! The HTTP exporter's own test support: a scriptable HTTP endpoint on
//! 127.0.0.1, sample batches with known values, the independent OTLP
//! parser (protobuf's own, in Python), a remote write decoder written from
//! the specification, and the real Prometheus server of the Prometheus
//! exporter's tests. The fakes and builders every crate's tests share are
//! in census-testkit.
//!
//! Each test file uses a part of this module.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use census_core::{Aggregation, AggregationData, MeasureF64, MeasureI64, Number, Row, ViewData};
use census_exporter_http::HttpFormat;
use census_testkit::{at, distribution, row, view};
use crossbeam_channel::{Receiver, RecvTimeoutError};

// The same Prometheus server the Prometheus exporter's end-to-end test
// starts, from that crate's test support (one copy of it).
#[path = "../../../exporter-prometheus/tests/support/prometheus_server.rs"]
mod prometheus_server;
#[allow(unused_imports)]
pub use prometheus_server::PrometheusServer;

/// The formats the delivery tests (retries, backoff, Retry-After, queue
/// drops, shutdown deadline) run with: census's own JSON and both protobuf
/// formats (OTLP JSON shares the JSON path).
pub const DELIVERY_FORMATS: [HttpFormat; 3] = [
    HttpFormat::Json,
    HttpFormat::OtlpProtobuf,
    HttpFormat::PrometheusRemoteWrite,
];

/// Runs `check` once per format of [`DELIVERY_FORMATS`], one after the
/// other (these tests time retries and deadlines, which formats running
/// side by side on a busy machine would blur), each on a thread named for
/// its format so that a failed assertion says which. Fails with the first
/// error or panic.
pub fn each_delivery_format(
    check: impl Fn(HttpFormat) -> Result<(), Box<dyn std::error::Error>> + Sync,
) -> Result<(), Box<dyn std::error::Error>> {
    let check = &check;
    std::thread::scope(|s| {
        for format in DELIVERY_FORMATS {
            let run = std::thread::Builder::new()
                .name(format!("{format:?}"))
                .spawn_scoped(s, move || {
                    check(format).map_err(|e| format!("{format:?}: {e}"))
                })
                .expect("spawn a test thread");
            match run.join() {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(())
    })
}

/// One request the endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    /// 0 for the first request this server saw.
    pub index: usize,
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped or snappy-decoded when it came with
    /// `Content-Encoding: gzip` or `snappy`.
    pub body: Vec<u8>,
    pub raw_len: usize,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn idempotency_key(&self) -> String {
        self.header("Idempotency-Key").unwrap_or("").to_owned()
    }

    /// The `n` of the `sample_batch(n)` this request carries, whatever its
    /// format: read from the GET row of `test/requests_count` in the body
    /// (JSON formats and remote write), or, for OTLP protobuf, whose values
    /// the Python tests check, from the batch's sequence number at the end
    /// of its Idempotency-Key (tests export batch n as the n-th).
    pub fn batch_number(&self) -> u64 {
        let content_type = self.header("Content-Type").unwrap_or("");
        if content_type == "application/json" {
            let json = self.json();
            if json.get("schema").is_some() {
                return census_json_batch_number(&json);
            }
            return otlp_json_batch_number(&json);
        }
        if self.header("Content-Encoding") == Some("snappy") {
            return remote_write::decode(&self.body)
                .into_iter()
                .find(|s| {
                    s.label("__name__") == Some("test_requests_count_total")
                        && s.label("method") == Some("GET")
                })
                .map(|s| s.value as u64)
                .expect("test_requests_count_total{method=GET} in the write request");
        }
        let key = self.idempotency_key();
        key.rsplit('-')
            .next()
            .and_then(|seq| seq.parse().ok())
            .unwrap_or_else(|| panic!("no sequence number in Idempotency-Key {key:?}"))
    }

    /// Fails unless the request carries its format's content headers.
    pub fn assert_format_headers(&self, format: HttpFormat) {
        assert_eq!(
            self.header("Content-Type"),
            Some(format.content_type()),
            "request {}",
            self.index
        );
        if format == HttpFormat::PrometheusRemoteWrite {
            assert_eq!(self.header("Content-Encoding"), Some("snappy"));
            assert_eq!(
                self.header("X-Prometheus-Remote-Write-Version"),
                Some("0.1.0")
            );
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body of request {} is not JSON ({e}): {}",
                self.index,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// What the endpoint answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with a `Retry-After: <seconds>` header.
    RetryAfter(u16, u64),
    /// A status with a `Retry-After: <HTTP date>` header, this many whole
    /// seconds past the current second.
    RetryAfterDate(u16, u64),
    /// A status with a body (for excerpt checks).
    StatusBody(u16, String),
    /// A status with a body of the given content type.
    Body(u16, &'static str, Vec<u8>),
    /// Read the request, then never answer (until the server stops).
    Hang,
}

type Script = Box<dyn Fn(&Received) -> Reply + Send + 'static>;

/// A real HTTP server on 127.0.0.1 that answers by script and hands every
/// request it receives to the test, in order.
pub struct TestServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: Receiver<Received>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and serves with `script`.
    pub fn start(script: impl Fn(&Received) -> Reply + Send + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        TestServer::serve(listener, Box::new(script))
    }

    /// Serves on an address chosen earlier (an endpoint that comes up late).
    pub fn start_on(
        addr: SocketAddr,
        script: impl Fn(&Received) -> Reply + Send + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind(addr).expect("rebind the reserved port");
        TestServer::serve(listener, Box::new(script))
    }

    fn serve(listener: TcpListener, script: Script) -> TestServer {
        let addr = listener.local_addr().expect("local addr");
        let server = Arc::new(tiny_http::Server::from_listener(listener, None).expect("server"));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = {
            let server = Arc::clone(&server);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut held = Vec::new();
                let mut index = 0;
                loop {
                    let mut request = match server.recv() {
                        Ok(r) => r,
                        Err(_) if stop.load(Ordering::SeqCst) => break,
                        Err(_) => continue,
                    };
                    let mut raw = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut raw);
                    let headers: Vec<(String, String)> = request
                        .headers()
                        .iter()
                        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
                        .collect();
                    let encoding = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
                        .map(|(_, v)| v.clone());
                    let body = match encoding.as_deref() {
                        Some("gzip") => {
                            let mut out = Vec::new();
                            flate2::read::GzDecoder::new(&raw[..])
                                .read_to_end(&mut out)
                                .expect("gzip body decodes");
                            out
                        }
                        Some("snappy") => snap::raw::Decoder::new()
                            .decompress_vec(&raw)
                            .expect("snappy block body decodes"),
                        _ => raw.clone(),
                    };
                    let received = Received {
                        index,
                        at: Instant::now(),
                        method: request.method().as_str().to_owned(),
                        path: request.url().to_owned(),
                        headers,
                        body,
                        raw_len: raw.len(),
                    };
                    index += 1;
                    let reply = script(&received);
                    let _ = tx.send(received);
                    match reply {
                        Reply::Status(code) => {
                            let _ = request.respond(tiny_http::Response::empty(code));
                        }
                        Reply::RetryAfter(code, secs) => {
                            let header = tiny_http::Header::from_bytes(
                                &b"Retry-After"[..],
                                secs.to_string().as_bytes(),
                            )
                            .expect("header");
                            let _ = request
                                .respond(tiny_http::Response::empty(code).with_header(header));
                        }
                        Reply::RetryAfterDate(code, secs) => {
                            // HTTP dates count whole seconds: the current
                            // one, truncated, plus `secs`.
                            let now = SystemTime::now()
                                .duration_since(UNIX_EPOCH)
                                .expect("clock after 1970")
                                .as_secs();
                            let at = UNIX_EPOCH + Duration::from_secs(now + secs);
                            let header = tiny_http::Header::from_bytes(
                                &b"Retry-After"[..],
                                httpdate::fmt_http_date(at).as_bytes(),
                            )
                            .expect("header");
                            let _ = request
                                .respond(tiny_http::Response::empty(code).with_header(header));
                        }
                        Reply::StatusBody(code, body) => {
                            let _ = request.respond(
                                tiny_http::Response::from_string(body).with_status_code(code),
                            );
                        }
                        Reply::Body(code, content_type, body) => {
                            let header = tiny_http::Header::from_bytes(
                                &b"Content-Type"[..],
                                content_type.as_bytes(),
                            )
                            .expect("header");
                            let _ = request.respond(
                                tiny_http::Response::from_data(body)
                                    .with_status_code(code)
                                    .with_header(header),
                            );
                        }
                        Reply::Hang => held.push(request),
                    }
                }
                drop(held);
            })
        };
        TestServer {
            addr,
            server,
            stop,
            thread: Some(thread),
            requests: rx,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/metrics", self.addr)
    }

    /// The next request, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Received> {
        match self.requests.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Exactly `n` requests, failing the test if they do not come within
    /// `timeout` in all.
    pub fn take(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        (0..n)
            .map(|i| {
                let left = end.saturating_duration_since(Instant::now());
                self.next(left).unwrap_or_else(|| {
                    panic!("request {} of {n} did not arrive within {timeout:?}", i + 1)
                })
            })
            .collect()
    }

    /// Requests already received and not yet taken.
    pub fn drain(&self) -> Vec<Received> {
        self.requests.try_iter().collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A free port on 127.0.0.1 with nothing listening on it (bound, then
/// released): connections to it are refused until a server binds it.
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// Waits until `cond` holds, checking every few milliseconds, and fails the
/// test after `timeout`. For state only observable by polling (counters).
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A batch of four views whose values all derive from `n`, so a test can
/// tell batches apart and check the values that arrive:
/// - `test/requests_count` (Count, key `method`): rows GET = n, POST = 2n
///   and the overflow row = 1;
/// - `test/bytes_sum` (Sum of i64, no keys): one row = 1000 + n;
/// - `test/temperature` (LastValue of f64, key `room`): one row with the
///   key absent, value n + 0.5;
/// - `test/latency` (Distribution [10, 100] of f64, keys `method`,
///   `status`): one row GET/200 with values 5, 50 and 500 + n.
pub fn sample_batch(n: u64) -> Vec<ViewData> {
    let start = at(1_700_000_000);
    let end = SystemTime::now();
    let requests = MeasureI64::new("test/requests", "requests", "1").expect("measure");
    let bytes = MeasureI64::new("test/bytes", "bytes", "By").expect("measure");
    let temp = MeasureF64::new("test/temperature", "temperature", "Cel").expect("measure");
    let latency = MeasureF64::new("test/latency", "latency", "ms").expect("measure");
    let count = view(
        "test/requests_count",
        &requests,
        &["method"],
        Aggregation::Count,
    );
    let sum = view("test/bytes_sum", &bytes, &[], Aggregation::Sum);
    let last = view("test/temperature", &temp, &["room"], Aggregation::LastValue);
    let bounds = [10.0, 100.0];
    let dist = view(
        "test/latency",
        &latency,
        &["method", "status"],
        Aggregation::distribution(bounds).expect("bounds"),
    );
    let values = [5.0, 50.0, 500.0 + n as f64];
    vec![
        ViewData::new(
            count,
            start,
            end,
            vec![
                row(&[Some("GET")], AggregationData::Count(n), start),
                row(&[Some("POST")], AggregationData::Count(2 * n), start),
                Row::overflow(1, AggregationData::Count(1), start),
            ],
        ),
        ViewData::new(
            sum,
            start,
            end,
            vec![row(
                &[],
                AggregationData::Sum(Number::Int(1000 + n as i64)),
                start,
            )],
        ),
        ViewData::new(
            last,
            start,
            end,
            vec![row(
                &[None],
                AggregationData::LastValue(Number::Float(n as f64 + 0.5)),
                start,
            )],
        ),
        ViewData::new(
            dist,
            start,
            end,
            vec![row(
                &[Some("GET"), Some("200")],
                AggregationData::Distribution(distribution(&values, &bounds)),
                start,
            )],
        ),
    ]
}

/// The `n` a census.v1 body made by `sample_batch(n)` carries (from the
/// GET row of `test/requests_count`).
pub fn census_json_batch_number(body: &serde_json::Value) -> u64 {
    let view = body["views"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == "test/requests_count"))
        .expect("test/requests_count in body");
    let row = view["rows"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["tags"]["method"] == "GET"))
        .expect("GET row");
    row["count"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("count string")
}

/// The `n` an OTLP JSON body made by `sample_batch(n)` carries.
pub fn otlp_json_batch_number(body: &serde_json::Value) -> u64 {
    let metric = body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == "test/requests_count"))
        .expect("test/requests_count in body");
    let point = metric["sum"]["dataPoints"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["attributes"][0]["value"]["stringValue"] == "GET")
        })
        .expect("GET point");
    point["asInt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("asInt string")
}

/// A remote write `WriteRequest` decoder written from the remote write 1.0
/// specification's message definitions, independently of the exporter's.
pub mod remote_write {
    /// One series as the test sees it.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Series {
        pub labels: Vec<(String, String)>,
        pub value: f64,
        pub timestamp_ms: i64,
    }

    impl Series {
        pub fn label(&self, name: &str) -> Option<&str> {
            self.labels
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Label {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, tag = "2")]
        value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(double, tag = "1")]
        value: f64,
        #[prost(int64, tag = "2")]
        timestamp: i64,
    }

    /// Decodes an uncompressed `WriteRequest`; each series must hold
    /// exactly one sample.
    pub fn decode(body: &[u8]) -> Vec<Series> {
        use prost::Message;
        let request = WriteRequest::decode(body).expect("a WriteRequest");
        request
            .timeseries
            .into_iter()
            .map(|s| {
                assert_eq!(s.samples.len(), 1, "one sample per series");
                Series {
                    labels: s.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                    value: s.samples[0].value,
                    timestamp_ms: s.samples[0].timestamp,
                }
            })
            .collect()
    }
}

/// The python with opentelemetry-proto and protobuf (env `CENSUS_PYTHON`).
/// `None` (with a note on stderr) when it is missing locally; a failure
/// when it is missing in CI, where .ci/run installs it.
pub fn otlp_python() -> Option<PathBuf> {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let missing = |why: String| -> Option<PathBuf> {
        assert!(!ci, "CI=true but the OTLP validator is unavailable: {why}");
        eprintln!("skipping OTLP protobuf validation: {why}");
        None
    };
    let Some(python) = std::env::var_os("CENSUS_PYTHON") else {
        return missing(
            "CENSUS_PYTHON is not set (point it at a python with opentelemetry-proto and protobuf)"
                .into(),
        );
    };
    let python = PathBuf::from(python);
    let probe = Command::new(&python)
        .args([
            "-c",
            "import google.protobuf.json_format, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        ])
        .output();
    match probe {
        Ok(out) if out.status.success() => Some(python),
        Ok(out) => missing(format!(
            "{} cannot import the OTLP protobufs: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => missing(format!("{} does not run: {e}", python.display())),
    }
}

/// Parses `body` with protobuf's own JSON parser into an
/// `ExportMetricsServiceRequest`, unknown fields refused, and returns the
/// message printed back by protobuf (as JSON, with field names as in the
/// .proto and int64 as strings), or the parser's error.
pub fn parse_otlp(python: &PathBuf, body: &[u8]) -> Result<serde_json::Value, String> {
    const SCRIPT: &str = r#"
import sys, json
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
msg = ExportMetricsServiceRequest()
json_format.Parse(sys.stdin.buffer.read().decode("utf-8"), msg, ignore_unknown_fields=False)
print(json_format.MessageToJson(msg, preserving_proto_field_name=True))
"#;
    run_python(python, SCRIPT, body)
}

/// Parses `body` as a binary `ExportMetricsServiceRequest` with protobuf's
/// own parser, strictly: the bytes must be exactly what protobuf writes for
/// the message it read, after a round trip through JSON that keeps no
/// unknown field (so no unknown or misnumbered field, no non-canonical
/// encoding). Returns the message printed as `parse_otlp` prints one, or
/// the parser's error.
pub fn parse_otlp_protobuf(python: &PathBuf, body: &[u8]) -> Result<serde_json::Value, String> {
    const SCRIPT: &str = r#"
import sys
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
data = sys.stdin.buffer.read()
msg = ExportMetricsServiceRequest()
msg.ParseFromString(data)
text = json_format.MessageToJson(msg, preserving_proto_field_name=True)
again = ExportMetricsServiceRequest()
json_format.Parse(text, again, ignore_unknown_fields=False)
if again.SerializeToString(deterministic=True) != data:
    sys.exit("the body is not the canonical encoding of the message protobuf read (unknown or misencoded fields)")
print(text)
"#;
    run_python(python, SCRIPT, body)
}

fn run_python(python: &PathBuf, script: &str, body: &[u8]) -> Result<serde_json::Value, String> {
    use std::io::Write;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn python: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(body)
        .map_err(|e| format!("write body: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("python: {e}"))?;
    if !out.status.success() {
        // The last line of the traceback is protobuf's verdict.
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(stderr.lines().last().unwrap_or("python failed").to_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("python printed non-JSON: {e}"))
}

/// Shuts `http` down, which must report batches it did not deliver, in a
/// message holding `expected` (issue #16: shutdown used to report only
/// abandoned batches, not failed or dropped ones).
pub fn shutdown_reporting(http: &census_exporter_http::HttpExporter, expected: &str) {
    use census_core::Exporter;
    match http.shutdown() {
        Ok(()) => panic!("shutdown hid the batches not delivered ({expected})"),
        Err(err) => assert!(err.message().contains(expected), "{err}"),
    }
}
