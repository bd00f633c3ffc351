//! Two clients that pipeline 200 scrapes each and never read their
//! answers stay attached while three ordinary scrapes are each answered
//! within 2 s (issue 18: on tiny_http both answering threads sat in writes
//! to those clients and no other scrape was answered).

mod support;

use std::time::Duration;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::{pipelining_non_reader, scrape_within};
use support::{many_rows, TestResult};

#[test]
fn scrapes_are_answered_while_two_pipelining_clients_never_read() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    // 2,000 rows make each answer about 80 KB, so 200 unread answers are
    // far more than the sockets can buffer.
    FakeProducer::attach(&exporter, many_rows(2_000));
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    // Each has been sent at least one byte of an answer when this returns.
    let non_readers = [
        pipelining_non_reader(addr, 200)?,
        pipelining_non_reader(addr, 200)?,
    ];
    for _ in 0..3 {
        scrape_within(addr, Duration::from_secs(2))?;
    }
    drop(non_readers);
    endpoint.stop();
    Ok(())
}
