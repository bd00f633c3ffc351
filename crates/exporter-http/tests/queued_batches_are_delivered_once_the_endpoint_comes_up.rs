//! While the endpoint is down (connection refused) batches wait in the
//! queue; once it comes up every one of them is delivered, in order
//! (issue #4).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{census_json_batch_number, closed_port, sample_batch, wait_until, Reply, TestServer};

#[test]
fn queued_batches_are_delivered_once_the_endpoint_comes_up(
) -> Result<(), Box<dyn std::error::Error>> {
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .backoff_base(Duration::from_millis(20))
        .backoff_cap(Duration::from_millis(100))
        .max_attempts(1_000)
        .build()?;
    for n in 0..5 {
        http.export(&sample_batch(n))?;
    }
    wait_until(Duration::from_secs(10), "refused connections", || {
        http.metrics().errors >= 3
    });
    let m = http.metrics();
    assert_eq!((m.sent, m.failed, m.dropped, m.pending), (0, 0, 0, 5));
    assert!(m.last_error.is_some());

    let server = TestServer::start_on(addr, |_| Reply::Status(200));
    let requests = server.take(5, Duration::from_secs(10));
    http.shutdown()?;
    let numbers: Vec<u64> = requests
        .iter()
        .map(|r| census_json_batch_number(&r.json()))
        .collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4]);
    let m = http.metrics();
    assert_eq!(
        (m.sent, m.failed, m.dropped, m.abandoned, m.pending),
        (5, 0, 0, 0, 0)
    );
    assert!(m.retried >= 3);
    Ok(())
}
