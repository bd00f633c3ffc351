//! The row table: which tag combinations are rows of a view, and the slow
//! path a record takes when its thread has no share of the row yet.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use census_core::{Number, TagValue};
use hashbrown::HashTable;

use super::expiry::Age;
use super::{same_key, Index, Key, ViewState, OVERFLOW};
use crate::cells::{LastCell, Share};

/// The rows of one view.
#[derive(Default)]
pub(super) struct RowTable {
    /// Row ids, hashed by their key's content.
    pub(super) ids: HashTable<u32>,
    /// Each row's key, by row id; `None` for the id of a dropped row, free
    /// for the next new row (only in views whose rows expire).
    pub(super) keys: Vec<Option<Key>>,
    /// Rows that exist: what the row limit bounds.
    pub(super) live: usize,
    /// Ids of dropped rows, reused before new ones.
    pub(super) free: Vec<u32>,
    /// A LastValue view's one cell per row, by row id, which every thread's
    /// share stores into; empty for other views (memory per series counts).
    lasts: Vec<Arc<LastCell>>,
    /// The LastValue overflow row's one cell.
    overflow_last: Option<Arc<LastCell>>,
    /// Each row's age, by row id, in views whose rows expire; empty in
    /// other views.
    pub(super) ages: Vec<Age>,
    /// Set when the view was unregistered and its rows freed (see
    /// `removal.rs`): no row is made any more.
    pub(super) removed: bool,
}

/// What `admit` decided for a tag combination this thread has no share of.
enum Admission {
    /// The row (found or made) and this thread's new share of it.
    Row(Key, Arc<Share>),
    /// The view is full: fold into the overflow row.
    Full,
    /// The view was unregistered.
    Removed,
}

impl RowTable {
    pub(super) fn key(&self, id: u32) -> Option<&Key> {
        self.keys.get(id as usize)?.as_ref()
    }

    pub(super) fn live(&self) -> usize {
        self.live
    }
}

impl ViewState {
    /// A record that found no share of its row on this thread (a first
    /// record of the combination here, or its row expired): find or make
    /// the row's share, and record.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_new(
        &self,
        index: &mut Index,
        hash: u64,
        key: &[Option<&TagValue>],
        value: Number,
    ) {
        // Loops only if a snapshot expires the row between finding the
        // share and recording, which needs the row idle for expire_after.
        loop {
            let (share, folded) = self.share_for(index, hash, key);
            if share.record(value) {
                if folded {
                    self.fold();
                }
                return;
            }
        }
    }

    /// This thread's share of the row for `key`, made when the thread first
    /// records the combination (or after its row expired); the overflow
    /// row's share when the view is full, and then `true`: each value
    /// recorded into it must be counted with [`ViewState::fold`].
    pub(crate) fn share_for(
        &self,
        index: &mut Index,
        hash: u64,
        key: &[Option<&TagValue>],
    ) -> (Arc<Share>, bool) {
        if self.expiry.is_some() {
            if let Some(share) = self.tidy(index, hash, key) {
                return (share, false);
            }
        } else if let Some(share) = index.find(hash, key) {
            return (Arc::clone(share), false);
        }
        match self.admit(hash, key) {
            Admission::Row(stored, share) => {
                index.insert(hash, stored, Arc::clone(&share), |k| self.hash_stored(k));
                (share, false)
            }
            // Not remembered under the key: the combination tries for a
            // row of its own again next time, in case one freed up.
            Admission::Full => (self.overflow_share(index), true),
            Admission::Removed => (self.void_share(), false),
        }
    }

    /// Counts one value folded into the overflow row.
    #[cold]
    pub(crate) fn fold(&self) {
        // Relaxed: a statistic, read by snapshots that tolerate racing.
        self.folded.fetch_add(1, Ordering::Relaxed);
    }

    /// How many snapshots have dropped rows so far: when it moves, a row
    /// limit that was full may have room again.
    pub(crate) fn drops(&self) -> u64 {
        // Relaxed: a hint; a handle that misses a move looks again at the
        // next record.
        self.drops.load(Ordering::Relaxed)
    }

    /// The stored key and a new share of this thread for the row of `key`,
    /// admitting it as a new row if the view has room. The share is listed
    /// for snapshots under the table lock, so a snapshot never misses a
    /// share that holds a value, and never drops the row between finding
    /// it and listing it.
    fn admit(&self, hash: u64, key: &[Option<&TagValue>]) -> Admission {
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
            if t.is_removed() {
                return Admission::Removed;
            }
            if let Some((id, stored)) = found(&t) {
                return Admission::Row(stored, self.list(&t, id));
            }
            if t.live >= limit {
                return Admission::Full;
            }
        }
        let mut t = self.table.write();
        // Checked again: another thread may have made it since.
        if t.is_removed() {
            return Admission::Removed;
        }
        if let Some((id, stored)) = found(&t) {
            return Admission::Row(stored, self.list(&t, id));
        }
        if t.live >= limit {
            return Admission::Full;
        }
        let stored: Key = key.iter().map(|v| v.cloned()).collect();
        let id = match t.free.pop() {
            Some(id) => {
                // A fresh cell and age: the new row starts anew.
                if let Some(cell) = t.lasts.get_mut(id as usize) {
                    *cell = Arc::new(LastCell::new());
                }
                if let Some(age) = t.ages.get_mut(id as usize) {
                    *age = Age::new(&self.clock);
                }
                id
            }
            None => {
                t.keys.push(None);
                if self.kind.is_last_value() {
                    t.lasts.push(Arc::new(LastCell::new()));
                }
                if self.expiry.is_some() {
                    t.ages.push(Age::new(&self.clock));
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
            Some(Some(k)) => self.hash_stored(k),
            _ => 0,
        });
        Admission::Row(stored, self.list(&t, id))
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
}
