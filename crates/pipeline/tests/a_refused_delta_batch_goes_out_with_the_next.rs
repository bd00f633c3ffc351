//! Delta data the wrapped exporter refused is not forgotten (issue #16,
//! finding 1): `Delta` has already moved its state on, so the pipeline
//! keeps the refused deltas and folds them into the next batch; what it
//! still holds at shutdown is reported lost in `delivery()`, in values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use census_core::{Aggregation, AggregationData, ExportError, Exporter, Number, ViewData};
use census_pipeline::{Delta, Pipeline};
use census_testkit::{at, int_measure, row, row_in, view};
use parking_lot::Mutex;

/// Refuses exports while `refusing` is set; keeps what it accepted.
#[derive(Default)]
struct Flaky {
    refusing: AtomicU64,
    accepted: Mutex<Vec<Vec<ViewData>>>,
}

impl Exporter for Flaky {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        if self.refusing.load(Ordering::SeqCst) > 0 {
            return Err(ExportError::from("backend down"));
        }
        self.accepted.lock().push(batch.to_vec());
        Ok(())
    }
}

/// A cumulative batch of one Sum view with rows a and b at `end`.
fn cumulative(end: u64, a: i64, b: i64) -> Vec<ViewData> {
    let m = int_measure("m");
    let v = view("v", &m, &["k"], Aggregation::Sum);
    let sum = |n| AggregationData::Sum(Number::Int(n));
    vec![ViewData::new(
        v,
        at(0),
        at(end),
        vec![
            row(&[Some("a")], sum(a), at(0)),
            row(&[Some("b")], sum(b), at(0)),
        ],
    )]
}

fn delivered_sums(flaky: &Flaky) -> (i64, i64) {
    let mut totals = (0, 0);
    for batch in flaky.accepted.lock().iter() {
        for r in &batch[0].rows {
            let AggregationData::Sum(Number::Int(n)) = r.data else {
                panic!("{r:?}");
            };
            match r.tags[0].as_ref().map(|v| v.as_str()) {
                Some("a") => totals.0 += n,
                Some("b") => totals.1 += n,
                other => panic!("{other:?}"),
            }
        }
    }
    totals
}

#[test]
fn refused_deltas_arrive_with_the_next_accepted_batch() -> Result<(), ExportError> {
    let flaky = Arc::new(Flaky::default());
    let pipeline = Pipeline::new(Arc::clone(&flaky)).with(Delta::new());
    pipeline.export(&cumulative(1, 1, 10))?;
    flaky.refusing.store(1, Ordering::SeqCst);
    assert!(pipeline.export(&cumulative(2, 3, 10)).is_err());
    assert!(pipeline.export(&cumulative(3, 6, 15)).is_err());
    // Refused data waits as one pending batch.
    let waiting = pipeline.delivery().expect("a report while data waits");
    assert_eq!((waiting.pending, waiting.lost_rows), (1, 0));
    flaky.refusing.store(0, Ordering::SeqCst);
    pipeline.export(&cumulative(4, 10, 16))?;
    pipeline.export(&cumulative(5, 11, 16))?;
    // The deltas received add up to the last cumulative values.
    assert_eq!(delivered_sums(&flaky), (11, 16));
    pipeline.shutdown()?;
    assert!(
        pipeline.delivery().is_none(),
        "nothing lost, nothing to report"
    );
    Ok(())
}

#[test]
fn deltas_still_refused_at_shutdown_are_reported_lost() -> Result<(), ExportError> {
    let flaky = Arc::new(Flaky::default());
    let pipeline = Pipeline::new(Arc::clone(&flaky)).with(Delta::new());
    pipeline.export(&cumulative(1, 1, 10))?;
    flaky.refusing.store(1, Ordering::SeqCst);
    assert!(pipeline.export(&cumulative(2, 3, 10)).is_err());
    assert!(pipeline.export(&cumulative(3, 7, 12)).is_err());
    pipeline.shutdown()?;
    let report = pipeline.delivery().expect("the lost data is reported");
    assert_eq!(report.lost_rows, 2, "{report:?}");
    // What was recorded after the last delivered batch: a 1 -> 7, b 10 -> 12.
    let lost = &report.lost[0];
    let lost_in = |tag| row_in(lost, &[Some(tag)]).map(|r| r.data.clone());
    assert_eq!(
        lost_in("a"),
        Some(AggregationData::Sum(Number::Int(6))),
        "{lost:?}"
    );
    assert_eq!(
        lost_in("b"),
        Some(AggregationData::Sum(Number::Int(2))),
        "{lost:?}"
    );
    Ok(())
}
