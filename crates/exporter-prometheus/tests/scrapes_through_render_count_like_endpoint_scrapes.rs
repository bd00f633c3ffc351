//! A service that serves `/metrics` from its own web framework, through
//! `render()`, `render_for_accept()` or `render_as()`, sees its scrapes
//! counted in `census/prometheus/scrapes` by format, as the built-in
//! endpoint counts its own.

mod support;

use census_exporter_prometheus::{PrometheusExporter, PrometheusFormat};
use census_stats::ViewManager;
use support::{parse, TestResult};

#[test]
fn renders_count_as_scrapes_of_their_format() -> TestResult {
    let vm = ViewManager::new();
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;

    let scrapes = |format: &str| -> Result<Option<f64>, String> {
        // Read through a render of its own, which counts only after it
        // has rendered: the counts show the scrapes before it.
        let (_, body) = exporter.render_as(PrometheusFormat::Text);
        let parsed = parse(&body, false)?;
        Ok(parsed.find("census_prometheus_scrapes_total", &[("format", format)]))
    };
    assert_eq!(scrapes("text")?, Some(0.0));
    // That read was a text scrape.
    assert_eq!(scrapes("text")?, Some(1.0));

    let _ = exporter.render();
    let (content_type, _) = exporter.render_for_accept(Some("application/openmetrics-text"));
    assert!(content_type.starts_with("application/openmetrics-text"));
    let _ = exporter.render_as(PrometheusFormat::OpenMetrics);
    // Two reads and one render() before this read.
    assert_eq!(scrapes("text")?, Some(3.0));
    assert_eq!(scrapes("openmetrics")?, Some(2.0));
    vm.shutdown();
    Ok(())
}
