//! A manager given a `ManualClock` exports when the clock reaches the end
//! of a period, and not a tick before: the batch's end time is the
//! period's end, on the clock. A new period counts from when it was set.
//! Nothing here sleeps.

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_stats::{ManualClock, MeasurementMap, ViewManager};
use census_testkit::CapturingExporter;

#[test]
fn periods_end_when_the_clock_says() -> Result<(), census_core::Error> {
    let clock = ManualClock::new();
    let period = Duration::from_secs(10);
    let vm = ViewManager::builder()
        .clock(clock.clone())
        .reporting_period(period)
        .build();
    assert_eq!(vm.reporting_period(), period);
    let m = MeasureI64::new("demo/jobs", "jobs", "1")?;
    vm.register_view(
        View::builder("demo/jobs", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let registered = clock.system_time();
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    MeasurementMap::new()
        .put(&m, 3)
        .record_to(&vm, &TagMap::new());

    clock.advance(period - Duration::from_nanos(1));
    clock.advance(Duration::from_nanos(1));
    let first = captured.next_export();
    // An export a tick early would carry the earlier time.
    assert_eq!(first[0].end, registered + period);
    assert_eq!(first[0].start, registered);
    assert_eq!(
        first[0].row(&TagMap::new()).and_then(|r| r.data.as_i64()),
        Some(3)
    );

    clock.advance(period);
    assert_eq!(captured.next_export()[0].end, registered + period * 2);

    // A new period counts from when it is set.
    clock.advance(Duration::from_secs(4));
    let set_at = clock.system_time();
    let shorter = Duration::from_secs(3);
    vm.set_reporting_period(shorter);
    clock.advance(shorter);
    assert_eq!(captured.next_export()[0].end, set_at + shorter);

    vm.shutdown();
    // The final export reads the clock too.
    assert_eq!(captured.next_export()[0].end, set_at + shorter);
    assert!(captured.exports().is_empty(), "no export but those above");
    Ok(())
}
