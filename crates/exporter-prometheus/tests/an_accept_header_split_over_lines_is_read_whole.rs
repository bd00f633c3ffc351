//! A scraper that sends its `Accept` preferences on two header lines gets
//! the format the combined list prefers: HTTP reads several lines of one
//! field as one comma-separated list (RFC 9110, section 5.3). Before,
//! only the last line counted, so OpenMetrics asked for on the first line
//! was answered in the text format.

mod support;

use census_exporter_prometheus::{PrometheusExporter, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use support::raw_client::RawConnection;
use support::TestResult;

#[test]
fn both_accept_lines_take_part_in_the_choice() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let cases: [(&[u8], &str); 3] = [
        (
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\
              Accept: text/plain;q=0.1\r\n\r\n",
            OPENMETRICS_CONTENT_TYPE,
        ),
        (
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;q=0.2\r\n\
              Accept: text/plain;q=0.9\r\n\r\n",
            TEXT_CONTENT_TYPE,
        ),
        (
            b"GET /metrics HTTP/1.1\r\nAccept: text/plain;q=0.3\r\n\
              accept: application/openmetrics-text;q=0.5\r\n\r\n",
            OPENMETRICS_CONTENT_TYPE,
        ),
    ];
    let mut connection = RawConnection::open(endpoint.local_addr())?;
    for (request, content_type) in cases {
        connection.send(request)?;
        let answer = connection.answer(false)?;
        let shown = String::from_utf8_lossy(request);
        assert_eq!(answer.status, 200, "{shown}");
        assert_eq!(answer.header("content-type"), Some(content_type), "{shown}");
    }
    endpoint.stop();
    Ok(())
}
