//! An endpoint holding its most connections, all idle, closes the one idle
//! longest to take a new one, so a flood of connections that send nothing
//! cannot keep a scraper out (issue 18).

mod support;

use std::time::Duration;

use census_core::{AggregationData, Exporter};
use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::{connect, scrape_within, RawConnection};
use support::{every_aggregation, TestResult};

const MAX: usize = 8;

fn evicted(exporter: &PrometheusExporter) -> Option<u64> {
    let own = exporter.self_metrics()?.produce();
    let data = own
        .iter()
        .find(|d| d.view.name() == "census/prometheus/closed_connections")?;
    let row = data
        .rows
        .iter()
        .find(|r| r.tags.first().and_then(|t| t.as_ref()).map(|v| v.as_str()) == Some("evicted"))?;
    match row.data {
        AggregationData::Count(n) => Some(n),
        _ => None,
    }
}

#[test]
fn idle_connections_give_way_to_scrapes() -> TestResult {
    let exporter = PrometheusExporter::builder().max_connections(MAX).build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let mut first = RawConnection::open(addr)?;
    let others = (1..MAX + 40)
        .map(|_| connect(addr))
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..3 {
        scrape_within(addr, Duration::from_secs(2))?;
    }
    // The first connection was the oldest idle one when the endpoint
    // filled: it was closed, and every idle newcomer past MAX, and the
    // first scrape, evicted one (later scrapes may find the room an
    // earlier one left).
    assert!(
        first.closed_by_server(),
        "the oldest idle connection is open"
    );
    let evicted = evicted(&exporter).unwrap_or(0);
    assert!(
        evicted > 40,
        "{evicted} connections evicted for 41 newcomers past {MAX}"
    );
    drop(others);
    endpoint.stop();
    Ok(())
}
