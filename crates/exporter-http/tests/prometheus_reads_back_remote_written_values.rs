//! End to end through remote write (issue #14): a real Prometheus server
//! with its remote write receiver on 127.0.0.1 takes a service's views
//! pushed by the HTTP exporter, and its query API returns the recorded
//! values exactly: a counter, a gauge, and `histogram_quantile` over a
//! Distribution. The names are those the Prometheus exporter would expose.
//! The test starts and kills the server itself.

mod support;

use std::time::{Duration, Instant};

use census_exporter_http::{HttpExporter, HttpFormat};
use census_stats::ViewManager;
use census_testkit::record_sample_service;
use support::PrometheusServer;

#[test]
fn prometheus_reads_back_remote_written_values() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let Some(mut prometheus) = PrometheusServer::receiver()? else {
        return Ok(());
    };
    let http = HttpExporter::builder(prometheus.write_url())
        .format(HttpFormat::PrometheusRemoteWrite)
        .service_name("census-e2e")
        .resource_attribute("service.instance.id", "test-1")
        .build()?;

    let vm = ViewManager::new();
    record_sample_service(&vm)?;
    // Only the final batch: the period is far longer than the test.
    vm.set_reporting_period(Duration::from_secs(3_600));
    vm.register_exporter(http.clone())?;

    // The final export is pushed before shutdown returns.
    let report = vm.shutdown();
    let m = http.metrics();
    assert_eq!(
        (m.sent, m.failed, m.abandoned),
        (1, 0, 0),
        "{m:?} {report:?}"
    );
    assert_eq!(m.status_codes.get(&204), Some(&1), "{m:?}");

    let deadline = started + Duration::from_secs(45);
    let series = "{job=\"census-e2e\",instance=\"test-1\"}";
    let count = prometheus.wait_for(
        "e2e_requests_total{job=\"census-e2e\",instance=\"test-1\",method=\"GET\"}",
        deadline,
        |_| true,
    )?;
    assert_eq!(count, 7.0);
    let count = prometheus.wait_for("e2e_requests_total{method=\"POST\"}", deadline, |_| true)?;
    assert_eq!(count, 1.0);
    let gauge = prometheus.wait_for(&format!("e2e_in_flight{series}"), deadline, |_| true)?;
    assert_eq!(gauge, 3.0);
    let median = prometheus.wait_for(
        "histogram_quantile(0.5, e2e_latency_bucket)",
        deadline,
        |_| true,
    )?;
    assert!((median - 15.0).abs() < 1e-9, "median {median}");
    let total = prometheus.wait_for("e2e_latency_count", deadline, |_| true)?;
    assert_eq!(total, 5.0);
    let sum = prometheus.wait_for("e2e_latency_sum", deadline, |_| true)?;
    assert_eq!(sum, 81.0);
    let inf = prometheus.wait_for("e2e_latency_bucket{le=\"+Inf\"}", deadline, |_| true)?;
    assert_eq!(inf, 5.0);

    drop(prometheus);
    assert!(started.elapsed() < Duration::from_secs(60));
    Ok(())
}
