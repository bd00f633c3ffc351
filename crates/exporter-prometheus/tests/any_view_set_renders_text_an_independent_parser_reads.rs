//! Property test (issue 6): any set of views, recorded through a real
//! `ViewManager` with the exporter registered, renders text that the
//! independent parser in `support` reads back value for value, in the text
//! format and in OpenMetrics.
//!
//! Each case draws 1 to 5 views (every aggregation, over i64 and f64
//! measures, 0 to 3 tag keys that need sanitising, a small row limit now
//! and then so the overflow row shows up), an optional namespace and
//! constant label, descriptions with quotes, backslashes, line feeds and
//! non-ASCII text, and values of every magnitude: tag values are printable
//! ASCII with `\`, `"`, spaces and the empty string, or absent.
//!
//! What "exactly" means here:
//! - integers (counts, i64 sums and last values, cumulative bucket counts)
//!   are read from the sample's text as integers and compared with a model
//!   computed from the recorded values alone, with no help from census;
//! - floats are read back bit for bit (NaN matching NaN): float last values
//!   against the model, float sums and distribution sums against the
//!   manager's own snapshot (the order census adds floats in is its own
//!   business; that the text carries the sum it holds is the encoder's);
//! - bucket bounds (`le`) are read back bit for bit against the view's.

mod support;

use std::collections::BTreeMap;

use census_core::{Aggregation, AggregationData, MeasureF64, MeasureI64, Number, TagKey, TagMap};
use census_core::{View, ViewData};
use census_exporter_prometheus::{PrometheusExporter, PrometheusFormat};
use census_stats::{MeasurementMap, ViewManager};
use proptest::prelude::*;
use support::{parse, Parsed};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone)]
struct ViewSpec {
    /// 0 Count, 1 Sum, 2 LastValue, 3 Distribution.
    kind: u8,
    integer: bool,
    /// Characters appended to the view name; sanitised into the metric name.
    name_part: String,
    description: String,
    /// Suffixes of the tag keys `k<j><suffix>`.
    keys: Vec<String>,
    bounds: Vec<f64>,
    row_limit: Option<usize>,
    /// Tag values by key (absent or present), and the value recorded.
    records: Vec<(Vec<Option<String>>, Value)>,
}

fn tag_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        3 => "[ -~]{0,6}".prop_map(Some),
        1 => prop::sample::select(vec!["", "\\", "\"", " ", "a\\\"b", "C:\\temp\\", "\\n"])
            .prop_map(|s| Some(s.to_owned())),
    ]
}

fn float_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -1e3f64..1e3,
        // Any finite float: huge, tiny and subnormal, either sign.
        2 => prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        1 => prop::sample::select(vec![
            0.1, -0.0, 0.5, 1e300, -1e300, 1e-300, 5e-324, f64::MAX, f64::MIN,
            f64::MIN_POSITIVE, 9_007_199_254_740_993.0, 1e16, 123_456_789.125,
        ]),
    ]
}

fn int_value() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -1000i64..1000,
        2 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MAX, i64::MIN, 0, -1, 1 << 53, (1 << 53) + 1]),
    ]
}

fn description() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[ -~]{0,12}",
        1 => "\\PC{0,8}",
        1 => prop::sample::select(vec![
            "", "line\nfeed", "back\\slash", "say \"hi\"\\n", "cr\rtab\t", "\u{e9}t\u{e9} \u{2603}",
        ])
        .prop_map(str::to_owned),
    ]
}

fn view_spec() -> impl Strategy<Value = ViewSpec> {
    (
        0u8..4,
        any::<bool>(),
        "[a-z0-9./-]{0,6}",
        description(),
        prop::collection::vec("[a-z0-9.-]{0,4}", 0..=3),
        prop::collection::vec(
            prop_oneof![
                4 => (-400i32..400).prop_map(|n| f64::from(n) / 4.0),
                1 => prop::sample::select(vec![-1e300, 1e-300, -1e-300, 1e300, 1e16, 0.1]),
            ],
            0..6,
        ),
        prop::option::weighted(0.3, 1usize..4),
    )
        .prop_flat_map(
            |(kind, integer, name_part, description, keys, mut bounds, row_limit)| {
                bounds.sort_by(f64::total_cmp);
                bounds.dedup();
                let value = if integer {
                    int_value().prop_map(Value::Int).boxed()
                } else {
                    float_value().prop_map(Value::Float).boxed()
                };
                let records = prop::collection::vec(
                    (prop::collection::vec(tag_value(), keys.len()), value),
                    0..25,
                );
                records.prop_map(move |records| ViewSpec {
                    kind,
                    integer,
                    name_part: name_part.clone(),
                    description: description.clone(),
                    keys: keys.clone(),
                    bounds: bounds.clone(),
                    row_limit,
                    records,
                })
            },
        )
}

enum Measure {
    Int(MeasureI64),
    Float(MeasureF64),
}

/// The documented sanitising rule: every character outside
/// `[a-zA-Z0-9_]` becomes `_`.
fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// The values one series received, from the recorded values alone.
#[derive(Debug, Default)]
struct Model {
    values: Vec<Value>,
}

impl Model {
    fn int_sum(&self) -> i64 {
        // The two's complement sum, as the documented i64 Sum wraps.
        self.values.iter().fold(0i64, |acc, v| match v {
            Value::Int(i) => acc.wrapping_add(*i),
            Value::Float(_) => acc,
        })
    }

    fn as_f64(v: &Value) -> f64 {
        match v {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
        }
    }

    /// Cumulative counts at each bound (upper-inclusive), then the total.
    fn cumulative_buckets(&self, bounds: &[f64]) -> Vec<u64> {
        let mut out: Vec<u64> = bounds
            .iter()
            .map(|b| {
                self.values
                    .iter()
                    .filter(|v| Model::as_f64(v) <= *b)
                    .count() as u64
            })
            .collect();
        out.push(self.values.len() as u64);
        out
    }
}

struct Case {
    namespace: Option<&'static str>,
    const_label: Option<String>,
    views: Vec<ViewSpec>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::option::of(Just("ns")),
        prop::option::of(tag_value().prop_map(Option::unwrap_or_default)),
        prop::collection::vec(view_spec(), 1..=5),
    )
        .prop_map(|(namespace, const_label, views)| Case {
            namespace,
            const_label,
            views,
        })
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("namespace", &self.namespace)
            .field("const_label", &self.const_label)
            .field("views", &self.views)
            .finish()
    }
}

/// Records the case, renders both formats and checks every series.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let mut builder = PrometheusExporter::builder();
    if let Some(ns) = case.namespace {
        builder = builder.namespace(ns);
    }
    let mut const_labels = Vec::new();
    if let Some(value) = &case.const_label {
        builder = builder.const_label("env", value.clone()).map_err(fail)?;
        const_labels.push(("env".to_owned(), value.clone()));
    }
    let exporter = builder.build().map_err(fail)?;
    let vm = ViewManager::new();
    vm.register_exporter(exporter.clone())?;

    let mut registered = Vec::new();
    for (i, spec) in case.views.iter().enumerate() {
        let name = format!("p{i}.{}/v", spec.name_part);
        let keys: Vec<TagKey> = spec
            .keys
            .iter()
            .enumerate()
            .map(|(j, suffix)| TagKey::new(format!("k{j}{suffix}")))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        let aggregation = match spec.kind {
            0 => Aggregation::Count,
            1 => Aggregation::Sum,
            2 => Aggregation::LastValue,
            _ => Aggregation::distribution(spec.bounds.clone()).map_err(fail)?,
        };
        let measure_name = format!("m{i}");
        let measure = if spec.integer {
            Measure::Int(MeasureI64::new(measure_name, "", "1").map_err(fail)?)
        } else {
            Measure::Float(MeasureF64::new(measure_name, "", "1").map_err(fail)?)
        };
        let builder = match &measure {
            Measure::Int(m) => View::builder(name.clone(), m),
            Measure::Float(m) => View::builder(name.clone(), m),
        };
        let mut builder = builder
            .description(spec.description.clone())
            .tag_keys(keys.clone())
            .aggregation(aggregation);
        if let Some(limit) = spec.row_limit {
            builder = builder.row_limit(limit);
        }
        vm.register_view(builder.build().map_err(fail)?)
            .map_err(fail)?;
        for (tags, value) in &spec.records {
            let mut map = TagMap::new();
            for (key, tag) in keys.iter().zip(tags) {
                if let Some(tag) = tag {
                    map = map.with(key, tag.clone()).map_err(fail)?;
                }
            }
            match (&measure, value) {
                (Measure::Int(m), Value::Int(v)) => {
                    MeasurementMap::new().put(m, *v).record_to(&vm, &map)
                }
                (Measure::Float(m), Value::Float(v)) => {
                    MeasurementMap::new().put(m, *v).record_to(&vm, &map)
                }
                _ => return Err(fail("a value of the other type")),
            }
        }
        registered.push(name);
    }
    let snapshots: Vec<ViewData> = registered
        .iter()
        .map(|name| vm.retrieve_data(name))
        .collect::<Result<_, _>>()
        .map_err(fail)?;

    for format in [PrometheusFormat::Text, PrometheusFormat::OpenMetrics] {
        let openmetrics = format == PrometheusFormat::OpenMetrics;
        let (_, body) = exporter.render_as(format);
        let parsed = parse(&body, openmetrics)
            .map_err(|e| fail(format!("{format:?} does not parse: {e}\n{body}")))?;
        if openmetrics {
            prop_assert!(body.ends_with("# EOF\n"), "no # EOF at the end:\n{}", body);
        }
        for (i, (spec, snapshot)) in case.views.iter().zip(&snapshots).enumerate() {
            let base = format!(
                "{}p{i}_{}_v",
                case.namespace.map(|n| format!("{n}_")).unwrap_or_default(),
                sanitise(&spec.name_part)
            );
            check_view(&parsed, &base, spec, snapshot, &const_labels, openmetrics)
                .map_err(|e| fail(format!("{format:?}, view {i}: {e}\n{body}")))?;
        }
    }
    vm.shutdown();
    Ok(())
}

fn check_view(
    parsed: &Parsed,
    base: &str,
    spec: &ViewSpec,
    snapshot: &ViewData,
    const_labels: &[(String, String)],
    openmetrics: bool,
) -> Result<(), String> {
    let counter = spec.kind < 2;
    let family = if counter && !openmetrics {
        format!("{base}_total")
    } else {
        base.to_owned()
    };
    if spec.records.is_empty() {
        if parsed.kind(&family).is_some() {
            return Err(format!("family {family} written for a view without rows"));
        }
        return Ok(());
    }
    let kind = ["counter", "counter", "gauge", "histogram"][usize::from(spec.kind)];
    if parsed.kind(&family) != Some(kind) {
        return Err(format!(
            "family {family} is {:?}, not {kind}",
            parsed.kind(&family)
        ));
    }
    let help = if spec.description.is_empty() {
        snapshot.view.name()
    } else {
        spec.description.as_str()
    };
    if parsed.help(&family) != Some(help) {
        return Err(format!(
            "help of {family} is {:?}, not {help:?}",
            parsed.help(&family)
        ));
    }

    // Group the recorded values by the series they belong to: a row of
    // the snapshot, or the overflow row for tag combinations it lacks.
    // Prometheus reads `k=""` as no label, so an empty value and an absent
    // tag are one series (issue 6): the key treats them alike.
    let regular: Vec<&Vec<Option<census_core::TagValue>>> = snapshot
        .rows
        .iter()
        .filter(|r| !r.overflow)
        .map(|r| &r.tags)
        .collect();
    let series_key = |tags: &[Option<String>]| -> Vec<Option<String>> {
        tags.iter()
            .map(|t| t.clone().filter(|v| !v.is_empty()))
            .collect()
    };
    let row_tags = |r: &census_core::Row| -> Vec<Option<String>> {
        r.tags
            .iter()
            .map(|t| t.as_ref().map(|t| t.as_str().to_owned()))
            .collect()
    };
    let mut groups: BTreeMap<Option<Vec<Option<String>>>, Model> = BTreeMap::new();
    for (tags, value) in &spec.records {
        let is_row = regular.iter().any(|row| {
            row.iter()
                .map(|t| t.as_ref().map(|t| t.as_str()))
                .eq(tags.iter().map(|t| t.as_deref()))
        });
        let key = is_row.then(|| series_key(tags));
        groups.entry(key).or_default().values.push(*value);
    }
    let series_in_snapshot: std::collections::BTreeSet<Option<Vec<Option<String>>>> = snapshot
        .rows
        .iter()
        .map(|r| (!r.overflow).then(|| series_key(&row_tags(r))))
        .collect();
    if groups.len() != series_in_snapshot.len() {
        return Err(format!(
            "{} series recorded, the snapshot has {} series",
            groups.len(),
            series_in_snapshot.len()
        ));
    }
    let mut expected_samples = 0;
    for (group, model) in &groups {
        let mut labels: Vec<(String, String)> = const_labels.to_vec();
        match group {
            Some(tags) => {
                for (j, (suffix, tag)) in spec.keys.iter().zip(tags).enumerate() {
                    if let Some(tag) = tag {
                        labels.push((sanitise(&format!("k{j}{suffix}")), tag.clone()));
                    }
                }
            }
            None => labels.push(("census_overflow".into(), "true".into())),
        }
        // The snapshot rows behind this series, in the order the encoder
        // merges them (by tags; absent before empty): the first one is the
        // gauge that survives, and float sums add up in this order.
        let mut rows: Vec<&census_core::Row> = snapshot
            .rows
            .iter()
            .filter(|r| match group {
                None => r.overflow,
                Some(key) => !r.overflow && series_key(&row_tags(r)) == *key,
            })
            .collect();
        rows.sort_by(|a, b| a.tags.cmp(&b.tags));
        let row = *rows
            .first()
            .ok_or("no snapshot row for a recorded series")?;
        let merged_float = |pick: &dyn Fn(&census_core::Row) -> Option<f64>| -> Option<f64> {
            let mut values = rows.iter().map(|r| pick(r));
            let first = values.next()??;
            // Float sums saturate at ±f64::MAX when rows merge, as when
            // threads' shares do (docs/semantics.md, issue #16).
            values.try_fold(first, |acc, v| Some((acc + v?).clamp(-f64::MAX, f64::MAX)))
        };
        // The last value recorded under the surviving row's own tags (the
        // overflow row takes every value folded into it).
        let survivor_tags = row_tags(row);
        let survivor_last = match group {
            None => model.values.last().copied(),
            Some(_) => spec
                .records
                .iter()
                .rev()
                .find(|(tags, _)| *tags == survivor_tags)
                .map(|(_, v)| *v),
        };
        let find = |name: &str, extra: Option<(&str, &str)>| {
            let mut want: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            want.extend(extra);
            parsed
                .find_sample(name, &want)
                .ok_or_else(|| format!("no sample {name} with labels {want:?}"))
        };
        let counter_sample = if openmetrics {
            format!("{base}_total")
        } else {
            family.clone()
        };
        match spec.kind {
            0 => {
                let s = find(&counter_sample, None)?;
                let got: u64 = s
                    .raw
                    .parse()
                    .map_err(|e| format!("count {:?}: {e}", s.raw))?;
                if got != model.values.len() as u64 {
                    return Err(format!("count {got}, recorded {}", model.values.len()));
                }
                expected_samples += 1;
            }
            1 | 2 => {
                let name = if spec.kind == 1 {
                    counter_sample.clone()
                } else {
                    family.clone()
                };
                let s = find(&name, None)?;
                let want = match (spec.kind, &row.data) {
                    (1, AggregationData::Sum(n)) | (2, AggregationData::LastValue(n)) => *n,
                    other => return Err(format!("unexpected snapshot data {other:?}")),
                };
                match want {
                    Number::Int(_) => {
                        let got: i64 = s
                            .raw
                            .parse()
                            .map_err(|e| format!("integer {:?}: {e}", s.raw))?;
                        let modelled = if spec.kind == 1 {
                            model.int_sum()
                        } else {
                            match survivor_last {
                                Some(Value::Int(v)) => v,
                                other => return Err(format!("last value {other:?}")),
                            }
                        };
                        if got != modelled {
                            return Err(format!("{name}: read {got}, recorded {modelled}"));
                        }
                    }
                    Number::Float(f) => {
                        let (f, modelled) = if spec.kind == 2 {
                            match survivor_last {
                                Some(Value::Float(v)) => (f, v),
                                other => return Err(format!("last value {other:?}")),
                            }
                        } else {
                            let merged = merged_float(&|r: &census_core::Row| match r.data {
                                AggregationData::Sum(n) => Some(n.as_f64()),
                                _ => None,
                            })
                            .ok_or("a row of the series is not a sum")?;
                            (merged, merged)
                        };
                        if !same_float(s.value, modelled) || !same_float(f, modelled) {
                            return Err(format!(
                                "{name}: read {} ({:?}), snapshot {f}, recorded {modelled}",
                                s.value, s.raw
                            ));
                        }
                    }
                }
                expected_samples += 1;
            }
            _ => {
                let merged_sum = merged_float(&|r: &census_core::Row| match &r.data {
                    AggregationData::Distribution(d) => Some(d.sum),
                    _ => None,
                })
                .ok_or_else(|| format!("unexpected snapshot data {:?}", row.data))?;
                let bucket_name = format!("{base}_bucket");
                let mut buckets: Vec<(f64, u64)> = Vec::new();
                for s in parsed.samples.iter().filter(|s| {
                    s.name == bucket_name
                        && s.labels.len() == labels.len() + 1
                        && labels.iter().all(|(k, v)| s.label(k) == Some(v.as_str()))
                }) {
                    let le = s.label("le").ok_or("bucket without le")?;
                    let bound: f64 = match le {
                        "+Inf" => f64::INFINITY,
                        other => other.parse().map_err(|e| format!("le {other:?}: {e}"))?,
                    };
                    let count: u64 = s
                        .raw
                        .parse()
                        .map_err(|e| format!("bucket {:?}: {e}", s.raw))?;
                    buckets.push((bound, count));
                }
                let mut want_bounds = spec.bounds.clone();
                want_bounds.push(f64::INFINITY);
                let got_bounds: Vec<f64> = buckets.iter().map(|b| b.0).collect();
                if got_bounds.len() != want_bounds.len()
                    || !got_bounds
                        .iter()
                        .zip(&want_bounds)
                        .all(|(a, b)| same_float(*a, *b))
                {
                    return Err(format!("bounds {got_bounds:?}, view has {want_bounds:?}"));
                }
                let got_counts: Vec<u64> = buckets.iter().map(|b| b.1).collect();
                let want_counts = model.cumulative_buckets(&spec.bounds);
                if got_counts != want_counts {
                    return Err(format!("buckets {got_counts:?}, recorded {want_counts:?}"));
                }
                expected_samples += buckets.len();
                // OpenMetrics keeps _sum and _count only while the sum is a
                // counter (documented): no negative bound, sum not negative.
                let sum_kept = !openmetrics
                    || (spec.bounds.first().is_none_or(|b| *b >= 0.0)
                        && merged_sum >= 0.0
                        && !merged_sum.is_nan());
                let sum = find(&format!("{base}_sum"), None);
                let count = find(&format!("{base}_count"), None);
                if sum_kept {
                    let (sum, count) = (sum?, count?);
                    if !same_float(sum.value, merged_sum) {
                        return Err(format!(
                            "_sum read {} ({:?}), snapshot {}",
                            sum.value, sum.raw, merged_sum
                        ));
                    }
                    let n: u64 = count
                        .raw
                        .parse()
                        .map_err(|e| format!("_count {:?}: {e}", count.raw))?;
                    if n != model.values.len() as u64 {
                        return Err(format!("_count {n}, recorded {}", model.values.len()));
                    }
                    expected_samples += 2;
                } else if sum.is_ok() || count.is_ok() {
                    return Err("OpenMetrics _sum or _count for a sum that is not a counter".into());
                }
            }
        }
    }
    // Nothing else in the family: no series census did not hold.
    let names: Vec<String> = match spec.kind {
        3 => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{base}{s}"))
            .collect(),
        2 => vec![base.to_owned()],
        _ => vec![format!("{base}_total")],
    };
    let family_samples = parsed
        .samples
        .iter()
        .filter(|s| names.contains(&s.name))
        .count();
    if family_samples != expected_samples {
        return Err(format!(
            "family {family} has {} samples, expected {expected_samples}",
            family_samples
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_view_set_renders_text_an_independent_parser_reads(case in case()) {
        check(&case)?;
    }
}
