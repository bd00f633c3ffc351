//! Issue #7: with `expire_after`, a row nobody records to leaves the
//! batches exporters receive (and `retrieve_data`) once a batch has shown
//! its last value, and a later record brings it back fresh: counting from
//! zero with a new start.

use std::time::{Duration, Instant, SystemTime};

use census::{
    Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewData, ViewManager,
};
use crossbeam_channel::Receiver;

mod support;
use support::{capturing, count, row, view};

const VIEW: &str = "demo/requests_by_user";

/// The next batch's data for the view, waiting at most until `deadline`.
fn next(batches: &Receiver<Vec<ViewData>>, deadline: Instant) -> ViewData {
    let batch = batches
        .recv_deadline(deadline)
        .expect("a batch within the deadline");
    view(&batch, VIEW).clone()
}

#[test]
fn an_untouched_row_leaves_the_batches_and_returns_fresh() -> Result<(), census::Error> {
    let after = Duration::from_millis(150);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let user = TagKey::new("user")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder(VIEW, &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Count)
            .expire_after(after)
            .build()?,
    )?;
    let (exporter, batches, _) = capturing();
    vm.set_reporting_period(Duration::from_millis(10));
    vm.register_exporter(exporter)?;
    let a = TagMap::new().with(&user, "a")?;
    for _ in 0..3 {
        MeasurementMap::new().put(&m, 1).record_to(&vm, &a);
    }
    // Generous: a loaded machine may delay batches, never lose them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first_start = loop {
        let data = next(&batches, deadline);
        if let Some(r) = row(&data, &[Some("a")]) {
            assert_eq!(count(&r.data), 3);
            break r.start;
        }
    };
    // Every batch shows the row unchanged until one no longer has it.
    let mut shown = 1;
    loop {
        let data = next(&batches, deadline);
        match row(&data, &[Some("a")]) {
            Some(r) => {
                assert_eq!((count(&r.data), r.start), (3, first_start));
                shown += 1;
            }
            None => break,
        }
    }
    assert!(shown >= 2, "a batch after the first showed the row");
    let now = vm.retrieve_data(VIEW)?;
    assert!(
        row(&now, &[Some("a")]).is_none(),
        "gone from retrieve_data too"
    );

    let before_record = SystemTime::now();
    MeasurementMap::new().put(&m, 1).record_to(&vm, &a);
    let fresh = loop {
        let data = next(&batches, deadline);
        if let Some(r) = row(&data, &[Some("a")]) {
            break r.clone();
        }
    };
    assert_eq!(count(&fresh.data), 1, "the fresh row counts from zero");
    assert!(fresh.start > first_start && fresh.start >= before_record);
    let now = vm.retrieve_data(VIEW)?;
    assert_eq!(row(&now, &[Some("a")]).map(|r| r.start), Some(fresh.start));
    assert!(vm.shutdown().is_complete());
    Ok(())
}
