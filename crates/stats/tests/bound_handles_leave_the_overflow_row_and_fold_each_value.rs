//! A bound handle that resolved into a full view's overflow row (issue
//! #16, finding 4): every value it records there counts in
//! `ViewData::folded`, as values recorded through a `MeasurementMap` do
//! (it used to count the resolution once), and in a view whose rows
//! expire it leaves the overflow row for a row of its own once expiry
//! has freed a place (it used to stay folded for good). Expiry comes by
//! advancing a manual clock, not by sleeping.

use std::time::Duration;

use census_core::{
    Aggregation, AggregationData, MeasureI64, Number, Row, TagKey, TagMap, View, ViewData,
};
use census_stats::{ManualClock, MeasurementMap, ViewManager};

fn sum(row: &Row) -> i64 {
    match row.data {
        AggregationData::Sum(Number::Int(v)) => v,
        ref other => panic!("{other:?}"),
    }
}

fn ordinary(data: &ViewData, value: &str) -> Option<i64> {
    data.rows
        .iter()
        .find(|r| !r.overflow && r.tags[0].as_ref().map(|v| v.as_str()) == Some(value))
        .map(sum)
}

fn overflow(data: &ViewData) -> Option<i64> {
    data.rows.iter().find(|r| r.overflow).map(sum)
}

fn setup(
    expiry: Option<Duration>,
    clock: &ManualClock,
) -> Result<(ViewManager, MeasureI64, TagKey), census_core::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("k")?;
    let vm = ViewManager::builder().clock(clock.clone()).build();
    let mut view = View::builder("v", &m)
        .tag_keys([k.clone()])
        .aggregation(Aggregation::Sum)
        .row_limit(1);
    if let Some(after) = expiry {
        view = view.expire_after(after);
    }
    vm.register_view(view.build()?)?;
    // The view's one place goes to "a".
    MeasurementMap::new()
        .put(&m, 1)
        .record_to(&vm, &TagMap::new().with(&k, "a")?);
    Ok((vm, m, k))
}

#[test]
fn every_value_a_handle_folds_is_counted() -> Result<(), census_core::Error> {
    let (vm, m, k) = setup(None, &ManualClock::new())?;
    let b = vm.bind(&m, &TagMap::new().with(&k, "b")?);
    for _ in 0..5 {
        b.record(10);
    }
    MeasurementMap::new()
        .put(&m, 100)
        .record_to(&vm, &TagMap::new().with(&k, "c")?);
    let data = vm.retrieve_data("v")?;
    assert_eq!(overflow(&data), Some(150));
    // Five values through the handle and one through a map.
    assert_eq!(data.folded, 6);
    Ok(())
}

#[test]
fn a_handle_leaves_the_overflow_row_once_expiry_frees_a_place() -> Result<(), census_core::Error> {
    let after = Duration::from_secs(60);
    let clock = ManualClock::new();
    let (vm, m, k) = setup(Some(after), &clock)?;
    let b = vm.bind(&m, &TagMap::new().with(&k, "b")?);
    b.record(10);
    b.record(10);
    assert_eq!(overflow(&vm.retrieve_data("v")?), Some(20));
    // "a" is not recorded again: it expires at a snapshot taken at least
    // `after` after the last one that saw it change, and not before.
    clock.advance(after - Duration::from_secs(1));
    assert_eq!(ordinary(&vm.retrieve_data("v")?, "a"), Some(1));
    clock.advance(Duration::from_secs(1));
    let data = vm.retrieve_data("v")?;
    assert_eq!(ordinary(&data, "a"), None, "{data:?}");
    b.record(7);
    b.record(7);
    let data = vm.retrieve_data("v")?;
    assert_eq!(ordinary(&data, "b"), Some(14), "{data:?}");
    assert_eq!((overflow(&data), data.folded), (Some(20), 2));
    Ok(())
}
