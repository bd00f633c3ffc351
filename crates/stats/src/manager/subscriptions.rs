//! The routing table: which views each measure feeds, changed one view at
//! a time and copied cheaply for recording threads.

use std::sync::Arc;

use census_core::Measure;
use hashbrown::HashTable;

use crate::seed::Seed;
use crate::view::ViewState;

/// Subscriptions per chunk: a copy of the table shares every chunk it did
/// not change, so copying a table of 10,000 measures bumps 157 reference
/// counts instead of 10,000.
const CHUNK: usize = 64;

/// Up to this many routed measure handles, lookups scan a list.
const FEW: usize = 8;

/// One chunk of subscriptions, in place behind its `Arc`: one load fewer
/// on the record path than a vector would cost.
type Chunk = [Option<Subscription>; CHUNK];

/// The record path's routing table: measure to the views that aggregate it.
///
/// The registry keeps one, changed in place with every registration
/// (amortised constant time), and recording threads read copies of it
/// (see `Inner::subscriptions`): everything but the subscriptions
/// themselves is plain data, copied with `memcpy`, and the subscriptions
/// sit in shared chunks.
#[derive(Clone, Default)]
pub(crate) struct Subscriptions {
    /// The registry version this copy was taken at.
    pub(super) version: u64,
    /// Subscriptions by position, `CHUNK` to a chunk; `None` where a
    /// measure's last view went (reused by the next new measure).
    chunks: Vec<Arc<Chunk>>,
    /// Positions in the chunks, free ones included.
    positions: usize,
    free: Vec<usize>,
    /// The id of the view in each registry slot (0 for an empty slot): a
    /// thread's `Routes::indexes` holds its index for the view at the same
    /// position, and compares ids to tell which indexes still hold.
    slots: Vec<u64>,
    /// Positions, hashed by measure name.
    by_name: HashTable<usize>,
    /// Keyed by the address of a registered measure's name, with the
    /// position and how many registered views hold that very handle: a
    /// recorded handle that is a clone of a view's measure (the usual
    /// case) is found by one multiply and one compare, without hashing its
    /// name. Those views keep the measure alive, so no other measure can
    /// have the address.
    by_address: HashTable<(usize, usize, usize)>,
    /// While there are a few handles, each with a copy of its
    /// subscription: scanning a list beats probing the table (or iterating
    /// its groups) for the usual handful of measures, and the copy saves
    /// going to the chunk. Filled in [`published`](Subscriptions::published)
    /// copies only; the registry's own table looks measures up without it.
    few: Vec<(usize, Subscription)>,
    /// The manager's hash.
    seed: Seed,
}

#[derive(Clone)]
pub(crate) struct Subscription {
    pub(crate) measure: Measure,
    /// The measure's views, each with its slot in a thread's indexes and
    /// whether its keys are those of the view before it (views with the
    /// same keys are listed together, so they share a projection).
    pub(crate) views: Vec<(Arc<ViewState>, usize, bool)>,
}

impl Subscriptions {
    pub(super) fn new(seed: Seed) -> Subscriptions {
        Subscriptions {
            seed,
            ..Subscriptions::default()
        }
    }

    /// Routes `state`'s measure to it, in `state.slot()`.
    pub(super) fn add(&mut self, state: &Arc<ViewState>) {
        let slot = state.slot();
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, 0);
        }
        if let Some(id) = self.slots.get_mut(slot) {
            *id = state.id();
        }
        let measure = state.view().measure();
        let position = match self.position(measure.name()) {
            Some(position) => position,
            None => self.add_measure(measure),
        };
        if let Some(sub) = self.sub_mut(position) {
            // Sorted by keys, registration order among equal keys, so views
            // with the same keys sit together.
            let at = sub
                .views
                .partition_point(|(v, _, _)| v.tag_keys() <= state.tag_keys());
            sub.views.insert(at, (Arc::clone(state), slot, false));
            sub.mark_same_keys(at);
        }
        let address = address_of(measure);
        let hash = self.seed.hash_address(address);
        match self.by_address.find_mut(hash, |e| e.0 == address) {
            Some(entry) => entry.2 += 1,
            None => {
                let seed = &self.seed;
                self.by_address
                    .insert_unique(hash, (address, position, 1), |e| seed.hash_address(e.0));
            }
        }
    }

    /// Stops routing to `state`.
    pub(super) fn remove(&mut self, state: &Arc<ViewState>) {
        if let Some(id) = self.slots.get_mut(state.slot()) {
            *id = 0;
        }
        let measure = state.view().measure();
        let Some(position) = self.position(measure.name()) else {
            return;
        };
        let mut emptied = false;
        if let Some(sub) = self.sub_mut(position) {
            if let Some(at) = sub.views.iter().position(|(v, _, _)| Arc::ptr_eq(v, state)) {
                sub.views.remove(at);
                sub.mark_same_keys(at);
            }
            emptied = sub.views.is_empty();
        }
        let address = address_of(measure);
        let hash = self.seed.hash_address(address);
        if let Ok(mut entry) = self.by_address.find_entry(hash, |e| e.0 == address) {
            entry.get_mut().2 -= 1;
            if entry.get().2 == 0 {
                entry.remove();
            }
        }
        if emptied {
            let name_hash = self.seed.hash_str(measure.name());
            if let Ok(entry) = self.by_name.find_entry(name_hash, |&p| p == position) {
                entry.remove();
            }
            if let Some(slot) = self.place_mut(position) {
                *slot = None;
            }
            self.free.push(position);
        }
    }

    /// The copy recording threads read: this table with its few-handles
    /// list made. Made once per registry version that a thread records
    /// under, where keeping the list current at every registration copied
    /// a measure's views each time (quadratic for many views of one
    /// measure).
    pub(super) fn published(&self) -> Subscriptions {
        let mut copy = self.clone();
        copy.list_few();
        copy
    }

    fn add_measure(&mut self, measure: &Measure) -> usize {
        let sub = Subscription {
            measure: measure.clone(),
            views: Vec::new(),
        };
        let position = match self.free.pop() {
            Some(position) => position,
            None => {
                if self.positions % CHUNK == 0 {
                    self.chunks.push(Arc::new(std::array::from_fn(|_| None)));
                }
                self.positions += 1;
                self.positions - 1
            }
        };
        if let Some(place) = self.place_mut(position) {
            *place = Some(sub);
        }
        let seed = &self.seed;
        let subs = &self.chunks;
        self.by_name
            .insert_unique(seed.hash_str(measure.name()), position, |&p| {
                sub_in(subs, p).map_or(0, |s| seed.hash_str(s.measure.name()))
            });
        position
    }

    fn position(&self, name: &str) -> Option<usize> {
        let hash = self.seed.hash_str(name);
        self.by_name
            .find(hash, |&p| {
                self.at(p).is_some_and(|s| s.measure.name() == name)
            })
            .copied()
    }

    /// The subscription at `position`, copying its chunk first if a copy
    /// of the table shares it.
    fn place_mut(&mut self, position: usize) -> Option<&mut Option<Subscription>> {
        let chunk = self.chunks.get_mut(position / CHUNK)?;
        Arc::make_mut(chunk).get_mut(position % CHUNK)
    }

    fn sub_mut(&mut self, position: usize) -> Option<&mut Subscription> {
        self.place_mut(position)?.as_mut()
    }

    #[inline]
    fn at(&self, position: usize) -> Option<&Subscription> {
        sub_in(&self.chunks, position)
    }

    fn list_few(&mut self) {
        self.few.clear();
        if self.by_address.len() <= FEW {
            let chunks = &self.chunks;
            self.few.extend(
                self.by_address
                    .iter()
                    .filter_map(|&(address, p, _)| Some((address, sub_in(chunks, p)?.clone()))),
            );
        }
    }

    /// The subscription for `measure`'s name, and whether `measure` may
    /// feed it (see `compatible`).
    #[inline]
    pub(crate) fn get(&self, measure: &Measure) -> Option<(&Subscription, bool)> {
        let address = address_of(measure);
        // The very measure a view was registered with: registration
        // already proved it compatible.
        if self.by_address.len() <= FEW {
            if let Some((_, sub)) = self.few.iter().find(|e| e.0 == address) {
                return Some((sub, true));
            }
        } else if let Some(&(_, position, _)) = self
            .by_address
            .find(self.seed.hash_address(address), |e| e.0 == address)
        {
            return self.at(position).map(|sub| (sub, true));
        }
        self.get_by_name(measure)
    }

    #[cold]
    fn get_by_name(&self, measure: &Measure) -> Option<(&Subscription, bool)> {
        let sub = self.at(self.position(measure.name())?)?;
        Some((sub, super::compatible(&sub.measure, measure)))
    }

    /// Where `view` sits in a thread's `Routes::indexes`, if routed.
    pub(crate) fn slot_of(&self, view: &ViewState) -> Option<usize> {
        let slot = view.slot();
        (self.slots.get(slot) == Some(&view.id())).then_some(slot)
    }

    /// The id of the view in each slot (0 for none).
    pub(super) fn slot_ids(&self) -> &[u64] {
        &self.slots
    }
}

impl Subscription {
    /// Marks whether the view at `at` shares the keys of the view before
    /// it: the one view whose neighbour changes when a view is inserted at
    /// `at` or removed from there. (The view after an inserted one has
    /// greater keys than both its old and its new neighbour: views are
    /// sorted, and a view goes after those with keys equal to its own.)
    fn mark_same_keys(&mut self, at: usize) {
        let same = at
            .checked_sub(1)
            .and_then(|before| self.views.get(before))
            .zip(self.views.get(at))
            .is_some_and(|(a, b)| a.0.tag_keys() == b.0.tag_keys());
        if let Some(view) = self.views.get_mut(at) {
            view.2 = same;
        }
    }
}

#[inline]
fn sub_in(chunks: &[Arc<Chunk>], position: usize) -> Option<&Subscription> {
    chunks
        .get(position / CHUNK)?
        .get(position % CHUNK)?
        .as_ref()
}

/// The address of a measure's name: the same for every clone of one
/// measure handle, different for live measures with separate definitions.
#[inline]
fn address_of(measure: &Measure) -> usize {
    measure.name().as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64, TagKey, View};
    use std::time::SystemTime;

    fn state(name: &str, measure: &MeasureI64, keys: &[&TagKey], slot: usize) -> Arc<ViewState> {
        let view = View::builder(name, measure)
            .tag_keys(keys.iter().map(|k| (*k).clone()))
            .aggregation(Aggregation::Count)
            .build()
            .expect("valid view");
        let id = slot as u64 + 1;
        Arc::new(ViewState::new(view, SystemTime::now(), Seed::default()).in_slot(slot, id))
    }

    fn routed(subs: &Subscriptions, measure: &MeasureI64) -> Vec<String> {
        let mut names: Vec<String> = subs
            .get(measure.as_ref())
            .map(|(sub, _)| {
                sub.views
                    .iter()
                    .map(|v| v.0.view().name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    // Issue #16: the table changes one view at a time, in and out of
    // chunks, past the few-handles list, and copies share what they did
    // not change.
    #[test]
    fn views_come_and_go_one_at_a_time() -> Result<(), census_core::Error> {
        let measures: Vec<MeasureI64> = (0..150)
            .map(|i| MeasureI64::new(format!("m{i}"), "", "1"))
            .collect::<Result<_, _>>()?;
        let (a, b) = (TagKey::new("a")?, TagKey::new("b")?);
        let mut subs = Subscriptions::new(Seed::default());
        let mut states = Vec::new();
        for (i, m) in measures.iter().enumerate() {
            for (j, keys) in [vec![&b], vec![&a], vec![&b]].iter().enumerate() {
                let s = state(&format!("v{i}-{j}"), m, keys, states.len());
                subs.add(&s);
                states.push(s);
            }
        }
        let copy = subs.clone();
        for m in &measures {
            assert_eq!(routed(&subs, m).len(), 3);
            let (sub, compatible) = subs.get(m.as_ref()).expect("routed");
            assert!(compatible);
            // Sorted by keys, equal keys marked as sharing a projection.
            let same: Vec<bool> = sub.views.iter().map(|v| v.2).collect();
            assert_eq!(same, [false, false, true]);
        }
        // Every measure but the first eight loses all its views.
        for s in states.iter().skip(24) {
            subs.remove(s);
        }
        for (i, m) in measures.iter().enumerate() {
            let want = if i < 8 { 3 } else { 0 };
            assert_eq!(routed(&subs, m).len(), want, "m{i}");
            // The copy taken before still routes everything.
            assert_eq!(routed(&copy, m).len(), 3, "copy m{i}");
        }
        assert_eq!(subs.published().few.len(), 8);
        // A measure handle built again by name finds its subscription.
        let again = MeasureI64::new("m3", "", "1")?;
        assert_eq!(routed(&subs, &again).len(), 3);
        for s in states.iter().take(24).skip(3) {
            subs.remove(s);
        }
        assert_eq!(routed(&subs, &measures[0]), ["v0-0", "v0-1", "v0-2"]);
        assert!(subs.slot_of(&states[0]).is_some());
        assert!(subs.slot_of(&states[30]).is_none());
        // Freed positions are reused.
        let late = MeasureI64::new("late", "", "1")?;
        let s = state("late", &late, &[], 0);
        subs.add(&s);
        assert_eq!(routed(&subs, &late), ["late"]);
        assert!(subs.positions <= 150);
        Ok(())
    }

    // Views marked as sharing their keys with the view before them are
    // exactly those that do, after any sequence of adds and removes (the
    // marks are updated around the change, not recomputed).
    #[test]
    fn same_key_marks_stay_exact_through_adds_and_removes() -> Result<(), census_core::Error> {
        let m = MeasureI64::new("m", "", "1")?;
        let keys = [TagKey::new("a")?, TagKey::new("b")?];
        let key_sets: [Vec<&TagKey>; 4] = [
            vec![],
            vec![&keys[0]],
            vec![&keys[1]],
            vec![&keys[0], &keys[1]],
        ];
        let mut subs = Subscriptions::new(Seed::default());
        let mut live: Vec<Arc<ViewState>> = Vec::new();
        // A fixed pseudo-random walk: xorshift, seeded.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..2_000 {
            if live.len() < 3 || next() % 3 != 0 {
                let set = &key_sets[(next() % 4) as usize];
                let s = state(&format!("v{step}"), &m, set, step);
                subs.add(&s);
                live.push(s);
            } else {
                let s = live.swap_remove((next() as usize) % live.len());
                subs.remove(&s);
            }
            let Some((sub, _)) = subs.get(m.as_ref()) else {
                assert!(live.is_empty());
                continue;
            };
            assert_eq!(sub.views.len(), live.len(), "step {step}");
            for (i, (view, _, same)) in sub.views.iter().enumerate() {
                let before = i.checked_sub(1).and_then(|b| sub.views.get(b));
                let want = before.is_some_and(|b| b.0.tag_keys() == view.tag_keys());
                assert_eq!(*same, want, "step {step}, view {i}");
                if let Some(b) = before {
                    assert!(b.0.tag_keys() <= view.tag_keys(), "sorted by keys");
                }
            }
        }
        Ok(())
    }
}
