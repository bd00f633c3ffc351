//! A row whose cumulative value did not change since the previous export
//! is left out of the delta; gauges (LastValue) are passed every time.

use census_core::{Aggregation, AggregationData, Number, Processor, Row, Temporality, ViewData};
use census_pipeline::Delta;
use census_testkit::*;

fn batch(end: u64, rows: Vec<Row>, last: Vec<Row>, dist: Vec<Row>) -> Vec<ViewData> {
    let m = float_measure("demo/latency");
    let mut overflowed = ViewData::new(
        view("demo/count", &m, &["k"], Aggregation::Count),
        at(1),
        at(end),
        rows,
    );
    overflowed.folded = 10 + end;
    vec![
        overflowed,
        ViewData::new(
            view("demo/last", &m, &["k"], Aggregation::LastValue),
            at(1),
            at(end),
            last,
        ),
        ViewData::new(
            view(
                "demo/latency",
                &m,
                &["k"],
                Aggregation::distribution([1.0]).expect("bounds"),
            ),
            at(1),
            at(end),
            dist,
        ),
    ]
}

#[test]
fn unchanged_rows_are_omitted_and_gauges_kept() {
    let count = |k: &str, n: u64| row(&[Some(k)], AggregationData::Count(n), at(1));
    let gauge = |k: &str, v: f64| {
        row(
            &[Some(k)],
            AggregationData::LastValue(Number::Float(v)),
            at(1),
        )
    };
    let dist = |k: &str, values: &[f64]| {
        row(
            &[Some(k)],
            AggregationData::Distribution(distribution(values, &[1.0])),
            at(1),
        )
    };
    let overflow = |n: u64| Row::overflow(1, AggregationData::Count(n), at(1));
    let delta = Delta::new();

    let first = delta.process(batch(
        2,
        vec![count("a", 3), count("b", 5), overflow(10)],
        vec![gauge("a", 1.5)],
        vec![dist("a", &[0.5, 2.0]), dist("b", &[3.0])],
    ));
    // First export: everything is new; the start is the view's.
    assert_eq!(first[0].start, at(1));
    assert_eq!(
        first[0].rows,
        vec![count("a", 3), count("b", 5), overflow(10)]
    );
    assert_eq!(first[0].folded, 12);

    let second = delta.process(batch(
        3,
        vec![count("a", 3), count("b", 7), overflow(10)],
        vec![gauge("a", 1.5)],
        vec![dist("a", &[0.5, 2.0]), dist("b", &[3.0, 0.25])],
    ));
    for data in &second {
        assert_eq!(data.temporality, Temporality::Delta);
        assert_eq!((data.start, data.end), (at(2), at(3)));
    }
    // "a" and the overflow row did not change: gone. "b" counted 2 more.
    assert_eq!(
        second[0].rows,
        vec![row(&[Some("b")], AggregationData::Count(2), at(2))]
    );
    // folded went from 12 to 13.
    assert_eq!(second[0].folded, 1);
    // The unchanged gauge is still passed on, over the same interval.
    assert_eq!(
        second[1].rows,
        vec![row(
            &[Some("a")],
            AggregationData::LastValue(Number::Float(1.5)),
            at(2)
        )]
    );
    // Only "b" of the distribution changed, by the one value 0.25.
    assert_eq!(second[2].rows.len(), 1);
    let b = as_dist(&second[2].rows[0].data);
    assert_eq!(second[2].rows[0].tags, vec![value("b")]);
    assert_eq!(second[2].rows[0].start, at(2));
    assert_eq!((b.count, b.bucket_counts.clone()), (1, vec![1, 0]));
    assert!(close(b.sum, 0.25) && close(b.mean, 0.25), "{b:?}");
    assert!(b.sum_of_squared_deviation.abs() < 1e-12, "{b:?}");
    // Cumulative min and max, as documented.
    assert_eq!((b.min, b.max), (0.25, 3.0));

    // Nothing changed at all: the views pass on empty, not dropped.
    let third = delta.process(batch(
        4,
        vec![count("a", 3), count("b", 7), overflow(10)],
        vec![],
        vec![dist("a", &[0.5, 2.0]), dist("b", &[3.0, 0.25])],
    ));
    assert_eq!(third.len(), 3);
    assert!(third.iter().all(|d| d.rows.is_empty()), "{third:?}");
    assert_eq!(third[0].start, at(3));
}

#[test]
fn a_row_new_in_a_known_view_starts_at_the_previous_export() {
    let m = int_measure("demo/requests");
    let v = view("demo/count", &m, &["k"], Aggregation::Count);
    let delta = Delta::new();
    delta.process(vec![ViewData::new(
        v.clone(),
        at(1),
        at(5),
        vec![row(&[Some("a")], AggregationData::Count(1), at(1))],
    )]);
    let out = delta.process(vec![ViewData::new(
        v,
        at(1),
        at(9),
        vec![
            row(&[Some("a")], AggregationData::Count(1), at(1)),
            row(&[Some("new")], AggregationData::Count(4), at(1)),
        ],
    )]);
    assert_eq!(
        out[0].rows,
        vec![row(&[Some("new")], AggregationData::Count(4), at(5))]
    );
}
