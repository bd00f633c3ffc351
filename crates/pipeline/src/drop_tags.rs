//! DropTags: remove tag keys from views, merging the rows that then
//! coincide.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use census_core::{AggregationData, ExportError, Processor, Row, TagKey, TagValue, View, ViewData};
use parking_lot::Mutex;

use crate::view_shape::reshape;

/// Removes tag keys from every view that has them, merging the rows whose
/// remaining tags coincide into one row that holds exactly what a view
/// without those keys would have recorded.
///
/// # Merge rules
///
/// - **Count**: counts add. **Sum**: sums add; `i64` sums exactly (wrapping
///   past `i64::MAX` as recording does), `f64` sums in floating point.
/// - **Distribution**: bucket counts add bucket by bucket; count, sum,
///   mean and sum of squared deviations combine with the pairwise formula
///   of Chan, Golub and LeVeque, so the variance is that of all the merged
///   values; min and max are the smallest min and largest max.
/// - **LastValue**: rows carry no time of their last record, so "latest"
///   is decided by a documented rule: the value of the row with the latest
///   `start`; among rows with the same start (in a view manager's output
///   all rows of a view share one), the row whose original tag values,
///   compared in the view's key order (absent before any value, values by
///   text), are greatest. The result does not depend on row order.
/// - **Exemplars**: per bucket, the latest of the merged rows' exemplars
///   ([`Row::merge_exemplars`](census_core::Row::merge_exemplars)).
/// - The merged row's `start` is the earliest start among its rows.
///
/// # Rows that expire
///
/// In a view with `expire_after`, a row that expires leaves the batches
/// while the rows merged with it go on. A view without the dropped keys
/// would still hold what that row recorded, so the merged row keeps it: a
/// `DropTags` remembers, for each merged row of such a view, the latest
/// Count, Sum or Distribution of each row merged into it, and adds in
/// those of rows that left (a LastValue keeps nothing). The merged row
/// then never goes down when a part of it expires, and [`Delta`] after it
/// passes on exactly what was recorded (so long as the exporter gets every
/// batch: one skipped by a slow exporter may hide the last changes of a
/// row that expired meanwhile, as from a `Delta` alone). The merged row
/// keeps its start while any row in it goes on from the batch before; when
/// none does (all expired, perhaps in a read between two exports), it
/// starts afresh. This memory holds one entry per row of the latest batch
/// and of the one before (a pull taken before the latest period reads
/// that one; a pull that reaches `DropTags` more than a whole period after
/// its snapshot finds neither, and its merged rows lack what rows that
/// expired before it recorded), is kept only for views with
/// `expire_after` (only their rows leave), and
/// goes with the view when it is unregistered. So one `DropTags` serves one
/// exporter, like a [`Delta`]: do not share one between pipelines (not
/// even as an `Arc`).
///
/// [`Delta`]: crate::Delta
/// - The **overflow row** stays separate: it is never merged with ordinary
///   rows, even when their remaining tags are all absent; it only loses
///   the dropped columns. `folded` is unchanged.
/// - Merged rows appear in the order their first row had in the input.
///
/// Views without any of the keys pass unchanged. Rows that cannot be
/// merged (different aggregations or bounds in one view, which only
/// hand-made batches have) are dropped, counted in
/// [`DropTags::unmergeable`] and logged at `warn`.
///
/// Key names that are not valid tag keys can never be in a view; they are
/// accepted and drop nothing.
///
/// ```
/// let drop_path = census_pipeline::DropTags::new(["path", "user_agent"]);
/// # let _ = drop_path;
/// ```
#[derive(Debug)]
pub struct DropTags {
    keys: Vec<String>,
    unmergeable: AtomicU64,
    /// The merged rows of views with expiry, by view name.
    memory: Mutex<HashMap<String, ViewMemory>>,
}

/// A merged row's identity: its remaining tags, and whether it is the
/// overflow row.
type MergedKey = (Vec<Option<TagValue>>, bool);

/// A row merged into another: its original tags and its start (a row that
/// expired and came back is another row).
type PartKey = (Vec<Option<TagValue>>, SystemTime);

/// One view's merged rows as last passed on.
#[derive(Debug)]
struct ViewMemory {
    /// The view's start: a new one (unregistered and registered again)
    /// means rows that start afresh.
    start: SystemTime,
    /// The end of the batch `rows` was made from.
    end: SystemTime,
    rows: HashMap<MergedKey, Merged>,
    /// The generation before, with its batch's end: what a pull reads
    /// whose snapshot was taken before `end` (it raced a period, which
    /// moved the memory on meanwhile). Reading the newer one would add
    /// in, as gone, rows the pull still holds.
    previous: Option<(SystemTime, HashMap<MergedKey, Merged>)>,
}

/// What a merged row was made of at the latest batch.
#[derive(Debug, Clone)]
struct Merged {
    start: SystemTime,
    /// Each row merged into it, with its value then.
    parts: HashMap<PartKey, AggregationData>,
    /// What the rows that left had recorded.
    gone: Option<AggregationData>,
}

impl DropTags {
    /// Drops the tag keys named in `keys`.
    pub fn new<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> DropTags {
        DropTags {
            keys: keys.into_iter().map(Into::into).collect(),
            unmergeable: AtomicU64::new(0),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Rows dropped because their value could not be merged with another
    /// row's.
    pub fn unmergeable(&self) -> u64 {
        // Relaxed: a statistic.
        self.unmergeable.load(Ordering::Relaxed)
    }

    /// The keys `view` keeps, or `None` when it has none of the dropped
    /// ones.
    fn kept(&self, view: &View) -> Option<Vec<(usize, TagKey)>> {
        let keys = view.tag_keys();
        if !keys.iter().any(|k| self.drops(k)) {
            return None;
        }
        Some(
            keys.iter()
                .enumerate()
                .filter(|(_, k)| !self.drops(k))
                .map(|(i, k)| (i, k.clone()))
                .collect(),
        )
    }

    fn drops(&self, key: &TagKey) -> bool {
        self.keys.iter().any(|d| d == key.name())
    }

    fn reduce(&self, mut data: ViewData, memory: Memory) -> ViewData {
        let Some(kept) = self.kept(&data.view) else {
            return data;
        };
        // Only rows of views with expiry leave the batches.
        let remember = data.view.expire_after().is_some();
        let keys = kept.iter().map(|(_, k)| k.clone()).collect();
        match reshape(&data.view, data.view.name(), keys) {
            Ok(view) => data.view = view,
            // Unreachable: a subset of a valid view's keys under its name.
            Err(err) => {
                log::warn!(
                    "census: DropTags: view {:?} cannot lose keys: {err}",
                    data.view.name()
                );
                return data;
            }
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<MergedKey, usize> = HashMap::new();
        for row in std::mem::take(&mut data.rows) {
            let part = (remember && !matches!(row.data, AggregationData::LastValue(_)))
                .then(|| ((row.tags.clone(), row.start), row.data.clone()));
            let tags: Vec<Option<TagValue>> = kept
                .iter()
                .map(|(i, _)| row.tags.get(*i).cloned().flatten())
                .collect();
            let key = (tags, row.overflow);
            match index.get(&key) {
                Some(&at) => {
                    // `at` always indexes `groups`: both grow together.
                    let merged = groups.get_mut(at).map(|group| {
                        group.parts.extend(part);
                        group.absorb(row)
                    });
                    if merged != Some(true) {
                        self.unmergeable.fetch_add(1, Ordering::Relaxed);
                        log::warn!(
                            "census: DropTags: view {:?} has rows of different aggregations \
                             or bounds; a row that could not be merged was dropped",
                            data.view.name()
                        );
                    }
                }
                None => {
                    index.insert(key.clone(), groups.len());
                    let mut group = Group::new(row, key);
                    group.parts.extend(part);
                    groups.push(group);
                }
            }
        }
        if remember {
            self.keep_what_left(&data, &mut groups, memory);
        }
        data.rows = groups.into_iter().map(|g| g.row).collect();
        data
    }

    /// Adds into each merged row what its rows that left had recorded, and
    /// (on [`Memory::Advance`]) remembers this batch's rows for the next.
    fn keep_what_left(&self, data: &ViewData, groups: &mut [Group], mode: Memory) {
        let mut memory = self.memory.lock();
        let name = data.view.name();
        // What the batch before this one was made of, or, for a pull, the
        // generation its snapshot follows.
        let empty = HashMap::new();
        let (view, before) = match (mode, memory.get_mut(name)) {
            (Memory::Read, None) => return,
            (Memory::Read, Some(view)) => {
                if view.start != data.start {
                    // Registered anew since the latest period: nothing of
                    // the rows remembered belongs to this view.
                    return;
                }
                let before = if data.end >= view.end {
                    &view.rows
                } else {
                    match &view.previous {
                        Some((end, rows)) if data.end >= *end => rows,
                        _ => &empty,
                    }
                };
                (None, Cow::Borrowed(before))
            }
            (Memory::Advance, known) => {
                let view = match known {
                    Some(view) => view,
                    None => memory.entry(name.to_owned()).or_insert(ViewMemory {
                        start: data.start,
                        end: data.end,
                        rows: HashMap::new(),
                        previous: None,
                    }),
                };
                if view.start != data.start {
                    view.start = data.start;
                    view.rows.clear();
                    view.previous = None;
                }
                let before = std::mem::take(&mut view.rows);
                (Some(view), Cow::Owned(before))
            }
        };
        let mut rows = HashMap::with_capacity(groups.len());
        for group in groups.iter_mut() {
            let parts: HashMap<PartKey, AggregationData> =
                std::mem::take(&mut group.parts).into_iter().collect();
            if parts.is_empty() {
                // A LastValue: nothing to keep.
                continue;
            }
            // A merged row none of whose rows is left from the batch before
            // starts afresh: they all expired (perhaps in a read between two
            // exports), as the row of a view without the dropped keys did.
            let mut merged = match before.get(&group.key).cloned() {
                Some(merged) if merged.parts.keys().any(|p| parts.contains_key(p)) => merged,
                _ => Merged {
                    start: group.row.start,
                    parts: HashMap::new(),
                    gone: None,
                },
            };
            for (part, last) in merged.parts.drain() {
                if parts.contains_key(&part) {
                    continue;
                }
                match &mut merged.gone {
                    Some(gone) => {
                        if gone.merge(&last, false).is_err() {
                            self.unmergeable.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => merged.gone = Some(last),
                }
            }
            if let Some(gone) = &merged.gone {
                if group.row.data.merge(gone, false).is_err() {
                    self.unmergeable.fetch_add(1, Ordering::Relaxed);
                }
            }
            merged.start = merged.start.min(group.row.start);
            group.row.start = merged.start;
            merged.parts = parts;
            rows.insert(group.key.clone(), merged);
        }
        // A merged row missing from this batch lost its last row: it is
        // forgotten, and starts afresh if it comes back.
        if let Some(view) = view {
            view.previous = Some((view.end, before.into_owned()));
            view.rows = rows;
            view.end = data.end;
        }
    }

    /// Forgets the views a batch no longer has (unregistered).
    fn forget_views_not_in(&self, batch: &[ViewData]) {
        let mut memory = self.memory.lock();
        if !memory.is_empty() {
            let names: HashSet<&str> = batch.iter().map(|d| d.view.name()).collect();
            memory.retain(|name, _| names.contains(name.as_str()));
        }
    }
}

/// Whether a batch moves the memory of views with expiry on (a period) or
/// only reads it (a pull).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memory {
    Advance,
    Read,
}

/// The rows merged into one so far.
struct Group {
    row: Row,
    key: MergedKey,
    /// For LastValue: the start and original tags of the row whose value
    /// the group holds, compared by the rule on [`DropTags`].
    last: (SystemTime, Vec<Option<TagValue>>),
    /// In a view with expiry, the rows merged and their values.
    parts: Vec<(PartKey, AggregationData)>,
}

impl Group {
    fn new(mut row: Row, key: MergedKey) -> Group {
        let original = std::mem::replace(&mut row.tags, key.0.clone());
        Group {
            last: (row.start, original),
            row,
            key,
            parts: Vec::new(),
        }
    }

    /// Merges `other` in; false if its value cannot be merged.
    fn absorb(&mut self, other: Row) -> bool {
        let rank = (other.start, other.tags);
        let later = matches!(other.data, AggregationData::LastValue(_)) && rank > self.last;
        if self.row.data.merge(&other.data, later).is_err() {
            return false;
        }
        if later {
            self.last = rank;
        }
        self.row.merge_exemplars(&other.exemplars);
        self.row.start = self.row.start.min(other.start);
        true
    }
}

impl Processor for DropTags {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        self.forget_views_not_in(&batch);
        batch
            .into_iter()
            .map(|data| self.reduce(data, Memory::Advance))
            .collect()
    }

    /// Merges as `process` does, adding in what the rows that left had
    /// recorded as of the latest period, and remembers nothing: the next
    /// period's batch is compared with the period before, not with a pull.
    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        batch
            .into_iter()
            .map(|data| self.reduce(data, Memory::Read))
            .collect()
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        let Some(kept) = self.kept(view) else {
            return Ok(Some(view.clone()));
        };
        reshape(
            view,
            view.name(),
            kept.into_iter().map(|(_, k)| k).collect(),
        )
        .map(Some)
        .map_err(|err| ExportError::new(err.to_string()))
    }

    fn name(&self) -> &str {
        "DropTags"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64, Number};
    use census_testkit::{at, key, row};
    use std::time::Duration;

    fn view(name: &str, expire: bool) -> View {
        let builder = View::builder(name, MeasureI64::new("m", "", "1").expect("measure"))
            .tag_keys([key("route"), key("user")])
            .aggregation(Aggregation::Sum);
        if expire {
            builder.expire_after(Duration::from_secs(60))
        } else {
            builder
        }
        .build()
        .expect("view")
    }

    fn batch(view: &View, round: u64) -> ViewData {
        let users = [format!("u{round}"), format!("u{}", round + 1)];
        let rows = users
            .iter()
            .map(|u| {
                row(
                    &[Some("/r"), Some(u)],
                    AggregationData::Sum(Number::Int(1)),
                    at(0),
                )
            })
            .collect();
        ViewData::new(view.clone(), at(0), at(round + 1), rows)
    }

    /// (merged rows, parts) remembered for `name`.
    fn remembered(drop: &DropTags, name: &str) -> Option<(usize, usize)> {
        let memory = drop.memory.lock();
        let view = memory.get(name)?;
        Some((
            view.rows.len(),
            view.rows.values().map(|m| m.parts.len()).sum(),
        ))
    }

    // The memory holds the rows of the latest batch only, for views with
    // expiry only, and goes with a view that leaves the batches.
    #[test]
    fn memory_holds_only_the_latest_batch_of_views_with_expiry() {
        let drop = DropTags::new(["user"]);
        let (expiring, stable) = (view("expiring", true), view("stable", false));
        for round in 0..50 {
            let out = drop.process(vec![batch(&expiring, round), batch(&stable, round)]);
            assert_eq!(out.len(), 2);
            assert_eq!(remembered(&drop, "expiring"), Some((1, 2)), "round {round}");
            assert_eq!(remembered(&drop, "stable"), None);
        }
        // Users churn, each row seen in two batches: the merged row holds
        // every value that left, and the two rows now there.
        let out = drop.process(vec![batch(&expiring, 50)]);
        assert_eq!(out[0].rows.len(), 1);
        assert_eq!(out[0].rows[0].data, AggregationData::Sum(Number::Int(52)));
        drop.process(vec![batch(&stable, 51)]);
        assert_eq!(remembered(&drop, "expiring"), None);
    }
}
