//! Seed: the one hash function of a manager's tables, seeded at random.

use std::hash::{BuildHasher, Hasher};

use crate::record::Probe;

/// foldhash with a random seed per manager: fast on the short texts tag
/// values are, and with the seed secret, values cannot be chosen offline
/// to collide in a table (row ids, thread indexes, the routing table).
#[derive(Clone, Default)]
pub(crate) struct Seed(foldhash::fast::RandomState);

impl Seed {
    /// The hash of a row's values: each value's own `Hash` (its text and
    /// length as words; borrowed text hashes the same), and an absent
    /// value differently from an empty one.
    #[inline]
    pub(crate) fn hash<'v, V: Probe + ?Sized + 'v>(
        &self,
        key: impl IntoIterator<Item = Option<&'v V>>,
    ) -> u64 {
        let mut h = self.0.build_hasher();
        for value in key {
            match value {
                Some(v) => v.hash_into(&mut h),
                None => h.write_u8(0xff),
            }
        }
        h.finish()
    }

    /// The hash of a name, for tables keyed by text.
    #[inline]
    pub(crate) fn hash_str(&self, text: &str) -> u64 {
        self.0.hash_one(text)
    }

    /// The hash of an address, for tables keyed by pointer.
    #[inline]
    pub(crate) fn hash_address(&self, address: usize) -> u64 {
        self.0.hash_one(address)
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The seed is a secret; there is nothing useful to show.
        f.write_str("Seed")
    }
}
