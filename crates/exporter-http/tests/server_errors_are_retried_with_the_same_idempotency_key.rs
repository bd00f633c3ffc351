//! 503, 429, 408 and 500 are retried until the endpoint accepts, with the
//! same Idempotency-Key and body on every attempt (issue #4).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{census_json_batch_number, sample_batch, Reply, TestServer};

#[test]
fn server_errors_are_retried_with_the_same_idempotency_key(
) -> Result<(), Box<dyn std::error::Error>> {
    let failures = [503, 429, 408, 500];
    let server = TestServer::start(move |req| match failures.get(req.index) {
        Some(code) => Reply::Status(*code),
        None => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url())
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
    assert_eq!(census_json_batch_number(&requests[4].json()), 0);
    assert_eq!(census_json_batch_number(&requests[5].json()), 1);
    assert_eq!(census_json_batch_number(&requests[6].json()), 2);
    assert_ne!(requests[5].idempotency_key(), first_key);
    assert_ne!(requests[5].idempotency_key(), requests[6].idempotency_key());

    let m = http.metrics();
    assert_eq!((m.sent, m.retried, m.errors, m.failed), (3, 4, 4, 0));
    for code in failures {
        assert_eq!(m.status_codes.get(&code), Some(&1), "status {code}");
    }
    assert_eq!(m.status_codes.get(&200), Some(&3));
    let last = m.last_error.unwrap_or_default();
    assert!(last.contains("500"), "{last}");
    Ok(())
}

#[test]
fn a_batch_fails_after_max_attempts_and_the_next_one_goes_out(
) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| {
        if req.index < 3 {
            Reply::Status(502)
        } else {
            Reply::Status(200)
        }
    });
    let http = HttpExporter::builder(server.url())
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .max_attempts(3)
        .build()?;
    http.export(&sample_batch(0))?;
    http.export(&sample_batch(1))?;
    let requests = server.take(4, Duration::from_secs(10));
    http.shutdown()?;
    assert!(requests[..3]
        .iter()
        .all(|r| census_json_batch_number(&r.json()) == 0));
    assert_eq!(census_json_batch_number(&requests[3].json()), 1);
    let m = http.metrics();
    assert_eq!((m.sent, m.failed, m.retried, m.errors), (1, 1, 2, 3));
    Ok(())
}
