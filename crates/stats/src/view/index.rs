//! Index: one thread's map from a view's rows to its own shares of them.

use std::sync::Arc;

use census_core::TagValue;
use hashbrown::HashTable;

use super::{same_key, Key};
use crate::cells::Share;
use crate::record::Probe;

/// One thread's index of its shares of one view's rows. Only its thread
/// touches it (no lock): the manager hands each thread its own through
/// `ThreadLocal`, never to two live threads at once.
#[derive(Default)]
pub(crate) struct Index {
    entries: HashTable<Entry>,
    /// This thread's share of the overflow row, once it has one.
    pub(super) overflow: Option<Arc<Share>>,
    /// The view's `drops` when this index last cleared its entries for
    /// dropped rows.
    pub(super) swept: u64,
}

/// No stored hash: an index only rehashes when it grows, and eight bytes
/// per series per thread cost more than that rare rehash.
struct Entry {
    key: Key,
    share: Arc<Share>,
}

impl Index {
    /// This thread's share of the row with these values, if it has one.
    #[inline]
    pub(crate) fn find<V: Probe + ?Sized>(
        &self,
        hash: u64,
        key: &[Option<&V>],
    ) -> Option<&Arc<Share>> {
        self.entries
            .find(hash, |e| same_key(&e.key, key))
            .map(|e| &e.share)
    }

    /// This thread's share of the overflow row, if it has one.
    pub(crate) fn overflow(&self) -> Option<&Arc<Share>> {
        self.overflow.as_ref()
    }

    /// Remembers this thread's new share of the row `key`; `rehash` hashes
    /// a stored key when the table grows.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        key: Key,
        share: Arc<Share>,
        rehash: impl Fn(&Key) -> u64,
    ) {
        self.entries
            .insert_unique(hash, Entry { key, share }, |e| rehash(&e.key));
    }

    /// Forgets the entry for `key`, whose row went.
    pub(super) fn remove(&mut self, hash: u64, key: &[Option<&TagValue>]) {
        if let Ok(e) = self.entries.find_entry(hash, |e| same_key(&e.key, key)) {
            e.remove();
        }
    }

    /// Forgets the entries of rows that went (their shares are retired).
    pub(super) fn forget_retired(&mut self) {
        self.entries.retain(|e| !e.share.is_retired());
    }

    /// How many rows this thread has shares of.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
