//! A client that sends half a request is closed at the read timeout, one
//! that stops reading its answer at the write timeout, and each closing is
//! counted (issue 18: tiny_http had no timeouts, so such clients held
//! their thread for ever).

mod support;

use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

use census_core::{AggregationData, Exporter};
use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::{pipelining_non_reader, RawConnection, SAFETY_TIMEOUT};
use support::{many_rows, TestResult};

fn closed(exporter: &PrometheusExporter, reason: &str) -> Option<u64> {
    let own = exporter.self_metrics()?.produce();
    let data = own
        .iter()
        .find(|d| d.view.name() == "census/prometheus/closed_connections")?;
    let row = data
        .rows
        .iter()
        .find(|r| r.tags.first().and_then(|t| t.as_ref()).map(|v| v.as_str()) == Some(reason))?;
    match row.data {
        AggregationData::Count(n) => Some(n),
        _ => None,
    }
}

#[test]
fn half_a_request_is_closed_at_the_read_timeout() -> TestResult {
    let timeout = Duration::from_millis(300);
    let exporter = PrometheusExporter::builder()
        .read_timeout(timeout)
        .build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;

    let start = Instant::now();
    let mut half = RawConnection::open(endpoint.local_addr())?;
    half.send(b"GET /metrics HTTP/1.1\r\nHost: cen")?;
    assert!(half.closed_by_server(), "not closed");
    let took = start.elapsed();
    assert!(
        took >= timeout && took < SAFETY_TIMEOUT,
        "closed after {took:?} for a {timeout:?} read timeout"
    );
    assert_eq!(closed(&exporter, "read_timeout"), Some(1));
    assert_eq!(closed(&exporter, "idle_timeout"), Some(0));
    endpoint.stop();
    Ok(())
}

#[test]
fn an_unread_answer_is_dropped_at_the_write_timeout() -> TestResult {
    let timeout = Duration::from_millis(300);
    let exporter = PrometheusExporter::builder()
        .write_timeout(timeout)
        .build()?;
    FakeProducer::attach(&exporter, many_rows(2_000));
    let endpoint = exporter.serve("127.0.0.1:0")?;

    let start = Instant::now();
    let mut stream = pipelining_non_reader(endpoint.local_addr(), 200)?;
    // Reading would let the answers flow again, so the client writes
    // instead: the endpoint reads nothing while it answers, so the writes
    // fill its receive buffer and block until the endpoint closes the
    // connection, which fails them.
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0usize;
    let failure = loop {
        match stream.write_all(&chunk) {
            Ok(()) if sent < 64 << 20 => sent += chunk.len(),
            Ok(()) => panic!("the endpoint took {} MB without reading", sent >> 20),
            Err(err) => break err,
        }
    };
    let took = start.elapsed();
    assert!(
        matches!(
            failure.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "after {took:?}: {failure}"
    );
    assert!(took >= timeout, "closed after {took:?}");
    assert_eq!(closed(&exporter, "write_timeout"), Some(1));
    endpoint.stop();
    Ok(())
}
