//! OTLP/HTTP JSON: an `ExportMetricsServiceRequest` in the protobuf JSON
//! mapping (camelCase keys, 64-bit integers as strings, enums as numbers).

use census_core::{AggregationData, Exemplar, Number, Row, ViewData};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use super::json_number::{unix_nanos, IntStr};
use super::otlp_mapping::{
    has_start, min_max, temporality, Shape, OVERFLOW_ATTRIBUTE, SCOPE_NAME, SCOPE_VERSION,
};

pub(super) struct Request<'a> {
    pub(super) resource: &'a [(String, String)],
    pub(super) views: &'a [ViewData],
}

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("resourceMetrics", &[ResourceMetrics(self)])?;
        m.end()
    }
}

struct ResourceMetrics<'a>(&'a Request<'a>);

impl Serialize for ResourceMetrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("resource", &Resource(self.0.resource))?;
        m.serialize_entry("scopeMetrics", &[ScopeMetrics(self.0.views)])?;
        m.end()
    }
}

struct Resource<'a>(&'a [(String, String)]);

impl Serialize for Resource<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(
            "attributes",
            &Attributes(self.0.iter().map(|(k, v)| (k.as_str(), Value::Str(v)))),
        )?;
        m.end()
    }
}

struct ScopeMetrics<'a>(&'a [ViewData]);

#[derive(Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

impl Serialize for ScopeMetrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(
            "scope",
            &Scope {
                name: SCOPE_NAME,
                version: SCOPE_VERSION,
            },
        )?;
        // A view with no rows has nothing to say, and a metric without
        // data points is something receivers complain about.
        m.serialize_entry("metrics", &Metrics(self.0))?;
        m.end()
    }
}

struct Metrics<'a>(&'a [ViewData]);

impl Serialize for Metrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().filter(|v| !v.rows.is_empty()).map(Metric))
    }
}

struct Metric<'a>(&'a ViewData);

impl Serialize for Metric<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let view = &self.0.view;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("name", view.name())?;
        m.serialize_entry("description", view.description())?;
        m.serialize_entry("unit", view.measure().unit())?;
        let points = Points(self.0);
        // OTLP/JSON writes enums as integers.
        match Shape::of(view.aggregation()) {
            Shape::Sum { monotonic } => {
                m.serialize_entry(
                    "sum",
                    &SumJson {
                        points,
                        aggregation_temporality: temporality(self.0.temporality),
                        is_monotonic: monotonic,
                    },
                )?;
            }
            Shape::Gauge => {
                m.serialize_entry("gauge", &GaugeJson { points })?;
            }
            Shape::Histogram => {
                m.serialize_entry(
                    "histogram",
                    &HistogramJson {
                        points,
                        aggregation_temporality: temporality(self.0.temporality),
                    },
                )?;
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SumJson<'a> {
    #[serde(rename = "dataPoints")]
    points: Points<'a>,
    aggregation_temporality: i32,
    is_monotonic: bool,
}

#[derive(Serialize)]
struct GaugeJson<'a> {
    #[serde(rename = "dataPoints")]
    points: Points<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistogramJson<'a> {
    #[serde(rename = "dataPoints")]
    points: Points<'a>,
    aggregation_temporality: i32,
}

struct Points<'a>(&'a ViewData);

impl Serialize for Points<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.rows.len()))?;
        for row in &self.0.rows {
            seq.serialize_element(&Point { data: self.0, row })?;
        }
        seq.end()
    }
}

struct Point<'a> {
    data: &'a ViewData,
    row: &'a Row,
}

impl Serialize for Point<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (data, row) = (self.data, self.row);
        let keys = data.view.tag_keys();
        let tags = keys
            .iter()
            .zip(&row.tags)
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.name(), Value::Str(v.as_str()))));
        let overflow = row
            .overflow
            .then_some((OVERFLOW_ATTRIBUTE, Value::Bool(true)));
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("attributes", &Attributes(tags.chain(overflow)))?;
        if has_start(row) {
            m.serialize_entry("startTimeUnixNano", &unix_nanos(row.start))?;
        }
        m.serialize_entry("timeUnixNano", &unix_nanos(data.end))?;
        match &row.data {
            AggregationData::Count(n) => {
                m.serialize_entry("asInt", &IntStr(i64::try_from(*n).unwrap_or(i64::MAX)))?;
            }
            // The number's own type follows the measure's: an i64 measure
            // gives exact integers (asInt), an f64 measure doubles.
            // Both spelled as census-core's JSON spells a Number.
            AggregationData::Sum(v) | AggregationData::LastValue(v) => match v {
                Number::Int(_) => m.serialize_entry("asInt", v)?,
                Number::Float(_) => m.serialize_entry("asDouble", v)?,
            },
            AggregationData::Distribution(d) => {
                m.serialize_entry("count", &IntStr(d.count))?;
                m.serialize_entry("sum", &Number::Float(d.sum))?;
                m.serialize_entry(
                    "bucketCounts",
                    &Seq(d.bucket_counts.iter().map(|c| IntStr(*c))),
                )?;
                m.serialize_entry(
                    "explicitBounds",
                    &Seq(d.bounds.iter().map(|b| Number::Float(*b))),
                )?;
                if let Some((min, max)) = min_max(d, data.temporality) {
                    m.serialize_entry("min", &Number::Float(min))?;
                    m.serialize_entry("max", &Number::Float(max))?;
                }
                if !row.exemplars.is_empty() {
                    m.serialize_entry("exemplars", &Exemplars(&row.exemplars))?;
                }
            }
        }
        m.end()
    }
}

/// A row's exemplars as OTLP `Exemplar`s. An attachment `trace_id` of 32
/// hex digits becomes the exemplar's `traceId`, and `span_id` of 16 its
/// `spanId` (hex, as OTLP/JSON writes ids), so a backend links the value
/// to its trace; every other attachment is a string in
/// `filteredAttributes`.
struct Exemplars<'a>(&'a [Exemplar]);

impl Serialize for Exemplars<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ExemplarJson))
    }
}

struct ExemplarJson<'a>(&'a Exemplar);

/// Whether `value` is a valid OTLP id of `len` hex digits: not all zero.
pub(super) fn is_id(value: &str, len: usize) -> bool {
    value.len() == len
        && value.bytes().all(|b| b.is_ascii_hexdigit())
        && value.bytes().any(|b| b != b'0')
}

impl Serialize for ExemplarJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let id = |key: &str, len: usize| {
            e.attachment(key)
                .filter(|v| is_id(v, len))
                .map(str::to_ascii_lowercase)
        };
        let (trace, span) = (id("trace_id", 32), id("span_id", 16));
        let filtered = e.attachments.iter().filter(|(k, _)| {
            !(k == "trace_id" && trace.is_some() || k == "span_id" && span.is_some())
        });
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "filteredAttributes",
            &Attributes(filtered.map(|(k, v)| (k.as_str(), Value::Str(v)))),
        )?;
        m.serialize_entry("timeUnixNano", &unix_nanos(e.time))?;
        m.serialize_entry("asDouble", &Number::Float(e.value))?;
        if let Some(span) = span {
            m.serialize_entry("spanId", &span)?;
        }
        if let Some(trace) = trace {
            m.serialize_entry("traceId", &trace)?;
        }
        m.end()
    }
}

#[derive(Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    Bool(bool),
}

/// `[{"key":..,"value":{"stringValue":..}}, ...]`
struct Attributes<I>(I);

impl<'a, I> Serialize for Attributes<I>
where
    I: Iterator<Item = (&'a str, Value<'a>)> + Clone,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone().map(|(key, value)| KeyValue { key, value }))
    }
}

struct KeyValue<'a> {
    key: &'a str,
    value: Value<'a>,
}

impl Serialize for KeyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("key", self.key)?;
        m.serialize_entry("value", &AnyValue(&self.value))?;
        m.end()
    }
}

struct AnyValue<'a>(&'a Value<'a>);

impl Serialize for AnyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self.0 {
            Value::Str(v) => m.serialize_entry("stringValue", v)?,
            Value::Bool(v) => m.serialize_entry("boolValue", v)?,
        }
        m.end()
    }
}

struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64, Temporality, View};
    use std::time::{Duration, UNIX_EPOCH};

    fn encode(data: ViewData) -> serde_json::Value {
        let views = [data];
        serde_json::to_value(Request {
            resource: &[],
            views: &views,
        })
        .unwrap_or_default()
    }

    #[test]
    fn temporality_follows_the_view_data() -> Result<(), census_core::Error> {
        let m = MeasureI64::new("t/requests", "requests", "1")?;
        let view = View::builder("t/requests_sum", &m)
            .aggregation(Aggregation::Sum)
            .build()?;
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let end = start + Duration::from_secs(10);
        let row = Row::new(vec![], AggregationData::Sum(Number::Int(4)), start);
        let mut data = ViewData::new(view, start, end, vec![row]);
        let metric = |v: &serde_json::Value| {
            v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"].clone()
        };
        let cumulative = metric(&encode(data.clone()));
        assert_eq!(cumulative["aggregationTemporality"], 2);
        assert_eq!(cumulative["isMonotonic"], true);
        assert_eq!(cumulative["dataPoints"][0]["asInt"], "4");
        data.temporality = Temporality::Delta;
        assert_eq!(metric(&encode(data))["aggregationTemporality"], 1);
        Ok(())
    }

    #[test]
    fn up_down_sums_are_non_monotonic_sums() -> Result<(), census_core::Error> {
        let m = MeasureI64::new("t/in_flight", "requests in flight", "1")?;
        let view = View::builder("t/in_flight", &m)
            .aggregation(Aggregation::UpDownSum)
            .build()?;
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let row = Row::new(vec![], AggregationData::Sum(Number::Int(-2)), start);
        let data = ViewData::new(view, start, start + Duration::from_secs(1), vec![row]);
        let body = encode(data);
        let sum = &body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"];
        assert_eq!(sum["isMonotonic"], false);
        assert_eq!(sum["aggregationTemporality"], 2);
        assert_eq!(sum["dataPoints"][0]["asInt"], "-2");
        assert_eq!(sum["dataPoints"][0]["startTimeUnixNano"], "10000000000");
        Ok(())
    }

    #[test]
    fn delta_histograms_leave_out_the_cumulative_min_and_max() -> Result<(), census_core::Error> {
        let m = census_core::MeasureF64::new("t/latency", "latency", "ms")?;
        let view = View::builder("t/latency", &m)
            .aggregation(Aggregation::distribution([10.0])?)
            .build()?;
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let dist = census_core::DistributionData {
            count: 2,
            sum: 30.0,
            mean: 15.0,
            min: 5.0,
            max: 25.0,
            sum_of_squared_deviation: 200.0,
            bounds: std::sync::Arc::from(vec![10.0]),
            bucket_counts: vec![1, 1],
        };
        let row = Row::new(vec![], AggregationData::Distribution(dist), start);
        let mut data = ViewData::new(view, start, start + Duration::from_secs(1), vec![row]);
        let point = |v: serde_json::Value| {
            v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0]
                .clone()
        };
        let cumulative = point(encode(data.clone()));
        assert_eq!(
            (cumulative["min"].clone(), cumulative["max"].clone()),
            (5.0.into(), 25.0.into())
        );
        data.temporality = Temporality::Delta;
        let delta = point(encode(data));
        assert!(
            delta.get("min").is_none() && delta.get("max").is_none(),
            "{delta}"
        );
        assert_eq!(delta["count"], "2");
        Ok(())
    }
}
