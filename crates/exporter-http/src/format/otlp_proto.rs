//! OTLP/HTTP protobuf: the same `ExportMetricsServiceRequest` as the JSON
//! body, as protobuf bytes (`Content-Type: application/x-protobuf`).

use census_core::{unix_nanos, AggregationData, Number, Row, ViewData};
use prost::Message;

use super::otlp_mapping::{
    has_start, min_max, temporality, Shape, OVERFLOW_ATTRIBUTE, SCOPE_NAME, SCOPE_VERSION,
};
use super::otlp_messages::{
    AnyValue, ExportMetricsServiceRequest, Gauge, Histogram, HistogramDataPoint,
    InstrumentationScope, KeyValue, Metric, MetricData, NumberDataPoint, NumberValue, Resource,
    ResourceMetrics, ScopeMetrics, Sum, Value,
};

/// Encodes `views` under `resource` into `out`.
pub(super) fn encode(resource: &[(String, String)], views: &[ViewData], out: &mut Vec<u8>) {
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource
                    .iter()
                    .map(|(k, v)| string_attribute(k, v))
                    .collect(),
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: SCOPE_VERSION.to_owned(),
                }),
                // A view with no rows has nothing to say, and a metric
                // without data points is something receivers complain about.
                metrics: views
                    .iter()
                    .filter(|v| !v.rows.is_empty())
                    .map(metric)
                    .collect(),
            }],
        }],
    };
    out.reserve(request.encoded_len());
    // Writing into a Vec cannot run out of room.
    let _ = request.encode(out);
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
    }
}

fn metric(data: &ViewData) -> Metric {
    let view = &data.view;
    let numbers = || {
        data.rows
            .iter()
            .filter_map(|row| number_point(data, row))
            .collect()
    };
    let temporality = temporality(data.temporality);
    let shape = match Shape::of(view.aggregation()) {
        Shape::Sum { monotonic } => MetricData::Sum(Sum {
            data_points: numbers(),
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        }),
        Shape::Gauge => MetricData::Gauge(Gauge {
            data_points: numbers(),
        }),
        Shape::Histogram => MetricData::Histogram(Histogram {
            data_points: data
                .rows
                .iter()
                .filter_map(|row| histogram_point(data, row))
                .collect(),
            aggregation_temporality: temporality,
        }),
    };
    Metric {
        name: view.name().to_owned(),
        description: view.description().to_owned(),
        unit: view.measure().unit().to_owned(),
        data: Some(shape),
    }
}

/// The row's tags that it holds, then the overflow marker.
fn attributes(data: &ViewData, row: &Row) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = data
        .view
        .tag_keys()
        .iter()
        .zip(&row.tags)
        .filter_map(|(k, v)| v.as_ref().map(|v| string_attribute(k.name(), v.as_str())))
        .collect();
    if row.overflow {
        out.push(KeyValue {
            key: OVERFLOW_ATTRIBUTE.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::BoolValue(true)),
            }),
        });
    }
    out
}

/// A sum or gauge point; `None` for a distribution row in such a view,
/// which only a faulty producer makes.
fn number_point(data: &ViewData, row: &Row) -> Option<NumberDataPoint> {
    let value = match &row.data {
        AggregationData::Count(n) => NumberValue::AsInt(i64::try_from(*n).unwrap_or(i64::MAX)),
        // The number's own type follows the measure's: an i64 measure gives
        // exact integers (asInt), an f64 measure doubles.
        AggregationData::Sum(v) | AggregationData::LastValue(v) => match *v {
            Number::Int(i) => NumberValue::AsInt(i),
            Number::Float(f) => NumberValue::AsDouble(f),
        },
        AggregationData::Distribution(_) => return None,
    };
    Some(NumberDataPoint {
        start_time_unix_nano: if has_start(row) {
            unix_nanos(row.start)
        } else {
            0
        },
        time_unix_nano: unix_nanos(data.end),
        value: Some(value),
        attributes: attributes(data, row),
    })
}

/// A histogram point; `None` for another kind of row (a faulty producer).
fn histogram_point(data: &ViewData, row: &Row) -> Option<HistogramDataPoint> {
    let AggregationData::Distribution(d) = &row.data else {
        return None;
    };
    let (min, max) = match min_max(d, data.temporality) {
        Some((min, max)) => (Some(min), Some(max)),
        None => (None, None),
    };
    Some(HistogramDataPoint {
        start_time_unix_nano: unix_nanos(row.start),
        time_unix_nano: unix_nanos(data.end),
        count: d.count,
        sum: Some(d.sum),
        bucket_counts: d.bucket_counts.clone(),
        explicit_bounds: d.bounds.to_vec(),
        attributes: attributes(data, row),
        min,
        max,
    })
}
