//! Property test (issue 6): any batch the exporter POSTs, in census.v1 JSON
//! and in OTLP JSON, parses back with serde_json into exactly what the
//! batch held: every 64-bit integer (counts, i64 sums and last values,
//! bucket counts, times, `folded`) as a decimal string read back exactly,
//! every finite float bit for bit (non-finite ones as `"NaN"`,
//! `"Infinity"`, `"-Infinity"`), tags, bounds and bucket counts.
//!
//! The encoders are private; the bodies are taken where a receiver sees
//! them, from a local server the two exporters post to. The expected
//! documents are built here from the batch and the mapping written in
//! docs/http-exporter.md, and compared with the parsed body as a whole:
//! a field missing, extra or different fails the case.
//!
//! serde_json's `float_roundtrip` feature is on for this crate's tests, so
//! that parsing a float is exact and a mismatch is the encoder's.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census_core::{
    Aggregation, AggregationData, DistributionData, Exporter, MeasureF64, MeasureI64, Number, Row,
    TagKey, TagValue, Temporality, View, ViewData,
};
use census_exporter_http::{HttpExporter, HttpFormat};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use support::{Reply, TestServer};

fn time() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        8 => any::<u64>().prop_map(|n| UNIX_EPOCH + Duration::from_nanos(n)),
        // Before the epoch: encoded as 0.
        1 => (1u64..1 << 40).prop_map(|n| UNIX_EPOCH - Duration::from_nanos(n)),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -1e3f64..1e3,
        // Every class of f64: huge, tiny, subnormal, signed zero, NaN, infinities.
        2 => any::<f64>(),
        1 => prop::sample::select(vec![
            0.1, -0.0, 1e300, 5e-324, f64::MAX, f64::MIN, f64::NAN, f64::INFINITY,
            f64::NEG_INFINITY, 9_007_199_254_740_993.0,
        ]),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => -1000i64..1000,
        2 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MAX, i64::MIN, (1 << 53) + 1]),
    ]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..1000, 1 => any::<u64>(), 1 => Just(u64::MAX)]
}

/// Printable ASCII (the tag value alphabet), with the characters JSON must
/// escape well represented.
fn printable() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,8}",
        1 => prop::sample::select(vec!["", "\\", "\"", "a\"b\\c", "</script>", " "])
            .prop_map(str::to_owned),
    ]
}

fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => printable(),
        1 => "\\PC{0,8}",
        1 => prop::sample::select(vec!["line\nfeed", "tab\t\u{0}nul", "\u{e9}\u{2603}\u{1f600}"])
            .prop_map(str::to_owned),
    ]
}

fn distribution(bounds: Arc<[f64]>) -> impl Strategy<Value = AggregationData> {
    let buckets = bounds.len() + 1;
    (
        prop::collection::vec(count(), buckets),
        float(),
        float(),
        float(),
        float(),
        float(),
    )
        .prop_map(move |(bucket_counts, sum, mean, min, max, ssd)| {
            AggregationData::Distribution(DistributionData {
                count: bucket_counts.iter().fold(0u64, |a, c| a.wrapping_add(*c)),
                sum,
                mean,
                min,
                max,
                sum_of_squared_deviation: ssd,
                bounds: Arc::clone(&bounds),
                bucket_counts,
            })
        })
}

fn view_data() -> impl Strategy<Value = ViewData> {
    (
        "[!-~]{1,12}",
        free_text(),
        "[!-~]{0,4}",
        any::<bool>(),
        prop::collection::vec("[!-~]{1,8}", 0..=3),
        0u8..5,
        prop::collection::vec(-1e6f64..1e6, 0..5),
    )
        .prop_flat_map(
            |(name, description, unit, integer, mut keys, kind, mut bounds)| {
                keys.sort();
                keys.dedup();
                bounds.sort_by(f64::total_cmp);
                bounds.dedup();
                let view = build_view(&name, &description, &unit, integer, &keys, kind, &bounds);
                let bounds: Arc<[f64]> = Arc::from(bounds);
                let number = move || {
                    if integer {
                        int().prop_map(Number::Int).boxed()
                    } else {
                        float().prop_map(Number::Float).boxed()
                    }
                };
                let data = match kind {
                    0 => count().prop_map(AggregationData::Count).boxed(),
                    1 | 4 => number().prop_map(AggregationData::Sum).boxed(),
                    2 => number().prop_map(AggregationData::LastValue).boxed(),
                    _ => distribution(bounds).boxed(),
                };
                let tags =
                    prop::collection::vec(prop::option::weighted(0.75, printable()), keys.len());
                let row = (tags, data, time(), prop::bool::weighted(0.15)).prop_map(
                    |(tags, data, start, overflow)| {
                        if overflow {
                            Row::overflow(tags.len(), data, start)
                        } else {
                            let tags = tags
                                .into_iter()
                                .map(|t| t.and_then(|t| TagValue::new(t).ok()))
                                .collect();
                            Row::new(tags, data, start)
                        }
                    },
                );
                (
                    Just(view),
                    prop::collection::vec(row, 0..5),
                    time(),
                    time(),
                    count(),
                    any::<bool>(),
                )
            },
        )
        .prop_map(|(view, rows, start, end, folded, delta)| {
            let mut data = ViewData::new(view, start, end, rows);
            data.folded = folded;
            if delta {
                data.temporality = Temporality::Delta;
            }
            data
        })
}

fn build_view(
    name: &str,
    description: &str,
    unit: &str,
    integer: bool,
    keys: &[String],
    kind: u8,
    bounds: &[f64],
) -> View {
    let keys: Vec<TagKey> = keys
        .iter()
        .map(|k| TagKey::new(k.as_str()).expect("keys come from the valid alphabet"))
        .collect();
    let aggregation = match kind {
        0 => Aggregation::Count,
        1 => Aggregation::Sum,
        2 => Aggregation::LastValue,
        4 => Aggregation::UpDownSum,
        _ => Aggregation::distribution(bounds.to_vec()).expect("sorted distinct finite bounds"),
    };
    let builder = if integer {
        View::builder(name, MeasureI64::new("m", "", unit).expect("valid measure"))
    } else {
        View::builder(name, MeasureF64::new("m", "", unit).expect("valid measure"))
    };
    builder
        .description(description)
        .tag_keys(keys)
        .aggregation(aggregation)
        .build()
        .expect("a valid view")
}

fn nanos(t: SystemTime) -> Value {
    let n = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Value::from(n.to_string())
}

fn float_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

fn number_json(n: Number) -> Value {
    match n {
        Number::Int(i) => Value::from(i.to_string()),
        Number::Float(f) => float_json(f),
    }
}

fn strings(values: &[u64]) -> Value {
    values.iter().map(|c| Value::from(c.to_string())).collect()
}

fn floats(values: &[f64]) -> Value {
    values.iter().map(|v| float_json(*v)).collect()
}

/// The census.v1 document for `batch` without its resource, as the
/// schema in docs/http-exporter.md describes it.
fn census_views(batch: &[ViewData]) -> Value {
    let views = batch.iter().map(|data| {
        let view = &data.view;
        let measure = view.measure();
        let mut out = Map::new();
        out.insert("name".into(), json!(view.name()));
        out.insert("description".into(), json!(view.description()));
        out.insert(
            "measure".into(),
            json!({
                "name": measure.name(),
                "description": measure.description(),
                "unit": measure.unit(),
                "type": if matches!(measure.measure_type(), census_core::MeasureType::Int64) { "int64" } else { "float64" },
            }),
        );
        out.insert("aggregation".into(), json!(view.aggregation().kind()));
        if let Aggregation::Distribution(bounds) = view.aggregation() {
            out.insert("bounds".into(), floats(bounds.as_slice()));
        }
        let keys: Vec<&str> = view.tag_keys().iter().map(|k| k.name()).collect();
        out.insert("tag_keys".into(), json!(keys));
        out.insert(
            "temporality".into(),
            json!(match data.temporality {
                Temporality::Delta => "delta",
                _ => "cumulative",
            }),
        );
        out.insert("start_unix_nano".into(), nanos(data.start));
        out.insert("end_unix_nano".into(), nanos(data.end));
        out.insert("folded".into(), Value::from(data.folded.to_string()));
        let rows = data.rows.iter().map(|row| {
            let tags: Map<String, Value> = keys
                .iter()
                .zip(&row.tags)
                .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), json!(v.as_str()))))
                .collect();
            let mut r = Map::new();
            r.insert("tags".into(), Value::Object(tags));
            r.insert("overflow".into(), json!(row.overflow));
            r.insert("start_unix_nano".into(), nanos(row.start));
            let (field, value) = match &row.data {
                AggregationData::Count(n) => ("count", Value::from(n.to_string())),
                AggregationData::Sum(n) => ("sum", number_json(*n)),
                AggregationData::LastValue(n) => ("last_value", number_json(*n)),
                AggregationData::Distribution(d) => (
                    "distribution",
                    json!({
                        "count": d.count.to_string(),
                        "sum": float_json(d.sum),
                        "mean": float_json(d.mean),
                        "min": float_json(d.min),
                        "max": float_json(d.max),
                        "sum_of_squared_deviation": float_json(d.sum_of_squared_deviation),
                        "bucket_counts": strings(&d.bucket_counts),
                    }),
                ),
            };
            r.insert(field.into(), value);
            Value::Object(r)
        });
        out.insert("rows".into(), rows.collect());
        Value::Object(out)
    });
    views.collect()
}

/// The OTLP `metrics` list for `batch`, per the mapping table in
/// docs/http-exporter.md.
fn otlp_metrics(batch: &[ViewData]) -> Value {
    let metrics = batch.iter().filter(|d| !d.rows.is_empty()).map(|data| {
        let view = &data.view;
        let temporality = match data.temporality {
            Temporality::Delta => 1,
            _ => 2,
        };
        let points: Vec<Value> = data
            .rows
            .iter()
            .map(|row| {
                let mut attributes: Vec<Value> = view
                    .tag_keys()
                    .iter()
                    .zip(&row.tags)
                    .filter_map(|(k, v)| {
                        v.as_ref()
                            .map(|v| json!({"key": k.name(), "value": {"stringValue": v.as_str()}}))
                    })
                    .collect();
                if row.overflow {
                    attributes
                        .push(json!({"key": "otel.metric.overflow", "value": {"boolValue": true}}));
                }
                let mut p = Map::new();
                p.insert("attributes".into(), Value::Array(attributes));
                if !matches!(row.data, AggregationData::LastValue(_)) {
                    p.insert("startTimeUnixNano".into(), nanos(row.start));
                }
                p.insert("timeUnixNano".into(), nanos(data.end));
                match &row.data {
                    // asInt is an int64: a count past i64::MAX is capped.
                    AggregationData::Count(n) => {
                        let capped = (*n).min(i64::MAX as u64);
                        p.insert("asInt".into(), Value::from(capped.to_string()));
                    }
                    AggregationData::Sum(n) | AggregationData::LastValue(n) => match n {
                        Number::Int(i) => {
                            p.insert("asInt".into(), Value::from(i.to_string()));
                        }
                        Number::Float(f) => {
                            p.insert("asDouble".into(), float_json(*f));
                        }
                    },
                    AggregationData::Distribution(d) => {
                        p.insert("count".into(), Value::from(d.count.to_string()));
                        p.insert("sum".into(), float_json(d.sum));
                        p.insert("bucketCounts".into(), strings(&d.bucket_counts));
                        p.insert("explicitBounds".into(), floats(&d.bounds));
                        if d.count > 0 && data.temporality == Temporality::Cumulative {
                            p.insert("min".into(), float_json(d.min));
                            p.insert("max".into(), float_json(d.max));
                        }
                    }
                }
                Value::Object(p)
            })
            .collect();
        let body = match view.aggregation() {
            Aggregation::Count | Aggregation::Sum => json!({"sum": {
                "dataPoints": points, "aggregationTemporality": temporality, "isMonotonic": true,
            }}),
            Aggregation::UpDownSum => json!({"sum": {
                "dataPoints": points, "aggregationTemporality": temporality, "isMonotonic": false,
            }}),
            Aggregation::LastValue => json!({"gauge": {"dataPoints": points}}),
            Aggregation::Distribution(_) => json!({"histogram": {
                "dataPoints": points, "aggregationTemporality": temporality,
            }}),
        };
        let mut metric = Map::new();
        metric.insert("name".into(), json!(view.name()));
        metric.insert("description".into(), json!(view.description()));
        metric.insert("unit".into(), json!(view.measure().unit()));
        if let Value::Object(kind) = body {
            metric.extend(kind);
        }
        Value::Object(metric)
    });
    metrics.collect()
}

/// Equal as JSON, with floats compared bit for bit (so `-0.0` differs from
/// `0.0`) rather than by `==`.
fn same(got: &Value, want: &Value, path: &str) -> Result<(), String> {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) if w.is_f64() || g.is_f64() => {
            let (g, w) = (g.as_f64(), w.as_f64());
            if g.map(f64::to_bits) == w.map(f64::to_bits) {
                Ok(())
            } else {
                Err(format!("{path}: got {g:?}, want {w:?}"))
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return Err(format!("{path}: {} entries, want {}", g.len(), w.len()));
            }
            g.iter()
                .zip(w)
                .enumerate()
                .try_for_each(|(i, (g, w))| same(g, w, &format!("{path}[{i}]")))
        }
        (Value::Object(g), Value::Object(w)) => {
            let (gk, wk): (Vec<_>, Vec<_>) = (g.keys().collect(), w.keys().collect());
            if gk != wk {
                return Err(format!("{path}: fields {gk:?}, want {wk:?}"));
            }
            w.iter()
                .try_for_each(|(k, w)| same(&g[k], w, &format!("{path}.{k}")))
        }
        (g, w) if g == w => Ok(()),
        (g, w) => Err(format!("{path}: got {g}, want {w}")),
    }
}

#[test]
fn any_batch_round_trips_through_census_json_and_otlp_json(
) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let exporter = |format| {
        HttpExporter::builder(server.url())
            .format(format)
            .service_name("round-trip")
            .build()
    };
    let (census, otlp) = (exporter(HttpFormat::Json)?, exporter(HttpFormat::OtlpJson)?);
    let mut runner = TestRunner::new(Config::with_cases(256));
    let result = runner.run(&prop::collection::vec(view_data(), 0..5), |batch| {
        census
            .export(&batch)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let body = server.take(1, Duration::from_secs(10)).remove(0).json();
        prop_assert_eq!(&body["schema"], "census.v1");
        prop_assert_eq!(&body["resource"]["service.name"], "round-trip");
        same(&body["views"], &census_views(&batch), "views").map_err(TestCaseError::fail)?;

        otlp.export(&batch)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let body = server.take(1, Duration::from_secs(10)).remove(0).json();
        let scope = &body["resourceMetrics"][0]["scopeMetrics"][0];
        prop_assert_eq!(&scope["scope"]["name"], "census");
        same(&scope["metrics"], &otlp_metrics(&batch), "metrics").map_err(TestCaseError::fail)?;
        Ok(())
    });
    census.shutdown()?;
    otlp.shutdown()?;
    result.map_err(|e| e.to_string().into())
}
