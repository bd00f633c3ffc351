//! The aggregation state of one row, updated in place by recording threads.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use census_core::{Aggregation, AggregationData, Bounds, DistributionData, MeasureType, Number};
use parking_lot::Mutex;

// Every atomic here uses Relaxed: a cell is a lone counter with no other
// memory published through it. Whoever reads cells for a snapshot either
// synchronised with the recording thread some other way (a join, a channel,
// the caller's own lock) or is racing with it, and then either value is a
// correct answer.

/// The live aggregation of one row: one variant per aggregation and
/// measure type, chosen once when the view is registered.
#[derive(Debug)]
pub(crate) enum Cells {
    Count(AtomicU64),
    SumInt(AtomicI64),
    /// f64 bits, updated by compare-and-swap since there is no atomic float add.
    SumFloat(AtomicU64),
    LastInt(AtomicI64),
    /// f64 bits.
    LastFloat(AtomicU64),
    /// A mutex, not atomics: a distribution update touches six fields that
    /// must agree (count must equal the bucket total, mean and the squared
    /// deviations move together), and one uncontended lock costs less than
    /// the five read-modify-writes separate atomics would need.
    Distribution(Mutex<Distribution>),
}

/// Welford's running mean and squared deviations plus bucket counts.
#[derive(Debug)]
pub(crate) struct Distribution {
    count: u64,
    sum: f64,
    mean: f64,
    min: f64,
    max: f64,
    sum_of_squared_deviation: f64,
    buckets: Box<[u64]>,
    bounds: Bounds,
}

impl Cells {
    /// Empty cells for a view with this aggregation over this measure type.
    pub(crate) fn new(aggregation: &Aggregation, measure_type: MeasureType) -> Cells {
        match (aggregation, measure_type) {
            (Aggregation::Count, _) => Cells::Count(AtomicU64::new(0)),
            (Aggregation::Sum, MeasureType::Int64) => Cells::SumInt(AtomicI64::new(0)),
            (Aggregation::Sum, MeasureType::Float64) => {
                Cells::SumFloat(AtomicU64::new(0f64.to_bits()))
            }
            (Aggregation::LastValue, MeasureType::Int64) => Cells::LastInt(AtomicI64::new(0)),
            (Aggregation::LastValue, MeasureType::Float64) => {
                Cells::LastFloat(AtomicU64::new(0f64.to_bits()))
            }
            (Aggregation::Distribution(bounds), _) => {
                Cells::Distribution(Mutex::new(Distribution {
                    count: 0,
                    sum: 0.0,
                    mean: 0.0,
                    min: 0.0,
                    max: 0.0,
                    sum_of_squared_deviation: 0.0,
                    buckets: vec![0; bounds.bucket_count()].into_boxed_slice(),
                    bounds: bounds.clone(),
                }))
            }
        }
    }

    /// Folds one value in. The value's type matches the measure's: the
    /// manager refuses mismatched measures before it gets here.
    #[inline]
    pub(crate) fn record(&self, value: Number) {
        match self {
            Cells::Count(c) => {
                c.fetch_add(1, Ordering::Relaxed);
            }
            Cells::SumInt(c) => {
                // Wraps past i64::MAX like any two's complement add; the
                // documented Sum semantics say so.
                c.fetch_add(int(value), Ordering::Relaxed);
            }
            Cells::SumFloat(c) => {
                let add = value.as_f64();
                // fetch_update retries only when another thread added in
                // between, which is rare: rows are spread over many keys.
                let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) + add).to_bits())
                });
            }
            Cells::LastInt(c) => c.store(int(value), Ordering::Relaxed),
            Cells::LastFloat(c) => c.store(value.as_f64().to_bits(), Ordering::Relaxed),
            Cells::Distribution(d) => d.lock().record(value.as_f64()),
        }
    }

    /// The current value, read consistently for a distribution.
    pub(crate) fn read(&self) -> AggregationData {
        match self {
            Cells::Count(c) => AggregationData::Count(c.load(Ordering::Relaxed)),
            Cells::SumInt(c) => AggregationData::Sum(Number::Int(c.load(Ordering::Relaxed))),
            Cells::SumFloat(c) => {
                AggregationData::Sum(Number::Float(f64::from_bits(c.load(Ordering::Relaxed))))
            }
            Cells::LastInt(c) => AggregationData::LastValue(Number::Int(c.load(Ordering::Relaxed))),
            Cells::LastFloat(c) => {
                AggregationData::LastValue(Number::Float(f64::from_bits(c.load(Ordering::Relaxed))))
            }
            Cells::Distribution(d) => AggregationData::Distribution(d.lock().read()),
        }
    }
}

fn int(value: Number) -> i64 {
    match value {
        Number::Int(v) => v,
        // Unreachable through the public API (measure types are checked
        // at registration); truncation keeps a bug from panicking.
        Number::Float(v) => v as i64,
    }
}

impl Distribution {
    #[inline]
    fn record(&mut self, v: f64) {
        let bucket = self.bounds.bucket_index(v);
        // bucket_index returns at most bounds.len(), and buckets has
        // bounds.len() + 1 entries, so get_mut always finds it.
        if let Some(b) = self.buckets.get_mut(bucket) {
            *b += 1;
        }
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        // Welford: stable where sum-of-squares minus square-of-sum cancels
        // catastrophically (large values, small spread).
        let delta = v - self.mean;
        self.mean += delta / self.count as f64;
        self.sum_of_squared_deviation += delta * (v - self.mean);
    }

    fn read(&self) -> DistributionData {
        DistributionData {
            count: self.count,
            sum: self.sum,
            mean: self.mean,
            min: self.min,
            max: self.max,
            sum_of_squared_deviation: self.sum_of_squared_deviation,
            bounds: self.bounds.shared(),
            bucket_counts: self.buckets.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distribution(values: &[f64], bounds: &[f64]) -> DistributionData {
        let agg = Aggregation::distribution(bounds.iter().copied()).expect("valid bounds");
        let cells = Cells::new(&agg, MeasureType::Float64);
        for v in values {
            cells.record(Number::Float(*v));
        }
        match cells.read() {
            AggregationData::Distribution(d) => d,
            other => panic!("expected a distribution, got {other:?}"),
        }
    }

    #[test]
    fn distribution_matches_a_two_pass_computation() {
        let values = [
            -5.0,
            0.0,
            0.0,
            3.5,
            10.0,
            10.000001,
            99.0,
            100.0,
            1e6 + 0.25,
            -1e-9,
        ];
        let d = distribution(&values, &[0.0, 10.0, 100.0]);
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let ssd: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        assert_eq!(d.count, 10);
        assert_eq!(d.bucket_counts, vec![4, 2, 3, 1]);
        assert_eq!(d.bucket_counts.iter().sum::<u64>(), d.count);
        assert_eq!(d.min, -5.0);
        assert_eq!(d.max, 1e6 + 0.25);
        assert!(
            (d.mean - mean).abs() <= 1e-9 * mean.abs(),
            "{} vs {mean}",
            d.mean
        );
        assert!(
            (d.sum_of_squared_deviation - ssd).abs() <= 1e-9 * ssd,
            "{} vs {ssd}",
            d.sum_of_squared_deviation
        );
    }

    #[test]
    fn welford_stays_accurate_for_large_close_values() {
        // Naive sum-of-squares loses every digit here; Welford keeps them.
        let values: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 7) as f64).collect();
        let d = distribution(&values, &[]);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let ssd: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        assert!(
            (d.sum_of_squared_deviation - ssd).abs() < 1e-6 * ssd,
            "{} vs {ssd}",
            d.sum_of_squared_deviation
        );
    }

    #[test]
    fn int_sums_stay_exact_and_last_value_keeps_the_latest() {
        let sum = Cells::new(&Aggregation::Sum, MeasureType::Int64);
        for v in [i64::MAX / 2, 1, -3, i64::MAX / 2] {
            sum.record(Number::Int(v));
        }
        assert_eq!(sum.read(), AggregationData::Sum(Number::Int(i64::MAX - 3)));
        let last = Cells::new(&Aggregation::LastValue, MeasureType::Float64);
        for v in [1.5, -2.0, 7.25] {
            last.record(Number::Float(v));
        }
        assert_eq!(last.read(), AggregationData::LastValue(Number::Float(7.25)));
        let count = Cells::new(&Aggregation::Count, MeasureType::Float64);
        for v in [1.0, 1.0, -1.0] {
            count.record(Number::Float(v));
        }
        assert_eq!(count.read(), AggregationData::Count(3));
    }
}
