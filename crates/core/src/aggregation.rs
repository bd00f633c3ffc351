//! Aggregations: how a view folds the measurements of one row into a value.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::error::Error;

/// How a view aggregates the values recorded into each of its rows.
///
/// Count, Sum, UpDownSum and Distribution are cumulative from the moment
/// the view was registered; LastValue is a gauge holding the latest value.
///
/// Not `#[non_exhaustive]`, on purpose: every consumer of an aggregation
/// is an encoder that must map each kind to a type of its wire format, and
/// an exhaustive match turns a new kind into a compile error at exactly
/// the place that needs a decision, where a wildcard arm would drop or
/// misencode it silently.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::Aggregation;
/// let latency = Aggregation::distribution([0.0, 10.0, 100.0, 1000.0])?;
/// assert!(Aggregation::distribution([10.0, 5.0]).is_err());
/// # let _ = latency; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "bounds", rename_all = "snake_case")]
pub enum Aggregation {
    /// The number of values recorded, whatever they were.
    Count,
    /// The sum of the values: an exact `i64` for an integer measure (it
    /// wraps around past `i64::MAX`, as two's complement addition does), an
    /// `f64` for a float measure.
    ///
    /// Exported as a monotonic counter (Prometheus `counter`, OTLP
    /// `isMonotonic: true`). Negative values are still added (the sum then
    /// goes down, which a counter's reader takes for a reset); for a total
    /// that goes up and down use [`Aggregation::UpDownSum`].
    Sum,
    /// A sum that may go down: in-flight requests, checked-out connections,
    /// a queue's length. Aggregates exactly as [`Aggregation::Sum`] does
    /// (record `+1` and `-1`; its rows hold [`AggregationData::Sum`](crate::AggregationData::Sum)),
    /// but is exported as a non-monotonic sum: a Prometheus `gauge`, an
    /// OTLP sum with `isMonotonic: false`, `"up_down_sum"` in census.v1.
    UpDownSum,
    /// The latest value recorded (with the measure's own type).
    LastValue,
    /// A histogram: count, sum, mean, min, max, sum of squared deviations
    /// and one count per bucket. Build it with [`Aggregation::distribution`].
    Distribution(Bounds),
}

impl Aggregation {
    /// A distribution over the given bucket bounds.
    ///
    /// With bounds `b0 < b1 < … < bn`, bucket 0 counts values `v <= b0`,
    /// bucket `i` counts `b(i-1) < v <= bi`, and one more bucket counts
    /// `v > bn`: buckets are **upper-inclusive**, as Prometheus `le` and
    /// OpenTelemetry explicit buckets are. (OpenCensus Go is
    /// lower-inclusive; census differs on purpose so that exported buckets
    /// mean what the receiving systems say they mean.) No bounds at all is
    /// allowed: one bucket then counts everything.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBounds`] if a bound is NaN or infinite, or not
    /// greater than the one before it; [`Error::TooManyBounds`] for more
    /// than [`MAX_BOUNDS`] bounds.
    pub fn distribution(bounds: impl IntoIterator<Item = f64>) -> Result<Aggregation, Error> {
        Bounds::new(bounds).map(Aggregation::Distribution)
    }

    /// The aggregation's name: `count`, `sum`, `up_down_sum`, `last_value`
    /// or `distribution`.
    pub fn kind(&self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::UpDownSum => "up_down_sum",
            Aggregation::LastValue => "last_value",
            Aggregation::Distribution(_) => "distribution",
        }
    }
}

/// The most bounds a distribution may have. Every row of a distribution
/// view keeps one count per bucket in each recording thread's share, so
/// the bound list multiplies a view's memory; a thousand buckets is far
/// past what a histogram query resolves (Prometheus's native histograms
/// cap theirs at 160 by default).
pub const MAX_BOUNDS: usize = 1_000;

/// The validated bucket bounds of a distribution: finite, strictly
/// increasing, at most [`MAX_BOUNDS`] of them. Cloning copies a pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds(Arc<[f64]>);

impl Bounds {
    /// Validates bounds.
    ///
    /// # Errors
    ///
    /// - [`Error::TooManyBounds`] for more than [`MAX_BOUNDS`] bounds;
    /// - [`Error::InvalidBounds`] naming the first bound that is not finite
    ///   or not greater than the one before it.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Result<Bounds, Error> {
        let bounds: Vec<f64> = bounds.into_iter().collect();
        if bounds.len() > MAX_BOUNDS {
            return Err(Error::TooManyBounds {
                count: bounds.len(),
                max: MAX_BOUNDS,
            });
        }
        let bad = bounds
            .iter()
            .enumerate()
            .position(|(i, b)| !b.is_finite() || (i > 0 && bounds[i - 1] >= *b));
        match bad {
            Some(index) => Err(Error::InvalidBounds { bounds, index }),
            None => Ok(Bounds(bounds.into())),
        }
    }

    /// The bounds, in increasing order.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// A shared handle to the bounds, for copying into many rows cheaply.
    pub fn shared(&self) -> Arc<[f64]> {
        Arc::clone(&self.0)
    }

    /// The number of buckets: one per bound, plus the overflow bucket.
    pub fn bucket_count(&self) -> usize {
        self.0.len() + 1
    }

    /// The bucket a value lands in: the first bound `>= value`, or the
    /// overflow bucket (`len()`) past the last bound.
    #[inline]
    pub fn bucket_index(&self, value: f64) -> usize {
        // partition_point finds the first bound not below the value, which
        // is exactly the upper-inclusive rule; binary search keeps long
        // bound lists cheap.
        self.0.partition_point(|b| *b < value)
    }
}

impl Serialize for Bounds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_must_be_finite_and_strictly_increasing() {
        assert!(Aggregation::distribution([]).is_ok());
        assert!(Aggregation::distribution([-5.0, 0.0, 0.5]).is_ok());
        for (bad, index) in [
            (vec![1.0, 1.0], 1),
            (vec![2.0, 1.0], 1),
            (vec![f64::NAN], 0),
            (vec![0.0, f64::INFINITY], 1),
            (vec![f64::NEG_INFINITY, 0.0], 0),
        ] {
            match Aggregation::distribution(bad.clone()) {
                Err(Error::InvalidBounds { index: got, .. }) => assert_eq!(got, index, "{bad:?}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let msg = Aggregation::distribution([3.0, 2.0])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bound 1") && msg.contains("greater"), "{msg}");
    }

    #[test]
    fn buckets_are_upper_inclusive() -> Result<(), Error> {
        let b = Bounds::new([0.0, 10.0, 100.0])?;
        assert_eq!(b.bucket_count(), 4);
        let cases = [
            (-1.0, 0),
            (0.0, 0),
            (0.1, 1),
            (10.0, 1),
            (10.5, 2),
            (100.0, 2),
            (100.1, 3),
            (1e300, 3),
        ];
        for (v, want) in cases {
            assert_eq!(b.bucket_index(v), want, "value {v}");
        }
        assert_eq!(Bounds::new([])?.bucket_index(42.0), 0);
        Ok(())
    }

    #[test]
    fn aggregations_serialize_with_their_kind() -> Result<(), Error> {
        let json = |a: &Aggregation| serde_json::to_string(a).unwrap_or_default();
        assert_eq!(json(&Aggregation::Count), r#"{"type":"count"}"#);
        assert_eq!(json(&Aggregation::LastValue), r#"{"type":"last_value"}"#);
        assert_eq!(json(&Aggregation::UpDownSum), r#"{"type":"up_down_sum"}"#);
        assert_eq!(Aggregation::UpDownSum.kind(), "up_down_sum");
        assert_eq!(
            json(&Aggregation::distribution([1.0, 2.5])?),
            r#"{"type":"distribution","bounds":[1.0,2.5]}"#
        );
        Ok(())
    }
}
