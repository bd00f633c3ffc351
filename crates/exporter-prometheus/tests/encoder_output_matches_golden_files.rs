//! Golden tests of the encoder: every aggregation, with tags absent, empty
//! and full of `\` and `"`, plus the overflow row. (Census tag values are
//! printable ASCII, so a line feed cannot reach a label value; the escaping
//! function's unit tests cover `\n`, and the help text here has one.)
//!
//! The golden files were checked by hand against the text format and
//! OpenMetrics specifications and pass `promtool check metrics` (see
//! promtool_accepts_every_aggregation_without_lint.rs).

mod support;

use census_exporter_prometheus::{PrometheusExporter, PrometheusFormat};
use census_testkit::FakeProducer;
use support::{every_aggregation, TestResult};

fn exporter() -> Result<PrometheusExporter, census_core::Error> {
    PrometheusExporter::builder()
        .namespace("myapp")
        .const_label("service", "check\"out")?
        .build()
}

#[test]
fn text_format_matches_golden_file() -> TestResult {
    let exporter = exporter()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let (content_type, body) = exporter.render();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(body, include_str!("golden/every_aggregation.prom"));
    Ok(())
}

#[test]
fn openmetrics_matches_golden_file() -> TestResult {
    let exporter = exporter()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let (content_type, body) = exporter.render_as(PrometheusFormat::OpenMetrics);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(body, include_str!("golden/every_aggregation.openmetrics"));
    Ok(())
}

#[test]
fn without_namespace_or_labels_a_row_without_tags_has_no_braces() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let (_, body) = exporter.render();
    for line in [
        // The row with empty tag values merges into the row without tags:
        // Prometheus reads `k=""` as no label (issue 6).
        "# HELP demo_requests_total requests served\n# TYPE demo_requests_total counter\n\
         demo_requests_total 10\n",
        "demo_in_flight -1.5\n",
        "demo_latency_bucket{le=\"0\"} 1\n",
        "demo_latency_sum 52\ndemo_latency_count 7\n",
        "demo_latency_bucket{census_overflow=\"true\",le=\"+Inf\"} 6\n",
        "demo_requests_total{method=\"C:\\\\temp\\\\\",http_path=\"say \\\"hi\\\"\"} 20\n",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    Ok(())
}

#[test]
fn row_and_view_order_do_not_change_the_output() -> TestResult {
    let exporter = exporter()?;
    let producer = FakeProducer::attach(&exporter, every_aggregation());
    let (_, first) = exporter.render();
    let mut shuffled = every_aggregation();
    shuffled.reverse();
    for data in &mut shuffled {
        data.rows.rotate_left(1);
    }
    producer.set(shuffled);
    let (_, second) = exporter.render();
    assert_eq!(first, second);
    Ok(())
}

#[test]
fn before_attach_the_exposition_is_empty() -> TestResult {
    let exporter = exporter()?;
    assert_eq!(exporter.render().1, "");
    assert_eq!(
        exporter.render_as(PrometheusFormat::OpenMetrics).1,
        "# EOF\n"
    );
    Ok(())
}
