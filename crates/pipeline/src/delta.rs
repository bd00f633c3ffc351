//! Delta: turn cumulative view data into per-interval changes.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use census_core::{
    AggregationData, DistributionData, Number, Processor, Row, TagValue, Temporality, View,
    ViewData,
};
use parking_lot::Mutex;

/// Turns cumulative view data into deltas: each export carries what
/// changed since the previous export to the same exporter.
///
/// Put one `Delta` in the pipeline of each exporter that wants deltas: it
/// remembers what it passed on last, so it must not be shared between
/// exporters (share one and each sees only part of the changes).
///
/// # Semantics, per row
///
/// Rows are told apart by view name, tag values and the overflow flag.
///
/// - **Count, Sum (and UpDownSum), bucket counts** become the change since
///   the previous export, and the row's `start` becomes the previous
///   export's `end` (its `end` is the batch's). The first time a row is seen its
///   cumulative value is the change, with its start unchanged (or the
///   previous `end` of its view, when the row appeared in a view already
///   exported).
/// - **Unchanged rows are omitted**: a Count or Distribution that counted
///   nothing, a Sum whose value is the same (so an interval whose recorded
///   values cancel out exactly looks unchanged). A view whose rows are all
///   unchanged is passed on with no rows.
/// - **LastValue** rows are gauges: passed on every time, with their value
///   as is and the same interval start as the other rows.
/// - **Distributions**: count, sum, bucket counts and the mean are those of
///   the values recorded in the interval. The sum of squared deviations is
///   the interval's too, recovered from the two cumulative snapshots by
///   reversing the pairwise merge formula (clamped at 0 against rounding;
///   its error grows with the size of the history relative to the
///   interval). **`min` and `max` are not per interval**: cumulative data
///   cannot tell them, so they are the row's cumulative min and max since
///   its cumulative start, copied unchanged. An exporter whose format
///   defines min/max over the interval (OTLP `HistogramDataPoint.min` and
///   `max`, both optional) must leave them out for delta data.
/// - **Exemplars**: a row passed on keeps only the exemplars recorded at
///   or after its interval's start; older ones went with their interval.
/// - `ViewData::start` becomes the previous export's `end` (the view's
///   start the first time), `folded` the measurements folded into the
///   overflow row during the interval, and `temporality`
///   [`Temporality::Delta`].
///
/// # Restarts
///
/// A row restarts cleanly, its cumulative value passed on as the change,
/// when its view's `start` changed (the view was unregistered and
/// registered again), the view's definition changed, the row's `start`
/// changed (it was expired and recorded again), or a count or bucket went
/// backwards. A Sum or UpDownSum going down is a legitimate change
/// (negative values), not a restart.
///
/// # Memory
///
/// State is kept for exactly the rows of the latest batch: a row or view
/// missing from a batch is forgotten, so the state never holds more rows
/// than the views do. A forgotten row that comes back with its old start
/// (only possible if an earlier processor filtered it out for a while)
/// passes on its whole cumulative value again.
///
/// View data that is already [`Temporality::Delta`] passes unchanged.
///
/// ```
/// let delta = census_pipeline::Delta::new();
/// assert_eq!(delta.tracked_rows(), 0);
/// ```
#[derive(Debug, Default)]
pub struct Delta {
    /// By view name and start: views of one name with different starts
    /// are different views (every HTTP exporter's self-metrics are named
    /// alike), and a view registered again starts afresh.
    views: Mutex<HashMap<(String, SystemTime), ViewState>>,
}

/// What was passed on last for one view.
#[derive(Debug)]
struct ViewState {
    view: View,
    /// The previous export's end and folded count; `None` before the
    /// first export.
    previous: Option<(SystemTime, u64)>,
    /// Ordinary rows by tag values; the overflow row apart, since its
    /// tags (all absent) may equal an ordinary row's.
    rows: HashMap<Vec<Option<TagValue>>, Cumulative>,
    overflow: Option<Cumulative>,
    /// Counts batches, to tell rows seen in the latest one.
    generation: u64,
}

/// A row's cumulative value at the previous export.
#[derive(Debug)]
struct Cumulative {
    start: SystemTime,
    data: AggregationData,
    seen: u64,
}

impl ViewState {
    fn new(data: &ViewData) -> ViewState {
        ViewState {
            view: data.view.clone(),
            previous: None,
            rows: HashMap::new(),
            overflow: None,
            generation: 0,
        }
    }

    fn len(&self) -> usize {
        self.rows.len() + usize::from(self.overflow.is_some())
    }
}

impl Delta {
    /// A delta processor that has seen nothing yet.
    pub fn new() -> Delta {
        Delta::default()
    }

    /// How many rows the processor remembers now: the rows of the views in
    /// the latest batch.
    pub fn tracked_rows(&self) -> usize {
        self.views.lock().values().map(ViewState::len).sum()
    }

    fn convert(
        views: &mut HashMap<(String, SystemTime), ViewState>,
        mut data: ViewData,
    ) -> ViewData {
        // A new start means the view was registered again (a new key); a
        // new definition under the same start can only come from hand-made
        // data, and its old values mean nothing for the new one.
        let key = (data.view.name().to_owned(), data.start);
        let known = views.get(&key).is_some_and(|state| state.view == data.view);
        if !known {
            views.insert(key.clone(), ViewState::new(&data));
        }
        let Some(state) = views.get_mut(&key) else {
            // Unreachable: inserted just above when missing.
            return data;
        };
        state.generation += 1;
        let generation = state.generation;
        let prev_end = state.previous.map(|(end, _)| end);
        let interval_start = |row_start: SystemTime| match prev_end {
            // A row that existed, or could have, at the previous export
            // changed since then; one that started later, since its start.
            Some(end) if end > row_start => end,
            _ => row_start,
        };
        let mut rows = Vec::with_capacity(data.rows.len());
        for row in std::mem::take(&mut data.rows) {
            // Updated in place: no key is cloned or map rebuilt for a row
            // seen before, which is nearly every row of every period.
            let slot = if row.overflow {
                state.overflow.as_mut()
            } else {
                state.rows.get_mut(&row.tags[..])
            };
            let change = match slot {
                Some(prev) => {
                    let change = if prev.start == row.start {
                        subtract(&row.data, &prev.data)
                    } else {
                        None
                    };
                    let change = change.unwrap_or_else(|| Change::Changed(row.data.clone()));
                    prev.start = row.start;
                    prev.data = row.data;
                    prev.seen = generation;
                    change
                }
                None => {
                    // New or restarted: everything it holds is new.
                    let cumulative = Cumulative {
                        start: row.start,
                        data: row.data.clone(),
                        seen: generation,
                    };
                    if row.overflow {
                        state.overflow = Some(cumulative);
                    } else {
                        state.rows.insert(row.tags.clone(), cumulative);
                    }
                    Change::Changed(row.data)
                }
            };
            if let Change::Changed(delta) = change {
                let start = interval_start(row.start);
                let mut out = Row::new(row.tags, delta, start);
                out.overflow = row.overflow;
                // Exemplars of this interval only: older ones went out
                // with the interval they were recorded in.
                out.exemplars = row.exemplars;
                out.exemplars.retain(|e| e.time >= start);
                rows.push(out);
            }
        }
        // Bounded memory: rows that left the batch leave the state.
        state.rows.retain(|_, row| row.seen == generation);
        if state
            .overflow
            .as_ref()
            .is_some_and(|row| row.seen != generation)
        {
            state.overflow = None;
        }
        let folded = match state.previous {
            Some((_, before)) if data.folded >= before => data.folded - before,
            _ => data.folded,
        };
        state.previous = Some((data.end, data.folded));
        data.start = prev_end.unwrap_or(data.start);
        data.rows = rows;
        data.folded = folded;
        data.temporality = Temporality::Delta;
        data
    }
}

/// What happened to a row since the previous export.
enum Change {
    Unchanged,
    Changed(AggregationData),
}

/// The change from `prev` to `now`, or `None` when `now` cannot follow
/// `prev` (a count went backwards, the kind of value changed): a restart.
fn subtract(now: &AggregationData, prev: &AggregationData) -> Option<Change> {
    let change = match (now, prev) {
        (AggregationData::Count(n), AggregationData::Count(p)) => {
            let d = n.checked_sub(*p)?;
            (d != 0).then_some(AggregationData::Count(d))
        }
        // Wrapping: cumulative integer sums wrap, and the wrapped
        // difference is still the exact change.
        (AggregationData::Sum(Number::Int(n)), AggregationData::Sum(Number::Int(p))) => {
            (n != p).then(|| AggregationData::Sum(Number::Int(n.wrapping_sub(*p))))
        }
        (AggregationData::Sum(Number::Float(n)), AggregationData::Sum(Number::Float(p))) => {
            // Bits, not ==: a sum that became NaN must not look unchanged.
            (n.to_bits() != p.to_bits())
                .then(|| AggregationData::Sum(Number::Float(saturate(n - p))))
        }
        (AggregationData::LastValue(n), AggregationData::LastValue(p))
            if std::mem::discriminant(n) == std::mem::discriminant(p) =>
        {
            Some(AggregationData::LastValue(*n))
        }
        (AggregationData::Distribution(n), AggregationData::Distribution(p)) => {
            subtract_distribution(n, p)?.map(AggregationData::Distribution)
        }
        _ => return None,
    };
    Some(match change {
        Some(data) => Change::Changed(data),
        None => Change::Unchanged,
    })
}

/// A float change saturated at `±f64::MAX`, as float sums are: two finite
/// cumulative sums far apart (from near `f64::MAX` to near `-f64::MAX`)
/// differ by more than a float holds, and an infinite change would be the
/// one non-finite value finite records could make.
fn saturate(change: f64) -> f64 {
    change.clamp(-f64::MAX, f64::MAX)
}

/// The values recorded between two snapshots of one distribution:
/// `Some(None)` when none were, `None` when `now` cannot follow `prev`.
///
/// With `a` the earlier snapshot, `t` the later and `b` the interval, the
/// pairwise merge gives `M2t = M2a + M2b + d² · na · nb / nt` with
/// `d = mean_b − mean_a`, so `M2b = M2t − M2a − d² · na · nb / nt`.
fn subtract_distribution(
    now: &DistributionData,
    prev: &DistributionData,
) -> Option<Option<DistributionData>> {
    if now.bounds[..] != prev.bounds[..] || now.bucket_counts.len() != prev.bucket_counts.len() {
        return None;
    }
    let nb = now.count.checked_sub(prev.count)?;
    let mut buckets = Vec::with_capacity(now.bucket_counts.len());
    for (n, p) in now.bucket_counts.iter().zip(&prev.bucket_counts) {
        buckets.push(n.checked_sub(*p)?);
    }
    if nb == 0 {
        return Some(None);
    }
    let sum = saturate(now.sum - prev.sum);
    let mean = sum / nb as f64;
    let ssd = if prev.count == 0 {
        now.sum_of_squared_deviation
    } else {
        let (na, nt) = (prev.count as f64, now.count as f64);
        let d = mean - prev.mean;
        now.sum_of_squared_deviation - prev.sum_of_squared_deviation - d * d * (na * nb as f64 / nt)
    };
    Some(Some(DistributionData {
        count: nb,
        sum,
        mean,
        min: now.min,
        max: now.max,
        // max(), not a branch: it also turns a NaN from rounding into 0.
        sum_of_squared_deviation: ssd.max(0.0),
        bounds: now.bounds.clone(),
        bucket_counts: buckets,
    }))
}

impl Processor for Delta {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        let mut views = self.views.lock();
        let mut seen: HashSet<(String, SystemTime)> = HashSet::with_capacity(batch.len());
        let out = batch
            .into_iter()
            .map(|data| {
                if data.temporality == Temporality::Delta {
                    return data;
                }
                seen.insert((data.view.name().to_owned(), data.start));
                Delta::convert(&mut views, data)
            })
            .collect();
        // Bounded memory: views that left the batch leave the state.
        views.retain(|key, _| seen.contains(key));
        out
    }

    /// A pull passes unchanged: its cumulative data is what a pull
    /// exporter serves (Prometheus leaves delta counters out), and the
    /// previous values stay those of the latest period.
    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        batch
    }

    fn name(&self) -> &str {
        "Delta"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn dist(values: &[f64], bounds: &[f64]) -> DistributionData {
        let mut d = DistributionData {
            count: 0,
            sum: 0.0,
            mean: 0.0,
            min: 0.0,
            max: 0.0,
            sum_of_squared_deviation: 0.0,
            bounds: Arc::from(bounds),
            bucket_counts: vec![0; bounds.len() + 1],
        };
        for &v in values {
            d.bucket_counts[bounds.partition_point(|b| *b < v)] += 1;
            if d.count == 0 {
                (d.min, d.max) = (v, v);
            }
            d.min = d.min.min(v);
            d.max = d.max.max(v);
            d.count += 1;
            d.sum += v;
            let delta = v - d.mean;
            d.mean += delta / d.count as f64;
            d.sum_of_squared_deviation += delta * (v - d.mean);
        }
        d
    }

    #[test]
    fn distribution_differences_recover_the_interval() {
        let bounds = [0.0, 10.0];
        let before = [1.0, 2.0, 30.0, -4.0];
        let during = [5.0, 15.0, 16.0];
        let all: Vec<f64> = before.iter().chain(&during).copied().collect();
        let got = subtract_distribution(&dist(&all, &bounds), &dist(&before, &bounds))
            .expect("follows")
            .expect("changed");
        let want = dist(&during, &bounds);
        assert_eq!(got.count, 3);
        assert_eq!(got.bucket_counts, want.bucket_counts);
        assert!((got.sum - want.sum).abs() < 1e-9);
        assert!((got.mean - want.mean).abs() < 1e-9);
        assert!(
            (got.sum_of_squared_deviation - want.sum_of_squared_deviation).abs() < 1e-9,
            "{} vs {}",
            got.sum_of_squared_deviation,
            want.sum_of_squared_deviation
        );
        // Documented: min and max stay cumulative.
        assert_eq!((got.min, got.max), (-4.0, 30.0));
        assert!(
            subtract_distribution(&dist(&all, &bounds), &dist(&all, &bounds))
                .expect("follows")
                .is_none()
        );
        assert!(subtract_distribution(&dist(&before, &bounds), &dist(&all, &bounds)).is_none());
    }

    #[test]
    fn counts_going_backwards_are_restarts_and_sums_going_down_are_not() {
        assert!(subtract(&AggregationData::Count(1), &AggregationData::Count(2)).is_none());
        match subtract(
            &AggregationData::Sum(Number::Int(-5)),
            &AggregationData::Sum(Number::Int(3)),
        ) {
            Some(Change::Changed(AggregationData::Sum(Number::Int(-8)))) => {}
            _ => panic!("a sum going down is a change of -8"),
        }
        match subtract(
            &AggregationData::Sum(Number::Int(i64::MIN)),
            &AggregationData::Sum(Number::Int(i64::MAX)),
        ) {
            Some(Change::Changed(AggregationData::Sum(Number::Int(1)))) => {}
            _ => panic!("a wrapped sum changes by the wrapped difference"),
        }
        assert!(subtract(
            &AggregationData::Count(1),
            &AggregationData::Sum(Number::Int(1))
        )
        .is_none());
    }

    // QA of issue #7: float sums saturate at ±f64::MAX and never become
    // infinite (docs/semantics.md); their change from one export to the
    // next must not either.
    #[test]
    fn float_changes_between_far_apart_sums_stay_finite() {
        match subtract(
            &AggregationData::Sum(Number::Float(-f64::MAX)),
            &AggregationData::Sum(Number::Float(f64::MAX)),
        ) {
            Some(Change::Changed(AggregationData::Sum(Number::Float(d)))) => {
                assert_eq!(d, -f64::MAX);
            }
            _ => panic!("a change"),
        }
        let bounds = [0.0];
        let prev = dist(&[f64::MAX], &bounds);
        let mut now = dist(&[f64::MAX, -f64::MAX, -f64::MAX], &bounds);
        // As recording keeps it: the sum saturated along the way.
        now.sum = -f64::MAX;
        let got = subtract_distribution(&now, &prev)
            .expect("follows")
            .expect("changed");
        assert_eq!(got.sum, -f64::MAX);
        assert!(got.mean.is_finite(), "{}", got.mean);
    }
}
