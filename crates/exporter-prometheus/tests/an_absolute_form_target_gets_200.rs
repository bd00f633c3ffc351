//! `GET http://host/metrics`, the absolute form HTTP/1.1 servers must
//! accept (RFC 9112, section 3.2.2), is a scrape (issue 18: tiny_http
//! answered 404).

mod support;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::raw_client::exchange;
use support::{every_aggregation, parse, TestResult};

#[test]
fn absolute_form_targets_are_scrapes() -> TestResult {
    let exporter = PrometheusExporter::builder().namespace("app").build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let request = format!("GET http://{addr}/metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let answer = exchange(addr, request.as_bytes())?;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.text(), exporter.render().1);
    parse(&answer.text(), false)?;

    let with_query = format!("GET HTTP://{addr}/metrics?x=1 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    assert_eq!(exchange(addr, with_query.as_bytes())?.status, 200);
    let elsewhere = format!("GET http://{addr}/other HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    assert_eq!(exchange(addr, elsewhere.as_bytes())?.status, 404);
    endpoint.stop();
    Ok(())
}
