//! DropTags removes keys and merges the rows that coincide afterwards:
//! counts and sums add (i64 exactly), distributions combine bucket by
//! bucket with their statistics, LastValue follows the documented rule,
//! and the overflow row stays apart.

use census_core::{Aggregation, AggregationData, Number, Processor, Row, ViewData};
use census_pipeline::DropTags;
use census_testkit::*;

fn overflow(keys: usize, data: AggregationData) -> Row {
    Row::overflow(keys, data, at(1))
}

#[test]
fn counts_and_int_sums_add_exactly_and_overflow_stays_apart() {
    let m = int_measure("demo/requests");
    let v = view("demo/count", &m, &["method", "path"], Aggregation::Count);
    let mut data = ViewData::new(
        v.clone(),
        at(1),
        at(9),
        vec![
            row(&[Some("GET"), Some("/a")], AggregationData::Count(3), at(1)),
            row(
                &[Some("POST"), Some("/a")],
                AggregationData::Count(4),
                at(1),
            ),
            row(&[Some("GET"), Some("/b")], AggregationData::Count(5), at(1)),
            row(&[None, Some("/c")], AggregationData::Count(6), at(1)),
            overflow(2, AggregationData::Count(100)),
        ],
    );
    data.folded = 100;
    let out = DropTags::new(["path", "no-such-key"]).process(vec![data]);
    let keys: Vec<&str> = out[0].view.tag_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["method"]);
    assert_eq!(out[0].view.name(), "demo/count");
    assert_eq!(out[0].folded, 100);
    assert_eq!(
        out[0].rows,
        vec![
            row(&[Some("GET")], AggregationData::Count(8), at(1)),
            row(&[Some("POST")], AggregationData::Count(4), at(1)),
            // An ordinary row whose remaining tags are all absent is not
            // the overflow row.
            row(&[None], AggregationData::Count(6), at(1)),
            overflow(1, AggregationData::Count(100)),
        ]
    );

    let s = view("demo/sum", &m, &["path"], Aggregation::Sum);
    let data = ViewData::new(
        s,
        at(1),
        at(9),
        vec![
            row(
                &[Some("/a")],
                AggregationData::Sum(Number::Int(i64::MAX - 1)),
                at(1),
            ),
            row(&[Some("/b")], AggregationData::Sum(Number::Int(3)), at(1)),
            row(&[Some("/c")], AggregationData::Sum(Number::Int(-4)), at(1)),
        ],
    );
    let out = DropTags::new(["path"]).process(vec![data]);
    // (MAX - 1) + 3 - 4 = MAX - 2: exact, through the wrap and back.
    assert_eq!(
        out[0].rows,
        vec![row(
            &[],
            AggregationData::Sum(Number::Int(i64::MAX - 2)),
            at(1)
        )]
    );
}

#[test]
fn views_without_the_keys_pass_unchanged() {
    let m = int_measure("demo/requests");
    let v = view("demo/count", &m, &["method"], Aggregation::Count);
    let data = ViewData::new(
        v,
        at(1),
        at(2),
        vec![
            row(&[Some("GET")], AggregationData::Count(3), at(1)),
            row(&[Some("PUT")], AggregationData::Count(1), at(1)),
        ],
    );
    let out = DropTags::new(["path"]).process(vec![data.clone()]);
    assert_eq!(out, vec![data]);
}

#[test]
fn distributions_merge_bucket_by_bucket_with_their_statistics() {
    let m = float_measure("demo/latency");
    let bounds = [0.0, 10.0, 100.0];
    let v = view(
        "demo/latency",
        &m,
        &["path", "method"],
        Aggregation::distribution(bounds).expect("valid bounds"),
    );
    let a = [1.0, 7.5, 12.0, 250.0];
    let b = [-2.0, 99.5, 100.0];
    let c = [33.0];
    let data = ViewData::new(
        v,
        at(1),
        at(2),
        vec![
            row(
                &[Some("/a"), Some("GET")],
                AggregationData::Distribution(distribution(&a, &bounds)),
                at(1),
            ),
            row(
                &[Some("/b"), Some("GET")],
                AggregationData::Distribution(distribution(&b, &bounds)),
                at(1),
            ),
            row(
                &[Some("/a"), Some("PUT")],
                AggregationData::Distribution(distribution(&c, &bounds)),
                at(1),
            ),
        ],
    );
    let out = DropTags::new(["path"]).process(vec![data]);
    assert_eq!(out[0].rows.len(), 2);
    let get = row_in(&out[0], &[Some("GET")]).expect("GET row");
    let both: Vec<f64> = a.iter().chain(&b).copied().collect();
    let want = distribution(&both, &bounds);
    assert_same_distribution(as_dist(&get.data), &want, "GET");
    assert_eq!(as_dist(&get.data).bucket_counts, vec![1, 2, 3, 1]);
    assert_eq!(
        (as_dist(&get.data).min, as_dist(&get.data).max),
        (-2.0, 250.0)
    );
    let put = row_in(&out[0], &[Some("PUT")]).expect("PUT row");
    assert_eq!(as_dist(&put.data), &distribution(&c, &bounds));
}

#[test]
fn last_value_takes_the_latest_start_then_the_greatest_tags() {
    let m = float_measure("demo/temperature");
    let v = view(
        "demo/temperature",
        &m,
        &["room", "sensor"],
        Aggregation::LastValue,
    );
    let last = |x: f64| AggregationData::LastValue(Number::Float(x));
    let rows = vec![
        // Same start: the greatest dropped tags ("s2" > "s1" > absent) win.
        row(&[Some("a"), Some("s2")], last(2.0), at(1)),
        row(&[Some("a"), Some("s1")], last(1.0), at(1)),
        row(&[Some("a"), None], last(0.5), at(1)),
        // A later start wins over any tags.
        row(&[Some("b"), Some("s1")], last(3.0), at(5)),
        row(&[Some("b"), Some("s9")], last(4.0), at(2)),
    ];
    let forward = ViewData::new(v.clone(), at(1), at(9), rows.clone());
    let mut reversed = rows;
    reversed.reverse();
    let backward = ViewData::new(v, at(1), at(9), reversed);
    for data in [forward, backward] {
        let out = DropTags::new(["sensor"]).process(vec![data]);
        let a = row_in(&out[0], &[Some("a")]).expect("room a");
        assert_eq!(a.data, last(2.0));
        assert_eq!(a.start, at(1));
        let b = row_in(&out[0], &[Some("b")]).expect("room b");
        assert_eq!(b.data, last(3.0));
        // The merged row starts at the earliest start.
        assert_eq!(b.start, at(2));
    }
}

#[test]
fn rows_that_cannot_merge_are_dropped_and_counted() {
    let m = int_measure("demo/requests");
    let v = view("demo/count", &m, &["path"], Aggregation::Count);
    let data = ViewData::new(
        v,
        at(1),
        at(2),
        vec![
            row(&[Some("/a")], AggregationData::Count(3), at(1)),
            row(&[Some("/b")], AggregationData::Sum(Number::Int(3)), at(1)),
        ],
    );
    let drop = DropTags::new(["path"]);
    let out = drop.process(vec![data]);
    assert_eq!(
        out[0].rows,
        vec![row(&[], AggregationData::Count(3), at(1))]
    );
    assert_eq!(drop.unmergeable(), 1);
}
