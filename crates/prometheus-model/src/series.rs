//! Which series and samples a view's rows become: the rows Prometheus can
//! take, their labels, when two rows are one series, and a histogram's
//! cumulative buckets.

use std::borrow::Cow;

use census_core::{Aggregation, AggregationData, DistributionData, Row, Temporality, ViewData};

use crate::family::Family;
use crate::names::OVERFLOW_LABEL;

/// Refuses view data that Prometheus cannot hold: counters and histograms
/// are cumulative, and deltas (from a delta processor) would read as a
/// reset at every sample. A LastValue gauge may be either; an UpDownSum's
/// gauge must show its level, which a delta (a change) is not.
///
/// # Errors
///
/// The reason, naming the view, when `data` holds delta values of a
/// Count, Sum, UpDownSum or Distribution view.
pub fn check_cumulative(data: &ViewData) -> Result<(), String> {
    let gauge = matches!(data.view.aggregation(), Aggregation::LastValue);
    if gauge || data.temporality == Temporality::Cumulative {
        Ok(())
    } else {
        Err(format!(
            "view {:?} holds delta values, and Prometheus counters, histograms and up-down \
             sums must be cumulative; serve it from a manager without a delta processor",
            data.view.name()
        ))
    }
}

/// Whether a row's data is of its view's aggregation (and, for a
/// distribution, has one count per bucket). A row that does not fit is a
/// producer's bug; encoders leave it out and count it.
pub fn fits(aggregation: &Aggregation, data: &AggregationData) -> bool {
    match (aggregation, data) {
        (Aggregation::Count, AggregationData::Count(_))
        | (Aggregation::Sum | Aggregation::UpDownSum, AggregationData::Sum(_))
        | (Aggregation::LastValue, AggregationData::LastValue(_)) => true,
        (Aggregation::Distribution(_), AggregationData::Distribution(d)) => {
            d.bucket_counts.len() == d.bounds.len() + 1
        }
        _ => false,
    }
}

/// How many samples one row of `aggregation` becomes: one, or for a
/// histogram one per bucket, `+Inf`, `_sum` and `_count`.
pub fn samples_per_row(aggregation: &Aggregation) -> usize {
    match aggregation {
        Aggregation::Distribution(bounds) => bounds.bucket_count() + 2,
        _ => 1,
    }
}

/// The labels of one row's own tags, in the view's key order, without the
/// exporter's constant labels: one `(label, value)` per tag the row holds
/// with a non-empty value, or only `census_overflow="true"` for the
/// overflow row.
///
/// Prometheus reads an empty label value as no label, so an empty tag
/// value is left out like an absent tag; two rows that differ only there
/// are one series, which [`merge_same_series`] resolves.
pub fn row_labels<'a>(
    family: &'a Family,
    row: &'a Row,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    let overflow = row.overflow.then_some((OVERFLOW_LABEL, "true"));
    let tags = family
        .labels
        .iter()
        .zip(&row.tags)
        .filter(move |_| !row.overflow)
        .filter_map(|(label, tag)| {
            tag.as_ref()
                .map(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(|v| (label.as_str(), v))
        });
    overflow.into_iter().chain(tags)
}

/// Folds `next` into `kept` when both rows are one series to Prometheus
/// (same labels after [`row_labels`]). Counts, sums and histograms add
/// exactly; gauges cannot be added, so `kept` stays as it is.
///
/// Returns `false` when `next` could not be folded in and is left out (a
/// gauge, or data of another kind), for the caller to count.
pub fn merge_same_series(kept: &mut Cow<'_, Row>, next: &Row) -> bool {
    kept.to_mut().data.merge(&next.data, false).is_ok()
        && !matches!(next.data, AggregationData::LastValue(_))
}

/// A histogram's cumulative bucket counts, one per bound of `d` (its
/// `_bucket{le=bound}` samples). Counts saturate rather than wrap.
pub fn cumulative_counts(d: &DistributionData) -> impl Iterator<Item = u64> + '_ {
    d.bounds
        .iter()
        .zip(&d.bucket_counts)
        .scan(0u64, |running, (_, n)| {
            *running = running.saturating_add(*n);
            Some(*running)
        })
}

/// The count that a histogram's `le="+Inf"` bucket and its `_count` both
/// carry: every bucket, the last (overflow) one included. Computed from
/// the buckets rather than taken from `d.count`, so the two always agree
/// with the buckets written beside them.
pub fn total_count(d: &DistributionData) -> u64 {
    d.bucket_counts
        .iter()
        .fold(0u64, |total, n| total.saturating_add(*n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{MeasureF64, Number, TagKey, TagValue, View};
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    fn family(keys: &[&str]) -> (View, Family) {
        let m = MeasureF64::new("m", "d", "1").expect("valid measure");
        let keys: Vec<TagKey> = keys.iter().map(|k| TagKey::new(*k).expect("key")).collect();
        let view = View::builder("v", &m)
            .tag_keys(keys)
            .aggregation(Aggregation::Count)
            .build()
            .expect("valid view");
        let family = Family::plan(&view, "", &[]).expect("plans");
        (view, family)
    }

    #[test]
    fn empty_and_absent_tags_have_no_label_and_overflow_has_only_its_own() {
        let (_, f) = family(&["b", "a.x"]);
        let v = |s: &str| Some(TagValue::new(s).expect("value"));
        let row = Row::new(vec![v(""), v("1")], AggregationData::Count(1), UNIX_EPOCH);
        assert_eq!(row_labels(&f, &row).collect::<Vec<_>>(), [("a_x", "1")]);
        let row = Row::new(vec![v("2"), None], AggregationData::Count(1), UNIX_EPOCH);
        assert_eq!(row_labels(&f, &row).collect::<Vec<_>>(), [("b", "2")]);
        let row = Row::overflow(2, AggregationData::Count(1), UNIX_EPOCH);
        assert_eq!(
            row_labels(&f, &row).collect::<Vec<_>>(),
            [("census_overflow", "true")]
        );
    }

    #[test]
    fn counts_merge_and_gauges_keep_the_first() {
        let a = Row::new(vec![], AggregationData::Count(2), UNIX_EPOCH);
        let b = Row::new(vec![], AggregationData::Count(3), UNIX_EPOCH);
        let mut kept = Cow::Borrowed(&a);
        assert!(merge_same_series(&mut kept, &b));
        assert_eq!(kept.data, AggregationData::Count(5));
        let g1 = Row::new(
            vec![],
            AggregationData::LastValue(Number::Int(1)),
            UNIX_EPOCH,
        );
        let g2 = Row::new(
            vec![],
            AggregationData::LastValue(Number::Int(9)),
            UNIX_EPOCH,
        );
        let mut kept = Cow::Borrowed(&g1);
        assert!(!merge_same_series(&mut kept, &g2));
        assert_eq!(kept.data, AggregationData::LastValue(Number::Int(1)));
    }

    #[test]
    fn buckets_accumulate_and_the_total_includes_the_overflow_bucket() {
        let d = DistributionData {
            count: 6,
            sum: 0.0,
            mean: 0.0,
            min: 0.0,
            max: 0.0,
            sum_of_squared_deviation: 0.0,
            bounds: Arc::from(vec![1.0, 2.0]),
            bucket_counts: vec![1, 2, 3],
        };
        assert_eq!(cumulative_counts(&d).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(total_count(&d), 6);
    }

    #[test]
    fn delta_gauges_pass_and_delta_counters_do_not() {
        let (view, _) = family(&[]);
        let mut data = ViewData::new(view, UNIX_EPOCH, UNIX_EPOCH, vec![]);
        assert!(check_cumulative(&data).is_ok());
        data.temporality = Temporality::Delta;
        let err = check_cumulative(&data).unwrap_err();
        assert!(err.contains("delta"), "{err}");
    }
}
