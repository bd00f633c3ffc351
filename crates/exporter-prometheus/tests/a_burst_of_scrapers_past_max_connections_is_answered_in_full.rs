//! Scrapers arriving together, more than `max_connections` of them, are
//! all answered: a scraper accepted in a burst sends its request at once,
//! so it is read, not taken for an idle connection and closed to make room
//! for the next newcomer; those past the limit wait for a place instead of
//! being closed. Before, the I/O thread accepted a whole burst before
//! reading any of it and closed accepted scrapers as "idle": 10 resets in
//! 1,400 scrapes in bursts of 70 against the default 64.

mod support;

use std::sync::{Arc, Barrier};

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::exchange;
use support::{every_aggregation, TestResult};

const MAX: usize = 8;
const BURST: usize = 3 * MAX;
const ROUNDS: usize = 20;

#[test]
fn every_scraper_of_a_burst_gets_its_answer() -> TestResult {
    let exporter = PrometheusExporter::builder().max_connections(MAX).build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();
    let mut failed = Vec::new();
    for _ in 0..ROUNDS {
        let start = Arc::new(Barrier::new(BURST));
        let scrapers: Vec<_> = (0..BURST)
            .map(|_| {
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: census.test\r\n\r\n")
                        .map(|answer| answer.status)
                })
            })
            .collect();
        for scraper in scrapers {
            match scraper.join().map_err(|_| "a scraper panicked")? {
                Ok(200) => {}
                other => failed.push(other),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scrapes in bursts of {BURST} (max_connections {MAX}) failed: {failed:?}",
        failed.len(),
        ROUNDS * BURST
    );
    endpoint.stop();
    Ok(())
}
