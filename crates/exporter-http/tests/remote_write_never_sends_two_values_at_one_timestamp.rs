//! Prometheus refuses a second, different value for a series at a
//! timestamp it already holds (400 "duplicate sample for timestamp"), and
//! a 400 is not retried. Remote write stamps samples with the view's end,
//! so two batches ending in the same millisecond (a manager on a manual
//! clock shut down without advancing it, or a final export right after a
//! periodic one) used to lose the second batch: here the values recorded
//! before `shutdown`. Each batch's samples are now at least a millisecond
//! after the previous batch's, and a real Prometheus reads back every
//! value. The test starts and kills the server itself.

mod support;

use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_stats::MeasurementMap;
use census_testkit::clocked_manager;
use support::{wait_until, PrometheusServer};

#[test]
fn remote_write_never_sends_two_values_at_one_timestamp() -> Result<(), Box<dyn std::error::Error>>
{
    let started = Instant::now();
    let Some(mut prometheus) = PrometheusServer::receiver()? else {
        return Ok(());
    };
    let http = HttpExporter::builder(prometheus.write_url())
        .format(HttpFormat::PrometheusRemoteWrite)
        .service_name("same-millisecond")
        .build()?;
    // A short period: the manual clock starts at the real time, and
    // Prometheus only answers for samples up to its own now.
    let (vm, clock) = clocked_manager(Duration::from_millis(1));
    let m = MeasureI64::new("hits", "", "1")?;
    vm.register_view(
        View::builder("hits", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_exporter(http.clone())?;

    MeasurementMap::new()
        .put(&m, 1)
        .record_to(&vm, &TagMap::new());
    clock.advance(Duration::from_millis(1));
    wait_until(Duration::from_secs(10), "the periodic batch sent", || {
        http.metrics().sent == 1
    });
    // The clock stays where it was: the final batch ends when the periodic
    // one did.
    MeasurementMap::new()
        .put(&m, 5)
        .record_to(&vm, &TagMap::new());
    let report = vm.shutdown();
    let metrics = http.metrics();
    assert_eq!(
        (metrics.sent, metrics.failed),
        (2, 0),
        "{metrics:?} {report:?}"
    );
    assert!(report.is_complete(), "{report:?}");

    let deadline = started + Duration::from_secs(45);
    let total = prometheus.wait_for("hits_total", deadline, |v| v == 6.0)?;
    assert_eq!(total, 6.0);
    Ok(())
}
