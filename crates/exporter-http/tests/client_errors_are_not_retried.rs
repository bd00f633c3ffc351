//! A 4xx other than 408 and 429 is a permanent failure: counted, logged
//! with status and body excerpt, never retried (issue #4).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{census_json_batch_number, sample_batch, Reply, TestServer};

#[test]
fn client_errors_are_not_retried() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| match req.index {
        0 => Reply::StatusBody(400, "metric name 'x y' is invalid\n".into()),
        1 => Reply::Status(404),
        _ => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url())
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(2))
        .build()?;
    for n in 0..3 {
        http.export(&sample_batch(n))?;
    }
    let requests = server.take(3, Duration::from_secs(10));
    http.shutdown()?;
    assert!(server.drain().is_empty(), "a client error was retried");
    let numbers: Vec<u64> = requests
        .iter()
        .map(|r| census_json_batch_number(&r.json()))
        .collect();
    assert_eq!(numbers, [0, 1, 2]);
    let m = http.metrics();
    assert_eq!((m.sent, m.failed, m.retried, m.errors), (1, 2, 0, 2));
    assert_eq!(m.status_codes.get(&400), Some(&1));
    assert_eq!(m.status_codes.get(&404), Some(&1));
    Ok(())
}

#[test]
fn the_error_names_the_status_and_quotes_the_body() -> Result<(), Box<dyn std::error::Error>> {
    let server =
        TestServer::start(|_| Reply::StatusBody(400, "metric name 'x y' is invalid\n".into()));
    let http = HttpExporter::builder(server.url()).build()?;
    http.export(&sample_batch(0))?;
    server.take(1, Duration::from_secs(10));
    http.shutdown()?;
    let last = http.metrics().last_error.unwrap_or_default();
    assert!(last.contains("status 400"), "{last}");
    assert!(last.contains("metric name 'x y' is invalid"), "{last}");
    Ok(())
}
