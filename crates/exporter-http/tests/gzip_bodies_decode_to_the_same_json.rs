//! With gzip on, bodies travel compressed with Content-Encoding: gzip and
//! decode to the same document (issue #4).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{census_json_batch_number, sample_batch, Reply, TestServer};

#[test]
fn gzip_bodies_decode_to_the_same_json() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let plain = HttpExporter::builder(server.url()).build()?;
    let packed = HttpExporter::builder(server.url()).gzip(true).build()?;
    let batch: Vec<_> = (0..20).flat_map(|_| sample_batch(3)).collect();
    plain.export(&batch)?;
    plain.shutdown()?;
    packed.export(&batch)?;
    packed.shutdown()?;
    let r = server.take(2, Duration::from_secs(10));
    assert_eq!(r[0].header("Content-Encoding"), None);
    assert_eq!(r[1].header("Content-Encoding"), Some("gzip"));
    assert!(
        r[1].raw_len * 4 < r[0].raw_len,
        "{} vs {} bytes",
        r[1].raw_len,
        r[0].raw_len
    );
    assert_eq!(r[0].json()["views"], r[1].json()["views"]);
    assert_eq!(census_json_batch_number(&r[1].json()), 3);
    Ok(())
}

#[test]
fn otlp_bodies_can_be_gzipped_too() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url())
        .format(HttpFormat::OtlpJson)
        .gzip(true)
        .build()?;
    http.export(&sample_batch(1))?;
    http.shutdown()?;
    let r = server.take(1, Duration::from_secs(10));
    assert_eq!(r[0].header("Content-Encoding"), Some("gzip"));
    assert!(r[0].json()["resourceMetrics"].is_array());
    Ok(())
}
