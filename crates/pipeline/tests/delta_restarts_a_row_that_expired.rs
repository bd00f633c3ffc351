//! Issue #7, end to end: a row of a view with `expire_after` expires,
//! is recorded again, and Delta passes the fresh row's value whole, from
//! the fresh row's start (not a difference against the expired row).

mod support;

use std::time::{Duration, Instant, SystemTime};

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_pipeline::{Delta, Pipeline};
use census_stats::{MeasurementMap, ViewManager};
use support::*;

const VIEW: &str = "demo/bytes_by_user";

fn sum_of_a(call: &Call) -> Option<Option<(i64, SystemTime, SystemTime)>> {
    let Call::Export(batch) = call else {
        return None;
    };
    let data = batch.iter().find(|d| d.view.name() == VIEW)?;
    Some(data.rows.iter().find_map(|r| match (&r.tags[0], &r.data) {
        (Some(v), AggregationData::Sum(Number::Int(n))) if v.as_str() == "a" => {
            Some((*n, r.start, data.end))
        }
        _ => None,
    }))
}

#[test]
fn delta_passes_the_fresh_value_from_its_new_start() -> Result<(), census_core::Error> {
    let after = Duration::from_millis(150);
    let m = MeasureI64::new("demo/bytes", "bytes", "By")?;
    let user = TagKey::new("user")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder(VIEW, &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Sum)
            .expire_after(after)
            .build()?,
    )?;
    let (capture, calls) = Capture::new();
    vm.set_reporting_period(Duration::from_millis(10));
    vm.register_exporter(Pipeline::new(capture).with(Delta::new()))?;
    let a = TagMap::new().with(&user, "a")?;
    MeasurementMap::new().put(&m, 40).record_to(&vm, &a);
    let deadline = Instant::now() + PATIENCE;
    let recv = || {
        calls
            .recv_deadline(deadline)
            .expect("a call within the deadline")
    };
    // The first delta carries the whole value; later ones omit the
    // unchanged row; then the row expires. Delta cannot tell those two
    // apart, so the row being gone is checked where it is decided.
    let (first, first_start, _) = loop {
        if let Some(Some(seen)) = sum_of_a(&recv()) {
            break seen;
        }
    };
    assert_eq!(first, 40);
    let expired_by = Instant::now() + Duration::from_secs(5);
    while vm.retrieve_data(VIEW)?.rows.iter().any(|r| !r.overflow) {
        assert!(Instant::now() < expired_by, "the row never expired");
        // Waiting for time to pass is the behaviour under test.
        std::thread::sleep(Duration::from_millis(20));
    }
    let before_record = SystemTime::now();
    MeasurementMap::new().put(&m, 3).record_to(&vm, &a);
    let (fresh, fresh_start, _) = loop {
        if let Some(Some(seen)) = sum_of_a(&recv()) {
            break seen;
        }
    };
    // A row that had not expired would give the same change (43 - 40),
    // but from the previous batch's end, before the record.
    assert_eq!(fresh, 3, "the fresh row's value, whole");
    assert!(fresh_start >= before_record, "from the fresh row's start");
    assert!(fresh_start > first_start);
    vm.shutdown();
    Ok(())
}
