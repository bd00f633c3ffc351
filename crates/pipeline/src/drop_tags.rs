//! DropTags: remove tag keys from views, merging the rows that then
//! coincide.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use census_core::{AggregationData, ExportError, Processor, Row, TagKey, TagValue, View, ViewData};

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
}

impl DropTags {
    /// Drops the tag keys named in `keys`.
    pub fn new<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> DropTags {
        DropTags {
            keys: keys.into_iter().map(Into::into).collect(),
            unmergeable: AtomicU64::new(0),
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

    fn reduce(&self, mut data: ViewData) -> ViewData {
        let Some(kept) = self.kept(&data.view) else {
            return data;
        };
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
        let mut index: HashMap<(Vec<Option<TagValue>>, bool), usize> = HashMap::new();
        for row in std::mem::take(&mut data.rows) {
            let tags: Vec<Option<TagValue>> = kept
                .iter()
                .map(|(i, _)| row.tags.get(*i).cloned().flatten())
                .collect();
            let key = (tags, row.overflow);
            match index.get(&key) {
                Some(&at) => {
                    // `at` always indexes `groups`: both grow together.
                    let merged = groups.get_mut(at).map(|group| group.absorb(row));
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
                    groups.push(Group::new(row, key.0));
                }
            }
        }
        data.rows = groups.into_iter().map(|g| g.row).collect();
        data
    }
}

/// The rows merged into one so far.
struct Group {
    row: Row,
    /// For LastValue: the start and original tags of the row whose value
    /// the group holds, compared by the rule on [`DropTags`].
    last: (SystemTime, Vec<Option<TagValue>>),
}

impl Group {
    fn new(mut row: Row, tags: Vec<Option<TagValue>>) -> Group {
        let original = std::mem::replace(&mut row.tags, tags);
        Group {
            last: (row.start, original),
            row,
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
        batch.into_iter().map(|data| self.reduce(data)).collect()
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
