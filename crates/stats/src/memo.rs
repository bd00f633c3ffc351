//! One thread's shortcut, per view, from a tag map it records with again
//! and again to its share of that map's row.
//!
//! Services build most tag maps once (per endpoint, per peer) and record
//! with them millions of times. For those, projecting the map onto the
//! view's keys, hashing the values and comparing them with the row's is
//! the same work each time with the same answer. The memo keys the answer
//! by the map's identity ([`TagMap::address`]) instead, and keeps a clone
//! of the map so that no other map can take that identity while the entry
//! lives: a hit is exact, not a guess from a hash.
//!
//! A map gets an entry only the second time this thread records with it
//! (a cheap, unpinned hint remembers the first), so maps built per request
//! and used once mostly cost a probe and a store. The hint is fooled by
//! the allocator, which hands a freed map's memory to the next request's
//! map: so entries are also paid for by hits. Each entry made spends one
//! unit of a budget that hits refill; with no hits (maps built per
//! request) it refills by one per [`MISSES_PER_ENTRY`] misses, which
//! bounds the cost of entries nobody uses. Such entries do pin their maps
//! until pushed out: at most the memo's slots' worth.
//!
//! The memo starts with two slots per row the thread records into, and
//! doubles (up to [`MAX_SLOTS`]) when it has to push an entry out while
//! its entries earn more hits than it makes entries: many kept maps
//! feeding few rows (one map per route, a view by method) then all fit.
//!
//! The empty map has no identity to pin, and needs none: address 0 only
//! ever means no tags, so one field remembers its share.

use std::sync::Arc;

use census_core::TagMap;

use crate::cells::Share;

/// Slots probed from a map's home slot before giving up.
const PROBES: usize = 4;

/// Bounds the memo at 4,096 entries per thread and view: beyond that
/// many maps in use at once, the full lookup serves the rest.
const MAX_SLOTS: usize = 4096;

const MIN_SLOTS: usize = 16;

/// Hints are kept for at least this many maps (2 KiB), however few rows
/// the thread records into: many kept maps may feed few rows, and each
/// needs its hint to survive until it comes back.
const MIN_HINTS: usize = 256;

/// How many misses earn one entry when nothing hits.
const MISSES_PER_ENTRY: u64 = 64;

/// Most entries that can be made ahead of hits that pay for them: enough
/// for a thread's whole working set of maps to move in at once.
const MAX_BUDGET: u64 = MAX_SLOTS as u64;

/// A remembered map, kept alive by the entry, and this thread's handle
/// on its row's cells.
type Entry<H> = (TagMap, H);

/// `H` is the handle a hit yields: a share, or for plain distribution
/// views the distribution cells themselves, one pointer closer.
pub(crate) struct Memo<H = Arc<Share>> {
    slots: Box<[Option<Entry<H>>]>,
    /// Addresses of maps seen once, as a hint only: a stale address here
    /// just admits a map one record early.
    seen: Box<[usize]>,
    /// Hits so far, counted by `get`'s callers through `hit`.
    hits: u64,
    /// Hits already added to `budget`.
    paid: u64,
    misses: u64,
    /// Entries that may still be made.
    budget: u64,
    /// `hits` when the memo last grew, and entries made since: the memo
    /// grows when the first outruns the second.
    hits_at_growth: u64,
    made_since_growth: u64,
    /// The share for the empty map.
    empty: Option<H>,
    #[cfg(test)]
    made: usize,
}

impl<H> Default for Memo<H> {
    fn default() -> Memo<H> {
        Memo {
            slots: Box::default(),
            seen: Box::default(),
            hits: 0,
            paid: 0,
            misses: 0,
            // A small working set moves in at once.
            budget: MIN_SLOTS as u64 * 16,
            hits_at_growth: 0,
            made_since_growth: 0,
            empty: None,
            #[cfg(test)]
            made: 0,
        }
    }
}

impl<H: Clone> Memo<H> {
    /// Counts a hit: one more entry the memo may make.
    #[inline]
    pub(crate) fn hit(&mut self) {
        self.hits = self.hits.wrapping_add(1);
    }

    /// This thread's share for `tags`, if the memo has it.
    #[inline]
    pub(crate) fn get(&self, tags: &TagMap) -> Option<&H> {
        let address = tags.address();
        if address == 0 {
            return self.empty.as_ref();
        }
        let mask = self.slots.len().wrapping_sub(1);
        let home = slot_of(address, mask);
        for i in 0..PROBES {
            match self.slots.get((home + i) & mask)? {
                Some((map, share)) if map.address() == address => return Some(share),
                Some(_) => {}
                None => return None,
            }
        }
        None
    }

    /// Remembers `share` for `tags` if this thread recorded with the same
    /// map before. `rows` is how many rows the thread's index holds: the
    /// memo grows with it, to twice as many slots, up to [`MAX_SLOTS`].
    #[cold]
    #[inline(never)]
    pub(crate) fn offer(&mut self, tags: &TagMap, share: &H, rows: usize) {
        let address = tags.address();
        if address == 0 {
            self.empty = Some(share.clone());
            return;
        }
        let want = (rows * 2).next_power_of_two().clamp(MIN_SLOTS, MAX_SLOTS);
        if self.slots.len() < want {
            self.grow(want);
        }
        let hint = slot_of(address, self.seen.len().wrapping_sub(1));
        self.misses = self.misses.wrapping_add(1);
        let earned = self
            .hits
            .wrapping_sub(self.paid)
            .saturating_add(u64::from(self.misses % MISSES_PER_ENTRY == 0));
        self.paid = self.hits;
        self.budget = self.budget.saturating_add(earned).min(MAX_BUDGET);
        // Hints for a home sit in the next PROBES places, as entries do:
        // maps in use that share a home would otherwise overwrite each
        // other's hint forever and never get in.
        let hint_mask = self.seen.len().wrapping_sub(1);
        let ways = (0..PROBES).map(|i| (hint + i) & hint_mask);
        let seen_before = ways
            .clone()
            .any(|w| self.seen.get(w).is_some_and(|&a| a == address));
        if !seen_before {
            let free = ways
                .clone()
                .find(|&w| self.seen.get(w).is_some_and(|&a| a == 0));
            // All taken: replace one, rotating.
            let way = free.unwrap_or((hint + self.misses as usize % PROBES) & hint_mask);
            if let Some(seen) = self.seen.get_mut(way) {
                *seen = address;
            }
            return;
        }
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        #[cfg(test)]
        {
            self.made += 1;
        }
        self.made_since_growth += 1;
        let Some(entry) = self.place((tags.clone(), share.clone())) else {
            return;
        };
        // Every slot in reach is taken. If the entries here earn their
        // keep, there are more kept maps than slots: grow and retry.
        // (One hit per four entries made: maps used once earn none.)
        let earning = self.hits.wrapping_sub(self.hits_at_growth) * 4 >= self.made_since_growth;
        let entry = if earning && self.slots.len() < MAX_SLOTS {
            self.grow(self.slots.len() * 2);
            match self.place(entry) {
                Some(entry) => entry,
                None => return,
            }
        } else {
            entry
        };
        // Still no room: the newest map replaces one within reach, so a
        // changing working set still gets in. Which one rotates: two maps
        // in use with one home would push each other out forever if it
        // were always the home slot, while entries nobody uses any more
        // would stay.
        let mask = self.slots.len() - 1;
        let victim = slot_of(entry.0.address(), mask) + (self.misses as usize % PROBES);
        if let Some(slot) = self.slots.get_mut(victim & mask) {
            *slot = Some(entry);
        }
    }

    /// Puts `entry` in the first free slot (or its map's own) within reach
    /// of its home; hands it back if there is none.
    fn place(&mut self, entry: Entry<H>) -> Option<Entry<H>> {
        let address = entry.0.address();
        let mask = self.slots.len().wrapping_sub(1);
        let home = slot_of(address, mask);
        for i in 0..PROBES {
            if let Some(slot) = self.slots.get_mut((home + i) & mask) {
                match slot {
                    Some((map, _)) if map.address() != address => {}
                    _ => {
                        *slot = Some(entry);
                        return None;
                    }
                }
            }
        }
        Some(entry)
    }

    /// Forgets every entry: their shares may belong to rows that went.
    pub(crate) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|slot| *slot = None);
        self.empty = None;
    }

    fn grow(&mut self, slots: usize) {
        let old = std::mem::take(&mut self.slots);
        let old_seen = std::mem::take(&mut self.seen);
        self.slots = (0..slots).map(|_| None).collect();
        let hints = slots.max(MIN_HINTS);
        if old_seen.len() == hints {
            self.seen = old_seen;
        } else {
            self.seen = vec![0; hints].into_boxed_slice();
            // Hints move too: a thread meeting its maps for the first time
            // grows the memo all along, and would otherwise forget them.
            for address in old_seen.iter().copied().filter(|&a| a != 0) {
                if let Some(seen) = self.seen.get_mut(slot_of(address, hints - 1)) {
                    *seen = address;
                }
            }
        }
        for entry in old.into_vec().into_iter().flatten() {
            // One that finds no room is dropped: the memo is a cache.
            let _ = self.place(entry);
        }
        self.hits_at_growth = self.hits;
        self.made_since_growth = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[inline]
fn slot_of(address: usize, mask: usize) -> usize {
    // Map addresses are aligned and close together, at strides the
    // allocator chooses: a plain multiply left whole runs of them on a few
    // slots (197 homes for 1,024 maps in the test below). The folded
    // multiply (high half xor low half of the 128-bit product) spreads any
    // stride, in about the same instructions.
    let p = u128::from(address as u64) * 0x9E37_79B9_7F4A_7C15;
    let h = (p as u64) ^ ((p >> 64) as u64);
    (h >> (64 - MAX_BITS)) as usize & mask
}

/// log2 of [`MAX_SLOTS`].
const MAX_BITS: u32 = MAX_SLOTS.trailing_zeros();

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Kind;
    use census_core::{Aggregation, MeasureType, TagKey};

    fn share() -> Arc<Share> {
        let kind = Kind::new(&Aggregation::Count, MeasureType::Int64);
        Arc::new(Share::new(&kind, None))
    }

    fn map(k: &TagKey, v: &str) -> TagMap {
        TagMap::new().with(k, v).expect("valid tag")
    }

    #[test]
    fn a_map_is_remembered_from_its_second_offer() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let (a, s) = (map(&k, "a"), share());
        let mut memo = Memo::default();
        assert!(memo.get(&a).is_none());
        memo.offer(&a, &s, 1);
        assert!(memo.get(&a).is_none(), "used once: not pinned");
        memo.offer(&a, &s, 1);
        assert!(memo.get(&a).is_some_and(|got| Arc::ptr_eq(got, &s)));
        // A clone is the same map; an equal map built apart is not.
        assert!(memo.get(&a.clone()).is_some());
        assert!(memo.get(&map(&k, "a")).is_none());
        assert!(memo.get(&TagMap::new()).is_none());
        Ok(())
    }

    #[test]
    fn an_entry_keeps_its_map_alive_so_no_other_map_can_match_it() -> Result<(), census_core::Error>
    {
        let k = TagKey::new("k")?;
        let mut memo = Memo::default();
        let (a, s) = (map(&k, "a"), share());
        let address = a.address();
        memo.offer(&a, &s, 1);
        memo.offer(&a, &s, 1);
        drop(a);
        // The memo's clone holds the allocation: new maps land elsewhere.
        let others: Vec<TagMap> = (0..64).map(|i| map(&k, &i.to_string())).collect();
        assert!(others.iter().all(|m| m.address() != address));
        assert!(others.iter().all(|m| memo.get(m).is_none()));
        Ok(())
    }

    #[test]
    fn the_empty_map_is_remembered_without_an_address() {
        let (s, mut memo) = (share(), Memo::default());
        assert!(memo.get(&TagMap::new()).is_none());
        memo.offer(&TagMap::new(), &s, 1);
        assert!(memo
            .get(&TagMap::new())
            .is_some_and(|got| Arc::ptr_eq(got, &s)));
        memo.clear();
        assert!(memo.get(&TagMap::new()).is_none());
    }

    #[test]
    fn many_kept_maps_feeding_few_rows_all_get_entries() -> Result<(), census_core::Error> {
        // 200 maps (one per route, say) recorded into a view of 3 rows:
        // sized by rows alone the memo would have 16 slots and thrash.
        let k = TagKey::new("k")?;
        let maps: Vec<(TagMap, Arc<Share>)> = (0..200)
            .map(|i| (map(&k, &i.to_string()), share()))
            .collect();
        let mut memo = Memo::default();
        for _ in 0..40 {
            for (m, s) in &maps {
                match memo.get(m) {
                    Some(_) => memo.hit(),
                    None => memo.offer(m, s, 3),
                }
            }
        }
        let found = maps.iter().filter(|(m, _)| memo.get(m).is_some()).count();
        assert!(found >= 190, "{found} of 200 maps have entries");
        Ok(())
    }

    #[test]
    fn maps_built_per_request_rarely_get_entries() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let s = share();
        let mut memo = Memo::default();
        for i in 0..100_000 {
            // Made, recorded with once, dropped: the next one is usually
            // given the same memory, which the hint cannot tell apart.
            let m = map(&k, if i % 2 == 0 { "a" } else { "b" });
            if memo.get(&m).is_some() {
                memo.hit();
                continue;
            }
            memo.offer(&m, &s, 2);
        }
        let made = memo.made;
        // The starting budget plus one per MISSES_PER_ENTRY misses; not one
        // entry every other record, as the hint alone would allow.
        let bound = MIN_SLOTS * 16 + 100_000 / MISSES_PER_ENTRY as usize;
        assert!(made <= bound, "{made} entries made, bound {bound}");
        Ok(())
    }

    #[test]
    fn stays_within_its_bound_and_keeps_finding_what_it_holds() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let mut memo = Memo::default();
        let maps: Vec<(TagMap, Arc<Share>)> = (0..10_000)
            .map(|i| (map(&k, &i.to_string()), share()))
            .collect();
        for _ in 0..2 {
            for (i, (m, s)) in maps.iter().enumerate() {
                memo.offer(m, s, i + 1);
            }
        }
        assert!(memo.slots.len() == MAX_SLOTS && memo.len() <= MAX_SLOTS);
        for (m, s) in &maps {
            if let Some(got) = memo.get(m) {
                assert!(Arc::ptr_eq(got, s), "a hit is the map's own share");
            }
        }
        // A working set that fits (a quarter of the slots) moves in whole
        // within a few rounds of records, replacing what the larger one
        // left: its hits pay for its entries.
        let fits = &maps[..MAX_SLOTS / 4];
        for _ in 0..30 {
            for (m, s) in fits {
                match memo.get(m) {
                    Some(_) => memo.hit(),
                    None => memo.offer(m, s, maps.len()),
                }
            }
        }
        let found = fits.iter().filter(|(m, _)| memo.get(m).is_some()).count();
        assert!(found >= fits.len() * 95 / 100, "{found} of {}", fits.len());
        memo.clear();
        assert_eq!(memo.len(), 0);
        Ok(())
    }
}
