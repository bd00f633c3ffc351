//! The two line formats.

use std::io::{self, Write};

use census_core::{unix_nanos, AggregationData, Number, Row, TagValue, ViewData};
use serde::Serialize;

/// `view{key="value",…} value` per row; absent tags left out, the overflow
/// row marked `{overflow}` with the number of values folded into it.
pub(crate) fn text(out: &mut Vec<u8>, data: &ViewData) -> io::Result<()> {
    let name = data.view.name();
    // Sorted for people reading it; rows arrive in storage order.
    let mut rows: Vec<&Row> = data.rows.iter().collect();
    rows.sort_by(|a, b| (a.overflow, &a.tags).cmp(&(b.overflow, &b.tags)));
    for row in rows {
        out.write_all(name.as_bytes())?;
        if row.overflow {
            write!(out, "{{overflow folded={}}}", data.folded)?;
        } else {
            let mut sep = "{";
            for (key, value) in data.view.tag_keys().iter().zip(&row.tags) {
                if let Some(value) = value {
                    write!(out, "{sep}{key}={:?}", value.as_str())?;
                    sep = ",";
                }
            }
            if sep == "," {
                out.write_all(b"}")?;
            }
        }
        out.write_all(b" ")?;
        value(out, &row.data)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn value(out: &mut Vec<u8>, data: &AggregationData) -> io::Result<()> {
    match data {
        AggregationData::Count(n) => write!(out, "count={n}"),
        AggregationData::Sum(n) => write!(out, "sum={}", number(*n)),
        AggregationData::LastValue(n) => write!(out, "last={}", number(*n)),
        AggregationData::Distribution(d) => {
            write!(
                out,
                "count={} sum={} mean={} min={} max={} buckets=[",
                d.count, d.sum, d.mean, d.min, d.max
            )?;
            for (i, count) in d.bucket_counts.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                match d.bounds.get(i) {
                    Some(bound) => write!(out, "{sep}<={bound}:{count}")?,
                    None => match d.bounds.last() {
                        Some(last) => write!(out, "{sep}>{last}:{count}")?,
                        None => write!(out, "{sep}all:{count}")?,
                    },
                }
            }
            out.write_all(b"]")
        }
    }
}

fn number(n: Number) -> String {
    match n {
        Number::Int(v) => v.to_string(),
        Number::Float(v) => v.to_string(),
    }
}

#[derive(Serialize)]
struct Line<'a> {
    view: &'a str,
    start: u64,
    end: u64,
    tags: serde_json::Map<String, serde_json::Value>,
    overflow: bool,
    data: &'a AggregationData,
}

/// One JSON object per row.
pub(crate) fn json_lines(out: &mut Vec<u8>, data: &ViewData) -> io::Result<()> {
    for row in &data.rows {
        let line = Line {
            view: data.view.name(),
            start: unix_nanos(row.start),
            end: unix_nanos(data.end),
            tags: tags(data, row),
            overflow: row.overflow,
            data: &row.data,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn tags(data: &ViewData, row: &Row) -> serde_json::Map<String, serde_json::Value> {
    data.view
        .tag_keys()
        .iter()
        .zip(&row.tags)
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v: &TagValue| (k.name().to_owned(), v.as_str().into()))
        })
        .collect()
}
