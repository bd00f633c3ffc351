//! Requests a client pipelines on one connection are answered in order,
//! HEAD with the head alone, and `Connection: close` ends the connection
//! after its answer.

mod support;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::RawConnection;
use support::{every_aggregation, TestResult};

#[test]
fn pipelined_requests_get_their_answers_in_order() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let body = exporter.render().1;

    let mut connection = RawConnection::open(endpoint.local_addr())?;
    connection.send(
        b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n\
          HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text\r\n\r\n\
          GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )?;
    let get = connection.answer(false)?;
    assert_eq!((get.status, get.text()), (200, body.clone()));
    let head = connection.answer(true)?;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(head.header("date").is_some());
    let missing = connection.answer(false)?;
    assert_eq!(missing.status, 404);
    let openmetrics = connection.answer(false)?;
    assert_eq!(openmetrics.status, 200);
    assert!(openmetrics.text().ends_with("# EOF\n"));
    let last = connection.answer(false)?;
    assert_eq!(
        (last.status, last.header("connection")),
        (200, Some("close"))
    );
    assert!(connection.closed_by_server());
    endpoint.stop();
    Ok(())
}
