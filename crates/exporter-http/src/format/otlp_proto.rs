//! OTLP/HTTP protobuf: the same `ExportMetricsServiceRequest` as the JSON
//! body, as protobuf bytes (`Content-Type: application/x-protobuf`).

use census_core::{unix_nanos, AggregationData, Number, Row, ViewData};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, message, WireType};

use super::otlp_json::is_id;
use super::otlp_mapping::{
    has_start, min_max, temporality, Shape, OVERFLOW_ATTRIBUTE, SCOPE_NAME, SCOPE_VERSION,
};
use super::otlp_messages::{
    AnyValue, Exemplar, Gauge, Histogram, HistogramDataPoint, InstrumentationScope, KeyValue,
    Metric, MetricData, NumberDataPoint, NumberValue, Resource, Sum, Value,
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
/// An exemplar as the JSON format maps it: a `trace_id` of 32 hex digits
/// and a `span_id` of 16 become the ids (bytes here), every other
/// attachment a string attribute.
fn exemplar(e: &census_core::Exemplar) -> Exemplar {
    let id = |key: &str, len: usize| {
        e.attachment(key)
            .filter(|v| is_id(v, len))
            .map(hex_bytes)
            .unwrap_or_default()
    };
    let (trace_id, span_id) = (id("trace_id", 32), id("span_id", 16));
    let filtered_attributes = e
        .attachments
        .iter()
        // An id that went into its own field is not repeated here.
        .filter(|(k, _)| {
            let as_id = (k == "trace_id" && !trace_id.is_empty())
                || (k == "span_id" && !span_id.is_empty());
            !as_id
        })
        .map(|(k, v)| string_attribute(k, v))
        .collect();
    Exemplar {
        time_unix_nano: unix_nanos(e.time),
        as_double: Some(e.value),
        span_id,
        trace_id,
        filtered_attributes,
    }
}

/// Hex digits (checked by `is_id`) as bytes.
fn hex_bytes(hex: &str) -> Vec<u8> {
    let digit = |c: u8| match c.to_ascii_lowercase() {
        d @ b'0'..=b'9' => d - b'0',
        d => d.wrapping_sub(b'a').wrapping_add(10),
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => digit(*hi) << 4 | digit(*lo),
            _ => 0,
        })
        .collect()
}

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
        exemplars: row.exemplars.iter().map(exemplar).collect(),
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

    // Exemplars go out as in the JSON body (they were left out of protobuf
    // bodies, a QA pass found): the value, its time, the trace and span
    // ids as bytes, the other attachments as string attributes.
    #[test]
    fn a_histogram_point_carries_its_exemplars() -> Result<(), census_core::Error> {
        let m = MeasureI64::new("t/latency", "latency", "ms")?;
        let view = View::builder("t/latency", &m)
            .aggregation(Aggregation::distribution([100.0])?)
            .build()?;
        let at = UNIX_EPOCH + Duration::from_secs(20);
        let mut row = Row::new(
            vec![],
            AggregationData::Distribution(census_core::DistributionData {
                count: 1,
                mean: 250.0,
                sum: 250.0,
                min: 250.0,
                max: 250.0,
                sum_of_squared_deviation: 0.0,
                bounds: vec![100.0].into(),
                bucket_counts: vec![0, 1],
            }),
            at,
        );
        row.exemplars = vec![census_core::Exemplar::new(
            250.0,
            at,
            vec![
                (
                    "trace_id".to_owned(),
                    "4BF92F3577B34DA6A3CE929D0E0E4736".to_owned(),
                ),
                ("span_id".to_owned(), "00f067aa0ba902b7".to_owned()),
                ("user".to_owned(), "u1".to_owned()),
            ],
        )];
        let data = ViewData::new(view, at, at, vec![row]);
        let Some(MetricData::Histogram(h)) = metric(&data).data else {
            panic!("a histogram");
        };
        let e = &h.data_points[0].exemplars;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].as_double, Some(250.0));
        assert_eq!(e[0].time_unix_nano, unix_nanos(at));
        assert_eq!(
            e[0].trace_id,
            [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36
            ]
        );
        assert_eq!(
            e[0].span_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(
            e[0].filtered_attributes,
            vec![string_attribute("user", "u1")]
        );
        Ok(())
    }
}
