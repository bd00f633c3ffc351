//! The shutdown report tells the truth about delivery (issue #16, finding
//! 2): with the endpoint refusing connections, `shutdown()` returned no
//! unfinished and no failed exporter while the exporter's metrics showed
//! `sent 0, failed 5`. Any batch an exporter failed to deliver, dropped or
//! abandoned now makes it `failed`, with the counts, and its delivery
//! report is in the shutdown report.

mod support;

use std::time::Duration;

use census_exporter_http::HttpExporter;
use census_stats::ViewManager;
use census_testkit::{record, sum_view};
use support::{closed_port, wait_until, Reply, TestServer};

/// A manager exporting every 10 ms, with the kit's untagged Sum view.
fn manager() -> (ViewManager, census_core::MeasureI64) {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    vm.set_reporting_period(Duration::from_millis(10));
    (vm, m)
}

#[test]
fn failed_batches_make_the_report_incomplete() -> Result<(), Box<dyn std::error::Error>> {
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .max_attempts(1)
        .shutdown_deadline(Duration::from_millis(300))
        .build()?;
    let (vm, m) = manager();
    vm.register_exporter(http.clone())?;
    record(&vm, &m, 1);
    wait_until(Duration::from_secs(10), "five failed batches", || {
        http.metrics().failed >= 5
    });
    let report = vm.shutdown();
    assert!(!report.is_complete(), "{report:?}");
    let (name, why) = report.failed.first().ok_or("the exporter is named")?;
    assert_eq!(name, &format!("http exporter (http://{addr}/v1/metrics)"));
    let failed = http.metrics().failed;
    assert!(why.contains(&format!("{failed} failed")), "{why}");
    let (_, delivery) = report.undelivered.first().ok_or("its delivery report")?;
    assert_eq!((delivery.delivered, delivery.failed), (0, failed));
    // Cumulative data: the values are not lost for good, only undelivered.
    assert_eq!(delivery.lost_rows, 0);
    Ok(())
}

#[test]
fn a_clean_delivery_makes_the_report_complete() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url()).build()?;
    let (vm, m) = manager();
    vm.register_exporter(http.clone())?;
    record(&vm, &m, 1);
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    assert!(report.undelivered.is_empty());
    assert!(http.metrics().sent >= 1);
    Ok(())
}
