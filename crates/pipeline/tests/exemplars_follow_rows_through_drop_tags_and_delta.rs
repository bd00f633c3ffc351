//! Exemplars follow their rows through the processors that reshape rows:
//! DropTags keeps, per bucket, the latest exemplar of the rows it merges,
//! and Delta passes on only the exemplars recorded in a row's interval
//! (issue #13).

use census_core::{Aggregation, AggregationData, Exemplar, Processor, Row, ViewData};
use census_pipeline::{Delta, DropTags};
use census_testkit::*;

fn exemplar(value: f64, secs: u64, id: &str) -> Exemplar {
    Exemplar::new(value, at(secs), vec![("trace_id".into(), id.into())])
}

fn dist_row(tags: &[Option<&str>], values: &[f64], exemplars: Vec<Exemplar>) -> Row {
    let data = AggregationData::Distribution(distribution(values, &[10.0]));
    let mut r = row(tags, data, at(1));
    r.exemplars = exemplars;
    r
}

fn ids(row: &Row) -> Vec<(f64, &str)> {
    row.exemplars
        .iter()
        .map(|e| (e.value, e.attachment("trace_id").unwrap_or("-")))
        .collect()
}

#[test]
fn drop_tags_keeps_the_latest_exemplar_of_each_bucket() {
    let m = float_measure("demo/latency");
    let v = view(
        "demo/latency",
        &m,
        &["method", "path"],
        Aggregation::distribution([10.0]).expect("bounds"),
    );
    let data = ViewData::new(
        v,
        at(1),
        at(9),
        vec![
            dist_row(
                &[Some("GET"), Some("/a")],
                &[5.0, 50.0],
                vec![exemplar(5.0, 3, "a-low"), exemplar(50.0, 4, "a-high")],
            ),
            dist_row(
                &[Some("GET"), Some("/b")],
                &[6.0],
                vec![exemplar(6.0, 5, "b-low")],
            ),
        ],
    );
    let out = DropTags::new(["path"]).process(vec![data]);
    assert_eq!(out[0].rows.len(), 1);
    assert_eq!(ids(&out[0].rows[0]), vec![(6.0, "b-low"), (50.0, "a-high")]);
}

#[test]
fn delta_passes_on_only_the_exemplars_of_the_interval() {
    let m = float_measure("demo/latency");
    let v = view(
        "demo/latency",
        &m,
        &["method"],
        Aggregation::distribution([10.0]).expect("bounds"),
    );
    let delta = Delta::new();
    let first = ViewData::new(
        v.clone(),
        at(1),
        at(10),
        vec![dist_row(
            &[Some("GET")],
            &[5.0],
            vec![exemplar(5.0, 4, "old")],
        )],
    );
    let out = delta.process(vec![first]);
    assert_eq!(ids(&out[0].rows[0]), vec![(5.0, "old")]);
    // Next interval (10, 20]: a new high value with its exemplar; the low
    // bucket's exemplar is from the interval before.
    let second = ViewData::new(
        v,
        at(1),
        at(20),
        vec![dist_row(
            &[Some("GET")],
            &[5.0, 70.0],
            vec![exemplar(5.0, 4, "old"), exemplar(70.0, 15, "new")],
        )],
    );
    let out = delta.process(vec![second]);
    assert_eq!(out[0].rows[0].start, at(10));
    assert_eq!(ids(&out[0].rows[0]), vec![(70.0, "new")]);
}
