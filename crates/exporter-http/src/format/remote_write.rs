//! Prometheus remote write 1.0: a protobuf `WriteRequest` (snappy-compressed
//! by the sender) holding one sample per series at the export time, named
//! exactly as the Prometheus exporter names them.

use std::borrow::Cow;

use census_core::{unix_nanos, Aggregation, AggregationData, Number, Row, ViewData};
use census_prometheus_model::{
    check_cumulative, cumulative_counts, fits, merge_same_series, row_labels, samples_per_row,
    total_count, write_openmetrics_le, Family, Kind, NameTable,
};
use prost::encoding::{encode_key, encode_varint, message, WireType};

use super::remote_write_messages::{Label, Sample};
use super::Omissions;

/// The label Prometheus keeps a series' metric name in.
const NAME_LABEL: &str = "__name__";

/// Labels on every series, from the resource: what a scrape would have
/// added as `job` and `instance`, following OpenTelemetry's Prometheus
/// compatibility rules (`job` is `service.namespace/service.name`, or
/// `service.name` alone; `instance` is `service.instance.id`). Sorted by
/// name; no empty value (remote write forbids them).
pub(super) fn const_labels(resource: &[(String, String)]) -> Vec<(String, String)> {
    let get = |key: &str| {
        resource
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let mut labels = Vec::with_capacity(2);
    if let Some(instance) = get("service.instance.id") {
        labels.push(("instance".to_owned(), instance.to_owned()));
    }
    if let Some(service) = get("service.name") {
        let job = match get("service.namespace") {
            Some(namespace) => format!("{namespace}/{service}"),
            None => service.to_owned(),
        };
        labels.push(("job".to_owned(), job));
    }
    labels.sort();
    labels
}

/// Encodes `views` as a `WriteRequest` into `out`, and returns the latest
/// sample timestamp it wrote (`None` when it wrote no series).
///
/// Every series carries one sample stamped with its view's end time (the
/// export time), in milliseconds, or `earliest_ms` if that is later: a
/// receiver refuses a second, different value of a series at a timestamp
/// it already holds, so each batch's samples must come after the previous
/// batch's, even when both ended in one millisecond. Labels within a series are sorted by
/// name (byte order), as receivers require. Series come family by family
/// in name order, each family's rows sorted by their labels (the overflow
/// row last), each row's samples in exposition order, so the same data
/// always gives the same bytes. Views Prometheus cannot hold (delta
/// counters and histograms, names clashing with an earlier view) and rows
/// that do not fit their view are left out and reported in `omitted`.
///
/// A `WriteRequest` has one field, the repeated `timeseries`, so its bytes
/// are each series encoded as that field in turn. Every label of a row,
/// and every sample name and `le` of a view, is encoded once by prost as a
/// `TimeSeries.labels` field, and each series is framed from those pieces
/// (see [`SeriesWriter`]): the eleven series of an 8-bound histogram row
/// share one label set, and building a prost `TimeSeries` for each series
/// took several times as long.
pub(super) fn encode(
    const_labels: &[(String, String)],
    views: &[ViewData],
    earliest_ms: i64,
    out: &mut Vec<u8>,
    omitted: &mut Omissions,
) -> Option<i64> {
    let mut table = NameTable::default();
    let mut families: Vec<(Family, &ViewData)> = Vec::with_capacity(views.len());
    let mut series = 0;
    for data in views {
        let view = &data.view;
        let planned = check_cumulative(data)
            .and_then(|()| Family::plan(view, "", const_labels))
            .and_then(|family| table.claim(view.name(), &family).map(|()| family));
        match planned {
            Ok(family) => {
                series += data.rows.len() * samples_per_row(view.aggregation());
                families.push((family, data));
            }
            Err(reason) => omitted.views.push((view.name().to_owned(), reason)),
        }
    }
    // Names are unique after the clash check, so this order is total.
    families.sort_unstable_by(|a, b| a.0.name.cmp(&b.0.name));
    // A series is about 115 bytes (measured in benches/http.rs: five short
    // labels and a sample); reserving a little more up front saves copying
    // a multi-megabyte body as it grows.
    out.reserve(series * 128);
    let mut writer = SeriesWriter::default();
    let mut latest = None;
    for (family, data) in &families {
        let written = view_series(
            family,
            data,
            const_labels,
            earliest_ms,
            &mut writer,
            out,
            omitted,
        );
        latest = latest.max(written);
    }
    latest
}

/// A row: where its own labels (sorted by name) lie in the view's label
/// arena, and the row.
type Keyed<'a> = (std::ops::Range<usize>, Cow<'a, Row>);

/// Writes the series of one view at its end time (or `earliest_ms`), and
/// returns that time, or `None` when the view has no series.
fn view_series(
    family: &Family,
    data: &ViewData,
    const_labels: &[(String, String)],
    earliest_ms: i64,
    writer: &mut SeriesWriter,
    out: &mut Vec<u8>,
    omitted: &mut Omissions,
) -> Option<i64> {
    let aggregation = data.view.aggregation();
    // Every row's own labels go into one arena rather than a vector each.
    let mut arena: Vec<(&str, &str)> = Vec::with_capacity(data.rows.len() * family.labels.len());
    let mut rows: Vec<Keyed<'_>> = Vec::with_capacity(data.rows.len());
    for row in &data.rows {
        if !fits(aggregation, &row.data) {
            omitted.rows += 1;
            continue;
        }
        let start = arena.len();
        arena.extend(row_labels(family, row));
        if let Some(own) = arena.get_mut(start..) {
            own.sort_unstable();
        }
        rows.push((start..arena.len(), Cow::Borrowed(row)));
    }
    let key = |range: &std::ops::Range<usize>| arena.get(range.clone()).unwrap_or_default();
    // Rows with the same labels are one series to Prometheus (an empty tag
    // value reads as no label); a request holding two samples of one series
    // at one time would be refused whole, so they merge here as they do in
    // the exposition. The overflow row goes last, as in the exposition;
    // ties go to the original tags, so which gauge row survives does not
    // depend on row order.
    rows.sort_unstable_by(|a, b| {
        (a.1.overflow, key(&a.0))
            .cmp(&(b.1.overflow, key(&b.0)))
            .then_with(|| a.1.tags.cmp(&b.1.tags))
    });
    let mut merged: Vec<Keyed<'_>> = Vec::with_capacity(rows.len());
    for (range, row) in rows {
        match merged.last_mut() {
            Some(last) if key(&last.0) == key(&range) => {
                if !merge_same_series(&mut last.1, &row) {
                    omitted.rows += 1;
                }
            }
            _ => merged.push((range, row)),
        }
    }
    if merged.is_empty() {
        return None;
    }

    let timestamp = i64::try_from(unix_nanos(data.end) / 1_000_000)
        .unwrap_or(i64::MAX)
        .max(earliest_ms);
    // Every row of a view shares its sample names and bounds, so each is
    // spelled and encoded once per view.
    let names = Names::new(family, writer);
    let view_bounds: &[f64] = match aggregation {
        Aggregation::Distribution(bounds) => bounds.as_slice(),
        _ => &[],
    };
    writer.les_for(view_bounds);
    for (range, row) in &merged {
        let constant = const_labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        writer.row(merge_by_name(constant, key(range).iter().copied()));
        match &row.data {
            AggregationData::Distribution(d) => {
                // A row's bounds are its view's unless a producer says
                // otherwise.
                writer.les_for(&d.bounds);
                for (i, count) in cumulative_counts(d).enumerate() {
                    writer.write_bucket(&names.first, i, count as f64, timestamp, out);
                }
                let total = total_count(d);
                writer.write_bucket(&names.first, usize::MAX, total as f64, timestamp, out);
                writer.write(&names.sum, &[], d.sum, timestamp, out);
                writer.write(&names.count, &[], total as f64, timestamp, out);
            }
            other => writer.write(&names.first, &[], value(other), timestamp, out),
        }
    }
    Some(timestamp)
}

/// Writes series from encoded pieces.
///
/// It holds one row's labels, encoded as `TimeSeries.labels` fields in
/// name order, and the offsets where the `__name__` and `le` labels belong
/// (`"__name__" < "le"` in byte order; a name such as `Zone` sorts before
/// both). A series is then the field key and length of
/// `WriteRequest.timeseries`, those labels with the encoded `__name__` (and
/// `le`) spliced in, and the encoded sample: exactly the bytes prost writes
/// for the whole `TimeSeries`, as the tests check.
#[derive(Default)]
struct SeriesWriter {
    row: Vec<u8>,
    name_at: usize,
    le_at: usize,
    /// Reused for every label encoded, so that encoding one allocates
    /// nothing.
    label: Label,
    /// The bounds whose encoded `le` labels `les` holds (views commonly
    /// share bounds, so they are encoded once for all of them), and the
    /// encoded `le="+Inf"`.
    les_bounds: Vec<f64>,
    les: Vec<Vec<u8>>,
    inf: Vec<u8>,
}

impl SeriesWriter {
    /// One label, encoded as a `TimeSeries.labels` field.
    fn label(&mut self, name: &str, value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_label(name, value, &mut out);
        out
    }

    fn encode_label(&mut self, name: &str, value: &str, out: &mut Vec<u8>) {
        self.label.name.clear();
        self.label.name.push_str(name);
        self.label.value.clear();
        self.label.value.push_str(value);
        message::encode(LABELS_FIELD, &self.label, out);
    }

    /// Takes the labels every series of the next row shares, sorted by
    /// name.
    fn row<'a>(&mut self, base: impl Iterator<Item = (&'a str, &'a str)>) {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        self.name_at = 0;
        self.le_at = 0;
        for (name, value) in base {
            self.encode_label(name, value, &mut row);
            if name < NAME_LABEL {
                self.name_at = row.len();
            }
            if name < LE_LABEL {
                self.le_at = row.len();
            }
        }
        self.row = row;
    }

    /// Makes `les` the encoded `le` labels of `bounds`, spelled as
    /// OpenMetrics (and Prometheus 3, for every scrape) stores them, so a
    /// series pushed and a series scraped are the same series.
    fn les_for(&mut self, bounds: &[f64]) {
        if self.inf.is_empty() {
            self.inf = self.label(LE_LABEL, "+Inf");
        }
        // Bit equality: NaN bounds cannot exist, and -0.0 is spelled "-0.0".
        let same = self.les_bounds.len() == bounds.len()
            && self
                .les_bounds
                .iter()
                .zip(bounds)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if same {
            return;
        }
        let mut le = String::new();
        let mut les = Vec::with_capacity(bounds.len());
        for bound in bounds {
            le.clear();
            write_openmetrics_le(&mut le, *bound);
            les.push(self.label(LE_LABEL, &le));
        }
        self.les = les;
        self.les_bounds = bounds.to_vec();
    }

    /// Writes the bucket series of bound `i` of the current bounds, or of
    /// `+Inf` past them.
    fn write_bucket(&self, name: &[u8], i: usize, value: f64, timestamp: i64, out: &mut Vec<u8>) {
        let le = self.les.get(i).unwrap_or(&self.inf);
        self.write(name, le, value, timestamp, out);
    }

    /// Writes one series of the current row: `name` (an encoded
    /// `__name__` label), `le` (an encoded `le` label, or empty), and one
    /// sample.
    fn write(&self, name: &[u8], le: &[u8], value: f64, timestamp: i64, out: &mut Vec<u8>) {
        let sample = Sample { value, timestamp };
        let len =
            self.row.len() + name.len() + le.len() + message::encoded_len(SAMPLES_FIELD, &sample);
        encode_key(TIMESERIES_FIELD, WireType::LengthDelimited, out);
        encode_varint(len as u64, out);
        let (before_name, rest) = self.row.split_at(self.name_at.min(self.row.len()));
        let (before_le, after_le) =
            rest.split_at(self.le_at.saturating_sub(self.name_at).min(rest.len()));
        out.extend_from_slice(before_name);
        out.extend_from_slice(name);
        out.extend_from_slice(before_le);
        out.extend_from_slice(le);
        out.extend_from_slice(after_le);
        message::encode(SAMPLES_FIELD, &sample, out);
    }
}

/// Two label lists sorted by name, merged into one sorted list (the
/// family plan keeps constant labels and tag labels apart).
fn merge_by_name<'a>(
    a: impl Iterator<Item = (&'a str, &'a str)>,
    b: impl Iterator<Item = (&'a str, &'a str)>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// The label holding a bucket's upper bound.
const LE_LABEL: &str = "le";
/// Field numbers of the remote write 1.0 messages.
const TIMESERIES_FIELD: u32 = 1; // WriteRequest
const LABELS_FIELD: u32 = 1; // TimeSeries
const SAMPLES_FIELD: u32 = 2; // TimeSeries

/// The encoded `__name__` labels of one family's samples.
struct Names {
    /// A counter's `_total`, a gauge's bare name, or a histogram's
    /// `_bucket`.
    first: Vec<u8>,
    /// A histogram's `_sum` and `_count`; empty for other families.
    sum: Vec<u8>,
    count: Vec<u8>,
}

impl Names {
    fn new(family: &Family, writer: &mut SeriesWriter) -> Names {
        let mut name = String::with_capacity(family.name.len() + 8);
        let mut with = |suffix: &str| {
            name.clear();
            name.push_str(&family.name);
            name.push_str(suffix);
            writer.label(NAME_LABEL, &name)
        };
        match family.kind {
            Kind::Counter => Names {
                first: with("_total"),
                sum: Vec::new(),
                count: Vec::new(),
            },
            Kind::Gauge => Names {
                first: with(""),
                sum: Vec::new(),
                count: Vec::new(),
            },
            Kind::Histogram => Names {
                first: with("_bucket"),
                sum: with("_sum"),
                count: with("_count"),
            },
        }
    }
}

/// A count, sum or gauge value as the float every sample is.
fn value(data: &AggregationData) -> f64 {
    match data {
        AggregationData::Count(n) => *n as f64,
        AggregationData::Sum(v) | AggregationData::LastValue(v) => match *v {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        },
        AggregationData::Distribution(d) => d.sum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::remote_write_messages::WriteRequest;
    use census_core::{DistributionData, MeasureF64, TagKey, TagValue, Temporality, View};
    use prost::Message;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    fn view(name: &str, keys: &[&str], aggregation: Aggregation) -> View {
        let m = MeasureF64::new("m", "d", "1").expect("measure");
        let keys: Vec<TagKey> = keys.iter().map(|k| TagKey::new(*k).expect("key")).collect();
        View::builder(name, &m)
            .tag_keys(keys)
            .aggregation(aggregation)
            .build()
            .expect("view")
    }

    fn tag(v: &str) -> Option<TagValue> {
        Some(TagValue::new(v).expect("value"))
    }

    /// One decoded series: labels, its one value and timestamp.
    type Decoded = (Vec<(String, String)>, f64, i64);

    fn decode(views: &[ViewData], omitted: &mut Omissions) -> Vec<Decoded> {
        let mut out = Vec::new();
        let labels = const_labels(&[("service.name".into(), "shop".into())]);
        encode(&labels, views, i64::MIN, &mut out, omitted);
        let request = WriteRequest::decode(out.as_slice()).expect("decodes");
        // The series framed from encoded pieces are exactly prost's own
        // encoding of the request it decoded.
        assert_eq!(request.encode_to_vec(), out);
        request
            .timeseries
            .into_iter()
            .map(|s| {
                let labels = s.labels.into_iter().map(|l| (l.name, l.value)).collect();
                (labels, s.samples[0].value, s.samples[0].timestamp)
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn series_are_named_and_ordered_like_the_exposition_and_stamped_with_the_export_time() {
        let end = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let counter = ViewData::new(
            view("http/requests", &["method", "Zone"], Aggregation::Count),
            UNIX_EPOCH,
            end,
            vec![
                Row::new(
                    vec![tag("GET"), tag("")],
                    AggregationData::Count(3),
                    UNIX_EPOCH,
                ),
                Row::new(
                    vec![tag("GET"), None],
                    AggregationData::Count(4),
                    UNIX_EPOCH,
                ),
                Row::overflow(2, AggregationData::Count(1), UNIX_EPOCH),
            ],
        );
        let hist = ViewData::new(
            view(
                "lat",
                &[],
                Aggregation::distribution([0.5, 2.0]).expect("bounds"),
            ),
            UNIX_EPOCH,
            end,
            vec![Row::new(
                vec![],
                AggregationData::Distribution(DistributionData {
                    count: 6,
                    sum: 7.5,
                    mean: 1.25,
                    min: 0.1,
                    max: 3.0,
                    sum_of_squared_deviation: 1.0,
                    bounds: Arc::from(vec![0.5, 2.0]),
                    bucket_counts: vec![1, 2, 3],
                }),
                UNIX_EPOCH,
            )],
        );
        let mut delta = counter.clone();
        delta.temporality = Temporality::Delta;
        delta.view = view("d", &[], Aggregation::Count);
        let mut omitted = Omissions::default();
        let got = decode(&[hist, counter, delta], &mut omitted);
        // Families by name, rows by labels with the overflow row last,
        // samples in exposition order.
        let want = [
            (
                pairs(&[
                    ("__name__", "http_requests_total"),
                    ("job", "shop"),
                    ("method", "GET"),
                ]),
                7.0,
            ),
            (
                pairs(&[
                    ("__name__", "http_requests_total"),
                    ("census_overflow", "true"),
                    ("job", "shop"),
                ]),
                1.0,
            ),
            (
                pairs(&[("__name__", "lat_bucket"), ("job", "shop"), ("le", "0.5")]),
                1.0,
            ),
            (
                pairs(&[("__name__", "lat_bucket"), ("job", "shop"), ("le", "2.0")]),
                3.0,
            ),
            (
                pairs(&[("__name__", "lat_bucket"), ("job", "shop"), ("le", "+Inf")]),
                6.0,
            ),
            (pairs(&[("__name__", "lat_sum"), ("job", "shop")]), 7.5),
            (pairs(&[("__name__", "lat_count"), ("job", "shop")]), 6.0),
        ];
        let got_labels: Vec<(Vec<(String, String)>, f64)> =
            got.iter().map(|(l, v, _)| (l.clone(), *v)).collect();
        assert_eq!(got_labels, want);
        assert!(got.iter().all(|(_, _, ts)| *ts == 1_700_000_000_123));
        // The empty-tag row and the absent-tag row are one series: 3 + 4.
        assert_eq!(omitted.rows, 0);
        assert_eq!(omitted.views.len(), 1);
        assert!(omitted.views[0].1.contains("delta"), "{:?}", omitted.views);
    }

    #[test]
    fn labels_sort_by_bytes_so_capitals_come_before_the_name() {
        let data = ViewData::new(
            view("g", &["Zone", "a"], Aggregation::LastValue),
            UNIX_EPOCH,
            UNIX_EPOCH,
            vec![Row::new(
                vec![tag("z"), tag("x")],
                AggregationData::LastValue(Number::Float(1.5)),
                UNIX_EPOCH,
            )],
        );
        let got = decode(&[data], &mut Omissions::default());
        let names: Vec<&str> = got[0].0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Zone", "__name__", "a", "job"]);
    }

    #[test]
    fn job_and_instance_follow_the_resource() {
        let resource = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            const_labels(&resource(&[
                ("service.name", "api"),
                ("service.namespace", "shop"),
                ("service.instance.id", "pod-7"),
            ])),
            resource(&[("instance", "pod-7"), ("job", "shop/api")])
        );
        assert_eq!(
            const_labels(&resource(&[("service.name", "api")])),
            resource(&[("job", "api")])
        );
    }
}
