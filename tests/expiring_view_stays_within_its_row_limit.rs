//! Issue #7: a view with `expire_after` fed ever new tag values (user ids,
//! request paths) never holds more than its row limit plus the overflow
//! row, and its expired rows free their places for new tag values.

use std::time::Duration;

use census::{
    Aggregation, ManualClock, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager,
};

use census_testkit::count;

#[test]
fn expired_rows_free_their_places_for_new_tag_values() -> Result<(), census::Error> {
    let limit = 10;
    let after = Duration::from_millis(20);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let user = TagKey::new("user")?;
    let clock = ManualClock::new();
    let vm = ViewManager::builder().clock(clock.clone()).build();
    vm.register_view(
        View::builder("demo/requests_by_user", &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Count)
            .row_limit(limit)
            .expire_after(after)
            .build()?,
    )?;
    let mut recorded = 0;
    for round in 0..10 {
        for i in 0..3 * limit {
            let tags = TagMap::new().with(&user, format!("user-{round}-{i}"))?;
            MeasurementMap::new().put(&m, 1).record_to(&vm, &tags);
            recorded += 1;
        }
        let data = vm.retrieve_data("demo/requests_by_user")?;
        assert!(data.rows.len() <= limit + 1, "{} rows", data.rows.len());
        // The first `limit` users of every round have rows of their own:
        // the places of the round before were freed, not kept.
        let this_round = data
            .rows
            .iter()
            .filter(|r| !r.overflow)
            .filter(|r| {
                r.tags[0]
                    .as_ref()
                    .is_some_and(|v| v.as_str().starts_with(&format!("user-{round}-")))
            })
            .count();
        assert_eq!(this_round, limit, "round {round}");
        let overflow = data
            .rows
            .iter()
            .find(|r| r.overflow)
            .map(|r| count(&r.data));
        assert_eq!(overflow, Some(2 * limit as u64 * (round + 1)));
        assert_eq!(data.folded, 2 * limit as u64 * (round + 1));
        // At the expiry, so this round's rows go at the next snapshot.
        clock.advance(after);
        let later = vm.retrieve_data("demo/requests_by_user")?;
        assert_eq!(later.rows.iter().filter(|r| !r.overflow).count(), 0);
    }
    assert_eq!(recorded, 300);
    vm.shutdown();
    Ok(())
}
