//! A Retry-After in seconds or as a date sets the wait before the next
//! attempt, cut to the backoff cap (issue #4), in every format (#14).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{each_delivery_format, sample_batch, Reply, TestServer};

#[test]
fn retry_after_is_honoured() -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(seconds)
}

fn seconds(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| match req.index {
        0 => Reply::RetryAfter(503, 1),
        _ => Reply::Status(200),
    });
    // Without the header the retry would come within 2 ms.
    let http = HttpExporter::builder(server.url())
        .format(format)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(2) * 2_000)
        .build()?;
    http.export(&sample_batch(0))?;
    let r = server.take(2, Duration::from_secs(10));
    http.shutdown()?;
    let gap = r[1].at - r[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After: 1"
    );
    assert!(
        gap < Duration::from_secs(3),
        "waited {gap:?} for Retry-After: 1"
    );
    assert_eq!(r[0].idempotency_key(), r[1].idempotency_key());
    Ok(())
}

#[test]
fn a_long_retry_after_is_cut_to_the_backoff_cap() -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(cut_to_the_cap)
}

fn cut_to_the_cap(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| match req.index {
        0 => Reply::RetryAfter(429, 3_600),
        _ => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url())
        .format(format)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(300))
        .build()?;
    http.export(&sample_batch(0))?;
    let r = server.take(2, Duration::from_secs(10));
    http.shutdown()?;
    let gap = r[1].at - r[0].at;
    assert!(
        gap >= Duration::from_millis(300),
        "retried after {gap:?}, before the cap"
    );
    assert!(
        gap < Duration::from_secs(3),
        "waited {gap:?}: the cap did not apply"
    );
    Ok(())
}

#[test]
fn a_retry_after_date_is_honoured() -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(date)
}

fn date(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    // Two seconds past the current whole second: between 1 and 2 s away.
    let server = TestServer::start(|req| match req.index {
        0 => Reply::RetryAfterDate(503, 2),
        _ => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url())
        .format(format)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_secs(10))
        .build()?;
    http.export(&sample_batch(0))?;
    let r = server.take(2, Duration::from_secs(10));
    http.shutdown()?;
    let gap = r[1].at - r[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "retried after {gap:?}, before the date"
    );
    assert!(
        gap < Duration::from_secs(4),
        "waited {gap:?} for a date 2 s ahead"
    );
    Ok(())
}
