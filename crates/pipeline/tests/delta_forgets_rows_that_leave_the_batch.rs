//! Delta's memory is bounded by the latest batch: rows and views that
//! stop arriving are forgotten.

mod support;

use census_core::{Aggregation, AggregationData, Processor, ViewData};
use census_pipeline::Delta;
use support::*;

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
