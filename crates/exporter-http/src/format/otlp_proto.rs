//! OTLP/HTTP protobuf: the same `ExportMetricsServiceRequest` as the JSON
//! body, as protobuf bytes (`Content-Type: application/x-protobuf`).

use census_core::{unix_nanos, AggregationData, Number, Row, ViewData};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, message, WireType};

use super::otlp_mapping::{
    has_start, min_max, temporality, Shape, OVERFLOW_ATTRIBUTE, SCOPE_NAME, SCOPE_VERSION,
};
use super::otlp_messages::{
    AnyValue, Gauge, Histogram, HistogramDataPoint, InstrumentationScope, KeyValue, Metric,
    MetricData, NumberDataPoint, NumberValue, Resource, Sum, Value,
};

/// Encodes `views` under `resource` into `out`, as the bytes of
/// `ExportMetricsServiceRequest { resource_metrics: [ResourceMetrics {
/// resource, scope_metrics: [ScopeMetrics { scope, metrics }] }] }`.
///
/// Each metric is built and encoded by prost on its own, then dropped, and
/// only the two enclosing messages are framed here (a field key and a
/// length each): prost computes a nested message's length again at every
/// level it encodes, so one tree of the whole batch cost its length
/// computation about seven times over, and kept every data point of the
/// batch alive at once. The unit test below checks the bytes against
/// prost's encoding of the whole tree.
pub(super) fn encode(resource: &[(String, String)], views: &[ViewData], out: &mut Vec<u8>) {
    let mut metrics = Vec::new();
    // A view with no rows has nothing to say, and a metric without data
    // points is something receivers complain about.
    for data in views.iter().filter(|v| !v.rows.is_empty()) {
        message::encode(METRICS_FIELD, &metric(data), &mut metrics);
    }
    let resource = resource_message(resource);
    let scope = scope_message();
    let scope_metrics_len = message::encoded_len(SCOPE_FIELD, &scope) + metrics.len();
    let resource_metrics_len = message::encoded_len(RESOURCE_FIELD, &resource)
        + key_len(SCOPE_METRICS_FIELD)
        + encoded_len_varint(scope_metrics_len as u64)
        + scope_metrics_len;
    out.reserve(
        key_len(RESOURCE_METRICS_FIELD)
            + encoded_len_varint(resource_metrics_len as u64)
            + resource_metrics_len,
    );
    // ExportMetricsServiceRequest.resource_metrics (one).
    encode_key(RESOURCE_METRICS_FIELD, WireType::LengthDelimited, out);
    encode_varint(resource_metrics_len as u64, out);
    // ResourceMetrics.resource, then .scope_metrics (one).
    message::encode(RESOURCE_FIELD, &resource, out);
    encode_key(SCOPE_METRICS_FIELD, WireType::LengthDelimited, out);
    encode_varint(scope_metrics_len as u64, out);
    // ScopeMetrics.scope, then .metrics.
    message::encode(SCOPE_FIELD, &scope, out);
    out.extend_from_slice(&metrics);
}

/// Field numbers of the enclosing messages framed by hand, from
/// `metrics_service.proto` and `metrics.proto`.
const RESOURCE_METRICS_FIELD: u32 = 1; // ExportMetricsServiceRequest
const RESOURCE_FIELD: u32 = 1; // ResourceMetrics
const SCOPE_METRICS_FIELD: u32 = 2; // ResourceMetrics
const SCOPE_FIELD: u32 = 1; // ScopeMetrics
const METRICS_FIELD: u32 = 2; // ScopeMetrics

fn resource_message(resource: &[(String, String)]) -> Resource {
    Resource {
        attributes: resource
            .iter()
            .map(|(k, v)| string_attribute(k, v))
            .collect(),
    }
}

fn scope_message() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.to_owned(),
        version: SCOPE_VERSION.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::otlp_messages::{
        ExportMetricsServiceRequest, ResourceMetrics, ScopeMetrics,
    };
    use census_core::{Aggregation, MeasureI64, TagKey, TagValue, View};
    use prost::Message;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_framed_body_is_prosts_encoding_of_the_whole_request() -> Result<(), census_core::Error> {
        let m = MeasureI64::new("t/requests", "requests", "1")?;
        let key = TagKey::new("method")?;
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let views: Vec<ViewData> = (0..40)
            .map(|i| -> Result<ViewData, census_core::Error> {
                let view = View::builder(format!("t/v{i}"), &m)
                    .tag_keys([key.clone()])
                    .aggregation(Aggregation::Sum)
                    .build()?;
                let rows = (0..i)
                    .map(|r| -> Result<Row, census_core::Error> {
                        Ok(Row::new(
                            vec![Some(TagValue::new(format!("m{r}"))?)],
                            AggregationData::Sum(Number::Int(r)),
                            start,
                        ))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(ViewData::new(
                    view,
                    start,
                    start + Duration::from_secs(1),
                    rows,
                ))
            })
            .collect::<Result<_, _>>()?;
        let resource = vec![("service.name".to_owned(), "x".repeat(300))];
        let mut framed = Vec::new();
        encode(&resource, &views, &mut framed);
        let whole = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource_message(&resource)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope_message()),
                    metrics: views
                        .iter()
                        .filter(|v| !v.rows.is_empty())
                        .map(metric)
                        .collect(),
                }],
            }],
        }
        .encode_to_vec();
        assert_eq!(framed, whole);
        Ok(())
    }
}
