//! The Prometheus encoder on arbitrary batches, namespaces and constant
//! labels: both the text format and OpenMetrics come out well formed, line
//! by line, as a strict reader of the two formats sees them.
#![no_main]

mod arbitrary_batch;

use std::sync::Arc;

use census::exporters::{PrometheusExporter, PrometheusFormat};
use census::{Exporter, Producer, ViewData};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

struct Fixed(Vec<ViewData>);

impl Producer for Fixed {
    fn produce(&self) -> Vec<ViewData> {
        self.0.clone()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(batch) = arbitrary_batch::batch(&mut u) else {
        return;
    };
    let mut builder = PrometheusExporter::builder();
    if u.arbitrary().unwrap_or(false) {
        builder = builder.namespace(arbitrary_batch::name(&mut u).unwrap_or_default());
    }
    for _ in 0..u.int_in_range(0..=2).unwrap_or(0) {
        let name = arbitrary_batch::name(&mut u).unwrap_or_default();
        let value = arbitrary_batch::text(&mut u).unwrap_or_default();
        if let Ok(more) = builder.clone().const_label(name, value) {
            builder = more;
        }
    }
    let exporter = match builder.build() {
        Ok(exporter) => exporter,
        Err(_) => match PrometheusExporter::builder().build() {
            Ok(exporter) => exporter,
            Err(e) => panic!("the default exporter does not build: {e}"),
        },
    };
    exporter.attach(Arc::new(Fixed(batch)));
    for format in [PrometheusFormat::Text, PrometheusFormat::OpenMetrics] {
        let (_, body) = exporter.render_as(format);
        if let Err(e) = check(&body, format == PrometheusFormat::OpenMetrics) {
            panic!("{format:?} exposition is malformed: {e}\n{body}");
        }
    }
});

/// A strict reader of both formats, line by line.
fn check(body: &str, openmetrics: bool) -> Result<(), String> {
    if body.is_empty() && !openmetrics {
        return Ok(());
    }
    let body = body
        .strip_suffix('\n')
        .ok_or("the exposition does not end with a line feed")?;
    let lines: Vec<&str> = body.split('\n').collect();
    let mut family: Option<(String, String)> = None;
    let mut histogram = Histogram::default();
    for (i, line) in lines.iter().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if openmetrics && *line == "# EOF" {
            if i + 1 != lines.len() {
                return Err(at("# EOF before the end".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').ok_or_else(|| at("no help".into()))?;
            if !is_name(name) {
                return Err(at(format!("bad family name {name:?}")));
            }
            unescape(help, openmetrics, false).map_err(at)?;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| at("no type".into()))?;
            if !is_name(name) || !["counter", "gauge", "histogram"].contains(&kind) {
                return Err(at("bad TYPE".into()));
            }
            if openmetrics && kind == "counter" && name.ends_with("_total") {
                return Err(at("OpenMetrics counter family named _total".into()));
            }
            histogram.finish(openmetrics).map_err(at)?;
            histogram = Histogram::default();
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            return Err(at("unexpected comment or blank line".into()));
        }
        let sample = sample(line).map_err(at)?;
        let (name, kind) = family
            .as_ref()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let suffix = sample
            .name
            .strip_prefix(name.as_str())
            .ok_or_else(|| at(format!("sample outside family {name}")))?;
        let allowed: &[&str] = match (kind.as_str(), openmetrics) {
            ("counter", true) => &["_total"],
            ("counter", false) | ("gauge", _) => &[""],
            _ => &["_bucket", "_sum", "_count"],
        };
        if !allowed.contains(&suffix) {
            return Err(at(format!("sample outside family {name}")));
        }
        let has_le = sample.labels.iter().any(|(n, _)| n == "le");
        if has_le != (suffix == "_bucket") {
            return Err(at("le on a sample that is not a bucket, or missing".into()));
        }
        if kind == "histogram" {
            histogram.sample(suffix, &sample, openmetrics).map_err(at)?;
        }
    }
    histogram.finish(openmetrics)?;
    if openmetrics && lines.last() != Some(&"# EOF") {
        return Err("OpenMetrics exposition without # EOF".into());
    }
    Ok(())
}

struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    is_name(s) && !s.contains(':')
}

/// `name{label="value",...} value`, nothing more.
fn sample(line: &str) -> Result<Sample, String> {
    let end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = &line[..end];
    if !is_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            let (label, after) = rest.split_once("=\"").ok_or("label without =\"")?;
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            let (value, after) = quoted(after)?;
            if labels.iter().any(|(n, _)| n == label) {
                return Err(format!("label {label} twice"));
            }
            labels.push((label.to_owned(), value));
            if let Some(after) = after.strip_prefix(',') {
                rest = after;
            } else if let Some(after) = after.strip_prefix('}') {
                rest = after;
                break;
            } else {
                return Err("labels not closed".into());
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if !is_number(value) {
        return Err(format!("bad value {value:?}"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: value.to_owned(),
    })
}

/// A label value up to its closing quote, unescaped, and what follows.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Ok((unescape(&text[..i], true, true)?, &text[i + 1..]));
        }
    }
    Err("label value not closed".into())
}

/// Undoes the escapes of a label value (`\\`, `\"`, `\n`) or help text
/// (`\\`, `\n`, and `\"` in OpenMetrics); refuses any other escape, a raw
/// line feed, and a raw quote where the format forbids one.
fn unescape(text: &str, quote_escape: bool, in_quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote_escape => out.push('"'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '\n' => return Err("raw line feed".into()),
            '"' if in_quotes => return Err("raw quote".into()),
            // OpenMetrics help is an escaped-string: no raw quote there.
            '"' if quote_escape => return Err("raw quote in OpenMetrics help".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `+Inf`, `-Inf`, `NaN`, or `[+-]digits[.digits][e[+-]digits]`.
fn is_number(v: &str) -> bool {
    if ["+Inf", "-Inf", "NaN"].contains(&v) {
        return true;
    }
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (mantissa, exponent) = match v.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (v, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (digits(int) || int.is_empty())
                && (digits(frac) || frac.is_empty())
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// The state of the histogram series being read: its labels without `le`,
/// the last bound and cumulative count, the `+Inf` count, and whether its
/// `_sum` and `_count` came.
#[derive(Default)]
struct Histogram {
    series: Vec<(String, String)>,
    last: Option<(f64, u64)>,
    inf: Option<u64>,
    sum_seen: bool,
    count_seen: bool,
}

impl Histogram {
    /// Checks that the series read last is complete: a `+Inf` bucket, and
    /// `_sum` and `_count` in the text format (OpenMetrics leaves both out
    /// when the sum is not a counter).
    fn finish(&self, openmetrics: bool) -> Result<(), String> {
        if self.last.is_some() && self.inf.is_none() {
            return Err("a histogram series without a +Inf bucket".into());
        }
        if self.last.is_some() && !openmetrics && !self.count_seen {
            return Err("a text-format histogram series without _sum and _count".into());
        }
        Ok(())
    }

    fn sample(&mut self, suffix: &str, s: &Sample, openmetrics: bool) -> Result<(), String> {
        let series: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        match suffix {
            "_bucket" => {
                if series != self.series || self.inf.is_some() {
                    // A new series starts with its first bucket.
                    self.finish(openmetrics)?;
                    *self = Histogram {
                        series,
                        ..Histogram::default()
                    };
                }
                let le = s
                    .labels
                    .iter()
                    .find(|(n, _)| n == "le")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                if !is_number(le) || le == "NaN" {
                    return Err(format!("bad le {le:?}"));
                }
                if openmetrics && le != "+Inf" && !le.contains(['.', 'e']) {
                    return Err(format!(
                        "OpenMetrics le {le:?} without fraction or exponent"
                    ));
                }
                let bound: f64 = match le {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    other => other.parse().map_err(|e| format!("le {other:?}: {e}"))?,
                };
                let count: u64 = s
                    .value
                    .parse()
                    .map_err(|e| format!("bucket count {:?}: {e}", s.value))?;
                if let Some((before, n)) = self.last {
                    if bound <= before || count < n {
                        return Err("buckets not increasing".into());
                    }
                }
                self.last = Some((bound, count));
                if le == "+Inf" {
                    self.inf = Some(count);
                }
            }
            "_sum" => {
                if series != self.series || self.inf.is_none() || self.sum_seen {
                    return Err("_sum outside its series".into());
                }
                self.sum_seen = true;
            }
            _ => {
                if series != self.series || !self.sum_seen || self.count_seen {
                    return Err("_count without its buckets and _sum".into());
                }
                let count: u64 = s
                    .value
                    .parse()
                    .map_err(|e| format!("_count {:?}: {e}", s.value))?;
                if Some(count) != self.inf {
                    return Err(format!("_count {count} differs from +Inf {:?}", self.inf));
                }
                self.count_seen = true;
            }
        }
        Ok(())
    }
}
