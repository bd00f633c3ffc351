//! Folding one batch into another, so that delta data an exporter could not
//! deliver travels in a later batch instead of being lost.

use std::collections::{HashMap, HashSet};

use crate::tag::TagValue;
use crate::view_data::{Row, Temporality, ViewData};

/// Folds `later` into `earlier`, so that `earlier` alone carries what both
/// batches did; returns how many rows of `earlier` could not be carried.
///
/// An exporter that cannot deliver a batch of delta data (queue full,
/// destination refusing) folds it into the next batch rather than drop it;
/// the merged batch then holds, per row, what the two intervals together
/// recorded.
///
/// - **Delta views** (`Temporality::Delta`) present in both, with the same
///   definition, merge row by row, rows matched by tag values and the
///   overflow flag: counts, sums and bucket counts add, distributions
///   combine exactly, LastValue takes `later`'s value (see
///   [`AggregationData::merge`](crate::AggregationData::merge)). A row
///   keeps the earlier start; the view spans from `earlier`'s start to
///   `later`'s end; `folded` adds. Rows in one batch only are kept.
/// - **Cumulative views** present in both: `later` replaces `earlier`, as
///   it carries everything the earlier snapshot did.
/// - A view in one batch only is kept.
/// - A delta view whose definition changed under the same name (it was
///   registered anew in between) cannot merge: `later` replaces it, and
///   `earlier`'s rows of it are counted in the return value, as are rows
///   whose values cannot combine (different aggregations or bounds, which
///   only hand-made batches have).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use census_core::{
///     merge_batches, Aggregation, AggregationData, MeasureI64, Row, Temporality, View, ViewData,
/// };
///
/// # fn main() -> Result<(), census_core::Error> {
/// let m = MeasureI64::new("m", "", "1")?;
/// let view = View::builder("v", &m).aggregation(Aggregation::Count).build()?;
/// let at = |s| UNIX_EPOCH + Duration::from_secs(s);
/// let delta = |from, to, n| {
///     let mut data = ViewData::new(view.clone(), at(from), at(to),
///         vec![Row::new(vec![], AggregationData::Count(n), at(from))]);
///     data.temporality = Temporality::Delta;
///     data
/// };
/// let mut earlier = vec![delta(0, 10, 3)];
/// assert_eq!(merge_batches(&mut earlier, vec![delta(10, 20, 4)]), 0);
/// assert_eq!(earlier[0].rows[0].data, AggregationData::Count(7));
/// assert_eq!((earlier[0].start, earlier[0].end), (at(0), at(20)));
/// # Ok(()) }
/// ```
pub fn merge_batches(earlier: &mut Vec<ViewData>, later: Vec<ViewData>) -> u64 {
    rows(&merge_batches_keeping(earlier, later))
}

/// [`merge_batches`], returning the data of the rows it could not carry
/// (each with its view) instead of their count, so that an exporter can
/// report those values lost rather than only count them.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use census_core::{
///     merge_batches_keeping, Aggregation, AggregationData, MeasureI64, Row, Temporality, View,
///     ViewData,
/// };
///
/// # fn main() -> Result<(), census_core::Error> {
/// let m = MeasureI64::new("m", "", "1")?;
/// let at = |s| UNIX_EPOCH + Duration::from_secs(s);
/// let delta = |view: &View, n| {
///     let mut data = ViewData::new(view.clone(), at(0), at(10),
///         vec![Row::new(vec![], AggregationData::Count(n), at(0))]);
///     data.temporality = Temporality::Delta;
///     data
/// };
/// let old = View::builder("v", &m).aggregation(Aggregation::Count).build()?;
/// // Registered again under the same name, with another description.
/// let new = View::builder("v", &m).description("new").aggregation(Aggregation::Count).build()?;
/// let mut earlier = vec![delta(&old, 3)];
/// let uncarried = merge_batches_keeping(&mut earlier, vec![delta(&new, 4)]);
/// assert_eq!(uncarried[0].rows[0].data, AggregationData::Count(3));
/// assert_eq!(earlier[0].rows[0].data, AggregationData::Count(4));
/// # Ok(()) }
/// ```
pub fn merge_batches_keeping(earlier: &mut Vec<ViewData>, later: Vec<ViewData>) -> Vec<ViewData> {
    let mut uncarried = Vec::new();
    // Positions by name: a store of lost data may hold a name twice, one
    // entry per definition (what one call returns, kept beside the rest).
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in earlier.iter().enumerate() {
        by_name.entry(d.view.name().to_owned()).or_default().push(i);
    }
    for data in later {
        let named = by_name.entry(data.view.name().to_owned()).or_default();
        // The entry of the same definition if there is one, else the
        // latest of that name.
        let same = named
            .iter()
            .copied()
            .find(|&i| earlier.get(i).is_some_and(|old| old.view == data.view));
        let Some(i) = same.or_else(|| named.last().copied()) else {
            named.push(earlier.len());
            earlier.push(data);
            continue;
        };
        let Some(old) = earlier.get_mut(i) else {
            continue;
        };
        let both_delta =
            old.temporality == Temporality::Delta && data.temporality == Temporality::Delta;
        if both_delta && old.view == data.view {
            // The rows that cannot combine were recorded in `old`'s
            // interval, before the merge widens it.
            let (start, end) = (old.start, old.end);
            let replaced = merge_view(old, data);
            if !replaced.is_empty() {
                let mut lost = ViewData::new(old.view.clone(), start, end, replaced);
                lost.temporality = Temporality::Delta;
                uncarried.push(lost);
            }
        } else {
            let old = std::mem::replace(old, data);
            if old.temporality == Temporality::Delta && !old.rows.is_empty() {
                uncarried.push(old);
            }
        }
    }
    uncarried
}

/// Adds `batch`, delta data that will never arrive, to `lost`, a store of
/// such data (as [`DeliveryReport::lost`](crate::DeliveryReport::lost)
/// holds): merged into it, one entry per view definition, so nothing in
/// it is dropped; returns the rows `batch` holds, for `lost_rows`.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use census_core::{
///     keep_lost, Aggregation, AggregationData, MeasureI64, Row, Temporality, View, ViewData,
/// };
///
/// # fn main() -> Result<(), census_core::Error> {
/// let m = MeasureI64::new("m", "", "1")?;
/// let view = View::builder("v", &m).aggregation(Aggregation::Count).build()?;
/// let delta = |n| {
///     let row = Row::new(vec![], AggregationData::Count(n), UNIX_EPOCH);
///     let mut data = ViewData::new(view.clone(), UNIX_EPOCH, UNIX_EPOCH, vec![row]);
///     data.temporality = Temporality::Delta;
///     data
/// };
/// let mut lost = Vec::new();
/// assert_eq!(keep_lost(&mut lost, vec![delta(3)]), 1);
/// assert_eq!(keep_lost(&mut lost, vec![delta(4)]), 1);
/// assert_eq!(lost[0].rows[0].data, AggregationData::Count(7));
/// # Ok(()) }
/// ```
pub fn keep_lost(lost: &mut Vec<ViewData>, batch: Vec<ViewData>) -> u64 {
    let rows = rows(&batch);
    let apart = merge_batches_keeping(lost, batch);
    lost.extend(apart);
    rows
}

/// Joins the views of `batch` that share a name, a definition and a
/// temporality, and whose rows differ in their first tag, into the first
/// of them.
///
/// Exporters of one kind contribute self-metrics views of the same names:
/// two HTTP exporters each report `census/http_exporter/sent`, their rows
/// told apart by an `endpoint` tag. Every format wants one view per name
/// (Prometheus would keep only the first as a clash), so a manager joins
/// them: one view with the rows of both. The first tag key is the one
/// taken to tell the sources apart (as `endpoint` is the first key of
/// every HTTP exporter view): views join only when no value of it is in
/// both, so whether two sources join does not change as their other tags
/// come and go. The joined view keeps the first view's start, whichever
/// views join it later (each row keeps its own), so a delta processor
/// sees one view throughout; its end is the latest and `folded` adds.
/// Views whose first tags coincide (two Prometheus exporters' scrape
/// counts, which no tag tells apart, or views without tags) stay apart
/// rather than mix two sources' values, as do views of one name whose
/// definitions differ: each exporter judges those as before.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use census_core::{
///     join_same_views, Aggregation, AggregationData, MeasureI64, Number, Row, TagKey, TagValue,
///     View, ViewData,
/// };
///
/// # fn main() -> Result<(), census_core::Error> {
/// let m = MeasureI64::new("census/http_exporter/sent", "", "1")?;
/// let view = View::builder("census/http_exporter/sent", &m)
///     .tag_keys([TagKey::new("endpoint")?])
///     .aggregation(Aggregation::Sum)
///     .build()?;
/// let sent = |host, n| {
///     let data = AggregationData::Sum(Number::Int(n));
///     let row = Row::new(vec![Some(TagValue::new(host)?)], data, UNIX_EPOCH);
///     Ok::<_, census_core::Error>(ViewData::new(view.clone(), UNIX_EPOCH, UNIX_EPOCH, vec![row]))
/// };
/// let mut batch = vec![sent("a", 3)?, sent("b", 4)?, sent("b", 5)?];
/// join_same_views(&mut batch);
/// // Endpoints `a` and the first `b` joined; the second `b` stays apart.
/// assert_eq!(batch.iter().map(|d| d.rows.len()).collect::<Vec<_>>(), [2, 1]);
/// # Ok(()) }
/// ```
pub fn join_same_views(batch: &mut Vec<ViewData>) {
    // Every snapshot comes here; most have one view of each name.
    if batch.len() < 2 {
        return;
    }
    // By name, every view kept so far, with the first tags of its rows.
    type Sources = HashSet<Option<TagValue>>;
    let mut kept: HashMap<String, Vec<(usize, Sources)>> = HashMap::new();
    let mut joined: Vec<ViewData> = Vec::with_capacity(batch.len());
    for data in batch.drain(..) {
        let tags: Sources = data
            .rows
            .iter()
            .map(|r| r.tags.first().cloned().flatten())
            .collect();
        let named = kept.entry(data.view.name().to_owned()).or_default();
        let into = named.iter_mut().find(|(i, taken)| {
            joined.get(*i).is_some_and(|into| {
                into.view == data.view
                    && into.temporality == data.temporality
                    && taken.is_disjoint(&tags)
            })
        });
        match into.and_then(|(i, taken)| Some((joined.get_mut(*i)?, taken))) {
            Some((into, taken)) => {
                taken.extend(tags);
                into.end = into.end.max(data.end);
                into.folded = into.folded.saturating_add(data.folded);
                into.rows.extend(data.rows);
            }
            None => {
                named.push((joined.len(), tags));
                joined.push(data);
            }
        }
    }
    *batch = joined;
}

/// How many rows `batch` holds.
fn rows(batch: &[ViewData]) -> u64 {
    batch.iter().map(|d| d.rows.len() as u64).sum()
}

/// Folds the rows of `later` into `into`, both delta data of one view;
/// returns `into`'s rows that `later`'s replaced, their values unable to
/// combine.
fn merge_view(into: &mut ViewData, later: ViewData) -> Vec<Row> {
    let mut replaced = Vec::new();
    let mut rows: HashMap<(bool, Vec<Option<TagValue>>), usize> = into
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.overflow, r.tags.clone()), i))
        .collect();
    for row in later.rows {
        let key = (row.overflow, row.tags.clone());
        match rows.get(&key).and_then(|&i| into.rows.get_mut(i)) {
            Some(old) => {
                if old.data.merge(&row.data, true).is_err() {
                    replaced.push(std::mem::replace(old, row));
                }
            }
            None => {
                rows.insert(key, into.rows.len());
                into.rows.push(row);
            }
        }
    }
    into.start = into.start.min(later.start);
    into.end = into.end.max(later.end);
    into.folded = into.folded.saturating_add(later.folded);
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregation::Aggregation;
    use crate::measure::MeasureI64;
    use crate::tag::TagKey;
    use crate::view::View;
    use crate::view_data::{AggregationData, Number, Row};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn view(name: &str, aggregation: Aggregation) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        let k = TagKey::new("k").expect("valid key");
        View::builder(name, &m)
            .tag_keys([k])
            .aggregation(aggregation)
            .build()
            .expect("valid view")
    }

    fn row(tag: &str, data: AggregationData, start: u64) -> Row {
        Row::new(
            vec![Some(TagValue::new(tag).expect("valid"))],
            data,
            at(start),
        )
    }

    fn delta(view: &View, from: u64, to: u64, rows: Vec<Row>) -> ViewData {
        let mut data = ViewData::new(view.clone(), at(from), at(to), rows);
        data.temporality = Temporality::Delta;
        data
    }

    #[test]
    fn delta_rows_add_and_the_rest_is_kept_or_replaced() {
        let sums = view("sums", Aggregation::Sum);
        let gauge = view("gauge", Aggregation::LastValue);
        let total = view("total", Aggregation::Count);
        let int = |v| AggregationData::Sum(Number::Int(v));
        let last = |v| AggregationData::LastValue(Number::Int(v));
        let mut earlier = vec![
            delta(&sums, 0, 10, vec![row("a", int(1), 0), row("b", int(2), 0)]),
            delta(&gauge, 0, 10, vec![row("a", last(5), 0)]),
            ViewData::new(
                total.clone(),
                at(0),
                at(10),
                vec![row("a", AggregationData::Count(9), 0)],
            ),
        ];
        let later = vec![
            delta(
                &sums,
                10,
                20,
                vec![row("a", int(10), 10), row("c", int(30), 10)],
            ),
            delta(&gauge, 10, 20, vec![row("a", last(6), 10)]),
            ViewData::new(
                total,
                at(0),
                at(20),
                vec![row("a", AggregationData::Count(12), 0)],
            ),
        ];
        assert_eq!(merge_batches(&mut earlier, later), 0);
        let sums_rows: Vec<(String, AggregationData)> = earlier[0]
            .rows
            .iter()
            .map(|r| {
                (
                    r.tags[0]
                        .as_ref()
                        .map(|v| v.as_str().to_owned())
                        .unwrap_or_default(),
                    r.data.clone(),
                )
            })
            .collect();
        assert_eq!(
            sums_rows,
            [
                ("a".to_owned(), int(11)),
                ("b".to_owned(), int(2)),
                ("c".to_owned(), int(30))
            ]
        );
        assert_eq!((earlier[0].start, earlier[0].end), (at(0), at(20)));
        assert_eq!(earlier[0].rows[0].start, at(0));
        assert_eq!(earlier[1].rows[0].data, last(6));
        // The cumulative view is simply the later snapshot.
        assert_eq!(earlier[2].rows[0].data, AggregationData::Count(12));
        assert_eq!(earlier[2].end, at(20));
    }

    #[test]
    fn views_of_one_name_and_definition_join_and_others_stay_apart() {
        let sent = view("sent", Aggregation::Sum);
        let other_definition = view("sent", Aggregation::Count);
        let int = |v| AggregationData::Sum(Number::Int(v));
        let cumulative = |from, to, rows| ViewData::new(sent.clone(), at(from), at(to), rows);
        let count = |rows| ViewData::new(other_definition.clone(), at(0), at(20), rows);
        let mut batch = vec![
            count(vec![row("a", AggregationData::Count(2), 0)]),
            cumulative(5, 20, vec![row("a", int(3), 5)]),
            ViewData::new(
                view("other", Aggregation::Sum),
                at(0),
                at(20),
                vec![row("a", int(7), 0)],
            ),
            // Another source under the same name: joins, the start stays.
            cumulative(2, 21, vec![row("b", int(4), 2)]),
            // Its row has tags already taken: apart, values unmixed.
            cumulative(2, 21, vec![row("a", int(10), 2)]),
            delta(&sent, 0, 20, vec![row("c", int(9), 0)]),
            count(vec![row("b", AggregationData::Count(1), 0)]),
        ];
        join_same_views(&mut batch);
        type Described<'a> = (&'a str, Temporality, u64, Vec<(String, AggregationData)>);
        let described: Vec<Described<'_>> = batch
            .iter()
            .map(|d| {
                let start = d.start.duration_since(at(0)).map_or(0, |s| s.as_secs());
                let rows = d
                    .rows
                    .iter()
                    .map(|r| {
                        let tag = r.tags[0].as_ref().map_or("", |v| v.as_str());
                        (tag.to_owned(), r.data.clone())
                    })
                    .collect();
                (d.view.name(), d.temporality, start, rows)
            })
            .collect();
        let cumulative = Temporality::Cumulative;
        let rows = |r: &[(&str, AggregationData)]| -> Vec<(String, AggregationData)> {
            r.iter().map(|(t, d)| (t.to_string(), d.clone())).collect()
        };
        assert_eq!(
            described,
            [
                (
                    "sent",
                    cumulative,
                    0,
                    rows(&[
                        ("a", AggregationData::Count(2)),
                        ("b", AggregationData::Count(1))
                    ])
                ),
                ("sent", cumulative, 5, rows(&[("a", int(3)), ("b", int(4))])),
                ("other", cumulative, 0, rows(&[("a", int(7))])),
                ("sent", cumulative, 2, rows(&[("a", int(10))])),
                ("sent", Temporality::Delta, 0, rows(&[("c", int(9))])),
            ]
        );
        assert_eq!(batch[1].end, at(21));
    }

    // Whether two sources join is decided by their first tag alone: two
    // sources sharing it stay apart even while their other tags differ,
    // so they do not join one period and part the next (a review: the
    // joined view's start then moved under Delta).
    #[test]
    fn sources_sharing_their_first_tag_stay_apart_whatever_the_rest() {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        let keys = [TagKey::new("endpoint"), TagKey::new("status")].map(|k| k.expect("key"));
        let responses = View::builder("responses", &m)
            .tag_keys(keys)
            .aggregation(Aggregation::Sum)
            .build()
            .expect("valid view");
        let rows = |endpoint: &str, status: &str| {
            let tags = [endpoint, status].map(|t| Some(TagValue::new(t).expect("valid")));
            vec![Row::new(
                tags.to_vec(),
                AggregationData::Sum(Number::Int(1)),
                at(0),
            )]
        };
        let data = |rows| ViewData::new(responses.clone(), at(0), at(10), rows);
        let mut same_endpoint = vec![data(rows("e", "200")), data(rows("e", "500"))];
        join_same_views(&mut same_endpoint);
        assert_eq!(same_endpoint.len(), 2);
        let mut other_endpoints = vec![data(rows("e", "200")), data(rows("f", "200"))];
        join_same_views(&mut other_endpoints);
        assert_eq!(other_endpoints.len(), 1);
        assert_eq!(other_endpoints[0].rows.len(), 2);
    }

    #[test]
    fn a_redefined_delta_view_replaces_the_earlier_and_counts_its_rows() {
        let old = view("v", Aggregation::Sum);
        let new = view("v", Aggregation::Count);
        let mut earlier = vec![delta(
            &old,
            0,
            10,
            vec![
                row("a", AggregationData::Sum(Number::Int(1)), 0),
                row("b", AggregationData::Sum(Number::Int(1)), 0),
            ],
        )];
        let later = vec![delta(
            &new,
            10,
            20,
            vec![row("a", AggregationData::Count(1), 10)],
        )];
        assert_eq!(merge_batches(&mut earlier, later), 2);
        assert_eq!(earlier.len(), 1);
        assert_eq!(earlier[0].view, new);
    }

    #[test]
    fn what_cannot_be_carried_comes_back_with_its_values() {
        let old = view("v", Aggregation::Sum);
        let new = view("v", Aggregation::Count);
        let kept = view("w", Aggregation::Sum);
        let int = |v| AggregationData::Sum(Number::Int(v));
        let mut earlier = vec![
            delta(&old, 0, 10, vec![row("a", int(3), 0), row("b", int(4), 0)]),
            delta(&kept, 0, 10, vec![row("a", int(1), 0)]),
        ];
        let later = vec![
            delta(&new, 10, 20, vec![row("a", AggregationData::Count(1), 10)]),
            delta(&kept, 10, 20, vec![row("a", int(2), 10)]),
        ];
        let uncarried = merge_batches_keeping(&mut earlier, later);
        assert_eq!(uncarried.len(), 1);
        assert_eq!(uncarried[0].view, old);
        assert_eq!(uncarried[0].temporality, Temporality::Delta);
        let values: Vec<&AggregationData> = uncarried[0].rows.iter().map(|r| &r.data).collect();
        assert_eq!(values, [&int(3), &int(4)]);
        assert_eq!(earlier[1].rows[0].data, int(3));
        // Rows whose values cannot combine (hand-made) come back too.
        let mut earlier = vec![delta(&kept, 0, 10, vec![row("a", int(1), 0)])];
        let odd = delta(&kept, 10, 20, vec![row("a", AggregationData::Count(5), 10)]);
        let uncarried = merge_batches_keeping(&mut earlier, vec![odd]);
        assert_eq!(uncarried[0].rows[0].data, int(1));
        assert_eq!(earlier[0].rows[0].data, AggregationData::Count(5));
    }

    // A store of lost data keeps one entry per definition: a later loss
    // of either merges into its own, however many come.
    #[test]
    fn a_lost_store_keeps_one_merged_entry_per_definition() {
        let old = view("v", Aggregation::Sum);
        let new = view("v", Aggregation::Count);
        let int = |v| AggregationData::Sum(Number::Int(v));
        let keep = |store: &mut Vec<ViewData>, batch: Vec<ViewData>| {
            let apart = merge_batches_keeping(store, batch);
            store.extend(apart);
        };
        let mut store = Vec::new();
        keep(
            &mut store,
            vec![delta(&old, 0, 10, vec![row("a", int(1), 0)])],
        );
        for n in 0..5 {
            let rows = vec![row("a", AggregationData::Count(1), 10 + n)];
            keep(&mut store, vec![delta(&new, 10 + n, 11 + n, rows)]);
        }
        keep(
            &mut store,
            vec![delta(&old, 20, 30, vec![row("a", int(2), 20)])],
        );
        assert_eq!(store.len(), 2, "{store:?}");
        let by_view = |v: &View| {
            store
                .iter()
                .find(|d| d.view == *v)
                .map(|d| d.rows[0].data.clone())
        };
        assert_eq!(by_view(&new), Some(AggregationData::Count(5)));
        assert_eq!(by_view(&old), Some(int(3)));
    }

    // Rows that cannot combine come back with the interval they were
    // recorded in, not the merged one.
    #[test]
    fn uncarried_rows_keep_their_own_interval() {
        let sums = view("sums", Aggregation::Sum);
        let int = |v| AggregationData::Sum(Number::Int(v));
        let mut earlier = vec![delta(&sums, 0, 10, vec![row("a", int(1), 0)])];
        let odd = delta(&sums, 10, 20, vec![row("a", AggregationData::Count(5), 10)]);
        let uncarried = merge_batches_keeping(&mut earlier, vec![odd]);
        assert_eq!((uncarried[0].start, uncarried[0].end), (at(0), at(10)));
        assert_eq!((earlier[0].start, earlier[0].end), (at(0), at(20)));
    }
}
