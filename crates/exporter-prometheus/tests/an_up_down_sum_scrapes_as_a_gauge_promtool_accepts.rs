//! An up-down sum is a gauge to Prometheus: +3 then -5 scrapes as `gauge`
//! -2 (no `_total`), in both formats, and promtool's lint finds nothing
//! (issue #12).

mod support;

use std::time::Duration;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_exporter_prometheus::{PrometheusExporter, PrometheusFormat};
use census_stats::{MeasurementMap, ViewManager};
use support::{parse, promtool_check, TestResult};

#[test]
fn plus_three_minus_five_scrapes_as_gauge_minus_two() -> TestResult {
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    let in_flight = MeasureI64::new("http/in_flight", "requests being served", "1")?;
    let balance = MeasureF64::new("acct/balance", "account balance", "1")?;
    let route = TagKey::new("route")?;
    vm.register_view(
        View::builder("http/in_flight", &in_flight)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::UpDownSum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("acct/balance", &balance)
            .aggregation(Aggregation::UpDownSum)
            .build()?,
    )?;
    // A plain Sum beside it stays a counter.
    vm.register_view(
        View::builder("http/requests", &in_flight)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let exporter = PrometheusExporter::builder().namespace("app").build()?;
    vm.register_exporter(exporter.clone())?;

    let home = TagMap::new().with(&route, "/home")?;
    let up = vm.bind(&in_flight, &home);
    up.record(3);
    MeasurementMap::new()
        .put(&in_flight, -5)
        .put(&balance, 1.5)
        .record_to(&vm, &home);
    MeasurementMap::new()
        .put(&balance, -4.0)
        .record_to(&vm, &TagMap::new());

    let (_, text) = exporter.render();
    let parsed = parse(&text, false)?;
    assert_eq!(parsed.kind("app_http_in_flight"), Some("gauge"), "{text}");
    assert_eq!(
        parsed.find("app_http_in_flight", &[("route", "/home")]),
        Some(-2.0),
        "{text}"
    );
    assert!(!text.contains("app_http_in_flight_total"), "{text}");
    assert_eq!(parsed.kind("app_acct_balance"), Some("gauge"), "{text}");
    assert_eq!(parsed.find("app_acct_balance", &[]), Some(-2.5), "{text}");
    assert_eq!(
        parsed.kind("app_http_requests_total"),
        Some("counter"),
        "{text}"
    );
    assert_eq!(
        parsed.find("app_http_requests_total", &[("route", "/home")]),
        Some(-2.0),
        "a plain Sum keeps adding negative values, as before: {text}"
    );
    if let Some(verdict) = promtool_check(&text) {
        assert_eq!(verdict, Ok(String::new()), "promtool on:\n{text}");
    }

    let (_, open) = exporter.render_as(PrometheusFormat::OpenMetrics);
    let parsed = parse(&open, true)?;
    assert_eq!(parsed.kind("app_http_in_flight"), Some("gauge"), "{open}");
    assert_eq!(
        parsed.find("app_http_in_flight", &[("route", "/home")]),
        Some(-2.0),
        "{open}"
    );
    vm.shutdown();
    Ok(())
}
