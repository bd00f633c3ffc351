//! A request line naming a version the endpoint does not speak is answered
//! `505` and the connection closed (issue 18: tiny_http never answered
//! `HTTP/2.0`).

mod support;

use census_exporter_prometheus::PrometheusExporter;
use support::raw_client::RawConnection;
use support::TestResult;

#[test]
fn http_2_and_http_2_prior_knowledge_get_505() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    for request in [
        &b"GET /metrics HTTP/2.0\r\nHost: census.test\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /metrics HTTP/3\r\n\r\n",
    ] {
        let mut connection = RawConnection::open(endpoint.local_addr())?;
        connection.send(request)?;
        let answer = connection.answer(false)?;
        assert_eq!(answer.status, 505, "{}", String::from_utf8_lossy(request));
        assert!(answer.text().contains("HTTP/1.1"), "{}", answer.text());
        assert!(connection.closed_by_server());
    }
    endpoint.stop();
    Ok(())
}
