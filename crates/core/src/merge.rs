//! Combining the aggregated values of two rows into the value one row
//! would hold had it received both rows' measurements. Shared by every
//! consumer that folds rows together (census-stats merging the per-thread
//! shares of a row, the pipeline's DropTags, an encoder whose output cannot
//! tell two rows apart), so the arithmetic lives once.

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
    /// the sum of squared deviations combine exactly (see
    /// [`Moments::merge`]); min and max are those of the non-empty sides.
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

/// The summary of a set of values that a distribution keeps besides its
/// bucket counts, in the form that merges exactly: what
/// [`DistributionData::merge`] combines, and what census-stats merges the
/// per-thread shares of a row with.
///
/// The mean is held as `base + offset`, `base` a value near the data (one
/// of the values, or a previous mean), so that the difference of two means
/// that a merge needs is taken at the scale of the data's spread, not
/// rounded at the scale of the values first: at 1e9 one ulp is 1.2e-7,
/// which a spread of 0.1 would feel in its sixth digit.
///
/// ```
/// use census_core::Moments;
/// let mut a = Moments::of_values(&[1e9 + 0.25, 1e9 + 0.5]);
/// a.merge(&Moments::of_values(&[1e9 + 0.75]));
/// assert_eq!((a.count, a.min, a.max), (3, 1e9 + 0.25, 1e9 + 0.75));
/// assert_eq!(a.mean(), 1e9 + 0.5);
/// // 0.25² + 0² + 0.25², where raw sums of squares (near 3e18) would
/// // have lost every digit of it.
/// assert!((a.sum_of_squared_deviation - 0.125).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// A value near the data; the mean is `base + offset`.
    pub base: f64,
    /// The mean minus `base`.
    pub offset: f64,
    /// The smallest value (`0.0` when `count` is 0).
    pub min: f64,
    /// The largest value (`0.0` when `count` is 0).
    pub max: f64,
    /// The sum of squared deviations from the mean.
    pub sum_of_squared_deviation: f64,
}

impl Moments {
    /// The moments a distribution holds (its mean as `base`).
    pub fn of(d: &DistributionData) -> Moments {
        Moments {
            count: d.count,
            sum: d.sum,
            base: d.mean,
            offset: 0.0,
            min: d.min,
            max: d.max,
            sum_of_squared_deviation: d.sum_of_squared_deviation,
        }
    }

    /// The moments of `values`, by two passes over their differences from
    /// the first value: the textbook computation, for tests and hand-made
    /// data.
    pub fn of_values(values: &[f64]) -> Moments {
        let (Some(&base), Some(&min), Some(&max)) = (
            values.first(),
            values.iter().min_by(|a, b| a.total_cmp(b)),
            values.iter().max_by(|a, b| a.total_cmp(b)),
        ) else {
            return Moments::default();
        };
        let n = values.len() as f64;
        let offset = values.iter().map(|v| v - base).sum::<f64>() / n;
        Moments {
            count: values.len() as u64,
            sum: values.iter().sum(),
            base,
            offset,
            min,
            max,
            sum_of_squared_deviation: values.iter().map(|v| (v - base - offset).powi(2)).sum(),
        }
    }

    /// The mean (`0.0` when `count` is 0), saturated at `±f64::MAX` as
    /// sums are.
    pub fn mean(&self) -> f64 {
        saturate(self.base + self.offset)
    }

    /// Adds `other` into `self`, giving the moments of both sets of values
    /// together. Count and sum add; mean and the sum of squared deviations
    /// combine with the pairwise formula of Chan, Golub and LeVeque (1979):
    ///
    /// ```text
    /// n = na + nb,  d = mean_b - mean_a
    /// mean = mean_a + d * nb / n
    /// M2   = M2a + M2b + d² * na * nb / n
    /// ```
    ///
    /// which is exact in real arithmetic and, unlike recombining raw sums
    /// of squares, stays accurate when values are large and close
    /// together. Min and max are those of the non-empty sides: an empty
    /// side's `0.0` placeholders never win. Counts wrap and float sums
    /// saturate at `±f64::MAX`, as recording does; when the two means lie
    /// farther apart than f64 reaches, the mean is their (finite) weighted
    /// mean and the squared deviations are infinite.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        // The bases are values of the same data, usually within a factor
        // of two of each other, and then their difference is exact.
        let d = (other.base - self.base) + (other.offset - self.offset);
        let offset = self.offset + d * (nb / n);
        if d.is_finite() && offset.is_finite() {
            self.offset = offset;
            self.sum_of_squared_deviation += other.sum_of_squared_deviation + d * d * (na * nb / n);
        } else {
            // The means lie farther apart than f64 reaches: the weighted
            // mean is still finite (each weight is below one), the spread
            // is not.
            self.base = saturate(self.mean() * (na / n) + other.mean() * (nb / n));
            self.offset = 0.0;
            self.sum_of_squared_deviation = f64::INFINITY;
        }
        self.sum = saturate(self.sum + other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count = self.count.wrapping_add(other.count);
    }
}

/// Bucket counts add; the rest is [`Moments::merge`].
fn merge_distribution(a: &mut DistributionData, b: &DistributionData) -> Result<(), Mismatch> {
    if a.bounds[..] != b.bounds[..] || a.bucket_counts.len() != b.bucket_counts.len() {
        return Err(Mismatch);
    }
    for (x, y) in a.bucket_counts.iter_mut().zip(&b.bucket_counts) {
        *x = x.wrapping_add(*y);
    }
    let mut m = Moments::of(a);
    m.merge(&Moments::of(b));
    a.count = m.count;
    a.sum = m.sum;
    a.mean = m.mean();
    a.min = m.min;
    a.max = m.max;
    a.sum_of_squared_deviation = m.sum_of_squared_deviation;
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
    fn moments_merged_in_any_grouping_match_one_pass() {
        // A large offset and a tiny spread, split over groups whose bases
        // (first values) differ: the merge keeps every digit of the spread
        // that one pass over all values has.
        let values: Vec<f64> = (0..3000)
            .map(|i| 1e9 + [0.1, 0.2, 0.3][i % 3] + (i / 3 % 2) as f64 * 0.05)
            .collect();
        let want = Moments::of_values(&values);
        for groups in [1, 2, 7, 300] {
            let mut merged = Moments::default();
            for chunk in values.chunks(values.len() / groups) {
                merged.merge(&Moments::of_values(chunk));
            }
            assert_eq!(
                (merged.count, merged.min, merged.max),
                (3000, want.min, want.max)
            );
            assert!(close(merged.mean(), want.mean()), "{groups} groups");
            assert!(
                close(
                    merged.sum_of_squared_deviation,
                    want.sum_of_squared_deviation
                ),
                "{groups} groups: {} vs {}",
                merged.sum_of_squared_deviation,
                want.sum_of_squared_deviation
            );
        }
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
