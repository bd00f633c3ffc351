//! Retryable statuses are retried until the endpoint accepts, with the
//! same Idempotency-Key and body on every attempt (issue #4), in every
//! format, each with its protocol's list: census.v1 retries 408, 429 and
//! 5xx; remote write 5xx and 429 but not 408 (issue #14); OTLP exactly
//! 429, 502, 503 and 504.

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{each_delivery_format, sample_batch, Reply, TestServer};

#[test]
fn server_errors_are_retried_with_the_same_idempotency_key(
) -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(retried_until_accepted)
}

fn retried_until_accepted(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    let failures = match format {
        // Remote write 1.0 forbids retrying a 4xx other than 429.
        HttpFormat::PrometheusRemoteWrite => [503, 429, 502, 500],
        // OTLP/HTTP retries these four and no other status.
        HttpFormat::OtlpJson | HttpFormat::OtlpProtobuf => [503, 429, 502, 504],
        _ => [503, 429, 408, 500],
    };
    let server = TestServer::start(move |req| match failures.get(req.index) {
        Some(code) => Reply::Status(*code),
        None => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url())
        .format(format)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(20))
        .max_attempts(10)
        .build()?;
    for n in 0..3 {
        http.export(&sample_batch(n))?;
    }
    let requests = server.take(4 + 3, Duration::from_secs(10));
    http.shutdown()?;
    assert!(server.drain().is_empty());

    for request in &requests {
        request.assert_format_headers(format);
    }
    let first_key = requests[0].idempotency_key();
    assert!(!first_key.is_empty());
    for retry in &requests[1..5] {
        assert_eq!(
            retry.idempotency_key(),
            first_key,
            "retry {} changed key",
            retry.index
        );
        assert_eq!(
            retry.body, requests[0].body,
            "retry {} changed body",
            retry.index
        );
    }
    assert_eq!(requests[4].batch_number(), 0);
    assert_eq!(requests[5].batch_number(), 1);
    assert_eq!(requests[6].batch_number(), 2);
    assert_ne!(requests[5].idempotency_key(), first_key);
    assert_ne!(requests[5].idempotency_key(), requests[6].idempotency_key());

    let m = http.metrics();
    assert_eq!((m.sent, m.retried, m.errors, m.failed), (3, 4, 4, 0));
    for code in failures {
        assert_eq!(m.status_codes.get(&code), Some(&1), "status {code}");
    }
    assert_eq!(m.status_codes.get(&200), Some(&3));
    let last = m.last_error.unwrap_or_default();
    assert!(last.contains(&failures[3].to_string()), "{last}");
    Ok(())
}

#[test]
fn a_batch_fails_after_max_attempts_and_the_next_one_goes_out(
) -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(fails_after_max_attempts)
}

fn fails_after_max_attempts(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| {
        if req.index < 3 {
            Reply::Status(502)
        } else {
            Reply::Status(200)
        }
    });
    let http = HttpExporter::builder(server.url())
        .format(format)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .max_attempts(3)
        .build()?;
    http.export(&sample_batch(0))?;
    http.export(&sample_batch(1))?;
    let requests = server.take(4, Duration::from_secs(10));
    support::shutdown_reporting(&http, "1 failed");
    assert!(requests[..3].iter().all(|r| r.batch_number() == 0));
    assert_eq!(requests[3].batch_number(), 1);
    let m = http.metrics();
    assert_eq!((m.sent, m.failed, m.retried, m.errors), (1, 1, 2, 3));
    Ok(())
}
