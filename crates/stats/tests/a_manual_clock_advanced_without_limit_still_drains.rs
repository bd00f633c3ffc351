//! `ManualClock::advance(Duration::MAX)` ("as late as can be") stops the
//! clock at the latest time the platform holds: the export thread keeps
//! running, the period that ended is exported, `retrieve_data` answers,
//! and shutdown still delivers every value and calls the exporter's
//! `shutdown`. Before, the export thread panicked adding the elapsed time
//! to an `Instant`, and shutdown reported complete with nothing exported.

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_stats::{ManualClock, MeasurementMap, ViewManager};
use census_testkit::CapturingExporter;

#[test]
fn advancing_by_duration_max_keeps_the_manager_working() -> Result<(), census_core::Error> {
    let clock = ManualClock::new();
    let vm = ViewManager::builder()
        .clock(clock.clone())
        .reporting_period(Duration::from_secs(1))
        .build();
    let m = MeasureI64::new("clock/jobs", "jobs", "1")?;
    vm.register_view(
        View::builder("clock/jobs", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    MeasurementMap::new()
        .put(&m, 2)
        .record_to(&vm, &TagMap::new());

    let before = clock.system_time();
    clock.advance(Duration::MAX);
    // The period ended long ago on the clock: it is exported.
    let first = captured.next_export();
    assert_eq!(
        first[0].row(&TagMap::new()).and_then(|r| r.data.as_i64()),
        Some(2)
    );
    // Further advances are no-ops, not panics; the clock reads the same.
    let (now, latest) = (clock.now(), clock.system_time());
    clock.advance(Duration::MAX);
    clock.advance(Duration::from_secs(1));
    assert_eq!((clock.now(), clock.system_time()), (now, latest));
    // Nor does it go back from a few nanoseconds past the farthest second.
    clock.advance(Duration::from_nanos(1));
    let nudged = clock.now();
    clock.advance(Duration::MAX);
    assert!(clock.now() >= nudged, "the clock went back");
    assert!(latest > before + Duration::from_secs(1_000 * 365 * 24 * 3600));

    MeasurementMap::new()
        .put(&m, 3)
        .record_to(&vm, &TagMap::new());
    let data = vm.retrieve_data("clock/jobs")?;
    assert_eq!(
        data.row(&TagMap::new()).and_then(|r| r.data.as_i64()),
        Some(5)
    );

    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    let last = captured.last_export().unwrap_or_default();
    assert_eq!(
        last.first()
            .and_then(|v| v.row(&TagMap::new()))
            .and_then(|r| r.data.as_i64()),
        Some(5),
        "the final export carries every value"
    );
    assert_eq!(captured.shutdowns(), 1);
    Ok(())
}
