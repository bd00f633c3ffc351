//! Encoding a batch of view data as one exposition.

use std::borrow::Cow;

use census_core::{
    unix_nanos, Aggregation, AggregationData, DistributionData, Exemplar, Number, Row, ViewData,
};
use census_prometheus_model::{
    check_cumulative, cumulative_counts, fits, label_name, merge_same_series,
    row_labels as own_labels, samples_per_row, total_count, write_f64, write_i64,
    write_openmetrics_le, write_u64, Family, Kind, NameTable,
};

use crate::format::PrometheusFormat;
use crate::text::{write_help, write_label_value};

/// What the exporter was configured with that shapes every exposition.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    /// Prefix of every metric name; empty for none.
    pub(crate) namespace: String,
    /// Labels on every series, as validated `(name, value)` pairs.
    pub(crate) const_labels: Vec<(String, String)>,
}

/// What an encoding left out, so the caller can log and count it.
#[derive(Debug, Default)]
pub(crate) struct Omissions {
    /// Views left out whole, with the reason: each would have clashed with
    /// a view encoded before it, or has tag keys that clash.
    pub(crate) views: Vec<(String, String)>,
    /// Rows left out because their data did not fit their view (a producer
    /// bug): the wrong aggregation, or a bucket count that does not match
    /// the bounds. Also LastValue rows that Prometheus cannot tell from
    /// another row of the view (an empty tag value beside an absent tag):
    /// gauges cannot be added, so one of the two is left out.
    pub(crate) rows: u64,
    /// Exemplar attachments left off a bucket line: past OpenMetrics'
    /// 128-character limit on an exemplar's labels, or with a key that
    /// makes no label name.
    pub(crate) attachments: u64,
}

/// OpenMetrics: "The combined length of the label names and values of an
/// Exemplar's LabelSet MUST NOT exceed 128 UTF-8 character code points."
const EXEMPLAR_LABELS_MAX: usize = 128;

/// Encodes `batch` in `format`.
///
/// Families are sorted by name (as `format` spells them), the series of a
/// family are contiguous and sorted by tag values with the overflow series
/// last, so the same data always gives the same text. A view whose names
/// clash with a view earlier in `batch` is left out and reported in
/// `omitted`, never written as a second family of the same name.
#[cfg(test)]
pub(crate) fn encode(
    batch: &[ViewData],
    config: &Config,
    format: PrometheusFormat,
    omitted: &mut Omissions,
) -> String {
    let mut batch = batch.to_vec();
    encode_settled(&mut batch, config, format, omitted, |_, _| {})
}

/// [`encode`], calling `settle` once the views left out are known and
/// before anything is written: the exporter's own count of them then
/// describes the very scrape that leaves them out.
pub(crate) fn encode_settled(
    batch: &mut [ViewData],
    config: &Config,
    format: PrometheusFormat,
    omitted: &mut Omissions,
    settle: impl FnOnce(&mut [ViewData], &Omissions),
) -> String {
    let mut table = NameTable::default();
    let mut planned_families: Vec<(Family, usize)> = Vec::with_capacity(batch.len());
    let mut series = 0usize;
    for (i, data) in batch.iter().enumerate() {
        let view = &data.view;
        let planned = check_cumulative(data)
            .and_then(|()| Family::plan(view, &config.namespace, &config.const_labels))
            .and_then(|family| table.claim(view.name(), &family).map(|()| family));
        match planned {
            Ok(family) => {
                series += data.rows.len() * samples_per_row(view.aggregation());
                planned_families.push((family, i));
            }
            Err(reason) => omitted.views.push((view.name().to_owned(), reason)),
        }
    }
    settle(batch, omitted);
    let batch: &[ViewData] = batch;
    let mut families: Vec<(Family, &ViewData)> = planned_families
        .into_iter()
        .filter_map(|(family, i)| Some((family, batch.get(i)?)))
        .collect();
    match format {
        PrometheusFormat::Text => families.sort_by_cached_key(|(family, _)| family.text_name()),
        PrometheusFormat::OpenMetrics => families.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
    }

    let const_labels = render_const_labels(&config.const_labels);
    // A guess at the line length that avoids most regrowth of a large body.
    let mut out = String::with_capacity(series * (96 + const_labels.len()) + 256);
    let mut labels = String::with_capacity(128);
    for (family, data) in &families {
        write_family(
            &mut out,
            &mut labels,
            family,
            data,
            &const_labels,
            format,
            omitted,
        );
    }
    if format == PrometheusFormat::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn render_const_labels(const_labels: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in const_labels {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        write_label_value(&mut out, value);
        out.push('"');
    }
    out
}

fn write_family(
    out: &mut String,
    labels: &mut String,
    family: &Family,
    data: &ViewData,
    const_labels: &str,
    format: PrometheusFormat,
    omitted: &mut Omissions,
) {
    let aggregation = data.view.aggregation();
    // Each row's own labels are rendered once, into one arena, and rows
    // are sorted by that text: the output becomes deterministic (rows come
    // in no particular order), the overflow series goes last, and the sort
    // compares bytes lying side by side instead of chasing every tag value
    // through its pointer, which made large scrapes several times slower.
    // Equal text means rows Prometheus cannot tell apart: an empty tag
    // value is written like an absent tag, because Prometheus reads
    // `k=""` as no label at all. Such rows are merged below rather than
    // left for the server to drop one of them silently.
    let mut arena = String::with_capacity(data.rows.len() * 48);
    let mut rows: Vec<(bool, usize, usize, Cow<'_, Row>)> = Vec::with_capacity(data.rows.len());
    for row in &data.rows {
        if !fits(aggregation, &row.data) {
            omitted.rows += 1;
            continue;
        }
        let start = arena.len();
        row_labels(&mut arena, family, row);
        rows.push((row.overflow, start, arena.len(), Cow::Borrowed(row)));
    }
    let text = |&(_, start, end, _): &(bool, usize, usize, Cow<'_, Row>)| &arena[start..end];
    // Ties broken by the original tags (absent sorts before empty), so
    // which LastValue row survives a collision does not depend on row order.
    rows.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| text(a).cmp(text(b)))
            .then_with(|| a.3.tags.cmp(&b.3.tags))
    });
    let mut merged: Vec<(bool, usize, usize, Cow<'_, Row>)> = Vec::with_capacity(rows.len());
    for entry in rows {
        match merged.last_mut() {
            Some(last) if last.0 == entry.0 && text(last) == text(&entry) => {
                // Counts, sums and histograms add exactly; a gauge cannot,
                // so the first (absent-tag) row stays and the other is
                // counted as left out.
                if merge_same_series(&mut last.3, &entry.3) {
                    last.3.to_mut().merge_exemplars(&entry.3.exemplars);
                } else {
                    omitted.rows += 1;
                }
            }
            _ => merged.push(entry),
        }
    }
    let rows = merged;
    if rows.is_empty() {
        return;
    }

    let openmetrics = format == PrometheusFormat::OpenMetrics;
    let family_name = match format {
        PrometheusFormat::Text => family.text_name(),
        PrometheusFormat::OpenMetrics => family.name.clone(),
    };
    let description = data.view.description();
    // promtool flags a family without help; the view name is better than
    // nothing when the view has no description.
    let help = if description.is_empty() {
        data.view.name()
    } else {
        description
    };
    out.push_str("# HELP ");
    out.push_str(&family_name);
    out.push(' ');
    write_help(out, help, openmetrics);
    out.push_str("\n# TYPE ");
    out.push_str(&family_name);
    out.push(' ');
    out.push_str(family.kind.as_str());
    out.push('\n');

    let name = family.name.as_str();
    // Every row of a view shares its bounds, so each `le` value is
    // formatted once per scrape instead of once per row.
    let view_bounds: &[f64] = match aggregation {
        Aggregation::Distribution(bounds) => bounds.as_slice(),
        _ => &[],
    };
    let view_les = le_values(view_bounds, format);
    for entry in &rows {
        let row: &Row = &entry.3;
        labels.clear();
        labels.push_str(const_labels);
        let own = text(entry);
        if !own.is_empty() {
            if !labels.is_empty() {
                labels.push(',');
            }
            labels.push_str(own);
        }
        match &row.data {
            AggregationData::Count(n) => {
                open_sample(out, name, "_total", labels);
                write_u64(out, *n);
                out.push('\n');
            }
            AggregationData::Sum(v) => {
                // An up-down sum is a gauge: no `_total`.
                let suffix = match family.kind {
                    Kind::Counter => "_total",
                    Kind::Gauge | Kind::Histogram => "",
                };
                open_sample(out, name, suffix, labels);
                write_number(out, *v);
                out.push('\n');
            }
            AggregationData::LastValue(v) => {
                open_sample(out, name, "", labels);
                write_number(out, *v);
                out.push('\n');
            }
            AggregationData::Distribution(d) => {
                // Exemplars exist in OpenMetrics only; the text format has
                // no syntax for them.
                let exemplars = match format {
                    PrometheusFormat::OpenMetrics => by_bucket(d, &row.exemplars),
                    PrometheusFormat::Text => Vec::new(),
                };
                let histogram = Histogram {
                    name,
                    labels,
                    exemplars: &exemplars,
                };
                if *d.bounds == *view_bounds {
                    histogram.write(out, d, &view_les, format, omitted);
                } else {
                    let les = le_values(&d.bounds, format);
                    histogram.write(out, d, &les, format, omitted);
                }
            }
        }
    }
}

/// Appends the labels of one row's own tags to `out`, escaped, without
/// braces and without the constant labels.
fn row_labels(out: &mut String, family: &Family, row: &Row) {
    for (i, (label, value)) in own_labels(family, row).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(label);
        out.push_str("=\"");
        write_label_value(out, value);
        out.push('"');
    }
}

fn open_sample(out: &mut String, name: &str, suffix: &str, labels: &str) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
}

fn write_number(out: &mut String, v: Number) {
    match v {
        Number::Int(i) => write_i64(out, i),
        Number::Float(f) => write_f64(out, f),
    }
}

/// The `le` label values of `bounds`, as `format` spells them.
fn le_values(bounds: &[f64], format: PrometheusFormat) -> Vec<String> {
    bounds
        .iter()
        .map(|bound| {
            let mut le = String::new();
            match format {
                PrometheusFormat::OpenMetrics => write_openmetrics_le(&mut le, *bound),
                PrometheusFormat::Text => write_f64(&mut le, *bound),
            }
            le
        })
        .collect()
}

/// The exemplar of each bucket of `d` (one entry per bucket), the latest
/// of a row's exemplars whose value falls in it; empty when there are none.
fn by_bucket<'r>(d: &DistributionData, exemplars: &'r [Exemplar]) -> Vec<Option<&'r Exemplar>> {
    if exemplars.is_empty() {
        return Vec::new();
    }
    let mut kept: Vec<Option<&Exemplar>> = vec![None; d.bucket_counts.len()];
    for e in exemplars {
        // Upper-inclusive, as the buckets are: the bounds below the value.
        let bucket = d.bounds.partition_point(|b| *b < e.value);
        if let Some(slot) = kept.get_mut(bucket) {
            if slot.is_none_or(|k| k.time < e.time) {
                *slot = Some(e);
            }
        }
    }
    kept
}

/// One histogram row's names, labels and exemplars (per bucket).
struct Histogram<'a> {
    name: &'a str,
    labels: &'a str,
    exemplars: &'a [Option<&'a Exemplar>],
}

impl Histogram<'_> {
    /// Writes the row; `les` holds the `le` value of each of `d.bounds`.
    fn write(
        &self,
        out: &mut String,
        d: &DistributionData,
        les: &[String],
        format: PrometheusFormat,
        omitted: &mut Omissions,
    ) {
        let (name, labels) = (self.name, self.labels);
        let openmetrics = format == PrometheusFormat::OpenMetrics;
        let mut bucket = |out: &mut String, i: usize, le: &str, count: u64| {
            out.push_str(name);
            out.push_str("_bucket{");
            out.push_str(labels);
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push_str("\"} ");
            write_u64(out, count);
            if let Some(Some(exemplar)) = self.exemplars.get(i) {
                write_exemplar(out, exemplar, omitted);
            }
            out.push('\n');
        };
        for (i, (le, cumulative)) in les.iter().zip(cumulative_counts(d)).enumerate() {
            bucket(out, i, le, cumulative);
        }
        let total = total_count(d);
        bucket(out, les.len(), "+Inf", total);
        write_sum_and_count(out, name, labels, d, total, openmetrics);
    }
}

/// Appends ` # {labels} value timestamp` to a bucket line (OpenMetrics).
///
/// The attachments become the labels, keys turned into label names as tag
/// keys are, in the order they were attached, for as long as their names
/// and values together stay within OpenMetrics' 128 characters; the first
/// that would pass the limit and every one after it are left off (and
/// counted), and an exemplar none of whose attachments fits is not
/// written. A key that makes no label name (the empty key), or the name
/// of an earlier key, is left off too. The timestamp is in seconds, to the millisecond Prometheus
/// keeps.
fn write_exemplar(out: &mut String, exemplar: &Exemplar, omitted: &mut Omissions) {
    let mut length = 0;
    let mut labels = String::new();
    let mut names: Vec<String> = Vec::new();
    for (key, value) in &exemplar.attachments {
        let name = label_name(key);
        // Two keys can make one label name (`trace.id`, `trace_id`): the
        // first stays, as a label set holds a name once.
        if name.is_empty() || names.contains(&name) {
            continue;
        }
        length += name.chars().count() + value.chars().count();
        if length > EXEMPLAR_LABELS_MAX {
            break;
        }
        if !names.is_empty() {
            labels.push(',');
        }
        labels.push_str(&name);
        labels.push_str("=\"");
        write_label_value(&mut labels, value);
        labels.push('"');
        names.push(name);
    }
    omitted.attachments += (exemplar.attachments.len() - names.len()) as u64;
    if names.is_empty() {
        return;
    }
    out.push_str(" # {");
    out.push_str(&labels);
    out.push_str("} ");
    write_f64(out, exemplar.value);
    out.push(' ');
    let millis = unix_nanos(exemplar.time) / 1_000_000;
    write_u64(out, millis / 1000);
    out.push('.');
    let fraction = millis % 1000;
    for digit in [fraction / 100, fraction / 10 % 10, fraction % 10] {
        out.push(char::from(b'0' + digit as u8));
    }
}

fn write_sum_and_count(
    out: &mut String,
    name: &str,
    labels: &str,
    d: &DistributionData,
    total: u64,
    openmetrics: bool,
) {
    // OpenMetrics keeps `_sum` (and with it `_count`) only while the sum is
    // a counter: no negative bucket bound, no negative or NaN sum.
    let sum_is_counter =
        d.bounds.first().is_none_or(|b| *b >= 0.0) && d.sum >= 0.0 && !d.sum.is_nan();
    if openmetrics && !sum_is_counter {
        return;
    }
    open_sample(out, name, "_sum", labels);
    write_f64(out, d.sum);
    out.push('\n');
    open_sample(out, name, "_count", labels);
    write_u64(out, total);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{MeasureF64, TagKey, TagValue, Temporality, View};
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    fn histogram(bounds: &[f64], sum: f64) -> ViewData {
        let m = MeasureF64::new("m", "temperature", "Cel").expect("valid measure");
        let view = View::builder("temp", &m)
            .aggregation(Aggregation::distribution(bounds.to_vec()).expect("valid bounds"))
            .build()
            .expect("valid view");
        let mut counts = vec![1; bounds.len()];
        counts.push(0);
        let data = AggregationData::Distribution(DistributionData {
            count: bounds.len() as u64,
            sum,
            mean: 0.0,
            min: 0.0,
            max: 0.0,
            sum_of_squared_deviation: 0.0,
            bounds: Arc::from(bounds.to_vec()),
            bucket_counts: counts,
        });
        ViewData::new(
            view,
            UNIX_EPOCH,
            UNIX_EPOCH,
            vec![Row::new(vec![], data, UNIX_EPOCH)],
        )
    }

    fn render(batch: &[ViewData], format: PrometheusFormat) -> (String, Omissions) {
        let mut omitted = Omissions::default();
        let text = encode(batch, &Config::default(), format, &mut omitted);
        (text, omitted)
    }

    #[test]
    fn openmetrics_drops_sum_and_count_when_the_sum_is_not_a_counter() {
        for (bounds, sum, kept) in [
            (&[0.0, 1.0][..], 1.5, true),
            (&[-1.0, 1.0][..], 1.5, false),
            (&[0.0, 1.0][..], -0.5, false),
        ] {
            let batch = [histogram(bounds, sum)];
            let (om, _) = render(&batch, PrometheusFormat::OpenMetrics);
            assert_eq!(om.contains("temp_sum"), kept, "{om}");
            assert_eq!(om.contains("temp_count"), kept, "{om}");
            assert!(om.contains("temp_bucket{le=\"+Inf\"} 2\n"), "{om}");
            // The text format has no such rule and always keeps both.
            let (text, _) = render(&batch, PrometheusFormat::Text);
            assert!(
                text.contains("temp_sum") && text.contains("temp_count 2\n"),
                "{text}"
            );
        }
    }

    fn exemplar(value: f64, millis: u64, pairs: &[(&str, &str)]) -> Exemplar {
        let time = UNIX_EPOCH + std::time::Duration::from_millis(millis);
        let pairs = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Exemplar::new(value, time, pairs.collect())
    }

    #[test]
    fn openmetrics_writes_each_exemplar_on_its_bucket_line_only() {
        let mut data = histogram(&[1.0, 10.0], 5.0);
        data.rows[0].exemplars = vec![
            exemplar(1.0, 1_700_000_000_123, &[("trace_id", "a\"b")]),
            exemplar(50.0, 1_700_000_000_005, &[("trace.id", "c")]),
        ];
        let (om, omitted) = render(&[data.clone()], PrometheusFormat::OpenMetrics);
        assert!(
            om.contains("temp_bucket{le=\"1.0\"} 1 # {trace_id=\"a\\\"b\"} 1 1700000000.123\n"),
            "{om}"
        );
        assert!(om.contains("temp_bucket{le=\"10.0\"} 2\n"), "{om}");
        assert!(
            om.contains("temp_bucket{le=\"+Inf\"} 2 # {trace_id=\"c\"} 50 1700000000.005\n"),
            "{om}"
        );
        assert_eq!(omitted.attachments, 0);
        let (text, _) = render(&[data], PrometheusFormat::Text);
        assert!(!text.contains("# {"), "{text}");
        assert!(!text.contains("trace"), "{text}");
    }

    #[test]
    fn exemplar_labels_stop_at_the_openmetrics_limit() {
        let mut data = histogram(&[1.0], 0.5);
        let long = "x".repeat(100);
        data.rows[0].exemplars = vec![exemplar(
            0.5,
            0,
            &[
                ("trace_id", &"0".repeat(32)),
                ("note", &long),
                ("span_id", "ab"),
            ],
        )];
        let (om, omitted) = render(&[data.clone()], PrometheusFormat::OpenMetrics);
        // 8 + 32 fit; the note would pass 128, so it and what follows go.
        let want = format!("# {{trace_id=\"{}\"}} 0.5 0.000\n", "0".repeat(32));
        assert!(om.contains(&want), "{om}");
        assert_eq!(omitted.attachments, 2);
        // Nothing fits: no exemplar at all.
        data.rows[0].exemplars = vec![exemplar(0.5, 0, &[("note", &"y".repeat(125))])];
        let (om, omitted) = render(&[data], PrometheusFormat::OpenMetrics);
        assert!(!om.contains("# {"), "{om}");
        assert_eq!(omitted.attachments, 1);
    }

    #[test]
    fn rows_merged_for_their_labels_keep_the_latest_exemplar() {
        let m = MeasureF64::new("m", "d", "1").expect("valid measure");
        let k = TagKey::new("k").expect("key");
        let view = View::builder("h", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::distribution([1.0]).expect("bounds"))
            .build()
            .expect("valid view");
        let row = |tag: Option<TagValue>, e: Exemplar| {
            let AggregationData::Distribution(d) = histogram(&[1.0], 0.5).rows[0].data.clone()
            else {
                unreachable!()
            };
            let mut row = Row::new(vec![tag], AggregationData::Distribution(d), UNIX_EPOCH);
            row.exemplars = vec![e];
            row
        };
        let rows = vec![
            row(None, exemplar(0.5, 1000, &[("trace_id", "old")])),
            row(
                TagValue::new("").ok(),
                exemplar(0.7, 2000, &[("trace_id", "new")]),
            ),
        ];
        let data = ViewData::new(view, UNIX_EPOCH, UNIX_EPOCH, rows);
        let (om, _) = render(&[data], PrometheusFormat::OpenMetrics);
        assert!(
            om.contains("h_bucket{le=\"1.0\"} 2 # {trace_id=\"new\"} 0.7 2.000\n"),
            "{om}"
        );
        assert!(!om.contains("old"), "{om}");
    }

    #[test]
    fn delta_histograms_are_left_out_with_a_reason() {
        let mut data = histogram(&[1.0], 1.0);
        data.temporality = Temporality::Delta;
        let (text, omitted) = render(&[data], PrometheusFormat::Text);
        assert_eq!(text, "");
        assert!(omitted.views[0].1.contains("delta"), "{:?}", omitted.views);
    }

    #[test]
    fn rows_that_do_not_fit_their_view_are_left_out_and_counted() {
        let mut data = histogram(&[1.0], 1.0);
        let good = data.rows[0].clone();
        let mut short = good.clone();
        if let AggregationData::Distribution(d) = &mut short.data {
            d.bucket_counts.pop();
        }
        short.tags = vec![];
        let wrong_kind = Row::new(vec![], AggregationData::Count(3), UNIX_EPOCH);
        data.rows = vec![good.clone(), short, wrong_kind, good];
        let (text, omitted) = render(&[data], PrometheusFormat::Text);
        // The malformed and mistyped rows go; the two good rows have the
        // same labels, so they merge into one series instead of one being
        // dropped.
        assert_eq!(omitted.rows, 2);
        assert_eq!(text.matches("temp_count").count(), 1, "{text}");
        assert!(text.contains("temp_count 2\n"), "{text}");
    }

    /// Regression (issue 6, found by the fuzzing work): Prometheus reads
    /// `k=""` as no label, so a row with an empty value and a row without
    /// the tag were one series to the server, which kept one and dropped
    /// the other silently.
    #[test]
    fn empty_and_absent_tags_become_one_merged_series() {
        let m = MeasureF64::new("m", "d", "1").expect("valid measure");
        let k = TagKey::new("k").expect("key");
        let empty = Some(TagValue::new("").expect("empty value"));
        let one = |name: &str,
                   aggregation: Aggregation,
                   absent: AggregationData,
                   blank: AggregationData| {
            let view = View::builder(name, &m)
                .tag_keys([k.clone()])
                .aggregation(aggregation)
                .build()
                .expect("valid view");
            ViewData::new(
                view,
                UNIX_EPOCH,
                UNIX_EPOCH,
                vec![
                    Row::new(vec![empty.clone()], blank, UNIX_EPOCH),
                    Row::new(vec![None], absent, UNIX_EPOCH),
                ],
            )
        };
        let counts = one(
            "c",
            Aggregation::Count,
            AggregationData::Count(5),
            AggregationData::Count(7),
        );
        let gauges = one(
            "g",
            Aggregation::LastValue,
            AggregationData::LastValue(Number::Float(1.5)),
            AggregationData::LastValue(Number::Float(2.5)),
        );
        let (text, omitted) = render(&[counts, gauges], PrometheusFormat::Text);
        assert!(text.contains("c_total 12\n"), "{text}");
        assert!(!text.contains("k=\"\""), "{text}");
        // A gauge cannot be added: the absent-tag row stays, the other is
        // counted as left out.
        assert!(text.contains("g 1.5\n"), "{text}");
        assert!(!text.contains("2.5"), "{text}");
        assert_eq!(omitted.rows, 1);
    }

    #[test]
    fn absent_tags_have_no_label_and_present_ones_keep_key_order() {
        let m = MeasureF64::new("m", "d", "1").expect("valid measure");
        let keys = [
            TagKey::new("b").expect("key"),
            TagKey::new("a").expect("key"),
        ];
        let view = View::builder("v", &m)
            .tag_keys(keys)
            .aggregation(Aggregation::Count)
            .build()
            .expect("valid view");
        let value = |s: &str| Some(TagValue::new(s).expect("value"));
        let rows = vec![
            Row::new(
                vec![None, value("1")],
                AggregationData::Count(1),
                UNIX_EPOCH,
            ),
            Row::new(
                vec![value("2"), None],
                AggregationData::Count(2),
                UNIX_EPOCH,
            ),
            Row::new(
                vec![value("3"), value("4")],
                AggregationData::Count(3),
                UNIX_EPOCH,
            ),
        ];
        let (text, _) = render(
            &[ViewData::new(view, UNIX_EPOCH, UNIX_EPOCH, rows)],
            PrometheusFormat::Text,
        );
        assert_eq!(
            text,
            "# HELP v_total d\n# TYPE v_total counter\n\
             v_total{a=\"1\"} 1\nv_total{b=\"2\"} 2\nv_total{b=\"3\",a=\"4\"} 3\n"
        );
    }
}
