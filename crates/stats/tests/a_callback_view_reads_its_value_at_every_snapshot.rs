//! A callback view's callback is called at every snapshot: retrieve_data,
//! a pull, each periodic batch and the final batch at shutdown, so each
//! shows the value as of that snapshot with nothing recorded (issue #12).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View, ViewData};

use census_testkit::{clocked_manager, find_view, rows_of, CapturingExporter};

fn value_in(batch: &[ViewData], view: &str) -> Option<Vec<(Vec<String>, Option<i64>)>> {
    find_view(batch, view).map(rows_of)
}

#[test]
fn every_snapshot_calls_the_callback() -> Result<(), census_core::Error> {
    let open = MeasureI64::new("pool/open", "open connections", "1")?;
    let pool = TagKey::new("pool")?;
    let (a, b) = (Arc::new(AtomicI64::new(3)), Arc::new(AtomicI64::new(0)));
    let total = Arc::new(AtomicI64::new(10));
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let tags_a = TagMap::new().with(&pool, "a")?;
    let tags_b = TagMap::new().with(&pool, "b")?;
    let (ra, rb) = (Arc::clone(&a), Arc::clone(&b));
    vm.register_callback(
        View::builder("pool/open", &open)
            .tag_keys([pool.clone()])
            .aggregation(Aggregation::LastValue)
            .build()?,
        move |out| {
            out.observe(&tags_a, ra.load(Relaxed));
            out.observe(&tags_b, rb.load(Relaxed));
        },
    )?;
    let rt = Arc::clone(&total);
    vm.register_callback(
        View::builder("pool/opened_total", &open)
            .aggregation(Aggregation::Sum)
            .build()?,
        move |out| out.observe(&TagMap::new(), rt.load(Relaxed)),
    )?;
    let row = |p: &str, v: i64| (vec![p.to_owned()], Some(v));

    let first = vm.retrieve_data("pool/open")?;
    assert_eq!(rows_of(&first), vec![row("a", 3), row("b", 0)]);
    assert_eq!(first.rows[0].start, first.start, "rows start with the view");
    a.store(5, Relaxed);
    b.store(-1, Relaxed);
    let second = vm.retrieve_data("pool/open")?;
    assert_eq!(rows_of(&second), vec![row("a", 5), row("b", -1)]);
    assert!(second.end >= first.end);
    assert_eq!(second.start, first.start);
    total.store(12, Relaxed);
    let totals = vm.retrieve_data("pool/opened_total")?;
    assert_eq!(rows_of(&totals), vec![(vec![], Some(12))]);

    let (capture, captured) = CapturingExporter::new();
    vm.register_exporter(capture)?;
    a.store(6, Relaxed);
    let pulled = captured.pull();
    assert_eq!(
        value_in(&pulled, "pool/open"),
        Some(vec![row("a", 6), row("b", -1)])
    );

    // Periodic batches: each shows the value stored before it was taken.
    for want in [40, 41] {
        a.store(want, Relaxed);
        total.store(want * 10, Relaxed);
        clock.advance(period);
        let batch = captured
            .next_export_within(Duration::from_secs(10))
            .expect("the period's batch");
        assert_eq!(
            value_in(&batch, "pool/open"),
            Some(vec![row("a", want), row("b", -1)])
        );
        assert_eq!(
            value_in(&batch, "pool/opened_total"),
            Some(vec![(vec![], Some(want * 10))])
        );
    }

    // The final batch calls the callback once more.
    a.store(77, Relaxed);
    total.store(770, Relaxed);
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    let last = captured.last_export().expect("a final batch");
    assert_eq!(
        value_in(&last, "pool/open"),
        Some(vec![row("a", 77), row("b", -1)])
    );
    assert_eq!(
        value_in(&last, "pool/opened_total"),
        Some(vec![(vec![], Some(770))])
    );
    let stats = vm.stats();
    assert_eq!((stats.callback_panics, stats.callback_timeouts), (0, 0));
    Ok(())
}
