//! Issue #7: a row of a view with `expire_after` that goes unrecorded for
//! that long leaves `retrieve_data`, and a later record starts it afresh:
//! counting from zero, with a new start time.

use std::time::{Duration, SystemTime};

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View, ViewData};
use census_stats::{ManualClock, MeasurementMap, ViewManager};
use census_testkit::int_sum;

/// The sum and start of the row recorded under `tags`.
fn sum_of(data: &ViewData, tags: &TagMap) -> Option<(i64, SystemTime)> {
    data.row(tags).map(|r| (int_sum(&r.data), r.start))
}

#[test]
fn an_untouched_row_leaves_and_a_new_record_starts_it_fresh() -> Result<(), census_core::Error> {
    let after = Duration::from_millis(100);
    let m = MeasureI64::new("demo/bytes", "bytes sent", "By")?;
    let user = TagKey::new("user")?;
    let clock = ManualClock::new();
    let vm = ViewManager::builder().clock(clock.clone()).build();
    vm.register_view(
        View::builder("demo/bytes_by_user", &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Sum)
            .expire_after(after)
            .build()?,
    )?;
    let a = TagMap::new().with(&user, "a")?;
    MeasurementMap::new().put(&m, 5).record_to(&vm, &a);
    MeasurementMap::new().put(&m, 7).record_to(&vm, &a);
    let first = vm.retrieve_data("demo/bytes_by_user")?;
    let (value, old_start) = sum_of(&first, &a).expect("row a before expiry");
    assert_eq!(value, 12);
    // One tick short of the expiry the row stays; at it, it goes.
    clock.advance(after - Duration::from_nanos(1));
    let kept = vm.retrieve_data("demo/bytes_by_user")?;
    assert_eq!(sum_of(&kept, &a).map(|(v, _)| v), Some(12));
    clock.advance(Duration::from_nanos(1));
    let gone = vm.retrieve_data("demo/bytes_by_user")?;
    assert!(gone.rows.is_empty(), "{:?}", gone.rows);
    assert_eq!(gone.start, first.start, "the view itself keeps its start");

    let before_record = clock.system_time();
    MeasurementMap::new().put(&m, 2).record_to(&vm, &a);
    let back = vm.retrieve_data("demo/bytes_by_user")?;
    let (value, start) = sum_of(&back, &a).expect("row a after a new record");
    assert_eq!(value, 2, "the fresh row counts from zero");
    assert!(start > old_start);
    assert!(
        start >= before_record,
        "start is the time of the first new record"
    );
    assert!(start <= back.end);
    vm.shutdown();
    Ok(())
}
