//! A pipeline carries the deltas its exporter refused into the next batch.
//! When the view is registered anew in between (same name, another
//! definition), the carried rows cannot merge into the next batch: they
//! were only logged, and their values were in no report. Now they are in
//! the pipeline's delivery report, so the shutdown report holds every
//! value that never arrived.

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_pipeline::{Delta, Pipeline};
use census_stats::MeasurementMap;
use census_testkit::*;

fn sum_view(description: &str, m: &MeasureI64) -> Result<View, census_core::Error> {
    View::builder("jobs", m)
        .description(description)
        .aggregation(Aggregation::Sum)
        .build()
}

#[test]
fn the_shutdown_report_holds_refused_deltas_of_both_definitions() -> Result<(), census_core::Error>
{
    let period = Duration::from_secs(10);
    let m = MeasureI64::new("jobs", "", "1")?;
    let (vm, clock) = clocked_manager(period);
    vm.register_view(sum_view("one", &m)?)?;
    let (failing, calls) = FailingExporter::new();
    vm.register_exporter(Pipeline::new(failing).with(Delta::new()))?;
    let mut recorded = 0;
    let mut record_and_export = |value: i64| {
        MeasurementMap::new()
            .put(&m, value)
            .record_to(&vm, &TagMap::new());
        recorded += value;
        clock.advance(period);
        let _ = calls.recv_timeout(Duration::from_secs(10));
    };
    for value in 1..=3 {
        record_and_export(value);
    }
    vm.unregister_view("jobs")?;
    vm.register_view(sum_view("two", &m)?)?;
    for value in [100, 200] {
        record_and_export(value);
    }
    let report = vm.shutdown();
    assert!(!report.is_complete());
    let lost = lost_int_sum(&report);
    assert_eq!(lost, recorded, "{report:#?}");
    Ok(())
}
