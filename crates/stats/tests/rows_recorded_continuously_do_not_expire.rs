//! Issue #7: expiry takes only rows nobody records to; a row recorded
//! between every two snapshots stays, however long, with its start and
//! its cumulative value, while an idle row beside it goes.

use std::time::{Duration, Instant};

use census_core::{Aggregation, AggregationData, MeasureI64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

#[test]
fn a_busy_row_stays_while_an_idle_one_goes() -> Result<(), census_core::Error> {
    let after = Duration::from_millis(60);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
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
    let began = Instant::now();
    let mut start = None;
    let mut idle_gone = false;
    let mut i = 0u64;
    // At least five expiry durations, so the busy row would have gone
    // several times over if recording did not keep it.
    while began.elapsed() < after * 5 || !idle_gone {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the idle row never went"
        );
        MeasurementMap::new().put(&m, 1).record_to(&vm, &busy);
        i += 1;
        let data = vm.retrieve_data("demo/requests_by_route")?;
        let row = data
            .rows
            .iter()
            .find(|r| r.tags[0].as_ref().map(|v| v.as_str()) == Some("/busy"))
            .expect("the busy row is always there");
        assert_eq!(row.data, AggregationData::Count(i));
        assert_eq!(
            *start.get_or_insert(row.start),
            row.start,
            "never restarted"
        );
        idle_gone = data.rows.len() == 1;
        // Spacing between records, not synchronisation: each loop records
        // before it snapshots, so any stall only delays the next check.
        std::thread::sleep(Duration::from_millis(5));
    }
    vm.shutdown();
    Ok(())
}
