//! `Row::tag` reads the exported rows by the keys of the view they reach
//! the exporter in, after processors added and dropped columns: the
//! pipeline gives every row its new view's keys.

use census_core::{Aggregation, AggregationData, Exporter, ViewData};
use census_pipeline::{ConstTags, DropTags, Pipeline};
use census_testkit::*;

#[test]
fn rows_name_the_columns_processors_added_and_forget_those_they_dropped(
) -> Result<(), Box<dyn std::error::Error>> {
    let (capture, calls) = CapturingExporter::new();
    let pipeline = Pipeline::new(capture)
        .with(ConstTags::new([("service", "checkout")])?)
        .with(DropTags::new(["route"]));
    let m = int_measure("demo/requests");
    let v = view(
        "demo/requests_count",
        &m,
        &["method", "route"],
        Aggregation::Count,
    );
    pipeline.export(&[ViewData::new(
        v,
        at(1),
        at(2),
        vec![
            row(&[Some("GET"), Some("/a")], AggregationData::Count(2), at(1)),
            row(&[Some("GET"), Some("/b")], AggregationData::Count(3), at(1)),
        ],
    )])?;
    let batch = calls.next_export();
    let [data] = &batch[..] else {
        panic!("one view expected, got {batch:?}");
    };
    let [row] = &data.rows[..] else {
        panic!("the two rows merge into one, got {:?}", data.rows);
    };
    assert_eq!(row.data, AggregationData::Count(5));
    assert_eq!(row.tag(&key("method")).map(|v| v.as_str()), Some("GET"));
    assert_eq!(
        row.tag(&key("service")).map(|v| v.as_str()),
        Some("checkout")
    );
    assert_eq!(row.tag(&key("route")), None);
    Ok(())
}
