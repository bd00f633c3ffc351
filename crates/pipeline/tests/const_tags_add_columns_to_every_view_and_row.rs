//! ConstTags adds its keys after each view's own, with the constant value
//! on every row, the overflow row included; at export time a key the view
//! already has keeps its recorded values and is counted as a conflict.

use census_core::{Aggregation, AggregationData, Processor, Row, ViewData};
use census_pipeline::ConstTags;
use census_testkit::*;

#[test]
fn constants_become_columns_of_every_view_and_row() -> Result<(), census_core::Error> {
    let m = int_measure("demo/requests");
    let by_method = view("demo/requests_count", &m, &["method"], Aggregation::Count);
    let plain = view("demo/requests_total", &m, &[], Aggregation::Sum);
    let mut with_overflow = ViewData::new(
        by_method.clone(),
        at(1),
        at(2),
        vec![
            row(&[Some("GET")], AggregationData::Count(3), at(1)),
            row(&[None], AggregationData::Count(1), at(1)),
            Row::overflow(1, AggregationData::Count(7), at(1)),
        ],
    );
    with_overflow.folded = 7;
    let batch = vec![
        with_overflow,
        ViewData::new(
            plain.clone(),
            at(1),
            at(2),
            vec![row(
                &[],
                AggregationData::Sum(census_core::Number::Int(5)),
                at(1),
            )],
        ),
    ];

    let tags = ConstTags::new([("service", "checkout"), ("region", "eu-1")])?;
    let out = tags.process(batch);

    assert_eq!(out.len(), 2);
    let keys: Vec<&str> = out[0].view.tag_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["method", "service", "region"]);
    assert_eq!(out[0].view.name(), "demo/requests_count");
    assert_eq!(out[0].view.aggregation(), by_method.aggregation());
    assert_eq!(out[0].view.row_limit(), by_method.row_limit());
    assert_eq!(out[0].view.description(), by_method.description());
    assert_eq!(out[0].folded, 7);
    assert_eq!((out[0].start, out[0].end), (at(1), at(2)));
    let want = vec![
        row(
            &[Some("GET"), Some("checkout"), Some("eu-1")],
            AggregationData::Count(3),
            at(1),
        ),
        row(
            &[None, Some("checkout"), Some("eu-1")],
            AggregationData::Count(1),
            at(1),
        ),
        {
            let mut r = row(
                &[None, Some("checkout"), Some("eu-1")],
                AggregationData::Count(7),
                at(1),
            );
            r.overflow = true;
            r
        },
    ];
    assert_eq!(out[0].rows, want);

    let keys: Vec<&str> = out[1].view.tag_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["service", "region"]);
    assert_eq!(
        out[1].rows,
        vec![row(
            &[Some("checkout"), Some("eu-1")],
            AggregationData::Sum(census_core::Number::Int(5)),
            at(1)
        )]
    );
    assert_eq!(tags.conflicts(), 0);
    Ok(())
}

#[test]
fn a_key_the_view_already_has_keeps_its_recorded_values() -> Result<(), census_core::Error> {
    let m = int_measure("demo/requests");
    let v = view("demo/by_service", &m, &["service"], Aggregation::Count);
    let batch = || {
        vec![ViewData::new(
            v.clone(),
            at(1),
            at(2),
            vec![row(&[Some("cart")], AggregationData::Count(2), at(1))],
        )]
    };
    let tags = ConstTags::new([("service", "checkout"), ("region", "eu-1")])?;
    let out = tags.process(batch());
    let keys: Vec<&str> = out[0].view.tag_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["service", "region"]);
    assert_eq!(
        out[0].rows,
        vec![row(
            &[Some("cart"), Some("eu-1")],
            AggregationData::Count(2),
            at(1)
        )]
    );
    assert_eq!(tags.conflicts(), 1);
    // Counted every batch it happens in (the warning is logged once).
    tags.process(batch());
    assert_eq!(tags.conflicts(), 2);
    Ok(())
}
