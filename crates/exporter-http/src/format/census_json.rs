//! census's own JSON schema, `census.v1` (documented with an example in
//! docs/http-exporter.md).

use census_core::{AggregationData, Exemplar, Row, ViewData};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use super::json_number::{unix_nanos, Float, IntStr, Num};

/// The schema name; bumped whenever a field changes meaning or goes away
/// (new fields may be added within a version).
pub(super) const SCHEMA: &str = "census.v1";

pub(super) struct Body<'a> {
    pub(super) resource: &'a [(String, String)],
    pub(super) views: &'a [ViewData],
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("schema", SCHEMA)?;
        m.serialize_entry("resource", &Pairs(self.resource))?;
        m.serialize_entry("views", &Views(self.views))?;
        m.end()
    }
}

struct Pairs<'a>(&'a [(String, String)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

struct Views<'a>(&'a [ViewData]);

impl Serialize for Views<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(View))
    }
}

struct View<'a>(&'a ViewData);

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let data = self.0;
        let view = &data.view;
        let measure = view.measure();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", view.name())?;
        m.serialize_entry("description", view.description())?;
        m.serialize_entry(
            "measure",
            &Measure {
                name: measure.name(),
                unit: measure.unit(),
                kind: measure.measure_type(),
            },
        )?;
        m.serialize_entry("aggregation", view.aggregation().kind())?;
        if let census_core::Aggregation::Distribution(bounds) = view.aggregation() {
            m.serialize_entry("bounds", &Floats(bounds.as_slice()))?;
        }
        m.serialize_entry("tag_keys", view.tag_keys())?;
        m.serialize_entry("temporality", &data.temporality)?;
        m.serialize_entry("start_unix_nano", &unix_nanos(data.start))?;
        m.serialize_entry("end_unix_nano", &unix_nanos(data.end))?;
        m.serialize_entry("folded", &IntStr(data.folded))?;
        m.serialize_entry("rows", &Rows(data))?;
        m.end()
    }
}

#[derive(Serialize)]
struct Measure<'a> {
    name: &'a str,
    unit: &'a str,
    #[serde(rename = "type")]
    kind: census_core::MeasureType,
}

struct Floats<'a>(&'a [f64]);

impl Serialize for Floats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| Float(*v)))
    }
}

struct Rows<'a>(&'a ViewData);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.rows.len()))?;
        for row in &self.0.rows {
            seq.serialize_element(&RowJson { data: self.0, row })?;
        }
        seq.end()
    }
}

struct RowJson<'a> {
    data: &'a ViewData,
    row: &'a Row,
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("tags", &Tags(self.data, row))?;
        m.serialize_entry("overflow", &row.overflow)?;
        m.serialize_entry("start_unix_nano", &unix_nanos(row.start))?;
        match &row.data {
            AggregationData::Count(n) => m.serialize_entry("count", &IntStr(*n))?,
            AggregationData::Sum(v) => m.serialize_entry("sum", &Num(*v))?,
            AggregationData::LastValue(v) => m.serialize_entry("last_value", &Num(*v))?,
            AggregationData::Distribution(d) => m.serialize_entry(
                "distribution",
                &Distribution {
                    count: IntStr(d.count),
                    sum: Float(d.sum),
                    mean: Float(d.mean),
                    min: Float(d.min),
                    max: Float(d.max),
                    sum_of_squared_deviation: Float(d.sum_of_squared_deviation),
                    bucket_counts: Counts(&d.bucket_counts),
                },
            )?,
        }
        // A field added within census.v1: absent when the row has none.
        if !row.exemplars.is_empty() {
            m.serialize_entry("exemplars", &Exemplars(&row.exemplars))?;
        }
        m.end()
    }
}

/// The row's tags by key; a key the recorded tags did not hold is left
/// out, which keeps it apart from an empty value.
struct Tags<'a>(&'a ViewData, &'a Row);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keys = self.0.view.tag_keys();
        s.collect_map(
            keys.iter()
                .zip(&self.1.tags)
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.name(), v.as_str()))),
        )
    }
}

#[derive(Serialize)]
struct Distribution<'a> {
    count: IntStr<u64>,
    sum: Float,
    mean: Float,
    min: Float,
    max: Float,
    sum_of_squared_deviation: Float,
    bucket_counts: Counts<'a>,
}

/// `[{"value":..,"time_unix_nano":"..","attachments":{"key":"value"}}]`,
/// in bucket order.
struct Exemplars<'a>(&'a [Exemplar]);

impl Serialize for Exemplars<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| ExemplarJson {
            value: Float(e.value),
            time_unix_nano: unix_nanos(e.time),
            attachments: Attachments(&e.attachments),
        }))
    }
}

#[derive(Serialize)]
struct ExemplarJson<'a> {
    value: Float,
    time_unix_nano: IntStr<u64>,
    attachments: Attachments<'a>,
}

struct Attachments<'a>(&'a [(String, String)]);

impl Serialize for Attachments<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

struct Counts<'a>(&'a [u64]);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|c| IntStr(*c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{
        Aggregation, DistributionData, MeasureF64, MeasureI64, Number, TagKey, TagValue,
        View as CoreView,
    };
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn body_follows_the_documented_schema() -> Result<(), Box<dyn std::error::Error>> {
        let lat = MeasureF64::new("demo/latency", "latency", "ms")?;
        let req = MeasureI64::new("demo/requests", "requests", "1")?;
        let method = TagKey::new("method")?;
        let status = TagKey::new("status")?;
        let dist = CoreView::builder("demo/latency_distribution", &lat)
            .tag_keys([method.clone(), status.clone()])
            .aggregation(Aggregation::distribution([10.0])?)
            .build()?;
        let sum = CoreView::builder("demo/requests_sum", &req)
            .aggregation(Aggregation::Sum)
            .build()?;
        let start = UNIX_EPOCH + Duration::from_secs(1);
        let end = UNIX_EPOCH + Duration::from_secs(2);
        let drow = Row::new(
            vec![Some(TagValue::new("GET")?), None],
            AggregationData::Distribution(DistributionData {
                count: 2,
                sum: 25.0,
                mean: 12.5,
                min: 5.0,
                max: 20.0,
                sum_of_squared_deviation: 112.5,
                bounds: Arc::from(vec![10.0]),
                bucket_counts: vec![1, 1],
            }),
            start,
        );
        let overflow = Row::overflow(
            2,
            AggregationData::Distribution(DistributionData {
                count: 0,
                sum: 0.0,
                mean: 0.0,
                min: 0.0,
                max: 0.0,
                sum_of_squared_deviation: 0.0,
                bounds: Arc::from(vec![10.0]),
                bucket_counts: vec![0, 0],
            }),
            start,
        );
        let batch = [
            ViewData::new(dist, start, end, vec![drow, overflow]),
            ViewData::new(
                sum,
                start,
                end,
                vec![Row::new(
                    vec![],
                    AggregationData::Sum(Number::Int(i64::MAX)),
                    start,
                )],
            ),
        ];
        let resource = vec![("service.name".to_owned(), "svc".to_owned())];
        let body = serde_json::to_value(Body {
            resource: &resource,
            views: &batch,
        })?;
        assert_eq!(body["schema"], "census.v1");
        assert_eq!(body["resource"]["service.name"], "svc");
        let v0 = &body["views"][0];
        assert_eq!(v0["name"], "demo/latency_distribution");
        assert_eq!(v0["measure"]["type"], "float64");
        assert_eq!(v0["aggregation"], "distribution");
        assert_eq!(v0["bounds"], serde_json::json!([10.0]));
        assert_eq!(v0["tag_keys"], serde_json::json!(["method", "status"]));
        assert_eq!(v0["start_unix_nano"], "1000000000");
        assert_eq!(v0["temporality"], "cumulative");
        assert_eq!(v0["end_unix_nano"], "2000000000");
        let r0 = &v0["rows"][0];
        assert_eq!(r0["tags"], serde_json::json!({"method": "GET"}));
        assert_eq!(r0["overflow"], false);
        assert_eq!(r0["distribution"]["count"], "2");
        assert_eq!(r0["distribution"]["sum"], 25.0);
        assert_eq!(
            r0["distribution"]["bucket_counts"],
            serde_json::json!(["1", "1"])
        );
        assert_eq!(v0["rows"][1]["overflow"], true);
        assert_eq!(v0["rows"][1]["tags"], serde_json::json!({}));
        assert_eq!(body["views"][1]["rows"][0]["sum"], "9223372036854775807");
        assert!(body["views"][1].get("bounds").is_none());
        Ok(())
    }
}
