//! Issues #7 and #12: an up-down sum's row holds a level (requests in
//! flight), so `expire_after` drops it only once the level is back at
//! zero. Dropped at +3, it came back counting from zero: a later -1 read
//! -1 instead of 2, in every export from then on.

use std::time::Duration;

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_stats::{ManualClock, MeasurementMap, ViewManager};

fn levels(vm: &ViewManager, view: &str) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = vm
        .retrieve_data(view)
        .map(|d| d.rows)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let route = r.tags[0].as_ref().map(|v| v.as_str().to_owned());
            match r.data {
                AggregationData::Sum(Number::Int(v)) => (route.unwrap_or_default(), v),
                other => panic!("not an int sum: {other:?}"),
            }
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn an_idle_level_stays_and_an_idle_zero_goes() -> Result<(), census_core::Error> {
    let after = Duration::from_secs(60);
    let m = MeasureI64::new("demo/in_flight", "requests in flight", "1")?;
    let route = TagKey::new("route")?;
    let clock = ManualClock::new();
    let vm = ViewManager::builder().clock(clock.clone()).build();
    for (name, aggregation) in [
        ("demo/in_flight", Aggregation::UpDownSum),
        ("demo/in_flight_sum", Aggregation::Sum),
    ] {
        vm.register_view(
            View::builder(name, &m)
                .tag_keys([route.clone()])
                .aggregation(aggregation)
                .expire_after(after)
                .build()?,
        )?;
    }
    let record = |r: &str, v: i64| -> Result<(), census_core::Error> {
        MeasurementMap::new()
            .put(&m, v)
            .record_to(&vm, &TagMap::new().with(&route, r)?);
        Ok(())
    };
    record("/a", 3)?;
    record("/b", 1)?;
    record("/b", -1)?;
    assert_eq!(
        levels(&vm, "demo/in_flight"),
        vec![("/a".into(), 3), ("/b".into(), 0)]
    );
    // A row's idle time counts from the snapshot that saw it change.
    assert_eq!(levels(&vm, "demo/in_flight_sum").len(), 2);
    clock.advance(after);
    // Idle for `after`: the row at level 0 goes, the one at 3 stays. The
    // Sum view's rows are counters and go alike.
    assert_eq!(levels(&vm, "demo/in_flight"), vec![("/a".into(), 3)]);
    assert!(levels(&vm, "demo/in_flight_sum").is_empty());

    record("/a", -1)?;
    assert_eq!(levels(&vm, "demo/in_flight"), vec![("/a".into(), 2)]);
    record("/a", -2)?;
    // Back at zero, the row still waits its idle time from its change.
    assert_eq!(levels(&vm, "demo/in_flight"), vec![("/a".into(), 0)]);
    clock.advance(after);
    assert!(levels(&vm, "demo/in_flight").is_empty());
    // A fresh row starts from zero, which is where the level was.
    record("/a", 1)?;
    assert_eq!(levels(&vm, "demo/in_flight"), vec![("/a".into(), 1)]);
    Ok(())
}
