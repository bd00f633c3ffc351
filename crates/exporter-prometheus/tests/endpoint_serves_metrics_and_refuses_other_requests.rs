//! The embedded endpoint answers GET /metrics in the negotiated format, 404
//! elsewhere and 405 for other methods, and counts what it did.

mod support;

use census_core::{AggregationData, Exporter};
use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::{every_aggregation, get, http, parse, TestResult};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn count(exporter: &PrometheusExporter, view: &str, tag: Option<&str>) -> Option<u64> {
    let own = exporter.self_metrics()?.produce();
    let data = own.iter().find(|d| d.view.name() == view)?;
    let row = data
        .rows
        .iter()
        .find(|r| r.tags.first().map(|t| t.as_ref().map(|v| v.as_str())) == tag.map(Some))
        .or_else(|| data.rows.first().filter(|_| tag.is_none()))?;
    match row.data {
        AggregationData::Count(n) => Some(n),
        _ => None,
    }
}

#[test]
fn endpoint_answers_by_path_method_and_accept_header() -> TestResult {
    let exporter = PrometheusExporter::builder().namespace("app").build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let url = endpoint.url();
    assert!(endpoint.local_addr().ip().is_loopback());

    let text = get(&url, None)?;
    assert_eq!(text.status, 200);
    assert_eq!(
        text.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(text.body, exporter.render().1);
    parse(&text.body, false)?;

    let om = get(&url, Some(PROMETHEUS_ACCEPT))?;
    assert_eq!(om.status, 200);
    assert_eq!(
        om.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    parse(&om.body, true)?;

    let with_query = get(&format!("{url}?debug=1"), Some("text/plain"))?;
    assert_eq!(with_query.status, 200);

    let elsewhere = get(&url.replace("/metrics", "/"), None)?;
    assert_eq!(elsewhere.status, 404);
    let elsewhere = get(&url.replace("/metrics", "/metricsx"), None)?;
    assert_eq!(elsewhere.status, 404);
    let posted = http("POST", &url, None)?;
    assert_eq!(posted.status, 405);

    // Two scrapes of the endpoint, and the render() above.
    assert_eq!(
        count(&exporter, "census/prometheus/scrapes", Some("text")),
        Some(3)
    );
    assert_eq!(
        count(&exporter, "census/prometheus/scrapes", Some("openmetrics")),
        Some(1)
    );
    assert_eq!(
        count(&exporter, "census/prometheus/refused_requests", Some("404")),
        Some(2)
    );
    assert_eq!(
        count(&exporter, "census/prometheus/refused_requests", Some("405")),
        Some(1)
    );
    endpoint.stop();
    Ok(())
}

#[test]
fn stopping_the_handle_closes_the_port() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let url = endpoint.url();
    assert_eq!(get(&url, None)?.status, 200);
    endpoint.stop();
    assert!(
        get(&url, None).is_err(),
        "the endpoint still answers after stop"
    );
    Ok(())
}

#[test]
fn exporter_shutdown_stops_every_endpoint() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let first = exporter.serve("127.0.0.1:0")?;
    let second = exporter.clone().serve(":0")?;
    assert_eq!(second.local_addr().ip().to_string(), "127.0.0.1");
    let urls = [first.url(), second.url()];
    for url in &urls {
        assert_eq!(get(url, None)?.status, 200);
    }
    exporter.shutdown()?;
    for url in &urls {
        assert!(
            get(url, None).is_err(),
            "{url} still answers after shutdown"
        );
    }
    // Dropping handles of stopped endpoints is harmless.
    drop((first, second));
    Ok(())
}

#[test]
fn a_taken_port_is_a_config_error_naming_the_address() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let taken = endpoint.local_addr().to_string();
    match exporter.serve(&taken) {
        Err(census_core::Error::InvalidConfig { what, value, .. }) => {
            assert_eq!(
                (what.as_str(), value.as_str()),
                ("listen address", taken.as_str())
            );
        }
        other => panic!("serving twice on {taken} gave {other:?}"),
    }
    Ok(())
}
