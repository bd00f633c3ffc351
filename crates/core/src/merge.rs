//! Combining the aggregated values of two rows into the value one row
//! would hold had it received both rows' measurements. Shared by every
//! consumer that folds rows together (the pipeline's DropTags, an encoder
//! whose output cannot tell two rows apart), so the arithmetic lives once.

use std::fmt;

use crate::view_data::{AggregationData, DistributionData, Number};

/// Why two values cannot be combined: they come from different
/// aggregations, number types or bucket bounds. Rows of one view never
/// differ so; hand-made batches can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch;

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the values come from different aggregations, number types or bucket bounds")
    }
}

impl std::error::Error for Mismatch {}

impl AggregationData {
    /// Adds `from` into `self`, giving the value one row would hold had it
    /// received both rows' measurements. LastValue is not additive:
    /// `from_is_later` says whether `from` holds the later value, which
    /// then replaces this one.
    ///
    /// Integer counts and sums wrap as recording does, so a merged sum
    /// equals the sum recorded directly, wrap-around included; float sums
    /// saturate at `±f64::MAX`, as recording does.
    ///
    /// ```
    /// use census_core::{AggregationData, Number};
    /// let mut a = AggregationData::Sum(Number::Int(2));
    /// a.merge(&AggregationData::Sum(Number::Int(3)), false)?;
    /// assert_eq!(a, AggregationData::Sum(Number::Int(5)));
    /// # Ok::<(), census_core::Mismatch>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Mismatch`] if the two differ in aggregation, number type or
    /// bucket bounds; `self` is then unchanged.
    pub fn merge(&mut self, from: &AggregationData, from_is_later: bool) -> Result<(), Mismatch> {
        merge(self, from, from_is_later)
    }
}

impl DistributionData {
    /// Adds `other` into `self`: bucket counts add; count, sum, mean and
    /// the sum of squared deviations combine exactly (see the source for
    /// the formula); min and max are those of the non-empty sides.
    ///
    /// # Errors
    ///
    /// [`Mismatch`] if the bounds differ; `self` is then unchanged.
    pub fn merge(&mut self, other: &DistributionData) -> Result<(), Mismatch> {
        merge_distribution(self, other)
    }
}

fn merge(
    into: &mut AggregationData,
    from: &AggregationData,
    from_is_later: bool,
) -> Result<(), Mismatch> {
    match (into, from) {
        (AggregationData::Count(a), AggregationData::Count(b)) => *a = a.wrapping_add(*b),
        (AggregationData::Sum(a), AggregationData::Sum(b)) => *a = add(*a, *b)?,
        (AggregationData::LastValue(a), AggregationData::LastValue(b)) => {
            if std::mem::discriminant(a) != std::mem::discriminant(b) {
                return Err(Mismatch);
            }
            if from_is_later {
                *a = *b;
            }
        }
        (AggregationData::Distribution(a), AggregationData::Distribution(b)) => {
            merge_distribution(a, b)?
        }
        _ => return Err(Mismatch),
    }
    Ok(())
}

fn add(a: Number, b: Number) -> Result<Number, Mismatch> {
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => Ok(Number::Int(a.wrapping_add(b))),
        (Number::Float(a), Number::Float(b)) => Ok(Number::Float(saturate(a + b))),
        _ => Err(Mismatch),
    }
}

/// Float sums saturate at `±f64::MAX`, as recording does: infinities of
/// both signs would add up to NaN.
fn saturate(sum: f64) -> f64 {
    sum.clamp(-f64::MAX, f64::MAX)
}

/// Bucket counts add; count, sum, mean and the sum of squared deviations
/// combine with the pairwise formula of Chan, Golub and LeVeque (1979):
///
/// ```text
/// n = na + nb,  d = mean_b - mean_a
/// mean = mean_a + d * nb / n
/// M2   = M2a + M2b + d² * na * nb / n
/// ```
///
/// which is exact in real arithmetic and, unlike recombining raw sums of
/// squares, stays accurate when values are large and close together. Min
/// and max are those of the non-empty sides: an empty distribution's
/// `0.0` placeholders must not win.
fn merge_distribution(a: &mut DistributionData, b: &DistributionData) -> Result<(), Mismatch> {
    if a.bounds[..] != b.bounds[..] || a.bucket_counts.len() != b.bucket_counts.len() {
        return Err(Mismatch);
    }
    for (x, y) in a.bucket_counts.iter_mut().zip(&b.bucket_counts) {
        *x = x.wrapping_add(*y);
    }
    if b.count == 0 {
        return Ok(());
    }
    if a.count == 0 {
        a.count = b.count;
        a.sum = b.sum;
        a.mean = b.mean;
        a.min = b.min;
        a.max = b.max;
        a.sum_of_squared_deviation = b.sum_of_squared_deviation;
        return Ok(());
    }
    let (na, nb) = (a.count as f64, b.count as f64);
    let n = na + nb;
    let d = b.mean - a.mean;
    let mean = a.mean + d * (nb / n);
    if d.is_finite() && mean.is_finite() {
        a.mean = mean;
        a.sum_of_squared_deviation += b.sum_of_squared_deviation + d * d * (na * nb / n);
    } else {
        // The means lie farther apart than f64 reaches: the weighted mean
        // is still finite (each weight is below one), the spread is not.
        a.mean = saturate(a.mean * (na / n) + b.mean * (nb / n));
        a.sum_of_squared_deviation = f64::INFINITY;
    }
    a.sum = saturate(a.sum + b.sum);
    a.min = a.min.min(b.min);
    a.max = a.max.max(b.max);
    a.count = a.count.wrapping_add(b.count);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A distribution computed from the values with two passes, the
    /// textbook way.
    fn direct(values: &[f64], bounds: &[f64]) -> DistributionData {
        let n = values.len();
        let sum: f64 = values.iter().sum();
        let mean = if n == 0 { 0.0 } else { sum / n as f64 };
        let mut buckets = vec![0; bounds.len() + 1];
        for v in values {
            buckets[bounds.partition_point(|b| b < v)] += 1;
        }
        DistributionData {
            count: n as u64,
            sum,
            mean,
            // The cells' placeholders for an empty distribution.
            min: if n == 0 {
                0.0
            } else {
                values.iter().copied().fold(f64::INFINITY, f64::min)
            },
            max: if n == 0 {
                0.0
            } else {
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            },
            sum_of_squared_deviation: values.iter().map(|v| (v - mean) * (v - mean)).sum(),
            bounds: Arc::from(bounds),
            bucket_counts: buckets,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn distributions_merge_as_if_recorded_together() {
        let bounds = [0.0, 10.0, 100.0];
        let left = [1.0, 5.5, 10.0, 250.0, -3.0];
        let right = [99.0, 100.0, 100.5, 7.0];
        for (l, r) in [
            (&left[..], &right[..]),
            (&[][..], &right[..]),
            (&left[..], &[][..]),
        ] {
            let mut merged = direct(l, &bounds);
            merge_distribution(&mut merged, &direct(r, &bounds)).expect("same bounds");
            let all: Vec<f64> = l.iter().chain(r).copied().collect();
            let want = direct(&all, &bounds);
            assert_eq!(merged.count, want.count);
            assert_eq!(merged.bucket_counts, want.bucket_counts);
            assert_eq!(merged.min, want.min, "{l:?} {r:?}");
            assert_eq!(merged.max, want.max, "{l:?} {r:?}");
            assert!(close(merged.sum, want.sum));
            assert!(
                close(merged.mean, want.mean),
                "{} {}",
                merged.mean,
                want.mean
            );
            assert!(
                close(
                    merged.sum_of_squared_deviation,
                    want.sum_of_squared_deviation
                ),
                "{} {}",
                merged.sum_of_squared_deviation,
                want.sum_of_squared_deviation
            );
        }
    }

    // Issue #16: rows merged (DropTags, delta batches) from opposite
    // extremes read finite sums and means, never NaN.
    #[test]
    fn opposite_extremes_merge_without_nan() {
        let mut sum = AggregationData::Sum(Number::Float(f64::MAX));
        merge(
            &mut sum,
            &AggregationData::Sum(Number::Float(f64::MAX)),
            false,
        )
        .expect("floats");
        assert_eq!(sum, AggregationData::Sum(Number::Float(f64::MAX)));
        merge(
            &mut sum,
            &AggregationData::Sum(Number::Float(-f64::MAX)),
            false,
        )
        .expect("floats");
        assert_eq!(sum, AggregationData::Sum(Number::Float(0.0)));
        let bounds = [0.0];
        let mut d = direct(&[f64::MAX], &bounds);
        merge_distribution(&mut d, &direct(&[-f64::MAX], &bounds)).expect("same bounds");
        merge_distribution(&mut d, &direct(&[f64::MAX], &bounds)).expect("same bounds");
        assert_eq!(d.count, 3);
        assert!(d.sum.is_finite() && d.mean.is_finite(), "{d:?}");
        assert_eq!(d.sum_of_squared_deviation, f64::INFINITY);
    }

    #[test]
    fn large_close_values_keep_their_spread() {
        // Raw sums of squares would lose every digit of the spread here.
        let l: Vec<f64> = (0..500).map(|i| 1e9 + (i % 7) as f64).collect();
        let r: Vec<f64> = (0..300).map(|i| 1e9 + (i % 3) as f64).collect();
        let mut merged = direct(&l, &[]);
        merge_distribution(&mut merged, &direct(&r, &[])).expect("same bounds");
        let all: Vec<f64> = l.iter().chain(&r).copied().collect();
        let want = direct(&all, &[]);
        let rel = (merged.sum_of_squared_deviation - want.sum_of_squared_deviation).abs()
            / want.sum_of_squared_deviation;
        assert!(rel < 1e-6, "relative error {rel}");
    }

    #[test]
    fn mismatches_are_refused_and_ints_wrap_like_cells() {
        let mut a = direct(&[1.0], &[1.0]);
        assert_eq!(
            merge_distribution(&mut a, &direct(&[1.0], &[2.0])),
            Err(Mismatch)
        );
        let mut count = AggregationData::Count(2);
        assert_eq!(
            merge(&mut count, &AggregationData::Sum(Number::Int(1)), false),
            Err(Mismatch)
        );
        let mut sum = AggregationData::Sum(Number::Int(i64::MAX));
        merge(&mut sum, &AggregationData::Sum(Number::Int(2)), false).expect("ints");
        assert_eq!(sum, AggregationData::Sum(Number::Int(i64::MIN + 1)));
        let mut mixed = AggregationData::Sum(Number::Int(1));
        assert_eq!(
            merge(&mut mixed, &AggregationData::Sum(Number::Float(1.0)), false),
            Err(Mismatch)
        );
        let mut last = AggregationData::LastValue(Number::Float(1.0));
        merge(
            &mut last,
            &AggregationData::LastValue(Number::Float(2.0)),
            false,
        )
        .expect("floats");
        assert_eq!(last, AggregationData::LastValue(Number::Float(1.0)));
        merge(
            &mut last,
            &AggregationData::LastValue(Number::Float(3.0)),
            true,
        )
        .expect("floats");
        assert_eq!(last, AggregationData::LastValue(Number::Float(3.0)));
    }
}
