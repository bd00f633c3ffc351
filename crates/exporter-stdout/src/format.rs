//! The two line formats.

use std::io::{self, Write};

use std::time::SystemTime;

use census_core::{unix_nanos, Aggregation, AggregationData, Number, Row, ViewData};
use serde::{Serialize, Serializer};

/// `view{key="value",…} value` per row; absent tags left out, the overflow
/// row marked `{overflow}` with the number of values folded into it. A
/// view name or key holding a character of that syntax (`{}",=\`) is
/// written quoted, as values are, so that two series never print alike.
pub(crate) fn text(out: &mut Vec<u8>, data: &ViewData) -> io::Result<()> {
    let name = quoted_if_needed(data.view.name());
    for row in sorted(data) {
        out.write_all(name.as_bytes())?;
        if row.overflow {
            write!(out, "{{overflow folded={}}}", data.folded)?;
        } else {
            let mut sep = "{";
            for (key, value) in data.view.tag_keys().iter().zip(&row.tags) {
                if let Some(value) = value {
                    let key = quoted_if_needed(key.name());
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

/// The rows by their tags, the overflow row last: they arrive in storage
/// order, which differs between runs, and the same data should print the
/// same lines.
fn sorted(data: &ViewData) -> Vec<&Row> {
    let mut rows: Vec<&Row> = data.rows.iter().collect();
    rows.sort_by(|a, b| (a.overflow, &a.tags).cmp(&(b.overflow, &b.tags)));
    rows
}

/// `text` as is, or quoted and escaped if it holds a character of the line
/// syntax.
fn quoted_if_needed(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['{', '}', '"', ',', '=', '\\']) {
        format!("{text:?}").into()
    } else {
        text.into()
    }
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
                d.count,
                Float(d.sum),
                Float(d.mean),
                Float(d.min),
                Float(d.max)
            )?;
            for (i, count) in d.bucket_counts.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                match d.bounds.get(i) {
                    Some(bound) => write!(out, "{sep}<={}:{count}", Float(*bound))?,
                    None => match d.bounds.last() {
                        Some(last) => write!(out, "{sep}>{}:{count}", Float(*last))?,
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
        Number::Float(v) => Float(v).to_string(),
    }
}

/// A float as a person reads it: integral values below 10^16 as integers
/// (`25`, not `25.0`), others in the shortest form that reads back the same
/// value, with an exponent when large or small (`0.5`, `1e300`, `5e-324`,
/// not 300 digits), and `NaN`, `inf`, `-inf`.
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
            // Exact: every integer below 2^53 < 10^16 is, and the fraction
            // is zero.
            write!(f, "{v}")
        } else {
            write!(f, "{v:?}")
        }
    }
}

/// One JSON Lines line: the row as census-core writes it (its tags by
/// key, `overflow`, `start_unix_nano` and the entry named for its
/// aggregation, as in census.v1), with the view's name, the snapshot's end
/// and, for a distribution, the bounds the bucket counts refer to.
#[derive(Serialize)]
struct Line<'a> {
    view: &'a str,
    #[serde(serialize_with = "unix_nanos_str")]
    end_unix_nano: SystemTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    bounds: Option<&'a [f64]>,
    #[serde(flatten)]
    row: &'a Row,
}

/// A time as census-core writes one: nanoseconds since the Unix epoch, as
/// a string.
fn unix_nanos_str<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&unix_nanos(*time))
}

/// One JSON object per row.
pub(crate) fn json_lines(out: &mut Vec<u8>, data: &ViewData) -> io::Result<()> {
    let mut lines = Vec::new();
    if rows_as_lines(&mut lines, data).is_err() {
        // Rows pushed after `ViewData::new` (hand-made batches) do not
        // know their view's keys, which their JSON names tags by; a
        // rekeyed copy does.
        lines.clear();
        let mut keyed = data.clone();
        keyed.rekey();
        rows_as_lines(&mut lines, &keyed)?;
    }
    out.extend_from_slice(&lines);
    Ok(())
}

fn rows_as_lines(out: &mut Vec<u8>, data: &ViewData) -> io::Result<()> {
    let bounds = match data.view.aggregation() {
        Aggregation::Distribution(bounds) => Some(bounds.as_slice()),
        _ => None,
    };
    for row in sorted(data) {
        let line = Line {
            view: data.view.name(),
            end_unix_nano: data.end,
            bounds,
            row,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
