//! End to end: a real Prometheus server scrapes our endpoint on loopback
//! every second, and its query API returns the values census recorded for
//! a counter, a gauge and a histogram quantile. The test starts and kills
//! the server itself and finishes well within a minute.

mod support;

use std::time::{Duration, Instant};

use census_exporter_prometheus::PrometheusExporter;
use census_stats::ViewManager;
use census_testkit::record_sample_service;
use support::{PrometheusServer, TestResult};

#[test]
fn prometheus_reads_back_a_counter_a_gauge_and_a_histogram_quantile() -> TestResult {
    let started = Instant::now();
    let vm = ViewManager::new();
    record_sample_service(&vm)?;
    let exporter = PrometheusExporter::builder().namespace("census").build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;

    let Some(mut prometheus) = PrometheusServer::start(&endpoint.local_addr().to_string())? else {
        return Ok(());
    };
    let deadline = started + Duration::from_secs(45);
    let up = prometheus.wait_for("up{job=\"census\"}", deadline, |v| v == 1.0)?;
    assert_eq!(up, 1.0);
    let count = prometheus.wait_for(
        "census_e2e_requests_total{method=\"GET\"}",
        deadline,
        |_| true,
    )?;
    assert_eq!(count, 7.0);
    let gauge = prometheus.wait_for("census_e2e_in_flight", deadline, |_| true)?;
    assert_eq!(gauge, 3.0);
    let median = prometheus.wait_for(
        "histogram_quantile(0.5, census_e2e_latency_bucket)",
        deadline,
        |_| true,
    )?;
    assert!((median - 15.0).abs() < 1e-9, "median {median}");
    let total = prometheus.wait_for("census_e2e_latency_count", deadline, |_| true)?;
    assert_eq!(total, 5.0);
    let sum = prometheus.wait_for("census_e2e_latency_sum", deadline, |_| true)?;
    assert_eq!(sum, 81.0);
    // Prometheus 2.x asks for OpenMetrics first: the values above came
    // through our OpenMetrics output, and our own counter says so.
    let om_scrapes = prometheus.wait_for(
        "census_census_prometheus_scrapes_total{format=\"openmetrics\"}",
        deadline,
        |v| v >= 1.0,
    )?;
    assert!(om_scrapes >= 1.0);

    drop(prometheus);
    vm.shutdown();
    endpoint.stop();
    assert!(started.elapsed() < Duration::from_secs(60));
    Ok(())
}
