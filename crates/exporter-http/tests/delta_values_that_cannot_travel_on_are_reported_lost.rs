//! Delta values that can never reach the endpoint are reported in values,
//! not only counted (a QA pass found two ways they went missing):
//!
//! - a view registered anew (another definition, same name) while its
//!   deltas wait in a full queue: the waiting batch cannot merge into the
//!   next, and its rows of the old definition were counted in `lost_rows`
//!   but their values were in no report;
//! - remote write behind a `Delta`: remote write cannot carry delta views,
//!   which were left out of every body and counted in `omitted_views`
//!   only, and shutdown reported the exporter complete.

mod support;

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_pipeline::{Delta, Pipeline};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::lost_int_sum;
use support::{closed_port, wait_until, Reply, TestServer};

fn sum_view(description: &str, m: &MeasureI64) -> Result<View, census_core::Error> {
    View::builder("jobs", m)
        .description(description)
        .aggregation(Aggregation::Sum)
        .build()
}

#[test]
fn a_view_registered_anew_while_its_deltas_wait_keeps_them_in_the_report(
) -> Result<(), Box<dyn std::error::Error>> {
    // Nothing ever arrives: every value recorded must be in the report.
    let http = HttpExporter::builder(format!("http://{}/v1/metrics", closed_port()))
        .queue_capacity(1)
        .backoff_base(Duration::from_millis(5))
        .backoff_cap(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_millis(200))
        .build()?;
    let m = MeasureI64::new("jobs", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(sum_view("one", &m)?)?;
    vm.register_exporter(Pipeline::new(http.clone()).with(Delta::new()))?;
    vm.set_reporting_period(Duration::from_millis(20));
    let exports = || vm.health().exporters[0].exports;
    let mut recorded = 0;
    let mut record_and_export = |value: i64| {
        MeasurementMap::new()
            .put(&m, value)
            .record_to(&vm, &TagMap::new());
        recorded += value;
        let before = exports();
        wait_until(Duration::from_secs(10), "an export", || exports() > before);
    };
    for value in 1..=5 {
        record_and_export(value);
    }
    vm.unregister_view("jobs")?;
    vm.register_view(sum_view("two", &m)?)?;
    for value in [100, 200] {
        record_and_export(value);
    }
    let report = vm.shutdown();
    assert!(!report.is_complete());
    let (_, why) = report.failed.first().ok_or("the exporter is named")?;
    assert!(!why.contains("not delivered: ;"), "an empty clause: {why}");
    assert!(why.contains("rows of delta data lost"), "{why}");
    assert!(http.metrics().merged > 0, "the queue merged batches");
    assert_eq!(lost_int_sum(&report), recorded, "{report:#?}");
    Ok(())
}

#[test]
fn remote_write_behind_a_delta_reports_what_it_cannot_carry(
) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(204));
    let http = HttpExporter::builder(server.url())
        .format(HttpFormat::PrometheusRemoteWrite)
        .build()?;
    let m = MeasureI64::new("jobs", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(sum_view("one", &m)?)?;
    vm.register_exporter(Pipeline::new(http.clone()).with(Delta::new()))?;
    MeasurementMap::new()
        .put(&m, 42)
        .record_to(&vm, &TagMap::new());
    let report = vm.shutdown();
    assert!(!report.is_complete(), "{report:?}");
    assert!(http.metrics().omitted_views >= 1);
    assert_eq!(lost_int_sum(&report), 42, "{report:#?}");
    Ok(())
}
