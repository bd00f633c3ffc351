//! Issue #7: expiry takes only rows nobody records to; a row recorded
//! between every two snapshots stays, however long, with its start and
//! its cumulative value, while an idle row beside it goes once it has
//! gone unrecorded for the expiry time, and not a tick before.

use std::time::Duration;

use census_core::{Aggregation, AggregationData, MeasureI64, TagKey, TagMap, View};
use census_stats::{ManualClock, MeasurementMap, ViewManager};

#[test]
fn a_busy_row_stays_while_an_idle_one_goes() -> Result<(), census_core::Error> {
    let after = Duration::from_secs(60);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let route = TagKey::new("route")?;
    let clock = ManualClock::new();
    let vm = ViewManager::builder().clock(clock.clone()).build();
    vm.register_view(
        View::builder("demo/requests_by_route", &m)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::Count)
            .expire_after(after)
            .build()?,
    )?;
    let busy = TagMap::new().with(&route, "/busy")?;
    let idle = TagMap::new().with(&route, "/idle")?;
    MeasurementMap::new().put(&m, 1).record_to(&vm, &idle);
    let mut start = None;
    // Ten expiry times in steps of half of one: the busy row would have
    // gone several times over if recording did not keep it.
    for i in 1..=20u64 {
        MeasurementMap::new().put(&m, 1).record_to(&vm, &busy);
        let data = vm.retrieve_data("demo/requests_by_route")?;
        let row = data.row(&busy).expect("the busy row is always there");
        assert_eq!(row.data, AggregationData::Count(i));
        assert_eq!(
            *start.get_or_insert(row.start),
            row.start,
            "never restarted"
        );
        // The idle row was recorded at step 1; at step 3 it has gone
        // unrecorded for exactly `after`.
        assert_eq!(data.row(&idle).is_some(), i < 3, "idle row at step {i}");
        clock.advance(after / 2);
    }
    vm.shutdown();
    Ok(())
}
