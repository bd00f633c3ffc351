//! What a QA pass of the stdout exporter found, each checked here:
//!
//! - a write that failed half way left half a line, and the next batch
//!   was glued onto it (a JSON Lines reader then got an invalid line);
//! - text lines did not quote view names or tag keys holding the line's
//!   own syntax, so two different series could print the same line;
//! - JSON Lines refused a hand-made batch whose rows were pushed after
//!   `ViewData::new` (they do not know their view's keys), losing the whole
//!   batch, where the HTTP exporter's census.v1 JSON wrote it.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use census_core::{
    Aggregation, AggregationData, Exporter, MeasureI64, Row, TagKey, TagMap, TagValue, View,
    ViewData,
};
use census_exporter_stdout::{StdoutExporter, StdoutFormat};
use census_stats::{MeasurementMap, ViewManager};
use parking_lot::Mutex;

/// Keeps what is written; `fail_next` makes the next write store half its
/// bytes and fail.
#[derive(Clone, Default)]
struct Flaky {
    written: Arc<Mutex<Vec<u8>>>,
    fail_next: Arc<Mutex<bool>>,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut fail = self.fail_next.lock();
        if *fail {
            *fail = false;
            self.written.lock().extend_from_slice(&buf[..buf.len() / 2]);
            return Err(std::io::Error::other("disk full"));
        }
        self.written.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn batch(name: &str, m: &MeasureI64, value: i64) -> Result<ViewData, census_core::Error> {
    let view = View::builder(name, m)
        .aggregation(Aggregation::Sum)
        .build()?;
    let row = Row::new(vec![], AggregationData::Sum(value.into()), UNIX_EPOCH);
    Ok(ViewData::new(
        view,
        UNIX_EPOCH,
        UNIX_EPOCH + Duration::from_secs(1),
        vec![row],
    ))
}

#[test]
fn a_batch_after_a_failed_write_starts_on_a_new_line() -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("m", "", "1")?;
    let out = Flaky::default();
    let exporter = StdoutExporter::builder()
        .format(StdoutFormat::JsonLines)
        .writer(out.clone())
        .build();
    exporter.export(&[batch("first", &m, 1)?])?;
    *out.fail_next.lock() = true;
    assert!(exporter.export(&[batch("second", &m, 2)?]).is_err());
    exporter.export(&[batch("third", &m, 3)?])?;
    let text = String::from_utf8(out.written.lock().clone())?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The first and last lines are whole JSON; the middle one is the half.
    for line in [lines[0], lines[2]] {
        serde_json::from_str::<serde_json::Value>(line)?;
    }
    assert!(lines[2].contains("\"third\""), "{text}");
    Ok(())
}

#[test]
fn names_and_keys_holding_the_line_syntax_are_quoted() -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("k")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("a", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("a{k=\"v\"}", &m)
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    let out = Flaky::default();
    vm.register_exporter(StdoutExporter::builder().writer(out.clone()).build())?;
    MeasurementMap::new()
        .put(&m, 1)
        .record_to(&vm, &TagMap::new().with(&k, "v")?);
    vm.shutdown();
    let text = String::from_utf8(out.written.lock().clone())?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_ne!(lines[0], lines[1], "{text}");
    assert!(lines.contains(&"a{k=\"v\"} count=1"), "{text}");
    assert!(lines.contains(&"\"a{k=\\\"v\\\"}\" count=1"), "{text}");
    Ok(())
}

#[test]
fn json_lines_write_rows_added_after_the_view_data_was_made(
) -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("route")?;
    let view = View::builder("hand", &m)
        .tag_keys([k])
        .aggregation(Aggregation::Sum)
        .build()?;
    let mut data = ViewData::new(view, UNIX_EPOCH, UNIX_EPOCH, vec![]);
    data.rows.push(Row::new(
        vec![Some(TagValue::new("/a")?)],
        AggregationData::Sum(4.into()),
        UNIX_EPOCH,
    ));
    let out = Flaky::default();
    let exporter = StdoutExporter::builder()
        .format(StdoutFormat::JsonLines)
        .writer(out.clone())
        .build();
    exporter.export(&[batch("good", &m, 1)?, data])?;
    let text = String::from_utf8(out.written.lock().clone())?;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[1]["tags"]["route"], "/a", "{text}");
    assert_eq!(lines[1]["sum"], "4", "{text}");
    Ok(())
}
