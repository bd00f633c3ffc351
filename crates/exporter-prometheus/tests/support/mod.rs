//! The Prometheus exporter's own test support: hand-built view data with
//! awkward values for the exposition, an exposition parser written
//! independently of the encoder, promtool, small HTTP clients, and a real
//! Prometheus server. The fakes and builders every crate's tests share are
//! in census-testkit.

#![allow(dead_code)]

pub mod held_render;
pub mod process;
pub mod raw_client;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use census_core::{
    Aggregation, AggregationData, MeasureF64, MeasureI64, Number, Row, View, ViewData,
};
use census_testkit::{at, histogram, value};

// The Prometheus server and the tool finder live in a file of their own,
// which the HTTP exporter's tests include too (remote write needs the same
// real Prometheus).
mod prometheus_server;
#[allow(unused_imports)]
pub use prometheus_server::{find_tool, PrometheusServer};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A view over a float measure of its own (`m/<name>`) described by
/// `description`, which becomes the exposition's HELP text.
pub fn view(name: &str, description: &str, keys: &[&str], aggregation: Aggregation) -> View {
    let measure = MeasureF64::new(format!("m/{name}"), description, "1").expect("valid measure");
    census_testkit::view(name, &measure, keys, aggregation)
}

/// A view over an integer measure of its own (`m/<name>`), described as
/// the golden files expect.
pub fn int_view(name: &str, keys: &[&str], aggregation: Aggregation) -> View {
    let measure = MeasureI64::new(format!("m/{name}"), "an integer view", "1").expect("valid");
    census_testkit::view(name, &measure, keys, aggregation)
}

/// One Count view, `wide/rows` with key `id`, of `rows` rows: a render
/// big enough (about 40 bytes a row) that a few unread answers fill a
/// connection's socket buffers.
pub fn many_rows(rows: usize) -> Vec<ViewData> {
    let view = int_view("wide/rows", &["id"], Aggregation::Count);
    let rows = (0..rows)
        .map(|i| {
            Row::new(
                vec![value(&format!("row-{i:05}"))],
                AggregationData::Count(i as u64),
                at(1),
            )
        })
        .collect();
    vec![ViewData::new(view, at(1), at(2), rows)]
}

/// The four tag situations every aggregation is tested with: both tags
/// absent, both empty, both awkward (backslash, quote), and the overflow
/// row. `data(i)` gives row `i` its value.
pub fn awkward_rows(data: impl Fn(usize) -> AggregationData) -> Vec<Row> {
    vec![
        Row::new(
            vec![value("C:\\temp\\"), value("say \"hi\"")],
            data(2),
            at(1),
        ),
        Row::overflow(2, data(3), at(1)),
        Row::new(vec![None, None], data(0), at(1)),
        Row::new(vec![value(""), value("")], data(1), at(1)),
    ]
}

/// One view of every aggregation, each with the awkward rows.
pub fn every_aggregation() -> Vec<ViewData> {
    let keys = ["method", "http.path"];
    let bounds = [0.0, 0.5, 10.0];
    vec![
        ViewData::new(
            view(
                "demo/requests",
                "requests served",
                &keys,
                Aggregation::Count,
            ),
            at(1),
            at(2),
            awkward_rows(|i| AggregationData::Count(i as u64 * 10)),
        ),
        ViewData::new(
            int_view("demo/bytes", &keys, Aggregation::Sum),
            at(1),
            at(2),
            awkward_rows(|i| AggregationData::Sum(Number::Int(1 << (40 + i)))),
        ),
        ViewData::new(
            view(
                "demo/spend",
                "money spent, \"roughly\"\nin euros \\ cents",
                &keys,
                Aggregation::Sum,
            ),
            at(1),
            at(2),
            awkward_rows(|i| AggregationData::Sum(Number::Float(0.1 + i as f64))),
        ),
        ViewData::new(
            view(
                "demo/in_flight",
                "requests in flight",
                &keys,
                Aggregation::LastValue,
            ),
            at(1),
            at(2),
            awkward_rows(|i| {
                AggregationData::LastValue(Number::Float([-1.5, f64::INFINITY, 1e300, f64::NAN][i]))
            }),
        ),
        ViewData::new(
            view(
                "demo/latency",
                "request latency",
                &keys,
                Aggregation::distribution(bounds).expect("valid bounds"),
            ),
            at(1),
            at(2),
            awkward_rows(|i| histogram(&bounds, &[i as u64, 1, 0, 2], 25.5 + i as f64)),
        ),
    ]
}

/// One parsed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// The value exactly as written, for integers past 2^53.
    pub raw: String,
    /// An OpenMetrics exemplar on the line: its labels, value and
    /// timestamp in seconds.
    pub exemplar: Option<(BTreeMap<String, String>, f64, f64)>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Parsed {
    /// (family name, type) in order of appearance.
    pub families: Vec<(String, String)>,
    /// (family name, help text unescaped) in order of appearance.
    pub helps: Vec<(String, String)>,
    pub samples: Vec<Sample>,
    pub saw_eof: bool,
}

impl Parsed {
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.find_sample(name, labels).map(|s| s.value)
    }

    /// The sample with exactly this name and label set.
    pub fn find_sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples.iter().find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.label(k) == Some(v))
        })
    }

    /// The unescaped help text of a family.
    pub fn help(&self, family: &str) -> Option<&str> {
        self.helps
            .iter()
            .find(|(f, _)| f == family)
            .map(|(_, h)| h.as_str())
    }

    /// The type of a family.
    pub fn kind(&self, family: &str) -> Option<&str> {
        self.families
            .iter()
            .find(|(f, _)| f == family)
            .map(|(_, k)| k.as_str())
    }
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// Reads a sample value with the grammar both formats share: `+Inf`,
/// `-Inf`, `NaN`, or an optionally signed decimal with an optional
/// exponent. Anything looser that Rust would accept (`inf`, `infinity`,
/// `nan`, a hex float) is refused.
fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        "NaN" => return Ok(f64::NAN),
        _ => {}
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let well_formed = digits(int)
        && digits(frac)
        && !(int.is_empty() && frac.is_empty())
        && exponent.is_none_or(|e| !e.is_empty() && digits(e));
    if !well_formed {
        return Err(format!("bad value {text:?}"));
    }
    text.parse().map_err(|e| format!("bad value {text:?}: {e}"))
}

/// Undoes the escapes of help text: `\\` and `\n` in both formats, `\"`
/// in OpenMetrics only, where a raw `"` is not allowed. Any other escape
/// is an error.
fn unescape_help(text: &str, openmetrics: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if openmetrics => out.push('"'),
                other => return Err(format!("bad escape {other:?} in help")),
            },
            '"' if openmetrics => return Err("raw quote in OpenMetrics help".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// One histogram series being read: its labels without `le`, the bounds
/// and cumulative counts so far, and what came after the buckets.
#[derive(Default)]
struct HistogramSeries {
    labels: BTreeMap<String, String>,
    buckets: Vec<(f64, f64)>,
    sum: bool,
    count: bool,
}

impl HistogramSeries {
    /// A series is complete with its `+Inf` bucket, and (text format) its
    /// `_sum` and `_count`; OpenMetrics may leave out both, never one.
    fn finish(&self, openmetrics: bool) -> Result<(), String> {
        if self.buckets.is_empty() {
            return Ok(());
        }
        if self.buckets.last().map(|(le, _)| *le) != Some(f64::INFINITY) {
            return Err(format!(
                "histogram series {:?} has no +Inf bucket",
                self.labels
            ));
        }
        if self.sum != self.count || (!openmetrics && !self.count) {
            return Err(format!(
                "histogram series {:?} lacks _sum or _count",
                self.labels
            ));
        }
        Ok(())
    }
}

/// Parses the text format (or OpenMetrics when `openmetrics`), checking
/// what a scraper relies on: every line well formed (lines end at line
/// feeds only; no blank lines), values in the formats' number grammar,
/// label values and help text correctly escaped and unescaped here, a
/// family's HELP directly followed by its TYPE and its samples together
/// after them, sample names that belong to their family, no series twice,
/// `le` on buckets only; for histograms, bounds strictly increasing to a
/// last `+Inf`, counts non-decreasing, `_count` equal to the `+Inf`
/// bucket; `# EOF` last for OpenMetrics, whose `le` values always carry a
/// fraction or exponent. Written from the format descriptions, not from
/// the encoder.
pub fn parse(text: &str, openmetrics: bool) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut seen_families = HashSet::new();
    let mut seen_series = HashSet::new();
    let mut current: Option<(String, String)> = None;
    let mut help_pending: Option<String> = None;
    let mut histogram = HistogramSeries::default();
    if text.is_empty() {
        return if openmetrics {
            Err("OpenMetrics exposition without # EOF".into())
        } else {
            Ok(parsed)
        };
    }
    let body = text
        .strip_suffix('\n')
        .ok_or("exposition does not end with a line feed")?;
    for (n, line) in body.split('\n').enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if parsed.saw_eof {
            return Err(err("content after # EOF".into()));
        }
        if line.is_empty() {
            return Err(err("blank line".into()));
        }
        if line == "# EOF" {
            if !openmetrics {
                return Err(err("# EOF in the text format".into()));
            }
            parsed.saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let tail = parts.next();
            if !is_name(name, false) {
                return Err(err(format!("bad family name {name:?}")));
            }
            match kind {
                "HELP" => {
                    let help = tail.ok_or_else(|| err("no help text".into()))?;
                    if help.is_empty() {
                        return Err(err("empty help".into()));
                    }
                    if help_pending.is_some() {
                        return Err(err("HELP without its TYPE".into()));
                    }
                    if seen_families.contains(name) {
                        return Err(err("HELP after the family's TYPE".into()));
                    }
                    let help = unescape_help(help, openmetrics).map_err(err)?;
                    parsed.helps.push((name.to_owned(), help));
                    help_pending = Some(name.to_owned());
                }
                "TYPE" => {
                    let tail = tail.unwrap_or("");
                    if !["counter", "gauge", "histogram"].contains(&tail) {
                        return Err(err(format!("unexpected type {tail:?}")));
                    }
                    if help_pending.take().is_some_and(|h| h != name) {
                        return Err(err("TYPE of another family than the HELP before".into()));
                    }
                    if !seen_families.insert(name.to_owned()) {
                        return Err(err("family appears twice".into()));
                    }
                    if openmetrics && tail == "counter" && name.ends_with("_total") {
                        return Err(err("OpenMetrics counter family ends in _total".into()));
                    }
                    histogram.finish(openmetrics).map_err(err)?;
                    histogram = HistogramSeries::default();
                    current = Some((name.to_owned(), tail.to_owned()));
                    parsed.families.push((name.to_owned(), tail.to_owned()));
                }
                other => return Err(err(format!("unknown comment {other:?}"))),
            }
            continue;
        }
        if help_pending.is_some() {
            return Err(err("sample between HELP and TYPE".into()));
        }
        let (name, labels, raw, exemplar) = parse_sample(line).map_err(err)?;
        let exemplar = match exemplar {
            None => None,
            Some(_) if !openmetrics => {
                return Err(err("an exemplar in the text format".into()));
            }
            Some(_) if !name.ends_with("_bucket") => {
                return Err(err("an exemplar on a line that is not a bucket".into()));
            }
            Some(text) => Some(parse_exemplar(text).map_err(err)?),
        };
        let value = parse_value(raw).map_err(err)?;
        if !is_name(name, true) {
            return Err(err(format!("bad metric name {name:?}")));
        }
        let (family, kind) = current
            .as_ref()
            .ok_or_else(|| err("sample before any TYPE".into()))?;
        let allowed: Vec<String> = match kind.as_str() {
            "counter" if openmetrics => vec![format!("{family}_total")],
            "counter" => vec![family.clone()],
            "gauge" => vec![family.clone()],
            _ => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
        };
        if !allowed.contains(&name.to_owned()) {
            return Err(err(format!(
                "sample {name:?} outside its family {family:?}"
            )));
        }
        let bucket = kind == "histogram" && name.ends_with("_bucket");
        if labels.contains_key("le") != bucket {
            return Err(err(
                "le on a sample that is not a bucket, or a bucket without le".into(),
            ));
        }
        if kind == "histogram" {
            histogram_sample(&mut histogram, name, &labels, value, openmetrics).map_err(err)?;
        }
        let identity = format!("{name}{labels:?}");
        if !seen_series.insert(identity) {
            return Err(err("series appears twice".into()));
        }
        parsed.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
            raw: raw.to_owned(),
            exemplar,
        });
    }
    histogram.finish(openmetrics)?;
    if help_pending.is_some() {
        return Err("HELP without its TYPE at the end".into());
    }
    if openmetrics && !parsed.saw_eof {
        return Err("OpenMetrics exposition without # EOF".into());
    }
    Ok(parsed)
}

/// A sample line's name, labels (unescaped), value text and exemplar text.
type SampleParts<'a> = (&'a str, BTreeMap<String, String>, &'a str, Option<&'a str>);

/// Splits a sample line into its name, its labels (unescaped), the value
/// text and the exemplar text after ` # `, if any:
/// `name{l="v",...} value` or `name value`, nothing more.
fn parse_sample(line: &str) -> Result<SampleParts<'_>, String> {
    let end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = &line[..end];
    let (labels, rest) = if line[end..].starts_with('{') {
        parse_labels(&line[end + 1..])?
    } else {
        (BTreeMap::new(), &line[end..])
    };
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no single space before the value".to_owned())?;
    // After the labels no quoted text is left, so ` # ` can only start an
    // exemplar.
    let (value, exemplar) = match value.split_once(" # ") {
        Some((value, exemplar)) => (value, Some(exemplar)),
        None => (value, None),
    };
    if value.contains(' ') {
        return Err("more than one value (timestamps are not written)".into());
    }
    Ok((name, labels, value, exemplar))
}

/// Reads an OpenMetrics exemplar, `{l="v",...} value timestamp`: labels
/// within the 128-character limit, a value, and a timestamp.
fn parse_exemplar(text: &str) -> Result<(BTreeMap<String, String>, f64, f64), String> {
    let body = text
        .strip_prefix('{')
        .ok_or_else(|| format!("exemplar without labels: {text:?}"))?;
    let (labels, rest) = parse_labels(body)?;
    let length: usize = labels
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    if length > 128 {
        return Err(format!("exemplar labels of {length} characters, past 128"));
    }
    let fields: Vec<&str> = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the exemplar value".to_owned())?
        .split(' ')
        .collect();
    let [value, timestamp] = fields[..] else {
        return Err(format!("exemplar {rest:?} is not `value timestamp`"));
    };
    Ok((labels, parse_value(value)?, parse_value(timestamp)?))
}

/// Reads `l="v",...}` and returns the labels and the text after `}`.
fn parse_labels(body: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    if let Some(after) = rest.strip_prefix('}') {
        return Ok((labels, after));
    }
    loop {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("label without '=' in {rest:?}"))?;
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = after.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} value is not quoted"));
        }
        let mut value = String::new();
        let close = loop {
            match chars.next() {
                None => return Err(format!("label {name} value is not closed")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {name}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        let after = &after[close + 1..];
        if let Some(next) = after.strip_prefix(',') {
            rest = next;
        } else if let Some(after) = after.strip_prefix('}') {
            return Ok((labels, after));
        } else {
            return Err(format!("unexpected {after:?} after label {name}"));
        }
    }
}

fn histogram_sample(
    series: &mut HistogramSeries,
    name: &str,
    labels: &BTreeMap<String, String>,
    value: f64,
    openmetrics: bool,
) -> Result<(), String> {
    let mut own = labels.clone();
    let le = own.remove("le");
    if name.ends_with("_bucket") {
        let le = le.unwrap_or_default();
        if own != series.labels || series.buckets.last().map(|b| b.0) == Some(f64::INFINITY) {
            series.finish(openmetrics)?;
            *series = HistogramSeries {
                labels: own,
                ..HistogramSeries::default()
            };
        }
        let bound = parse_value(&le)?;
        if bound.is_nan() {
            return Err("le is NaN".into());
        }
        if openmetrics && bound.is_finite() && !le.contains(['.', 'e', 'E']) {
            return Err(format!(
                "OpenMetrics le {le:?} without fraction or exponent"
            ));
        }
        if value.is_nan() || value < 0.0 || value.fract() != 0.0 {
            return Err(format!("bucket count {value} is not a count"));
        }
        if let Some(&(before, count)) = series.buckets.last() {
            if bound <= before {
                return Err(format!("le {le} does not increase"));
            }
            if value < count {
                return Err(format!(
                    "bucket count {value} below the one before, {count}"
                ));
            }
        }
        series.buckets.push((bound, value));
        return Ok(());
    }
    let complete = series.buckets.last().map(|b| b.0) == Some(f64::INFINITY);
    if own != series.labels || !complete {
        return Err(format!("{name} outside its series' buckets"));
    }
    if name.ends_with("_sum") {
        if series.sum || series.count {
            return Err("_sum twice or after _count".into());
        }
        series.sum = true;
    } else {
        if !series.sum || series.count {
            return Err("_count without _sum, or twice".into());
        }
        let inf = series.buckets.last().map(|b| b.1);
        if Some(value) != inf {
            return Err(format!(
                "_count {value} differs from the +Inf bucket {inf:?}"
            ));
        }
        series.count = true;
    }
    Ok(())
}

/// Runs `promtool check metrics` on `text`. Returns its combined output,
/// which must be empty for a clean pass; `None` when promtool is missing
/// outside CI. In CI (CI=true) a missing promtool fails the test.
pub fn promtool_check(text: &str) -> Option<Result<String, String>> {
    let promtool = find_tool("promtool")?;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("promtool reads the exposition");
    let out = child.wait_with_output().expect("promtool finishes");
    let combined = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() {
        Ok(combined)
    } else {
        Err(combined)
    })
}

/// A GET answer: status, content type, body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

pub fn http(method: &str, url: &str, accept: Option<&str>) -> Result<Answer, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = match accept {
        Some(accept) => request.header("Accept", accept),
        None => request,
    };
    let request = request.body(()).map_err(ureq::Error::from)?;
    let mut response = agent.run(request)?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(Answer {
        status: response.status().as_u16(),
        content_type,
        body: response.body_mut().read_to_string()?,
    })
}

pub fn get(url: &str, accept: Option<&str>) -> Result<Answer, ureq::Error> {
    http("GET", url, accept)
}
