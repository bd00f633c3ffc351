//! Row storage for one registered view: find the row for a tag
//! combination, create it when new, fold overflow past the row limit.
//!
//! Two levels. The view's *row table* (one lock, touched only for a tag
//! combination a thread has not recorded before) decides which
//! combinations are rows, gives each an id, and enforces the row limit.
//! Each recording thread then keeps its own `Index` from tag values to
//! its own [`Share`] of each row it records into (the manager keeps it in
//! the thread's state beside its copy of the routing table, so one
//! thread-local lookup serves every view a record reaches). The hit path
//! looks only at the calling thread's index and writes only that thread's
//! share, so it takes no lock, bumps no reference count and writes no
//! cache line another thread writes: two threads recording into the same
//! rows scale instead of fighting over lock words and cell lines. A
//! snapshot merges every thread's shares by row id.
//!
//! Rows of a view with `expire_after` may go again: each snapshot of such
//! a view notices which rows changed since the last one, and drops those
//! that have not changed for `expire_after` (see `snapshot_expiring` and
//! [`ExpiringShare`](crate::cells::ExpiringShare) for how this stays exact
//! against concurrent records). A dropped row frees its id for a new row;
//! threads drop their index entries for it lazily.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use census_core::{Aggregation, Number, Row, TagKey, TagMap, TagValue, View, ViewData};
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use thread_local::ThreadLocal;

use crate::cells::{Acc, DistributionShare, Kind, LastCell, Share};
use crate::memo::Memo;
use crate::padded::Padded;

/// Views with at most this many tag keys project tags on the stack.
const INLINE_KEYS: usize = 8;

/// The row id of the overflow row in a share list.
const OVERFLOW: u32 = u32::MAX;

/// One thread's shares of a view with their row ids.
type ShareList = Vec<(u32, Arc<Share>)>;

/// A row's tag values in the view's key order, shared by the row table and
/// every thread's index (cloned only when a thread first meets the row).
type Key = Arc<[Option<TagValue>]>;

/// A registered view and its rows.
pub(crate) struct ViewState {
    view: View,
    kind: Kind,
    /// The view's keys sorted by name (as a `TagMap` sorts its entries),
    /// each with its position in the view's key order.
    sorted_keys: Box<[(TagKey, usize)]>,
    start: SystemTime,
    /// The rows that exist; taken for reading when a thread meets a tag
    /// combination for the first time, for writing when the combination is
    /// new to the view, and by snapshots. Never on the hit path.
    table: RwLock<RowTable>,
    /// Each thread's shares with their row ids, for snapshots. The owner
    /// locks its list only to add a share (a new row for that thread); a
    /// snapshot locks each list while reading it.
    shares: ThreadLocal<Padded<Mutex<ShareList>>>,
    /// Measurements folded into the overflow row.
    folded: AtomicU64,
    /// The view's `expire_after`: `None` for views whose rows stay.
    expiry: Option<Duration>,
    /// A Distribution view without expiry: its memo holds the cells
    /// themselves (an expiring share must be recorded through its
    /// handshake, so those keep the share).
    direct: bool,
    /// How many snapshots dropped rows, so a thread knows when to clear
    /// its index of entries for dropped rows.
    drops: AtomicU64,
    /// The manager's random hash seed (start value, odd multiplier), so
    /// hostile tag values cannot be chosen to collide across processes.
    seed: (u64, u64),
}

#[derive(Default)]
struct RowTable {
    /// Row ids, hashed by their key's content.
    ids: HashTable<u32>,
    /// Each row's key, by row id; `None` for the id of a dropped row, free
    /// for the next new row (only in views whose rows expire).
    keys: Vec<Option<Key>>,
    /// Rows that exist: what the row limit bounds.
    live: usize,
    /// Ids of dropped rows, reused before new ones.
    free: Vec<u32>,
    /// A LastValue view's one cell per row, by row id, which every thread's
    /// share stores into; empty for other views (memory per series counts).
    lasts: Vec<Arc<LastCell>>,
    /// The LastValue overflow row's one cell.
    overflow_last: Option<Arc<LastCell>>,
    /// Each row's age, by row id, in views whose rows expire; empty in
    /// other views.
    ages: Vec<Age>,
}

/// What a view with expiry knows about when a row last changed.
struct Age {
    /// When the row was made: its `Row::start`.
    start: SystemTime,
    /// Records in the row when a snapshot last looked.
    records: u64,
    /// When a snapshot first saw `records` (or the row was made).
    changed: Instant,
    /// Records in the row when a batch for exporters last showed it: the
    /// row may go only once exporters have seen all of it.
    exported: u64,
}

impl Age {
    fn new() -> Age {
        Age {
            start: SystemTime::now(),
            records: 0,
            changed: Instant::now(),
            exported: 0,
        }
    }
}

/// Who receives a snapshot, which decides whether an expired row may go
/// in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The batch every exporter receives (periodic and at shutdown).
    Exporters,
    /// One reader: `retrieve_data` or a pull exporter's scrape.
    /// `exporters` says whether the manager has exporters, whose batches
    /// must show a row's last value before the row may go.
    Reader {
        /// Whether the manager has exporters.
        exporters: bool,
    },
}

/// Tag values projected onto a view's keys, with their hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Projected<'t> {
    values: [Option<&'t TagValue>; INLINE_KEYS],
    len: usize,
    hash: u64,
}

impl RowTable {
    fn key(&self, id: u32) -> Option<&Key> {
        self.keys.get(id as usize)?.as_ref()
    }
}

impl<'t> Projected<'t> {
    #[inline]
    pub(crate) fn key(&self) -> &[Option<&'t TagValue>] {
        self.values.get(..self.len).unwrap_or(&[])
    }

    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

/// One thread's index of its shares of one view's rows. Only its thread
/// touches it (no lock): the manager hands each thread its own through
/// `ThreadLocal`, never to two live threads at once.
#[derive(Default)]
pub(crate) struct Index {
    entries: HashTable<IndexEntry>,
    /// Shortcuts for the tag maps this thread records with repeatedly.
    memo: Memo,
    /// The same for a plain Distribution view, straight to the cells: a
    /// hit then skips the share's own pointer, one cache miss per record.
    distributions: Memo<Arc<DistributionShare>>,
    overflow: Option<Arc<Share>>,
    /// The view's `drops` when this index last cleared its entries for
    /// dropped rows.
    swept: u64,
}

/// An index's two memos, borrowed apart from its entries.
struct Memos<'i> {
    shares: &'i mut Memo,
    distributions: &'i mut Memo<Arc<DistributionShare>>,
}

impl Index {
    fn memos(&mut self) -> Memos<'_> {
        Memos {
            shares: &mut self.memo,
            distributions: &mut self.distributions,
        }
    }
}

/// No stored hash: a thread's index only rehashes when it grows, and
/// eight bytes per series per thread cost more than that rare rehash.
struct IndexEntry {
    key: Key,
    share: Arc<Share>,
}

impl ViewState {
    /// `seed` comes from the manager: views with the same keys then hash a
    /// projection alike, so a record into several of them hashes once.
    pub(crate) fn new(view: View, start: SystemTime, seed: (u64, u64)) -> ViewState {
        let mut sorted_keys: Vec<(TagKey, usize)> =
            view.tag_keys().iter().cloned().zip(0..).collect();
        sorted_keys.sort_by(|a, b| a.0.name().cmp(b.0.name()));
        ViewState {
            kind: Kind::new(view.aggregation(), view.measure().measure_type()),
            sorted_keys: sorted_keys.into_boxed_slice(),
            start,
            table: RwLock::new(RowTable::default()),
            shares: ThreadLocal::new(),
            folded: AtomicU64::new(0),
            expiry: view.expire_after(),
            direct: matches!(view.aggregation(), Aggregation::Distribution(_))
                && view.expire_after().is_none(),
            drops: AtomicU64::new(0),
            view,
            seed,
        }
    }

    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    /// Records one value under the projection of `tags` onto the view's
    /// keys.
    /// `index` is the calling thread's index for this view. The manager
    /// inlines these steps itself (to share projections between views).
    #[cfg(test)]
    pub(crate) fn record(&self, index: &mut Index, tags: &TagMap, value: Number) {
        if !self.record_remembered(index, tags, value) {
            self.record_looked_up(index, tags, value);
        }
    }

    /// Records by projecting `tags` and looking the row up, after the
    /// memo had no entry for them.
    #[inline]
    pub(crate) fn record_looked_up(&self, index: &mut Index, tags: &TagMap, value: Number) {
        project(self.view.tag_keys(), &self.sorted_keys, tags, |key| {
            let hash = self.hash(key.iter().copied());
            self.record_projected(index, tags, key, hash, value);
        });
    }

    /// Records through the thread's memo, if it knows `tags`; false if
    /// the caller must look the row up.
    #[inline(always)]
    pub(crate) fn record_remembered(
        &self,
        index: &mut Index,
        tags: &TagMap,
        value: Number,
    ) -> bool {
        if self.direct {
            return self.record_direct(index, tags, value);
        }
        // A share refuses the value only when its row expired; the full
        // lookup then finds or makes the row anew.
        let hit = index
            .memo
            .get(tags)
            .is_some_and(|share| share.record(value));
        if hit {
            index.memo.hit();
        }
        hit
    }

    /// [`record_remembered`](ViewState::record_remembered) for a plain
    /// Distribution view. Out of line: inlined, its cell updates made the
    /// routing loop every record runs spill registers (callgrind: +22
    /// instructions on a Sum view's record).
    #[inline(never)]
    fn record_direct(&self, index: &mut Index, tags: &TagMap, value: Number) -> bool {
        let Some(cells) = index.distributions.get(tags) else {
            return false;
        };
        cells.record(value.as_f64());
        index.distributions.hit();
        true
    }

    /// Offers the memo `share`, just recorded into for `tags`.
    #[inline(never)]
    fn remember(&self, memos: Memos<'_>, tags: &TagMap, share: &Arc<Share>, rows: usize) {
        match share.distribution() {
            Some(cells) if self.direct => memos.distributions.offer(tags, cells, rows),
            _ => memos.shares.offer(tags, share, rows),
        }
    }

    /// The projection of `tags` onto the view's keys and its hash, for a
    /// view of at most `INLINE_KEYS` keys; other views return `None` and
    /// record through [`ViewState::record_looked_up`].
    #[inline]
    pub(crate) fn project<'t>(&self, tags: &'t TagMap) -> Option<Projected<'t>> {
        let n = self.view.tag_keys().len();
        if n > INLINE_KEYS {
            return None;
        }
        let mut values = [None; INLINE_KEYS];
        let key = &mut values[..n];
        project_into(self.view.tag_keys(), &self.sorted_keys, tags, key);
        let hash = self.hash(key.iter().copied());
        Some(Projected {
            values,
            len: n,
            hash,
        })
    }

    /// Records under a projection made by this view, or by another view of
    /// the same manager with the same keys.
    #[inline(always)]
    pub(crate) fn record_projected(
        &self,
        index: &mut Index,
        tags: &TagMap,
        key: &[Option<&TagValue>],
        hash: u64,
        value: Number,
    ) {
        // This thread has recorded this combination before: its own index,
        // its own share, no lock, no shared write.
        let Index {
            entries,
            memo,
            distributions,
            ..
        } = index;
        match entries.find(hash, |e| same_key(&e.key, key)) {
            Some(e) if e.share.record(value) => {
                let memos = Memos {
                    shares: memo,
                    distributions,
                };
                self.remember(memos, tags, &e.share, entries.len());
            }
            _ => self.record_slow(index, tags, hash, key, value),
        }
    }

    /// A first record of a combination on this thread, or a record into
    /// a row that expired: find or make the row's share, and record.
    #[cold]
    #[inline(never)]
    fn record_slow(
        &self,
        index: &mut Index,
        tags: &TagMap,
        hash: u64,
        key: &[Option<&TagValue>],
        value: Number,
    ) {
        // Loops only if a snapshot expires the row between finding the
        // share and recording, which needs the row idle for expire_after.
        loop {
            let (share, folded) = self.share_for(index, hash, key);
            if share.record(value) {
                // Not the overflow row's share: each value folded into it
                // must pass `share_for`, which counts it.
                if !folded {
                    let rows = index.entries.len();
                    self.remember(index.memos(), tags, &share, rows);
                }
                return;
            }
        }
    }

    /// This thread's share of the row for `tags`, made on first need; the
    /// overflow share when the view is full. For bound measures.
    pub(crate) fn share_of(&self, index: &mut Index, tags: &TagMap) -> Arc<Share> {
        project(self.view.tag_keys(), &self.sorted_keys, tags, |key| {
            let hash = self.hash(key.iter().copied());
            match index.entries.find(hash, |e| same_key(&e.key, key)) {
                Some(e) if !e.share.is_retired() => Arc::clone(&e.share),
                _ => self.share_for(index, hash, key).0,
            }
        })
    }

    /// Slow path: this thread's share of the row for `key`, made when the
    /// thread first records the combination (or after its row expired),
    /// and whether it is the overflow row's (the view was full).
    #[cold]
    #[inline(never)]
    fn share_for(
        &self,
        index: &mut Index,
        hash: u64,
        key: &[Option<&TagValue>],
    ) -> (Arc<Share>, bool) {
        if self.expiry.is_some() {
            if let Some(share) = self.tidy(index, hash, key) {
                return (share, false);
            }
        }
        let Some((stored, share)) = self.admit(hash, key) else {
            // Relaxed: a statistic, read by snapshots that tolerate racing.
            self.folded.fetch_add(1, Ordering::Relaxed);
            return (self.overflow_share(index), true);
        };
        index.entries.insert_unique(
            hash,
            IndexEntry {
                key: stored,
                share: Arc::clone(&share),
            },
            |e| self.hash(e.key.iter().map(Option::as_ref)),
        );
        (share, false)
    }

    /// For views whose rows expire: clears this thread's index of entries
    /// for dropped rows (once per snapshot that dropped some, so a thread
    /// meeting ever new combinations keeps a bounded index), and returns
    /// the entry for `key` if its row is still there.
    fn tidy(&self, index: &mut Index, hash: u64, key: &[Option<&TagValue>]) -> Option<Arc<Share>> {
        // Under the table lock a retired share is one of a dropped row: a
        // snapshot retires and then drops or unretires under the write lock.
        let _table = self.table.read();
        // Relaxed: the table lock orders it after the snapshot that bumped it.
        let drops = self.drops.load(Ordering::Relaxed);
        if index.swept != drops {
            index.entries.retain(|e| !e.share.is_retired());
            index.memo.clear();
            index.distributions.clear();
            index.swept = drops;
        }
        match index.entries.find_entry(hash, |e| same_key(&e.key, key)) {
            Ok(e) if !e.get().share.is_retired() => Some(Arc::clone(&e.get().share)),
            Ok(e) => {
                e.remove();
                None
            }
            Err(_) => None,
        }
    }

    /// The stored key and a new share of this thread for the row of `key`,
    /// admitting it as a new row if the view has room; `None` when it must
    /// fold into the overflow row. The share is listed for snapshots under
    /// the table lock, so a snapshot never misses a share that holds a
    /// value, and never drops the row between finding it and listing it.
    fn admit(&self, hash: u64, key: &[Option<&TagValue>]) -> Option<(Key, Arc<Share>)> {
        let found = |t: &RowTable| {
            t.ids
                .find(hash, |&id| t.key(id).is_some_and(|k| same_key(k, key)))
                .and_then(|&id| Some((id, Arc::clone(t.key(id)?))))
        };
        // Row ids are u32 and u32::MAX marks the overflow row, which
        // caps a view at 4,294,967,295 rows whatever its configured limit.
        let limit = self.view.row_limit().min(OVERFLOW as usize);
        {
            // Another thread may have made the row: a read lock suffices.
            let t = self.table.read();
            if let Some((id, stored)) = found(&t) {
                return Some((stored, self.list(&t, id)));
            }
            if t.live >= limit {
                return None;
            }
        }
        let mut t = self.table.write();
        // Checked again: another thread may have made it since.
        if let Some((id, stored)) = found(&t) {
            return Some((stored, self.list(&t, id)));
        }
        if t.live >= limit {
            return None;
        }
        let stored: Key = key.iter().map(|v| v.cloned()).collect();
        let id = match t.free.pop() {
            Some(id) => {
                // A fresh cell and age: the new row starts anew.
                if let Some(cell) = t.lasts.get_mut(id as usize) {
                    *cell = Arc::new(LastCell::new());
                }
                if let Some(age) = t.ages.get_mut(id as usize) {
                    *age = Age::new();
                }
                id
            }
            None => {
                t.keys.push(None);
                if self.kind.is_last_value() {
                    t.lasts.push(Arc::new(LastCell::new()));
                }
                if self.expiry.is_some() {
                    t.ages.push(Age::new());
                }
                (t.keys.len() - 1) as u32
            }
        };
        if let Some(slot) = t.keys.get_mut(id as usize) {
            *slot = Some(Arc::clone(&stored));
        }
        t.live += 1;
        let RowTable { ids, keys, .. } = &mut *t;
        ids.insert_unique(hash, id, |&i| match keys.get(i as usize) {
            Some(Some(k)) => self.hash(k.iter().map(Option::as_ref)),
            _ => 0,
        });
        Some((stored, self.list(&t, id)))
    }

    /// A new share of this thread for row `id`, listed for snapshots.
    /// Called with the row table locked (either way).
    fn list(&self, t: &RowTable, id: u32) -> Arc<Share> {
        let last = t.lasts.get(id as usize);
        let share = Arc::new(match self.expiry {
            None => Share::new(&self.kind, last),
            Some(_) => Share::expiring(&self.kind, last),
        });
        self.shares
            .get_or_default()
            .lock()
            .push((id, Arc::clone(&share)));
        share
    }

    #[cold]
    fn overflow_share(&self, index: &mut Index) -> Arc<Share> {
        if let Some(share) = &index.overflow {
            return Arc::clone(share);
        }
        let last = if self.kind.is_last_value() {
            let mut t = self.table.write();
            Some(Arc::clone(
                t.overflow_last
                    .get_or_insert_with(|| Arc::new(LastCell::new())),
            ))
        } else {
            None
        };
        let share = Arc::new(Share::new(&self.kind, last.as_ref()));
        self.shares
            .get_or_default()
            .lock()
            .push((OVERFLOW, Arc::clone(&share)));
        index.overflow = Some(Arc::clone(&share));
        share
    }

    /// The view's rows now: every thread's shares merged per row. In a
    /// view with expiry, also drops the rows that expired; `audience` says
    /// who sees the result, see [`Audience`].
    ///
    /// Each share is read whole, and each only grows, so a snapshot taken
    /// after another never shows less of a row; a value is in exactly one
    /// share, so nothing is counted twice.
    pub(crate) fn snapshot(&self, end: SystemTime, audience: Audience) -> ViewData {
        match self.expiry {
            None => self.snapshot_stable(end),
            Some(after) => self.snapshot_expiring(end, after, audience),
        }
    }

    fn snapshot_stable(&self, end: SystemTime) -> ViewData {
        // Held for reading throughout so row ids stay valid; recording into
        // existing rows never takes it, and a thread meeting a new
        // combination only waits if that combination is new to the view.
        let table = self.table.read();
        let mut accs: Vec<Option<Acc>> = vec![None; table.keys.len()];
        let mut overflow: Option<Acc> = None;
        // Rows of this view are never dropped: every key is there.
        for list in self.shares.iter() {
            let list = list.lock();
            for (id, share) in list.iter() {
                let slot = if *id == OVERFLOW {
                    &mut overflow
                } else {
                    match accs.get_mut(*id as usize) {
                        Some(slot) => slot,
                        // Ids are given out under the write lock before a
                        // share is listed, so this cannot happen.
                        None => continue,
                    }
                };
                share.merge_into(slot.get_or_insert_with(|| Acc::new(&self.kind)), &self.kind);
            }
        }
        let mut rows = Vec::with_capacity(accs.len() + 1);
        for (key, acc) in table.keys.iter().zip(accs) {
            // A row with no share yet is one whose first value is still on
            // its way; it appears in the next snapshot, with the value.
            if let (Some(key), Some(acc)) = (key, acc) {
                rows.push(Row::new(key.to_vec(), acc.finish(&self.kind), self.start));
            }
        }
        drop(table);
        self.finish(end, rows, overflow)
    }

    /// A snapshot of a view whose rows expire, which drops the rows that
    /// have not changed for `after`.
    ///
    /// Who expires rows: every snapshot of the view (the worker's each
    /// period and at shutdown, `retrieve_data`, a pull exporter's scrape).
    /// A row whose record count differs from the last snapshot's has
    /// changed *now*; one that has not changed for `after` goes, provided
    /// exporters have seen its last value (a batch for exporters showed
    /// this record count; in a manager without exporters, any snapshot).
    /// Going is exact against racing records: every share of the row is
    /// retired (see `ExpiringShare`), which waits out a record in
    /// progress; if the row's record count is then unchanged it is dropped
    /// (its value was already shown), otherwise a record slipped in and
    /// the row stays, unretired.
    fn snapshot_expiring(&self, end: SystemTime, after: Duration, audience: Audience) -> ViewData {
        // The write lock: ages change and rows may go. Recording into
        // existing rows never takes it; a thread meeting a combination for
        // the first time waits until the snapshot is done.
        let mut table = self.table.write();
        let now = Instant::now();
        let n = table.keys.len();
        let mut accs: Vec<Option<Acc>> = vec![None; n];
        let mut records: Vec<u64> = vec![0; n];
        let mut overflow: Option<Acc> = None;
        for list in self.shares.iter() {
            let list = list.lock();
            for (id, share) in list.iter() {
                if *id == OVERFLOW {
                    share.merge_into(
                        overflow.get_or_insert_with(|| Acc::new(&self.kind)),
                        &self.kind,
                    );
                    continue;
                }
                let (Some(slot), Some(count)) =
                    (accs.get_mut(*id as usize), records.get_mut(*id as usize))
                else {
                    continue;
                };
                // Records first: the cells read next hold at least these.
                *count += share.records();
                share.merge_into(slot.get_or_insert_with(|| Acc::new(&self.kind)), &self.kind);
            }
        }
        let mut doomed = vec![false; n];
        let mut any_doomed = false;
        let RowTable { keys, ages, .. } = &mut *table;
        for (id, age) in ages.iter_mut().enumerate() {
            let (Some(Some(_)), Some(&count)) = (keys.get(id), records.get(id)) else {
                continue;
            };
            if count != age.records {
                age.records = count;
                age.changed = now;
            }
            let seen = match audience {
                Audience::Reader { exporters: false } => true,
                _ => age.exported == count,
            };
            if seen && now.saturating_duration_since(age.changed) >= after {
                doomed[id] = true;
                any_doomed = true;
            }
        }
        let mut dropped = 0;
        if any_doomed {
            // Retire every share of the doomed rows, then count again: a
            // row whose count moved took a record that raced the decision.
            let mut final_records: Vec<u64> = vec![0; n];
            for list in self.shares.iter() {
                for (id, share) in list.lock().iter() {
                    let i = *id as usize;
                    if doomed.get(i) == Some(&true) {
                        share.retire();
                        if let Some(count) = final_records.get_mut(i) {
                            *count += share.records();
                        }
                    }
                }
            }
            let mut kept = vec![false; n];
            for (i, doom) in doomed.iter_mut().enumerate() {
                if !*doom || final_records.get(i) == records.get(i) {
                    continue;
                }
                // Changed after all: the row stays, touched now.
                *doom = false;
                kept[i] = true;
                if let (Some(age), Some(&count)) = (table.ages.get_mut(i), final_records.get(i)) {
                    age.records = count;
                    age.changed = now;
                }
            }
            for list in self.shares.iter() {
                let mut list = list.lock();
                list.retain(|(id, share)| {
                    let i = *id as usize;
                    if kept.get(i) == Some(&true) {
                        share.unretire();
                    }
                    doomed.get(i) != Some(&true)
                });
            }
            for (i, doom) in doomed.iter().enumerate() {
                if *doom {
                    self.drop_row(&mut table, i as u32);
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            // Relaxed: threads read it under the table lock; see tidy.
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        let mut rows = Vec::with_capacity(table.live + 1);
        let RowTable { keys, ages, .. } = &mut *table;
        for (id, (key, acc)) in keys.iter().zip(accs).enumerate() {
            let (Some(key), Some(acc), Some(age)) = (key, acc, ages.get_mut(id)) else {
                continue;
            };
            if audience == Audience::Exporters {
                // What this batch shows; the cells read hold at least it.
                age.exported = records.get(id).copied().unwrap_or(0);
            }
            rows.push(Row::new(key.to_vec(), acc.finish(&self.kind), age.start));
        }
        drop(table);
        self.finish(end, rows, overflow)
    }

    /// Removes row `id` from the table and frees its id; its shares are
    /// already retired and unlisted.
    fn drop_row(&self, t: &mut RowTable, id: u32) {
        let Some(key) = t.keys.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        let hash = self.hash(key.iter().map(Option::as_ref));
        if let Ok(entry) = t.ids.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
        t.free.push(id);
        t.live -= 1;
    }

    /// Adds the overflow row and the folded count.
    fn finish(&self, end: SystemTime, mut rows: Vec<Row>, overflow: Option<Acc>) -> ViewData {
        if let Some(acc) = overflow {
            // The overflow row never expires: it is one row per view and
            // it starts with the view.
            rows.push(Row::overflow(
                self.view.tag_keys().len(),
                acc.finish(&self.kind),
                self.start,
            ));
        }
        let mut data = ViewData::new(self.view.clone(), self.start, end, rows);
        // Relaxed: a statistic; see share_for.
        data.folded = self.folded.load(Ordering::Relaxed);
        data
    }

    /// Hashes a projected key by content (rows are keyed by the full tag
    /// values, never by pointer), seeded per manager.
    ///
    /// From each value's own content hash, made once with the value: the
    /// hit path then reads no text. The seeded mix keeps the table's
    /// layout secret. The content hash's keys are public, so a pair of
    /// values with one 64-bit hash can be found offline (about 2^32 work)
    /// and collides under every seed; but a row is still told apart by
    /// its full text, and the many values with one hash that it would
    /// take to slow a table down stay out of reach (SipHash is a
    /// cryptographic function: a k-way collision costs about
    /// 2^(64(k-1)/k) tries).
    #[inline]
    fn hash<'v>(&self, key: impl Iterator<Item = Option<&'v TagValue>>) -> u64 {
        let (mut h, k) = self.seed;
        for v in key {
            // Absent mixes a constant of its own, so it differs from "".
            let x = v.map_or(ABSENT, TagValue::content_hash);
            h = mix(h ^ x, k);
        }
        h
    }
}

/// What an absent tag contributes to a row's hash.
const ABSENT: u64 = 0x243F_6A88_85A3_08D3;

/// The folded multiply at the heart of foldhash and wyhash: the full
/// 128-bit product, high half xor low half.
#[inline]
fn mix(x: u64, k: u64) -> u64 {
    let p = u128::from(x) * u128::from(k);
    (p as u64) ^ ((p >> 64) as u64)
}

impl std::fmt::Debug for ViewState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewState")
            .field("view", &self.view.name())
            .field("rows", &self.table.read().live)
            .finish()
    }
}

/// Two random words from foldhash's per-process random state.
pub(crate) fn random_seed() -> (u64, u64) {
    let state = foldhash::fast::RandomState::default();
    (state.hash_one(1u64), state.hash_one(2u64) | 1)
}

/// Calls `f` with the projection of `tags` onto `keys`, in key order.
#[inline(always)]
fn project<'t, R>(
    keys: &[TagKey],
    sorted_keys: &[(TagKey, usize)],
    tags: &'t TagMap,
    f: impl FnOnce(&[Option<&'t TagValue>]) -> R,
) -> R {
    if keys.len() <= INLINE_KEYS {
        // No allocation for the common case: the projection lives on the
        // stack and borrows the caller's values.
        let mut key: [Option<&TagValue>; INLINE_KEYS] = [None; INLINE_KEYS];
        let key = &mut key[..keys.len()];
        project_into(keys, sorted_keys, tags, key);
        f(key)
    } else {
        let key: Vec<Option<&TagValue>> = keys.iter().map(|k| tags.get(k)).collect();
        f(&key)
    }
}

/// Fills `key` (all `None`, one slot per view key) with the projection.
// Always inlined: called once per record, and as a call it passed more in
// arguments than it computes (callgrind: +60 instructions per record).
#[inline(always)]
fn project_into<'t>(
    keys: &[TagKey],
    sorted_keys: &[(TagKey, usize)],
    tags: &'t TagMap,
    key: &mut [Option<&'t TagValue>],
) {
    let mut found = 0;
    if tags.len() == keys.len() {
        // The common shape: the map holds exactly the view's keys. Both are
        // sorted by name, so one step each matches them, whatever order the
        // view lists its keys in.
        for ((k, v), (want, at)) in tags.iter().zip(sorted_keys) {
            if !same_handle(k, want) {
                break;
            }
            if let Some(slot) = key.get_mut(*at) {
                *slot = Some(v);
                found += 1;
            }
        }
    }
    if found < keys.len() {
        // One pass over the map comparing addresses only: keys in a map are
        // usually clones of the view's own key handles, and this never
        // compares the names of keys that do not match, which
        // `TagMap::get` does.
        found = 0;
        key.fill(None);
        for (k, v) in tags.iter() {
            for (slot, want) in key.iter_mut().zip(keys) {
                if same_handle(k, want) {
                    *slot = Some(v);
                    found += 1;
                }
            }
        }
    }
    if found < keys.len() {
        // A key absent from the map, or a handle made separately from the
        // same name: the full comparison settles both.
        for (slot, want) in key.iter_mut().zip(keys) {
            if slot.is_none() {
                *slot = tags.get(want);
            }
        }
    }
}

/// Whether two keys are clones of one handle: the same name buffer.
#[inline]
fn same_handle(a: &TagKey, b: &TagKey) -> bool {
    a.name().as_ptr() == b.name().as_ptr()
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
    use census_core::{Aggregation, AggregationData, MeasureI64};
    use std::time::Duration;

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
        let state = ViewState::new(view(10, &[&k]), SystemTime::now(), random_seed());
        let mut ix = Index::default();
        state.record(&mut ix, &TagMap::new(), Number::Int(1));
        state.record(&mut ix, &TagMap::new().with(&k, "")?, Number::Int(10));
        state.record(&mut ix, &TagMap::new().with(&k, "")?, Number::Int(100));
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
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
        let state = ViewState::new(view(3, &[&k]), SystemTime::now(), random_seed());
        let mut ix = Index::default();
        for i in 0..10 {
            state.record(
                &mut ix,
                &TagMap::new().with(&k, i.to_string())?,
                Number::Int(1),
            );
        }
        // An existing row keeps recording normally at the limit.
        state.record(&mut ix, &TagMap::new().with(&k, "0")?, Number::Int(5));
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
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
        let state = ViewState::new(view(10, &refs), SystemTime::now(), random_seed());
        let mut ix = Index::default();
        let mut tags = TagMap::new();
        for k in keys.iter().step_by(2) {
            tags = tags.with(k, k.name())?;
        }
        state.record(&mut ix, &tags, Number::Int(2));
        state.record(&mut ix, &tags, Number::Int(3));
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
        assert_eq!(data.rows.len(), 1);
        assert_eq!(sum(&data.rows[0]), 5);
        let present: Vec<bool> = data.rows[0].tags.iter().map(Option::is_some).collect();
        assert_eq!(present, (0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn threads_keep_own_shares_that_merge_into_one_row() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let state = ViewState::new(view(10, &[&k]), SystemTime::now(), random_seed());
        let mut ix = Index::default();
        // Distinct but equal value handles: rows are keyed by content.
        let a = TagMap::new().with(&k, "x")?;
        let b = TagMap::new().with(&k, "x")?;
        state.record(&mut ix, &a, Number::Int(100));
        // Both threads stay alive until both recorded, so neither inherits
        // the other's thread slot.
        let both = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                state.record(&mut Index::default(), &a, Number::Int(1));
                both.wait();
            });
            s.spawn(|| {
                state.record(&mut Index::default(), &b, Number::Int(10));
                both.wait();
            });
        });
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
        assert_eq!(data.rows.len(), 1);
        assert_eq!(sum(&data.rows[0]), 111);
        assert_eq!(state.shares.iter().count(), 3);
        Ok(())
    }

    fn expiring_view(limit: usize, k: &TagKey, after: Duration) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder("v", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::Sum)
            .row_limit(limit)
            .expire_after(after)
            .build()
            .expect("valid view")
    }

    const ALONE: Audience = Audience::Reader { exporters: false };

    // Issue #7: a view with expiry under a stream of ever new tag values
    // keeps its table, share lists and thread index bounded, and the
    // slots its expired rows free go to new rows instead of overflow.
    #[test]
    fn expiring_view_under_ever_new_tags_stays_bounded() -> Result<(), census_core::Error> {
        let k = TagKey::new("user")?;
        let limit = 8;
        let state = ViewState::new(
            expiring_view(limit, &k, Duration::from_millis(1)),
            SystemTime::now(),
            random_seed(),
        );
        let mut ix = Index::default();
        for round in 0..30 {
            for i in 0..20 {
                let tags = TagMap::new().with(&k, format!("{round}-{i}"))?;
                state.record(&mut ix, &tags, Number::Int(1));
            }
            let seen = state.snapshot(SystemTime::now(), ALONE);
            let ordinary = seen.rows.iter().filter(|r| !r.overflow).count();
            // Every round's first combinations got rows of their own: the
            // rows of the round before had gone and freed their slots.
            assert_eq!(ordinary, limit, "round {round}");
            let total: i64 = seen.rows.iter().map(sum).sum();
            // The overflow row keeps counting (it never expires); the
            // ordinary rows hold this round's values only.
            assert_eq!(total, limit as i64 + 12 * (round + 1));
            std::thread::sleep(Duration::from_millis(3));
            let after = state.snapshot(SystemTime::now(), ALONE);
            assert!(after.rows.iter().all(|r| r.overflow), "round {round}");
            let t = state.table.read();
            assert!(t.keys.len() <= limit && t.live == 0 && t.ids.is_empty());
            assert!(t.ages.len() <= limit);
            drop(t);
            let listed: usize = state.shares.iter().map(|l| l.lock().len()).sum();
            assert_eq!(listed, 1, "only the overflow share stays listed");
            // Entries of dropped rows go at the thread's next slow path.
            assert!(ix.entries.len() <= limit, "{}", ix.entries.len());
        }
        Ok(())
    }

    #[test]
    fn an_expired_row_comes_back_fresh() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let after = Duration::from_millis(30);
        let state = ViewState::new(
            expiring_view(10, &k, after),
            SystemTime::now(),
            random_seed(),
        );
        let mut ix = Index::default();
        let a = TagMap::new().with(&k, "a")?;
        state.record(&mut ix, &a, Number::Int(5));
        let first = state.snapshot(SystemTime::now(), ALONE);
        assert_eq!(first.rows.len(), 1);
        assert_eq!(sum(&first.rows[0]), 5);
        // Not yet: the row changed at the last snapshot.
        let again = state.snapshot(SystemTime::now(), ALONE);
        assert_eq!(again.rows.len(), 1);
        std::thread::sleep(after * 2);
        assert!(state.snapshot(SystemTime::now(), ALONE).rows.is_empty());
        // A reader that is not the exporters' batch leaves an unexported
        // row alone, however old; the batch shows it, the next one drops it.
        state.record(&mut ix, &a, Number::Int(2));
        let fresh = state.snapshot(SystemTime::now(), Audience::Reader { exporters: true });
        assert_eq!(fresh.rows.len(), 1);
        assert_eq!(sum(&fresh.rows[0]), 2);
        assert!(fresh.rows[0].start > first.rows[0].start);
        std::thread::sleep(after * 2);
        let held = Audience::Reader { exporters: true };
        assert_eq!(state.snapshot(SystemTime::now(), held).rows.len(), 1);
        let batch = state.snapshot(SystemTime::now(), Audience::Exporters);
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(sum(&batch.rows[0]), 2);
        assert!(state.snapshot(SystemTime::now(), held).rows.is_empty());
        Ok(())
    }

    #[test]
    fn fresh_last_value_and_distribution_rows_hold_only_new_values(
    ) -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let m = MeasureI64::new("m", "", "1")?;
        let after = Duration::from_millis(20);
        for aggregation in [Aggregation::LastValue, Aggregation::distribution([10.0])?] {
            let view = View::builder("v", &m)
                .tag_keys([k.clone()])
                .aggregation(aggregation)
                .expire_after(after)
                .build()?;
            let state = ViewState::new(view, SystemTime::now(), random_seed());
            let mut ix = Index::default();
            let a = TagMap::new().with(&k, "a")?;
            state.record(&mut ix, &a, Number::Int(50));
            state.record(&mut ix, &a, Number::Int(40));
            assert_eq!(state.snapshot(SystemTime::now(), ALONE).rows.len(), 1);
            std::thread::sleep(after * 2);
            assert!(state.snapshot(SystemTime::now(), ALONE).rows.is_empty());
            state.record(&mut ix, &a, Number::Int(7));
            let rows = state.snapshot(SystemTime::now(), ALONE).rows;
            assert_eq!(rows.len(), 1);
            match &rows[0].data {
                AggregationData::LastValue(v) => assert_eq!(*v, Number::Int(7)),
                AggregationData::Distribution(d) => {
                    assert_eq!((d.count, d.min, d.max), (1, 7.0, 7.0));
                    assert_eq!(d.bucket_counts, vec![1, 0]);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        Ok(())
    }
}
