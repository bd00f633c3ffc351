//! An endpoint that accepts connections and never answers: each attempt
//! ends at the timeout, the sender moves on to the next batch, export()
//! never waits, and shutdown returns within its deadline (issue #4), in
//! every format (issue #14).

mod support;

use std::time::{Duration, Instant};

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{each_delivery_format, sample_batch, Reply, TestServer};

#[test]
fn a_silent_endpoint_times_out_and_shutdown_keeps_its_deadline(
) -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(times_out)
}

fn times_out(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Hang);
    let timeout = Duration::from_millis(300);
    let deadline = Duration::from_millis(500);
    let http = HttpExporter::builder(server.url())
        .format(format)
        .timeout(timeout)
        .max_attempts(2)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .shutdown_deadline(deadline)
        .build()?;
    http.export(&sample_batch(0))?;
    let first = server.take(1, Duration::from_secs(10));

    // The sender is now stuck waiting for an answer; export must not be.
    let t = Instant::now();
    http.export(&sample_batch(1))?;
    http.export(&sample_batch(2))?;
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "export waited {:?}",
        t.elapsed()
    );

    // Batch 0: two attempts, each ended by the timeout; then batch 1.
    let next = server.take(2, Duration::from_secs(10));
    // The server stamps a request once it has read it, a little after the
    // client's timeout started, so the gap it sees may fall short of the
    // timeout by that reading time; without the timeout the retry would
    // come within the 5 ms backoff cap.
    let gap = next[0].at - first[0].at;
    assert!(
        gap + Duration::from_millis(20) >= timeout,
        "retried after {gap:?}, before the timeout"
    );
    assert_eq!(next[0].idempotency_key(), first[0].idempotency_key());
    assert_eq!(next[1].batch_number(), 1, "the sender did not move on");
    let m = http.metrics();
    assert_eq!((m.failed, m.sent), (1, 0));
    assert!(m.errors >= 2);
    let last = m.last_error.unwrap_or_default();
    assert!(
        last.to_lowercase().contains("timeout") || last.to_lowercase().contains("timed out"),
        "{last}"
    );

    // Batch 1 is in flight, batch 2 queued; neither can make it.
    let t = Instant::now();
    let result = http.shutdown();
    let took = t.elapsed();
    assert!(
        took < deadline + Duration::from_millis(250),
        "shutdown took {took:?}"
    );
    let err = match result {
        Ok(()) => panic!("shutdown reported success with batches undelivered"),
        Err(err) => err,
    };
    assert!(err.message().contains("not delivered"), "{err}");
    let m = http.metrics();
    assert_eq!(m.pending, 0);
    assert_eq!(
        m.sent + m.failed + m.dropped + m.abandoned,
        m.enqueued,
        "{m:?}"
    );
    assert!(m.abandoned >= 1, "{m:?}");
    Ok(())
}
