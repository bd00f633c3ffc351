//! Prometheus remote write 1.0: a protobuf `WriteRequest` (snappy-compressed
//! by the sender) holding one sample per series at the export time, named
//! exactly as the Prometheus exporter names them.

use std::borrow::Cow;

use census_core::{unix_nanos, Aggregation, AggregationData, Number, Row, ViewData};
use census_prometheus_model::{
    check_cumulative, cumulative_counts, fits, merge_same_series, row_labels, samples_per_row,
    total_count, write_openmetrics_le, Family, Kind, NameTable,
};
use prost::Message;

use super::remote_write_messages::{Label, Sample, TimeSeries, WriteRequest};
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

/// Encodes `views` as a `WriteRequest` into `out`.
///
/// Every series carries one sample stamped with its view's end time (the
/// export time), in milliseconds. Labels within a series are sorted by
/// name, as receivers require, and series are sorted by their labels, so
/// the same data always gives the same bytes. Views Prometheus cannot hold
/// (delta counters and histograms, names clashing with an earlier view)
/// and rows that do not fit their view are left out and reported in
/// `omitted`.
pub(super) fn encode(
    const_labels: &[(String, String)],
    views: &[ViewData],
    out: &mut Vec<u8>,
    omitted: &mut Omissions,
) {
    let mut table = NameTable::default();
    let capacity = views
        .iter()
        .map(|v| v.rows.len() * samples_per_row(v.view.aggregation()))
        .sum();
    let mut series = Vec::with_capacity(capacity);
    for data in views {
        let view = &data.view;
        let planned = check_cumulative(data)
            .and_then(|()| Family::plan(view, "", const_labels))
            .and_then(|family| table.claim(view.name(), &family).map(|()| family));
        match planned {
            Ok(family) => view_series(&family, data, const_labels, &mut series, omitted),
            Err(reason) => omitted.views.push((view.name().to_owned(), reason)),
        }
    }
    series.sort_unstable_by(|a: &TimeSeries, b: &TimeSeries| a.labels.cmp(&b.labels));
    let request = WriteRequest { timeseries: series };
    out.reserve(request.encoded_len());
    // Writing into a Vec cannot run out of room.
    let _ = request.encode(out);
}

/// One row's own labels, sorted by name, and the row.
type Keyed<'a> = (Vec<(&'a str, &'a str)>, Cow<'a, Row>);

fn view_series(
    family: &Family,
    data: &ViewData,
    const_labels: &[(String, String)],
    out: &mut Vec<TimeSeries>,
    omitted: &mut Omissions,
) {
    let aggregation = data.view.aggregation();
    let mut rows: Vec<Keyed<'_>> = Vec::with_capacity(data.rows.len());
    for row in &data.rows {
        if !fits(aggregation, &row.data) {
            omitted.rows += 1;
            continue;
        }
        let mut key: Vec<(&str, &str)> = row_labels(family, row).collect();
        key.sort_unstable();
        rows.push((key, Cow::Borrowed(row)));
    }
    // Rows with the same labels are one series to Prometheus (an empty tag
    // value reads as no label); a request holding two samples of one series
    // at one time would be refused whole, so they merge here as they do in
    // the exposition. Ties go to the original tags, so which gauge row
    // survives does not depend on row order.
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.tags.cmp(&b.1.tags)));
    let mut merged: Vec<Keyed<'_>> = Vec::with_capacity(rows.len());
    for (key, row) in rows {
        match merged.last_mut() {
            Some(last) if last.0 == key => {
                if !merge_same_series(&mut last.1, &row) {
                    omitted.rows += 1;
                }
            }
            _ => merged.push((key, row)),
        }
    }

    let timestamp = i64::try_from(unix_nanos(data.end) / 1_000_000).unwrap_or(i64::MAX);
    // Every row of a view shares its bounds, so each `le` value is spelled
    // once per view.
    let view_bounds: &[f64] = match aggregation {
        Aggregation::Distribution(bounds) => bounds.as_slice(),
        _ => &[],
    };
    let view_les = le_values(view_bounds);
    let mut base: Vec<Label> = Vec::with_capacity(const_labels.len() + family.labels.len() + 2);
    for (key, row) in &merged {
        base.clear();
        merge_sorted(&mut base, const_labels, key);
        let mut push = |suffix: &str, le: Option<&str>, value: f64| {
            out.push(one_series(
                &base,
                &family.name,
                suffix,
                le,
                value,
                timestamp,
            ));
        };
        match (&row.data, family.kind) {
            (AggregationData::Distribution(d), _) => {
                let computed;
                let les = if *d.bounds == *view_bounds {
                    &view_les
                } else {
                    computed = le_values(&d.bounds);
                    &computed
                };
                for (le, count) in les.iter().zip(cumulative_counts(d)) {
                    push("_bucket", Some(le), count as f64);
                }
                let total = total_count(d);
                push("_bucket", Some("+Inf"), total as f64);
                push("_sum", None, d.sum);
                push("_count", None, total as f64);
            }
            (other, kind) => {
                let suffix = if kind == Kind::Counter { "_total" } else { "" };
                push(suffix, None, value(other));
            }
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

/// The `le` values of `bounds`, spelled as OpenMetrics (and Prometheus 3,
/// for every scrape) stores them, so a series pushed and a series scraped
/// are the same series.
fn le_values(bounds: &[f64]) -> Vec<String> {
    bounds
        .iter()
        .map(|bound| {
            let mut le = String::new();
            write_openmetrics_le(&mut le, *bound);
            le
        })
        .collect()
}

/// Fills `out` with the union of two lists sorted by name (constant labels
/// and a row's own; the family plan keeps their names apart).
fn merge_sorted(out: &mut Vec<Label>, a: &[(String, String)], b: &[(&str, &str)]) {
    let mut a = a.iter().map(|(n, v)| (n.as_str(), v.as_str())).peekable();
    let mut b = b.iter().copied().peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some((name, value)) => out.push(label(name, value)),
            None => break,
        }
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// One series: `base` (sorted) with `__name__` and `le` put in their
/// sorted places, and its one sample.
fn one_series(
    base: &[Label],
    name: &str,
    suffix: &str,
    le: Option<&str>,
    value: f64,
    timestamp: i64,
) -> TimeSeries {
    let mut labels = Vec::with_capacity(base.len() + 2);
    labels.extend_from_slice(base);
    let mut metric = String::with_capacity(name.len() + suffix.len());
    metric.push_str(name);
    metric.push_str(suffix);
    insert_sorted(&mut labels, NAME_LABEL, metric);
    if let Some(le) = le {
        insert_sorted(&mut labels, "le", le.to_owned());
    }
    TimeSeries {
        labels,
        samples: vec![Sample { value, timestamp }],
    }
}

fn insert_sorted(labels: &mut Vec<Label>, name: &str, value: String) {
    let at = labels.partition_point(|l| l.name.as_str() < name);
    labels.insert(
        at,
        Label {
            name: name.to_owned(),
            value,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{DistributionData, MeasureF64, TagKey, TagValue, Temporality, View};
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
        encode(&labels, views, &mut out, omitted);
        let request = WriteRequest::decode(out.as_slice()).expect("decodes");
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
    fn series_are_named_like_the_exposition_sorted_and_stamped_with_the_export_time() {
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
        // Series sort by their labels: "census_overflow" < "job".
        let want = [
            (
                pairs(&[
                    ("__name__", "http_requests_total"),
                    ("census_overflow", "true"),
                    ("job", "shop"),
                ]),
                1.0,
            ),
            (
                pairs(&[
                    ("__name__", "http_requests_total"),
                    ("job", "shop"),
                    ("method", "GET"),
                ]),
                7.0,
            ),
            (
                pairs(&[("__name__", "lat_bucket"), ("job", "shop"), ("le", "+Inf")]),
                6.0,
            ),
            (
                pairs(&[("__name__", "lat_bucket"), ("job", "shop"), ("le", "0.5")]),
                1.0,
            ),
            (
                pairs(&[("__name__", "lat_bucket"), ("job", "shop"), ("le", "2.0")]),
                3.0,
            ),
            (pairs(&[("__name__", "lat_count"), ("job", "shop")]), 6.0),
            (pairs(&[("__name__", "lat_sum"), ("job", "shop")]), 7.5),
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
