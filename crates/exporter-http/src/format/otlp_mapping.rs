//! How census data maps onto OTLP, whichever encoding carries it: the
//! rules the JSON and protobuf bodies share, so they cannot drift apart.

use census_core::{Aggregation, AggregationData, DistributionData, Row, Temporality};

/// The attribute OpenTelemetry SDKs put on the data point that collects
/// measurements past a cardinality limit: the same meaning as census's
/// overflow row.
pub(crate) const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// The instrumentation scope every body names.
pub(super) const SCOPE_NAME: &str = "census";
pub(super) const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// OTLP's `AggregationTemporality` numbers: a view manager's values run
/// from the view's start; a delta processor's cover one interval.
pub(super) fn temporality(t: Temporality) -> i32 {
    match t {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    }
}

/// The OTLP metric a view becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Count, Sum and UpDownSum: cumulative (or delta) sums. `monotonic`
    /// is false for a sum that may go down (UpDownSum).
    Sum { monotonic: bool },
    /// LastValue: a reading, not a running total.
    Gauge,
    /// Distribution: explicit-bucket histogram.
    Histogram,
}

impl Shape {
    pub(super) fn of(aggregation: &Aggregation) -> Shape {
        match aggregation {
            Aggregation::Count | Aggregation::Sum => Shape::Sum { monotonic: true },
            // An up-down sum may go down: OTLP's non-monotonic sum, an
            // UpDownCounter's.
            Aggregation::UpDownSum => Shape::Sum { monotonic: false },
            Aggregation::LastValue => Shape::Gauge,
            Aggregation::Distribution(_) => Shape::Histogram,
        }
    }
}

/// Whether a point carries `startTimeUnixNano`: a gauge has no start, it
/// is a reading, not a running total.
pub(super) fn has_start(row: &Row) -> bool {
    !matches!(row.data, AggregationData::LastValue(_))
}

/// The `min` and `max` a histogram point carries, if any. census reports
/// both as 0 for an empty row, which OTLP would read as observed values;
/// "unset" is what an empty row means. Under delta temporality census's
/// min and max still span the whole cumulative history, which OTLP would
/// read as the interval's: leave them out rather than mislead.
pub(super) fn min_max(d: &DistributionData, temporality: Temporality) -> Option<(f64, f64)> {
    (d.count > 0 && temporality == Temporality::Cumulative).then_some((d.min, d.max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_up_down_sum_is_a_non_monotonic_sum() -> Result<(), census_core::Error> {
        assert_eq!(
            Shape::of(&Aggregation::Count),
            Shape::Sum { monotonic: true }
        );
        assert_eq!(Shape::of(&Aggregation::Sum), Shape::Sum { monotonic: true });
        assert_eq!(
            Shape::of(&Aggregation::UpDownSum),
            Shape::Sum { monotonic: false }
        );
        assert_eq!(Shape::of(&Aggregation::LastValue), Shape::Gauge);
        let histogram = Aggregation::distribution([1.0])?;
        assert_eq!(Shape::of(&histogram), Shape::Histogram);
        Ok(())
    }
}
