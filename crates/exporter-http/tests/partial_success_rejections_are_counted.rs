//! An OTLP receiver that accepts a batch but rejects some of its points
//! says so in `partial_success`; the exporter counts them in
//! `rejected_points`, keeps the message in `last_error`, and does not
//! retry, for JSON and protobuf bodies alike (issue #14).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{sample_batch, Reply, TestServer};

/// `ExportMetricsServiceResponse { partial_success { rejected_data_points:
/// 3, error_message: "bad" } }`, written out by hand from the .proto:
/// field 1 (message), holding field 1 (varint 3) and field 2 ("bad").
const PROTOBUF_ANSWER: [u8; 9] = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];

fn rejections_are_counted(
    format: HttpFormat,
    answer: Reply,
) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(move |req| match req.index {
        0 => answer.clone(),
        _ => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url()).format(format).build()?;
    http.export(&sample_batch(0))?;
    http.export(&sample_batch(1))?;
    server.take(2, Duration::from_secs(10));
    http.shutdown()?;
    assert!(server.drain().is_empty(), "a partial success was retried");
    let m = http.metrics();
    assert_eq!(
        (m.sent, m.retried, m.failed, m.errors),
        (2, 0, 0, 0),
        "{m:?}"
    );
    assert_eq!(m.rejected_points, 3, "{m:?}");
    let last = m.last_error.unwrap_or_default();
    assert!(last.contains("rejected 3 data points: bad"), "{last}");
    Ok(())
}

#[test]
fn json_partial_success_is_counted() -> Result<(), Box<dyn std::error::Error>> {
    let body = br#"{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"bad"}}"#;
    rejections_are_counted(
        HttpFormat::OtlpJson,
        Reply::Body(200, "application/json", body.to_vec()),
    )
}

#[test]
fn protobuf_partial_success_is_counted() -> Result<(), Box<dyn std::error::Error>> {
    rejections_are_counted(
        HttpFormat::OtlpProtobuf,
        Reply::Body(200, "application/x-protobuf", PROTOBUF_ANSWER.to_vec()),
    )
}
