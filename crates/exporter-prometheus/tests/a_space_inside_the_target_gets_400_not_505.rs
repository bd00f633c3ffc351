//! A request line whose version's place holds something other than an
//! HTTP version, such as the rest of a target with a space in it, is not
//! HTTP/1.x syntax: `400`, not the `505` an HTTP/2.0 request line gets
//! (docs/exporters.md, "The endpoint").

mod support;

use census_exporter_prometheus::PrometheusExporter;
use support::raw_client::RawConnection;
use support::TestResult;

#[test]
fn request_lines_without_a_version_in_place_get_400() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    for request in [
        &b"GET /me trics HTTP/1.1\r\nHost: census.test\r\n\r\n"[..],
        b"GET /metrics?a=b c HTTP/1.1\r\n\r\n",
        b"GET /metrics http/1.1\r\n\r\n",
    ] {
        let shown = String::from_utf8_lossy(request);
        let mut connection = RawConnection::open(endpoint.local_addr())?;
        connection.send(request)?;
        let answer = connection.answer(false)?;
        assert_eq!(answer.status, 400, "{shown}: {}", answer.text());
        assert_eq!(answer.header("connection"), Some("close"), "{shown}");
        assert!(connection.closed_by_server(), "{shown}");
    }
    endpoint.stop();
    Ok(())
}
