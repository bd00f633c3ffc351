//! Issue #7: with `expire_after`, a row nobody records to leaves the
//! batches exporters receive (and `retrieve_data`) once a batch has shown
//! its last value and the expiry time has passed since it changed, and a
//! later record brings it back fresh: counting from zero with a new start.
//! The manager runs on a manual clock, so each batch comes when the test
//! moves the clock by a period.

use std::time::Duration;

use census::{
    Aggregation, ManualClock, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewData,
};
use census_testkit::{clocked_manager, count, row_in, view_in, Captured, CapturingExporter};

const VIEW: &str = "demo/requests_by_user";
const PERIOD: Duration = Duration::from_secs(10);

/// Moves the clock by a period and returns the batch's data for the view.
fn next_period(clock: &ManualClock, captured: &Captured) -> ViewData {
    view_in(&captured.export_after(clock, PERIOD), VIEW).clone()
}

#[test]
fn an_untouched_row_leaves_the_batches_and_returns_fresh() -> Result<(), census::Error> {
    let after = Duration::from_secs(15);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let user = TagKey::new("user")?;
    let (vm, clock) = clocked_manager(PERIOD);
    vm.register_view(
        View::builder(VIEW, &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Count)
            .expire_after(after)
            .build()?,
    )?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    let a = TagMap::new().with(&user, "a")?;
    for _ in 0..3 {
        MeasurementMap::new().put(&m, 1).record_to(&vm, &a);
    }
    let first_start = clock.system_time();
    // At 10 s the first batch shows the row, changed then; at 20 s the row
    // is 10 s unchanged and stays; at 30 s it is 20 s unchanged, past the
    // expiry, and its last value was in a batch: it goes.
    for at in [10, 20] {
        let data = next_period(&clock, &captured);
        let r = row_in(&data, &[Some("a")]).unwrap_or_else(|| panic!("row a at {at} s"));
        assert_eq!((count(&r.data), r.start), (3, first_start), "at {at} s");
    }
    let data = next_period(&clock, &captured);
    assert!(row_in(&data, &[Some("a")]).is_none(), "row a at 30 s");
    let now = vm.retrieve_data(VIEW)?;
    assert!(
        row_in(&now, &[Some("a")]).is_none(),
        "gone from retrieve_data too"
    );

    let recorded_at = clock.system_time();
    MeasurementMap::new().put(&m, 1).record_to(&vm, &a);
    let data = next_period(&clock, &captured);
    let fresh = row_in(&data, &[Some("a")]).expect("row a back after a record");
    assert_eq!(count(&fresh.data), 1, "the fresh row counts from zero");
    assert_eq!(
        fresh.start, recorded_at,
        "a new start, the new record's time"
    );
    assert!(fresh.start > first_start);
    let now = vm.retrieve_data(VIEW)?;
    assert_eq!(
        row_in(&now, &[Some("a")]).map(|r| r.start),
        Some(fresh.start)
    );
    assert!(vm.shutdown().is_complete());
    Ok(())
}
