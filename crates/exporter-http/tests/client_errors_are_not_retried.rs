//! A 4xx other than 408 and 429 is a permanent failure: counted, logged
//! with status and body excerpt, never retried (issue #4), in every
//! format; remote write does not retry 408 either (issue #14), and OTLP
//! retries no status but 429, 502, 503 and 504 (so neither 408 nor 500).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{each_delivery_format, sample_batch, Reply, TestServer};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// An exporter to `server` in `format` whose retries, if it made any,
/// would come at once.
fn fast_retrying(server: &TestServer, format: HttpFormat) -> TestResult<HttpExporter> {
    Ok(HttpExporter::builder(server.url())
        .format(format)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(2))
        .build()?)
}

/// Exports batches `0..n` and returns the batch numbers of the first `n`
/// requests the server receives, in order.
fn send_batches(http: &HttpExporter, server: &TestServer, n: u64) -> TestResult<Vec<u64>> {
    for i in 0..n {
        http.export(&sample_batch(i))?;
    }
    let requests = server.take(n as usize, Duration::from_secs(10));
    Ok(requests.iter().map(|r| r.batch_number()).collect())
}

#[test]
fn client_errors_are_not_retried() -> TestResult {
    each_delivery_format(not_retried)
}

fn not_retried(format: HttpFormat) -> TestResult {
    let server = TestServer::start(|req| match req.index {
        0 => Reply::StatusBody(400, "metric name 'x y' is invalid\n".into()),
        1 => Reply::Status(404),
        _ => Reply::Status(200),
    });
    let http = fast_retrying(&server, format)?;
    let numbers = send_batches(&http, &server, 3)?;
    support::shutdown_reporting(&http, "2 failed");
    assert!(server.drain().is_empty(), "a client error was retried");
    assert_eq!(numbers, [0, 1, 2]);
    let m = http.metrics();
    assert_eq!((m.sent, m.failed, m.retried, m.errors), (1, 2, 0, 2));
    assert_eq!(m.status_codes.get(&400), Some(&1));
    assert_eq!(m.status_codes.get(&404), Some(&1));
    Ok(())
}

#[test]
fn the_error_names_the_status_and_quotes_the_body() -> TestResult {
    let server =
        TestServer::start(|_| Reply::StatusBody(400, "metric name 'x y' is invalid\n".into()));
    let http = HttpExporter::builder(server.url()).build()?;
    http.export(&sample_batch(0))?;
    server.take(1, Duration::from_secs(10));
    support::shutdown_reporting(&http, "1 failed");
    let last = http.metrics().last_error.unwrap_or_default();
    assert!(last.contains("status 400"), "{last}");
    assert!(last.contains("metric name 'x y' is invalid"), "{last}");
    Ok(())
}

/// Remote write 1.0: "MUST NOT retry write requests on HTTP 2xx and 4xx
/// responses other than 429", so a 408 fails the batch.
#[test]
fn remote_write_does_not_retry_a_request_timeout() -> TestResult {
    let server = TestServer::start(|req| match req.index {
        0 => Reply::Status(408),
        _ => Reply::Status(200),
    });
    let http = fast_retrying(&server, HttpFormat::PrometheusRemoteWrite)?;
    let numbers = send_batches(&http, &server, 2)?;
    support::shutdown_reporting(&http, "1 failed");
    assert!(server.drain().is_empty(), "the 408 was retried");
    assert_eq!(numbers, [0, 1]);
    let m = http.metrics();
    assert_eq!((m.sent, m.failed, m.retried), (1, 1, 0));
    Ok(())
}

/// OTLP/HTTP: "All other 4xx or 5xx response status codes MUST NOT be
/// retried" than 429, 502, 503 and 504, so a 408, a 500 and a 501 each
/// fail their batch, in both OTLP encodings.
#[test]
fn otlp_retries_no_status_but_the_four_it_names() -> TestResult {
    for format in [HttpFormat::OtlpProtobuf, HttpFormat::OtlpJson] {
        let server = TestServer::start(|req| match req.index {
            0 => Reply::Status(408),
            1 => Reply::Status(500),
            2 => Reply::Status(501),
            _ => Reply::Status(200),
        });
        let http = fast_retrying(&server, format)?;
        let numbers = send_batches(&http, &server, 4)?;
        support::shutdown_reporting(&http, "3 failed");
        assert!(
            server.drain().is_empty(),
            "{format:?}: a status was retried"
        );
        assert_eq!(numbers, [0, 1, 2, 3], "{format:?}");
        let m = http.metrics();
        assert_eq!((m.sent, m.failed, m.retried), (1, 3, 0), "{format:?}");
    }
    Ok(())
}
