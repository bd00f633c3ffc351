//! An endpoint that stays down never makes the queue grow past its
//! capacity, every dropped batch is counted exactly, export() stays
//! fast, and shutdown reports the batches it could not deliver (issue #4).

mod support;

use std::time::{Duration, Instant};

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{closed_port, sample_batch, wait_until};

#[test]
fn a_down_endpoint_keeps_memory_bounded_and_counts_drops() -> Result<(), Box<dyn std::error::Error>>
{
    const CAPACITY: u64 = 4;
    const N: u64 = 200;
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .queue_capacity(CAPACITY as usize)
        .backoff_base(Duration::from_millis(5))
        .backoff_cap(Duration::from_millis(20))
        .max_attempts(u32::MAX)
        .shutdown_deadline(Duration::from_millis(200))
        .build()?;
    let mut slowest = Duration::ZERO;
    for n in 0..N {
        let t = Instant::now();
        http.export(&sample_batch(n))?;
        slowest = slowest.max(t.elapsed());
        let m = http.metrics();
        assert!(
            m.pending <= CAPACITY + 1,
            "pending {} past capacity + 1 in flight",
            m.pending
        );
    }
    // Serialising four small views and enqueueing takes microseconds; a
    // network wait would take the connect attempt at least.
    assert!(
        slowest < Duration::from_millis(100),
        "an export took {slowest:?}"
    );
    wait_until(Duration::from_secs(10), "a refused attempt", || {
        http.metrics().errors >= 1
    });

    let m = http.metrics();
    assert_eq!((m.enqueued, m.sent, m.failed), (N, 0, 0));
    assert!(
        m.pending == CAPACITY || m.pending == CAPACITY + 1,
        "pending {}",
        m.pending
    );
    assert_eq!(
        m.dropped,
        N - m.pending,
        "every batch not pending was dropped and counted"
    );

    let t = Instant::now();
    let err = match http.shutdown() {
        Ok(()) => panic!("shutdown reported success with the endpoint down"),
        Err(err) => err,
    };
    assert!(
        t.elapsed() < Duration::from_millis(200 + 300),
        "shutdown took {:?}",
        t.elapsed()
    );
    let after = http.metrics();
    assert_eq!(after.abandoned, m.pending);
    assert_eq!(after.pending, 0);
    assert_eq!(after.dropped + after.abandoned, N);
    // The error counts every batch not delivered, the dropped ones too
    // (issue #16: it used to name only the abandoned).
    assert!(
        err.message().contains(&format!(
            "{} dropped while queued, {} abandoned",
            after.dropped, m.pending
        )),
        "{err}"
    );
    // Refused after shutdown, not queued.
    assert!(http.export(&sample_batch(0)).is_err());
    assert_eq!(http.metrics().enqueued, N);
    Ok(())
}
