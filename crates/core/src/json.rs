//! The one JSON shape of view data: census.v1's (docs/http-exporter.md),
//! which the HTTP exporter sends and the stdout exporter writes a row of
//! per line.
//!
//! 64-bit integers (counts, integer sums and last values, times in
//! nanoseconds since the Unix epoch) are strings, so that every parser,
//! JavaScript's included, reads them exactly. Floats are numbers; NaN and
//! the infinities, which JSON numbers cannot spell, are the strings
//! `"NaN"`, `"Infinity"` and `"-Infinity"`, as in proto3 JSON.

use std::time::SystemTime;

use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::aggregation::Aggregation;
use crate::exemplar::Exemplar;
use crate::tag::TagKey;
use crate::view::View;
use crate::view_data::{unix_nanos, AggregationData, DistributionData, Number, Row, ViewData};

/// An integer measure's value as a string, a float measure's as a number.
impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Int(v) => s.serialize_str(itoa::Buffer::new().format(v)),
            Number::Float(v) => float(v, s),
        }
    }
}

fn float<S: Serializer>(v: f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(v)
    } else if v.is_nan() {
        s.serialize_str("NaN")
    } else if v > 0.0 {
        s.serialize_str("Infinity")
    } else {
        s.serialize_str("-Infinity")
    }
}

/// A float, spelled as [`Number::Float`] is.
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        float(self.0, s)
    }
}

/// A `u64` as a decimal string.
struct Count(u64);

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

fn nanos(time: SystemTime) -> Count {
    Count(unix_nanos(time))
}

/// One entry named for the aggregation: `{"count": "3"}`, `{"sum": 2.5}`,
/// `{"last_value": "-1"}` or `{"distribution": {...}}`. A row carries
/// this entry among its own.
impl Serialize for AggregationData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        data_entry(&mut m, self)?;
        m.end()
    }
}

fn data_entry<M: SerializeMap>(m: &mut M, data: &AggregationData) -> Result<(), M::Error> {
    match data {
        AggregationData::Count(n) => m.serialize_entry("count", &Count(*n)),
        AggregationData::Sum(v) => m.serialize_entry("sum", v),
        AggregationData::LastValue(v) => m.serialize_entry("last_value", v),
        AggregationData::Distribution(d) => m.serialize_entry("distribution", d),
    }
}

/// `count`, `sum`, `mean`, `min`, `max`, `sum_of_squared_deviation` and
/// `bucket_counts`; the bounds are the view's, written with it.
impl Serialize for DistributionData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("count", &Count(self.count))?;
        m.serialize_entry("sum", &Float(self.sum))?;
        m.serialize_entry("mean", &Float(self.mean))?;
        m.serialize_entry("min", &Float(self.min))?;
        m.serialize_entry("max", &Float(self.max))?;
        m.serialize_entry(
            "sum_of_squared_deviation",
            &Float(self.sum_of_squared_deviation),
        )?;
        m.serialize_entry("bucket_counts", &Counts(&self.bucket_counts))?;
        m.end()
    }
}

struct Counts<'a>(&'a [u64]);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|c| Count(*c)))
    }
}

/// `tags` (an object by key; a key the recorded tags did not hold is left
/// out, which keeps it apart from an empty value), `overflow`,
/// `start_unix_nano`, the entry of its [`AggregationData`], and
/// `exemplars` when it has any (left out otherwise). The tags
/// are named by the keys the row learnt in [`ViewData::new`]; serialising
/// a row that knows none (made by [`Row::new`] and not yet in view data)
/// is an error.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(keys) = self.keys() else {
            return Err(S::Error::custom(
                "a row outside view data has no tag keys to name its tags; serialise the \
                 view data, or make it with ViewData::new first",
            ));
        };
        InView { row: self, keys }.serialize(s)
    }
}

/// A row with the keys that name its tags.
struct InView<'a> {
    row: &'a Row,
    keys: &'a [TagKey],
}

impl Serialize for InView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("tags", &Tags(self.keys, &self.row.tags))?;
        m.serialize_entry("overflow", &self.row.overflow)?;
        m.serialize_entry("start_unix_nano", &nanos(self.row.start))?;
        data_entry(&mut m, &self.row.data)?;
        // Added within census.v1: absent when the row has none.
        if !self.row.exemplars.is_empty() {
            m.serialize_entry("exemplars", &self.row.exemplars)?;
        }
        m.end()
    }
}

/// A row's tags as an object by key; absent values left out.
struct Tags<'a>(&'a [TagKey], &'a [Option<crate::TagValue>]);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.0
                .iter()
                .zip(self.1)
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.name(), v.as_str()))),
        )
    }
}

/// `value`, `time_unix_nano` and `attachments` (an object by key).
impl Serialize for Exemplar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("value", &Float(self.value))?;
        m.serialize_entry("time_unix_nano", &nanos(self.time))?;
        m.serialize_entry("attachments", &Attachments(&self.attachments))?;
        m.end()
    }
}

struct Attachments<'a>(&'a [(String, String)]);

impl Serialize for Attachments<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// `name`, `description`, `measure`, `aggregation` (its kind), `bounds`
/// (distributions only) and `tag_keys`.
impl Serialize for View {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        view_entries(&mut m, self)?;
        m.end()
    }
}

fn view_entries<M: SerializeMap>(m: &mut M, view: &View) -> Result<(), M::Error> {
    m.serialize_entry("name", view.name())?;
    m.serialize_entry("description", view.description())?;
    m.serialize_entry("measure", view.measure())?;
    m.serialize_entry("aggregation", view.aggregation().kind())?;
    if let Aggregation::Distribution(bounds) = view.aggregation() {
        m.serialize_entry("bounds", &Floats(bounds.as_slice()))?;
    }
    m.serialize_entry("tag_keys", view.tag_keys())
}

struct Floats<'a>(&'a [f64]);

impl Serialize for Floats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| Float(*v)))
    }
}

/// The view's entries, then `temporality`, `start_unix_nano`,
/// `end_unix_nano`, `folded` and `rows`: one element of census.v1's
/// `views`.
impl Serialize for ViewData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        view_entries(&mut m, &self.view)?;
        m.serialize_entry("temporality", &self.temporality)?;
        m.serialize_entry("start_unix_nano", &nanos(self.start))?;
        m.serialize_entry("end_unix_nano", &nanos(self.end))?;
        m.serialize_entry("folded", &Count(self.folded))?;
        m.serialize_entry("rows", &Rows(self))?;
        m.end()
    }
}

/// The rows, named by the view's keys.
struct Rows<'a>(&'a ViewData);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keys = self.0.view.tag_keys();
        let mut seq = s.serialize_seq(Some(self.0.rows.len()))?;
        for row in &self.0.rows {
            seq.serialize_element(&InView { row, keys })?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{MeasureF64, MeasureI64};
    use crate::tag::TagValue;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    fn json<T: Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap_or_else(|e| panic!("serialises: {e}"))
    }

    #[test]
    fn view_data_follows_the_documented_census_v1_view() -> Result<(), Box<dyn std::error::Error>> {
        let lat = MeasureF64::new("demo/latency", "latency", "ms")?;
        let req = MeasureI64::new("demo/requests", "requests", "1")?;
        let method = TagKey::new("method")?;
        let status = TagKey::new("status")?;
        let dist = View::builder("demo/latency_distribution", &lat)
            .tag_keys([method.clone(), status.clone()])
            .aggregation(Aggregation::distribution([10.0])?)
            .build()?;
        let sum = View::builder("demo/requests_sum", &req)
            .aggregation(Aggregation::Sum)
            .build()?;
        let start = UNIX_EPOCH + Duration::from_secs(1);
        let end = UNIX_EPOCH + Duration::from_secs(2);
        let d = |count, sum, mean, min, max, ssd, buckets: Vec<u64>| {
            AggregationData::Distribution(DistributionData {
                count,
                sum,
                mean,
                min,
                max,
                sum_of_squared_deviation: ssd,
                bounds: Arc::from(vec![10.0]),
                bucket_counts: buckets,
            })
        };
        let mut data = ViewData::new(
            dist,
            start,
            end,
            vec![
                Row::new(
                    vec![Some(TagValue::new("GET")?), None],
                    d(2, 25.0, 12.5, 5.0, f64::INFINITY, 112.5, vec![1, 1]),
                    start,
                ),
                Row::overflow(2, d(0, 0.0, 0.0, 0.0, 0.0, 0.0, vec![0, 0]), start),
            ],
        );
        data.folded = 4;
        let v = json(&data);
        assert_eq!(v["name"], "demo/latency_distribution");
        assert_eq!(v["description"], "latency");
        assert_eq!(v["measure"]["name"], "demo/latency");
        assert_eq!(v["measure"]["unit"], "ms");
        assert_eq!(v["measure"]["type"], "float64");
        assert_eq!(v["aggregation"], "distribution");
        assert_eq!(v["bounds"], serde_json::json!([10.0]));
        assert_eq!(v["tag_keys"], serde_json::json!(["method", "status"]));
        assert_eq!(v["temporality"], "cumulative");
        assert_eq!(v["start_unix_nano"], "1000000000");
        assert_eq!(v["end_unix_nano"], "2000000000");
        assert_eq!(v["folded"], "4");
        let r0 = &v["rows"][0];
        assert_eq!(r0["tags"], serde_json::json!({"method": "GET"}));
        assert_eq!(r0["overflow"], false);
        assert_eq!(r0["start_unix_nano"], "1000000000");
        assert_eq!(r0["distribution"]["count"], "2");
        assert_eq!(r0["distribution"]["sum"], 25.0);
        assert_eq!(r0["distribution"]["max"], "Infinity");
        assert_eq!(
            r0["distribution"]["bucket_counts"],
            serde_json::json!(["1", "1"])
        );
        assert!(r0["distribution"].get("bounds").is_none());
        assert_eq!(v["rows"][1]["overflow"], true);
        assert_eq!(v["rows"][1]["tags"], serde_json::json!({}));
        // A row alone has the shape it has inside its view data.
        assert_eq!(json(&data.rows[0]), v["rows"][0]);

        let ints = ViewData::new(
            sum,
            start,
            end,
            vec![Row::new(
                vec![],
                AggregationData::Sum(Number::Int(i64::MAX)),
                start,
            )],
        );
        let v = json(&ints);
        assert_eq!(v["rows"][0]["sum"], "9223372036854775807");
        assert!(v.get("bounds").is_none());
        Ok(())
    }

    #[test]
    fn values_are_one_entry_named_for_their_aggregation() {
        let one = |d: AggregationData| serde_json::to_string(&d).unwrap_or_default();
        assert_eq!(
            one(AggregationData::Count(u64::MAX)),
            r#"{"count":"18446744073709551615"}"#
        );
        assert_eq!(
            one(AggregationData::Sum(Number::Int(-7))),
            r#"{"sum":"-7"}"#
        );
        assert_eq!(
            one(AggregationData::Sum(Number::Float(0.5))),
            r#"{"sum":0.5}"#
        );
        assert_eq!(
            one(AggregationData::LastValue(Number::Float(f64::NAN))),
            r#"{"last_value":"NaN"}"#
        );
        assert_eq!(
            one(AggregationData::LastValue(Number::Float(f64::NEG_INFINITY))),
            r#"{"last_value":"-Infinity"}"#
        );
    }

    #[test]
    fn a_row_outside_view_data_refuses_to_guess_its_keys() {
        let row = Row::new(vec![None], AggregationData::Count(1), UNIX_EPOCH);
        let err = serde_json::to_string(&row).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("no tag keys")),
            "{err:?}"
        );
    }
}
