//! A `Retry-After` says how long to wait at least; it does not switch the
//! backoff off. A server (or a proxy in front of it) answering
//! `503` with `Retry-After: 0`, or a date already past, used to get every
//! retry at once: 1,000 requests in a second with `backoff_base` at
//! 100 ms, and a batch of delta data, retried until it arrives, would be
//! sent in a loop until shutdown. `backoff_base` refuses zero for that
//! reason ("retries without a wait would hammer a failing endpoint").

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{sample_batch, Reply, TestServer};

#[test]
fn a_zero_retry_after_still_backs_off() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::RetryAfter(503, 0));
    let http = HttpExporter::builder(server.url())
        .max_attempts(8)
        .backoff_base(Duration::from_millis(50))
        .backoff_cap(Duration::from_millis(400))
        .build()?;
    http.export(&sample_batch(0))?;
    let requests = server.take(8, Duration::from_secs(30));
    support::shutdown_reporting(&http, "1 failed");
    assert_eq!(requests.len(), 8);
    // Seven waits drawn from [0, 50], [0, 100], [0, 200] and [0, 400] ms
    // four times: below 60 ms in all with a chance of about 2e-8; without
    // the backoff they came back to back (about a millisecond in all).
    let spent = requests[7].at - requests[0].at;
    assert!(
        spent >= Duration::from_millis(60),
        "eight attempts within {spent:?}: Retry-After: 0 switched the backoff off"
    );
    Ok(())
}
