//! Row storage for one registered view: find the row for a tag
//! combination, create it when new, fold overflow past the row limit.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use census_core::{Number, Row, TagMap, TagValue, View, ViewData};
use hashbrown::HashTable;
use once_cell::sync::OnceCell;
use parking_lot::RwLock;

use crate::cells::Cells;

/// Shards per view. Recording threads take a shard's read lock, and new
/// rows its write lock, so more shards means fewer threads meeting on one
/// lock word; 16 keeps the empty-view cost small.
const SHARDS: usize = 16;

/// Views with at most this many tag keys project tags on the stack.
const INLINE_KEYS: usize = 8;

/// A registered view and its rows.
#[derive(Debug)]
pub(crate) struct ViewState {
    view: View,
    start: SystemTime,
    shards: Box<[Shard]>,
    /// Rows created so far, against the view's row limit.
    len: AtomicUsize,
    /// The row past-the-limit combinations fold into, made on first need.
    overflow: OnceCell<Cells>,
    /// Measurements folded into `overflow`.
    folded: AtomicU64,
    /// Per-view random seed, so hostile tag values cannot be chosen to
    /// collide across processes.
    hasher: foldhash::fast::RandomState,
}

/// One lock and the rows behind it, aligned so that two shards' lock words
/// never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
struct Shard(RwLock<HashTable<Entry>>);

#[derive(Debug)]
struct Entry {
    key: Box<[Option<TagValue>]>,
    cells: Cells,
}

impl ViewState {
    pub(crate) fn new(view: View, start: SystemTime) -> ViewState {
        ViewState {
            view,
            start,
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(HashTable::new())))
                .collect(),
            len: AtomicUsize::new(0),
            overflow: OnceCell::new(),
            folded: AtomicU64::new(0),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    /// Records one value under the projection of `tags` onto the view's
    /// keys.
    #[inline]
    pub(crate) fn record(&self, tags: &TagMap, value: Number) {
        let keys = self.view.tag_keys();
        if keys.len() <= INLINE_KEYS {
            // No allocation for the common case: the projection lives on
            // the stack and borrows the caller's values.
            let mut key: [Option<&TagValue>; INLINE_KEYS] = [None; INLINE_KEYS];
            for (slot, k) in key.iter_mut().zip(keys) {
                *slot = tags.get(k);
            }
            self.record_key(&key[..keys.len()], value);
        } else {
            let key: Vec<Option<&TagValue>> = keys.iter().map(|k| tags.get(k)).collect();
            self.record_key(&key, value);
        }
    }

    #[inline]
    fn record_key(&self, key: &[Option<&TagValue>], value: Number) {
        let hash = self.hash(key.iter().copied());
        let shard = self.shard(hash);
        {
            // Fast path: the row exists. A read lock lets every recording
            // thread in at once; only a new row needs the write lock.
            let rows = shard.0.read();
            if let Some(entry) = rows.find(hash, |e| same_key(&e.key, key)) {
                entry.cells.record(value);
                return;
            }
        }
        self.record_new(shard, hash, key, value);
    }

    /// Slow path: the first value for a tag combination.
    #[cold]
    #[inline(never)]
    fn record_new(&self, shard: &Shard, hash: u64, key: &[Option<&TagValue>], value: Number) {
        if self.len.load(Ordering::Relaxed) >= self.view.row_limit() {
            // At the limit nothing can be inserted, so skip the write lock
            // that every hostile new combination would otherwise take.
            return self.record_overflow(value);
        }
        let mut rows = shard.0.write();
        // Another thread may have made the row since the read lock dropped.
        if let Some(entry) = rows.find(hash, |e| same_key(&e.key, key)) {
            entry.cells.record(value);
            return;
        }
        // Reserve a slot against the limit exactly, even with other shards
        // inserting at the same time.
        let limit = self.view.row_limit();
        if self
            .len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            drop(rows);
            return self.record_overflow(value);
        }
        let cells = self.new_cells();
        cells.record(value);
        let entry = Entry {
            key: key.iter().map(|v| v.cloned()).collect(),
            cells,
        };
        rows.insert_unique(hash, entry, |e| self.hash(e.key.iter().map(Option::as_ref)));
    }

    #[cold]
    fn record_overflow(&self, value: Number) {
        self.overflow.get_or_init(|| self.new_cells()).record(value);
        // Relaxed: a statistic, read by snapshots that tolerate racing.
        self.folded.fetch_add(1, Ordering::Relaxed);
    }

    fn new_cells(&self) -> Cells {
        Cells::new(self.view.aggregation(), self.view.measure().measure_type())
    }

    /// The view's rows now, each read consistently.
    pub(crate) fn snapshot(&self, end: SystemTime) -> ViewData {
        let mut rows = Vec::with_capacity(self.len.load(Ordering::Relaxed) + 1);
        for shard in self.shards.iter() {
            // A read lock: recording into existing rows goes on meanwhile.
            let table = shard.0.read();
            rows.extend(
                table
                    .iter()
                    .map(|e| Row::new(e.key.to_vec(), e.cells.read(), self.start)),
            );
        }
        if let Some(cells) = self.overflow.get() {
            rows.push(Row::overflow(
                self.view.tag_keys().len(),
                cells.read(),
                self.start,
            ));
        }
        let mut data = ViewData::new(self.view.clone(), self.start, end, rows);
        data.folded = self.folded.load(Ordering::Relaxed);
        data
    }

    fn hash<'v>(&self, key: impl Iterator<Item = Option<&'v TagValue>>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for v in key {
            match v {
                // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
                Some(v) => {
                    h.write_usize(v.as_str().len());
                    h.write(v.as_str().as_bytes());
                }
                // An impossible length marks an absent tag, distinct from "".
                None => h.write_usize(usize::MAX),
            }
        }
        h.finish()
    }

    fn shard(&self, hash: u64) -> &Shard {
        // The table uses the low bits for its slot and the top seven for its
        // control bytes; shard on bits neither depends on.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }
}

#[inline]
fn same_key(stored: &[Option<TagValue>], key: &[Option<&TagValue>]) -> bool {
    stored.len() == key.len()
        && stored.iter().zip(key).all(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => a.same_as(b),
            (None, None) => true,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, AggregationData, MeasureI64, TagKey};

    fn view(limit: usize, keys: &[&TagKey]) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder("v", &m)
            .tag_keys(keys.iter().map(|k| (*k).clone()))
            .aggregation(Aggregation::Sum)
            .row_limit(limit)
            .build()
            .expect("valid view")
    }

    fn sum(row: &Row) -> i64 {
        match row.data {
            AggregationData::Sum(Number::Int(v)) => v,
            ref other => panic!("not an int sum: {other:?}"),
        }
    }

    #[test]
    fn absent_and_empty_values_are_different_rows() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let state = ViewState::new(view(10, &[&k]), SystemTime::now());
        state.record(&TagMap::new(), Number::Int(1));
        state.record(&TagMap::new().with(&k, "")?, Number::Int(10));
        state.record(&TagMap::new().with(&k, "")?, Number::Int(100));
        let data = state.snapshot(SystemTime::now());
        assert_eq!(data.rows.len(), 2);
        for row in &data.rows {
            match &row.tags[0] {
                None => assert_eq!(sum(row), 1),
                Some(v) => {
                    assert_eq!(v.as_str(), "");
                    assert_eq!(sum(row), 110);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn combinations_past_the_limit_fold_into_one_counted_row() -> Result<(), census_core::Error> {
        let k = TagKey::new("user")?;
        let state = ViewState::new(view(3, &[&k]), SystemTime::now());
        for i in 0..10 {
            state.record(&TagMap::new().with(&k, i.to_string())?, Number::Int(1));
        }
        // An existing row keeps recording normally at the limit.
        state.record(&TagMap::new().with(&k, "0")?, Number::Int(5));
        let data = state.snapshot(SystemTime::now());
        assert_eq!(data.rows.len(), 4);
        assert_eq!(data.folded, 7);
        let overflow: Vec<&Row> = data.rows.iter().filter(|r| r.overflow).collect();
        assert_eq!(overflow.len(), 1);
        assert_eq!(sum(overflow[0]), 7);
        assert_eq!(overflow[0].tags, vec![None]);
        let total: i64 = data.rows.iter().map(sum).sum();
        assert_eq!(total, 15);
        Ok(())
    }

    #[test]
    fn views_with_many_keys_project_without_the_inline_path() -> Result<(), census_core::Error> {
        let keys: Vec<TagKey> = (0..10)
            .map(|i| TagKey::new(format!("k{i}")))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&TagKey> = keys.iter().collect();
        let state = ViewState::new(view(10, &refs), SystemTime::now());
        let mut tags = TagMap::new();
        for k in keys.iter().step_by(2) {
            tags = tags.with(k, k.name())?;
        }
        state.record(&tags, Number::Int(2));
        state.record(&tags, Number::Int(3));
        let data = state.snapshot(SystemTime::now());
        assert_eq!(data.rows.len(), 1);
        assert_eq!(sum(&data.rows[0]), 5);
        let present: Vec<bool> = data.rows[0].tags.iter().map(Option::is_some).collect();
        assert_eq!(present, (0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
        Ok(())
    }
}
