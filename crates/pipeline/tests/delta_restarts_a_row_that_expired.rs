//! Issue #7, end to end: a row of a view with `expire_after` expires,
//! is recorded again, and Delta passes the fresh row's value whole, from
//! the fresh row's start (not a difference against the expired row).
//! The manager runs on a manual clock: each period comes when the test
//! moves it.

use std::time::{Duration, SystemTime};

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_pipeline::{Delta, Pipeline};
use census_stats::MeasurementMap;
use census_testkit::*;

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
    let period = Duration::from_secs(10);
    let after = Duration::from_secs(15);
    let m = MeasureI64::new("demo/bytes", "bytes", "By")?;
    let user = TagKey::new("user")?;
    let (vm, clock) = clocked_manager(period);
    vm.register_view(
        View::builder(VIEW, &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Sum)
            .expire_after(after)
            .build()?,
    )?;
    let (capture, calls) = CapturingExporter::new();
    vm.register_exporter(Pipeline::new(capture).with(Delta::new()))?;
    let a = TagMap::new().with(&user, "a")?;
    MeasurementMap::new().put(&m, 40).record_to(&vm, &a);
    let next_period = || {
        clock.advance(period);
        let call = calls.next_call();
        sum_of_a(&call).expect("an export")
    };
    // The first delta carries the whole value; the next omits the
    // unchanged row; at 30 s the row, 20 s unchanged, expires. Delta
    // cannot tell those two apart, so the row being gone is checked where
    // it is decided.
    let (first, first_start, _) = next_period().expect("row a in the first batch");
    assert_eq!(first, 40);
    assert_eq!(next_period(), None, "unchanged, so omitted");
    assert_eq!(next_period(), None, "expired");
    assert!(
        vm.retrieve_data(VIEW)?.rows.iter().all(|r| r.overflow),
        "the row expired"
    );
    let recorded_at = clock.system_time();
    MeasurementMap::new().put(&m, 3).record_to(&vm, &a);
    let (fresh, fresh_start, _) = next_period().expect("row a back");
    // A row that had not expired would give the same change (43 - 40),
    // but from the previous batch's end, 30 s.
    assert_eq!(fresh, 3, "the fresh row's value, whole");
    assert_eq!(fresh_start, recorded_at, "from the fresh row's start");
    assert!(fresh_start > first_start);
    vm.shutdown();
    Ok(())
}
