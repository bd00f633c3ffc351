//! `self_metrics(false)` keeps the exporter's own metrics out of the
//! manager, as on the HTTP exporter: they are not in scrapes, and their
//! names are free for the service's own views.

mod support;

use census_core::{Aggregation, Exporter, MeasureI64, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{parse, TestResult};

#[test]
fn turned_off_they_leave_scrapes_and_names_alone() -> TestResult {
    let quiet = PrometheusExporter::builder().self_metrics(false).build()?;
    assert!(quiet.self_metrics().is_none());
    let vm = ViewManager::new();
    vm.register_exporter(quiet.clone())?;
    // A view under one of the exporter's own names: refused while the
    // exporter reports them (registration_refuses_clashing_names.rs),
    // accepted here.
    let m = MeasureI64::new("census/prometheus/scrapes", "my own scrapes", "1")?;
    vm.register_view(
        View::builder("census/prometheus/scrapes", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    MeasurementMap::new()
        .put(&m, 5)
        .record_to(&vm, &TagMap::new());
    let _ = quiet.render();
    let body = quiet.render().1;
    let parsed = parse(&body, false)?;
    let names: Vec<&str> = parsed.families.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["census_prometheus_scrapes_total"], "{body}");
    assert_eq!(
        parsed.find("census_prometheus_scrapes_total", &[]),
        Some(5.0),
        "{body}"
    );
    vm.shutdown();
    Ok(())
}

#[test]
fn by_default_they_are_reported() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    assert!(exporter.self_metrics().is_some());
    let vm = ViewManager::new();
    vm.register_exporter(exporter.clone())?;
    let body = exporter.render().1;
    let parsed = parse(&body, false)?;
    assert!(
        parsed
            .kind("census_prometheus_scrapes_total")
            .is_some_and(|k| k == "counter"),
        "{body}"
    );
    vm.shutdown();
    Ok(())
}
