//! `promtool check metrics` must pass with no lint output at all on a scrape
//! holding every aggregation, awkward tag values, constant labels and the
//! overflow row. promtool comes from Debian's `prometheus` package; with
//! CI=true a missing promtool fails the test.

mod support;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::{every_aggregation, parse, promtool_check, TestResult};

fn check(exporter: &PrometheusExporter) -> TestResult {
    let (_, body) = exporter.render();
    // Our own parser first: it names the line when something is off.
    let parsed = parse(&body, false)?;
    assert_eq!(parsed.families.len(), 5, "{body}");
    match promtool_check(&body) {
        None => Ok(()),
        Some(Ok(output)) => {
            assert_eq!(output, "", "promtool printed lint findings for\n{body}");
            Ok(())
        }
        Some(Err(output)) => Err(format!("promtool refused the scrape: {output}\n{body}").into()),
    }
}

#[test]
fn promtool_accepts_every_aggregation_with_namespace_and_const_labels() -> TestResult {
    let exporter = PrometheusExporter::builder()
        .namespace("myapp")
        .const_label("service", "check\"out\\")?
        .const_label("zone", "")?
        .build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    check(&exporter)
}

#[test]
fn promtool_accepts_every_aggregation_bare() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    check(&exporter)
}
