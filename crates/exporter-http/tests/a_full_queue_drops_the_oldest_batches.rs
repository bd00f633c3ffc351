//! When the queue is full the oldest batches go first, so the freshest
//! data is what arrives once the endpoint is back (issue #4), in every
//! format (issue #14).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{closed_port, each_delivery_format, sample_batch, wait_until, Reply, TestServer};

#[test]
fn a_full_queue_drops_the_oldest_batches() -> Result<(), Box<dyn std::error::Error>> {
    each_delivery_format(drops_the_oldest)
}

fn drops_the_oldest(format: HttpFormat) -> Result<(), Box<dyn std::error::Error>> {
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .format(format)
        .queue_capacity(3)
        .backoff_base(Duration::from_millis(20))
        .backoff_cap(Duration::from_millis(50))
        .max_attempts(u32::MAX)
        .build()?;
    // Batch 0 goes in flight and keeps failing; then the queue fills.
    http.export(&sample_batch(0))?;
    wait_until(Duration::from_secs(10), "batch 0 in flight", || {
        http.metrics().errors >= 1
    });
    for n in 1..10 {
        http.export(&sample_batch(n))?;
    }
    let m = http.metrics();
    assert_eq!((m.pending, m.dropped), (4, 6));

    let server = TestServer::start_on(addr, |_| Reply::Status(200));
    let requests = server.take(4, Duration::from_secs(10));
    // Dropped batches are batches not delivered: shutdown says so (issue
    // #16), though the cumulative values reached the endpoint.
    let err = http
        .shutdown()
        .err()
        .ok_or("shutdown hid the dropped batches")?;
    assert!(err.message().contains("6 dropped"), "{err}");
    assert!(server.drain().is_empty());
    let numbers: Vec<u64> = requests.iter().map(|r| r.batch_number()).collect();
    assert_eq!(numbers, [0, 7, 8, 9]);
    let m = http.metrics();
    assert_eq!((m.sent, m.dropped, m.abandoned), (4, 6, 0));
    Ok(())
}
