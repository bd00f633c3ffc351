//! Exemplars: single recorded values kept beside a row's aggregate, with
//! the attachments (such as a trace id) they were recorded with.

use std::time::SystemTime;

use crate::view_data::{AggregationData, Row};

/// One recorded value kept as an example of a Distribution bucket, with
/// the attachments it was recorded with (OpenCensus
/// `measure_put_attachment`), so that a slow bucket on a dashboard links
/// to one slow request.
///
/// A view manager keeps, for each bucket of each Distribution row, the
/// most recent value recorded into that bucket with attachments; see
/// [`Row::exemplars`]. Serializes as census.v1 writes it:
/// `{"value":..,"time_unix_nano":"<unix nanos>","attachments":{"key":"value",..}}`.
///
/// ```
/// use census_core::Exemplar;
/// use std::time::UNIX_EPOCH;
/// let e = Exemplar::new(12.5, UNIX_EPOCH, vec![("trace_id".into(), "4bf92f35".into())]);
/// assert_eq!(e.attachment("trace_id"), Some("4bf92f35"));
/// assert_eq!(e.attachment("span_id"), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Exemplar {
    /// The recorded value (as `f64`, as distributions keep values).
    pub value: f64,
    /// When it was recorded.
    pub time: SystemTime,
    /// The attachments, as `(key, value)` in the order they were attached.
    pub attachments: Vec<(String, String)>,
}

impl Exemplar {
    /// Makes an exemplar.
    pub fn new(value: f64, time: SystemTime, attachments: Vec<(String, String)>) -> Exemplar {
        Exemplar {
            value,
            time,
            attachments,
        }
    }

    /// The value of the first attachment named `key`, if any.
    pub fn attachment(&self, key: &str) -> Option<&str> {
        self.attachments
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The bucket of `bounds` that `value` falls in, by the upper-inclusive
/// rule of [`DistributionData`](crate::DistributionData): the number of
/// bounds below it.
pub(crate) fn bucket_of(bounds: &[f64], value: f64) -> usize {
    bounds.partition_point(|b| *b < value)
}

impl Row {
    /// Adds `from` to this row's exemplars, keeping for each bucket of the
    /// row's distribution the latest exemplar of the two sets (the one
    /// with the later `time`; this row's on a tie), in bucket order. For
    /// rows that are not distributions, the latest one overall stays.
    ///
    /// Consumers that fold rows together (a processor dropping tag keys,
    /// an encoder whose output cannot tell two rows apart) call it beside
    /// [`AggregationData::merge`].
    ///
    /// ```
    /// use census_core::{Exemplar, Row};
    /// # use census_core::{AggregationData, DistributionData};
    /// use std::time::{Duration, UNIX_EPOCH};
    /// # let data = |bounds: Vec<f64>| AggregationData::Distribution(DistributionData {
    /// #     count: 0, sum: 0.0, mean: 0.0, min: 0.0, max: 0.0,
    /// #     sum_of_squared_deviation: 0.0, bucket_counts: vec![0; bounds.len() + 1],
    /// #     bounds: bounds.into(),
    /// # });
    /// let at = |s| UNIX_EPOCH + Duration::from_secs(s);
    /// let mut row = Row::new(vec![], data(vec![10.0]), at(0));
    /// row.exemplars = vec![Exemplar::new(5.0, at(1), vec![])];
    /// row.merge_exemplars(&[Exemplar::new(7.0, at(2), vec![]), Exemplar::new(70.0, at(1), vec![])]);
    /// let kept: Vec<f64> = row.exemplars.iter().map(|e| e.value).collect();
    /// assert_eq!(kept, [7.0, 70.0]);
    /// ```
    pub fn merge_exemplars(&mut self, from: &[Exemplar]) {
        if from.is_empty() {
            return;
        }
        let bounds: &[f64] = match &self.data {
            AggregationData::Distribution(d) => &d.bounds,
            _ => &[],
        };
        let mut all: Vec<(usize, Exemplar)> = std::mem::take(&mut self.exemplars)
            .into_iter()
            .chain(from.iter().cloned())
            .map(|e| (bucket_of(bounds, e.value), e))
            .collect();
        // Stable: on equal bucket and time, this row's exemplar stays first.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.time.cmp(&a.1.time)));
        all.dedup_by_key(|(bucket, _)| *bucket);
        self.exemplars = all.into_iter().map(|(_, e)| e).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view_data::DistributionData;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn row(bounds: &[f64]) -> Row {
        let d = DistributionData {
            count: 0,
            sum: 0.0,
            mean: 0.0,
            min: 0.0,
            max: 0.0,
            sum_of_squared_deviation: 0.0,
            bounds: Arc::from(bounds),
            bucket_counts: vec![0; bounds.len() + 1],
        };
        Row::new(vec![], AggregationData::Distribution(d), at(0))
    }

    fn e(value: f64, time: u64, id: &str) -> Exemplar {
        Exemplar::new(value, at(time), vec![("trace_id".into(), id.into())])
    }

    #[test]
    fn merging_keeps_the_latest_exemplar_of_each_bucket_in_bucket_order() {
        let mut r = row(&[1.0, 10.0]);
        r.exemplars = vec![e(0.5, 5, "a"), e(10.0, 1, "b")];
        r.merge_exemplars(&[e(20.0, 3, "c"), e(1.0, 4, "d"), e(2.0, 9, "f")]);
        let got: Vec<(f64, &str)> = r
            .exemplars
            .iter()
            .map(|e| (e.value, e.attachment("trace_id").unwrap_or("")))
            .collect();
        // Bucket 0 (<= 1): a at 5 beats d at 4; bucket 1: f at 9 beats b
        // at 1 (10.0 sits in bucket 1, upper-inclusive); bucket 2: c.
        assert_eq!(got, vec![(0.5, "a"), (2.0, "f"), (20.0, "c")]);
        // A tie in time keeps the row's own exemplar.
        r.merge_exemplars(&[e(0.7, 5, "z")]);
        assert_eq!(r.exemplars[0].attachment("trace_id"), Some("a"));
    }

    #[test]
    fn rows_without_exemplars_serialize_as_before_and_with_them_as_documented(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let m = crate::measure::MeasureF64::new("m", "", "1")?;
        let view = crate::view::View::builder("v", &m)
            .aggregation(crate::aggregation::Aggregation::distribution([1.0])?)
            .build()?;
        let mut r = row(&[1.0]);
        let data = |r: &Row| crate::ViewData::new(view.clone(), at(1), at(2), vec![r.clone()]);
        let plain = serde_json::to_value(data(&r))?;
        assert!(plain["rows"][0].get("exemplars").is_none(), "{plain}");
        r.exemplars = vec![e(0.5, 2, "abc")];
        let json = serde_json::to_value(data(&r))?;
        assert_eq!(
            json["rows"][0]["exemplars"],
            serde_json::json!([{"value": 0.5, "time_unix_nano": "2000000000",
                "attachments": {"trace_id": "abc"}}])
        );
        Ok(())
    }
}
