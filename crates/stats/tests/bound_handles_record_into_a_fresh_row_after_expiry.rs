//! Issue #7: a `BoundMeasure` whose row expired does not write into the
//! dropped row (its values would be lost): its next record finds the
//! row's successor, a fresh row for the bound tags, on every thread.

use std::time::Duration;

use census_core::{Aggregation, AggregationData, MeasureF64, Number, TagKey, TagMap, View};
use census_stats::{ManualClock, MeasurementMap, ViewManager};

fn rows(vm: &ViewManager) -> Vec<(f64, std::time::SystemTime)> {
    vm.retrieve_data("demo/latency_sum")
        .map(|d| d.rows)
        .unwrap_or_default()
        .into_iter()
        .map(|r| match r.data {
            AggregationData::Sum(Number::Float(v)) => (v, r.start),
            other => panic!("not a float sum: {other:?}"),
        })
        .collect()
}

#[test]
fn a_bound_handle_follows_its_row_through_expiry() -> Result<(), census_core::Error> {
    let after = Duration::from_millis(80);
    let m = MeasureF64::new("demo/latency", "latency", "ms")?;
    let k = TagKey::new("route")?;
    let clock = ManualClock::new();
    let vm = ViewManager::builder().clock(clock.clone()).build();
    vm.register_view(
        View::builder("demo/latency_sum", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::Sum)
            .expire_after(after)
            .build()?,
    )?;
    let tags = TagMap::new().with(&k, "/a")?;
    let bound = vm.bind(&m, &tags);
    bound.record(5.0);
    let first = rows(&vm);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 5.0);
    clock.advance(after);
    assert!(rows(&vm).is_empty(), "the bound row expired");

    bound.record(2.0);
    let fresh = rows(&vm);
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        fresh[0].0, 2.0,
        "the value went to a fresh row, counted once"
    );
    assert!(fresh[0].1 > first[0].1, "with a new start");
    // Another thread's first record through the handle and a record
    // through a measurement map land in the same fresh row.
    std::thread::scope(|s| {
        s.spawn(|| bound.record(3.0));
    });
    MeasurementMap::new().put(&m, 0.5).record_to(&vm, &tags);
    let now = rows(&vm);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0], (5.5, fresh[0].1));

    // Expire again, then record from a second thread whose own resolved
    // share is the one that expired.
    clock.advance(after);
    assert!(rows(&vm).is_empty());
    std::thread::scope(|s| {
        s.spawn(|| bound.record(1.0));
    });
    bound.record(1.5);
    assert_eq!(rows(&vm).iter().map(|r| r.0).collect::<Vec<_>>(), vec![2.5]);
    vm.shutdown();
    Ok(())
}
