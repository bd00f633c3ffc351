//! Delta's memory is bounded by the latest batch: rows and views that
//! stop arriving are forgotten.

use census_core::{Aggregation, AggregationData, Processor, Row, ViewData};
use census_pipeline::Delta;
use census_testkit::*;

#[test]
fn state_holds_only_the_rows_of_the_latest_batch() {
    let m = int_measure("demo/requests");
    let a = view("demo/a", &m, &["user"], Aggregation::Count);
    let b = view("demo/b", &m, &[], Aggregation::Count);
    let delta = Delta::new();
    for period in 0..500u64 {
        // A fresh user every period, as with expiring rows: the old one
        // leaves the batch.
        let user = format!("u{period}");
        let out = delta.process(vec![
            ViewData::new(
                a.clone(),
                at(1),
                at(period + 2),
                vec![row(&[Some(&user)], AggregationData::Count(1), at(1))],
            ),
            ViewData::new(
                b.clone(),
                at(1),
                at(period + 2),
                vec![row(&[], AggregationData::Count(period + 1), at(1))],
            ),
        ]);
        assert_eq!(out[0].rows.len(), 1);
        assert_eq!(delta.tracked_rows(), 2, "period {period}");
    }
    // View "demo/a" leaves the batch: its rows go too.
    delta.process(vec![ViewData::new(
        b,
        at(1),
        at(600),
        vec![row(&[], AggregationData::Count(600), at(1))],
    )]);
    assert_eq!(delta.tracked_rows(), 1);
    delta.process(Vec::new());
    assert_eq!(delta.tracked_rows(), 0);
}

#[test]
fn the_overflow_row_is_tracked_apart_and_forgotten_too() {
    let m = int_measure("demo/requests");
    let v = view("demo/a", &m, &["user"], Aggregation::Count);
    let delta = Delta::new();
    let rows = |absent: u64, overflow: u64| {
        vec![
            row(&[None], AggregationData::Count(absent), at(1)),
            Row::overflow(1, AggregationData::Count(overflow), at(1)),
        ]
    };
    delta.process(vec![ViewData::new(v.clone(), at(1), at(2), rows(1, 10))]);
    assert_eq!(delta.tracked_rows(), 2);
    // Same tags (all absent), told apart by the overflow flag.
    let out = delta.process(vec![ViewData::new(v.clone(), at(1), at(3), rows(3, 15))]);
    let want_overflow = Row::overflow(1, AggregationData::Count(5), at(2));
    assert_eq!(
        out[0].rows,
        vec![
            row(&[None], AggregationData::Count(2), at(2)),
            want_overflow
        ]
    );
    delta.process(vec![ViewData::new(
        v,
        at(1),
        at(4),
        rows(3, 15)[..1].to_vec(),
    )]);
    assert_eq!(delta.tracked_rows(), 1);
}
