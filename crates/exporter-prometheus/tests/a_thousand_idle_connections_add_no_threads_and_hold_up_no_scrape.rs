//! With 1,000 idle connections held open, scrapes are answered within 2 s
//! and the endpoint runs no more threads than configured: its I/O thread
//! and its render threads (issue 18: tiny_http ran a thread per
//! connection, 1,009 threads for 1,000 idle connections).

mod support;

use std::time::Duration;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::process::{ensure_open_files, threads};
use support::raw_client::{connect, scrape_within};
use support::{every_aggregation, TestResult};

const IDLE: usize = 1_000;
/// Connections opened between two scrapes: fewer than the listen backlog
/// (128), which a burst of connections from one loop can otherwise fill
/// faster than a busy machine schedules the endpoint's thread, costing the
/// next connection a one-second SYN retry.
const BATCH: usize = 100;
const RENDER_THREADS: usize = 2;

#[test]
fn scrapes_are_answered_beside_a_thousand_idle_connections() -> TestResult {
    // Both ends of every connection live in this process.
    ensure_open_files(2 * IDLE as u64 + 256)?;
    let exporter = PrometheusExporter::builder()
        .render_threads(RENDER_THREADS)
        .max_connections(IDLE + 16)
        .build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let before = threads();
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let mut idle = Vec::with_capacity(IDLE);
    while idle.len() < IDLE {
        for _ in 0..BATCH {
            idle.push(connect(addr)?);
        }
        // The listener accepts in arrival order, so once this scrape is
        // answered every idle connection so far has been accepted too.
        scrape_within(addr, Duration::from_secs(2))?;
    }
    let added = threads() - before;
    assert!(
        added <= RENDER_THREADS + 1,
        "{IDLE} idle connections left {added} endpoint threads running; configured: \
         {RENDER_THREADS} render threads and 1 I/O thread"
    );
    drop(idle);
    endpoint.stop();
    Ok(())
}
