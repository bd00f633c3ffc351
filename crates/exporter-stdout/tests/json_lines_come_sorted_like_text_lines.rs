//! JSON Lines write a view's rows in the order text lines do (by tags, the
//! overflow row last), not in storage order, which differs between runs:
//! the same data gives the same lines, so outputs can be compared.

use std::time::UNIX_EPOCH;

use census_core::{
    Aggregation, AggregationData, Exporter, MeasureI64, Row, TagKey, TagValue, View, ViewData,
};
use census_exporter_stdout::{StdoutExporter, StdoutFormat};
use census_testkit::SharedBuffer;

#[test]
fn rows_are_written_by_their_tags_and_the_overflow_row_last(
) -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("m", "", "1")?;
    let view = View::builder("v", &m)
        .tag_keys([TagKey::new("route")?])
        .aggregation(Aggregation::Sum)
        .build()?;
    let sum = |n: i64| AggregationData::Sum(n.into());
    let row = |route: &str, n| {
        Ok::<_, census_core::Error>(Row::new(
            vec![Some(TagValue::new(route)?)],
            sum(n),
            UNIX_EPOCH,
        ))
    };
    let rows = vec![
        row("/c", 3)?,
        Row::overflow(1, sum(9), UNIX_EPOCH),
        row("/a", 1)?,
        Row::new(vec![None], sum(0), UNIX_EPOCH),
        row("/b", 2)?,
    ];
    let out = SharedBuffer::default();
    let exporter = StdoutExporter::builder()
        .format(StdoutFormat::JsonLines)
        .writer(out.clone())
        .build();
    exporter.export(&[ViewData::new(view, UNIX_EPOCH, UNIX_EPOCH, rows)])?;
    let lines = out.lines();
    let sums: Vec<String> = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).map(|v| v["sum"].to_string()))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        sums,
        ["\"0\"", "\"1\"", "\"2\"", "\"3\"", "\"9\""],
        "{lines:?}"
    );
    Ok(())
}
