//! Requests the endpoint will not serve get a status and a reason before
//! their connection closes, and bodies are never read (issue 18: a header
//! with a non-ASCII byte closed the connection with no answer).

mod support;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::RawConnection;
use support::{every_aggregation, TestResult};

#[test]
fn each_malformed_request_is_answered_then_closed() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let cases: [(&[u8], u16); 5] = [
        (b"GET /metrics HTTP/1.1\r\nX-Caf\xc3\xa9: 1\r\n\r\n", 400),
        (b"GET /metrics\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
        // A body is never read: the answer comes before it is sent.
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n",
            405,
        ),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
    ];
    for (request, status) in cases {
        let mut connection = RawConnection::open(endpoint.local_addr())?;
        connection.send(request)?;
        let answer = connection.answer(false)?;
        let shown = String::from_utf8_lossy(request);
        assert_eq!(answer.status, status, "{shown}: {}", answer.text());
        assert_eq!(answer.header("connection"), Some("close"), "{shown}");
        if status == 405 {
            assert_eq!(answer.header("allow"), Some("GET, HEAD"));
        }
        assert!(connection.closed_by_server(), "{shown}");
    }

    // A non-ASCII byte in a header value is allowed (obs-text).
    let mut connection = RawConnection::open(endpoint.local_addr())?;
    connection.send(b"GET /metrics HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\r\n\r\n")?;
    assert_eq!(connection.answer(false)?.status, 200);
    endpoint.stop();
    Ok(())
}
