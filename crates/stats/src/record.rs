//! The record path, whole: from a recorded value to the cell it lands in.
//!
//! 1. [`ViewManager::record`]: after shutdown, or while recording is off,
//!    nothing (a relaxed load each; a disabled record is counted).
//! 2. [`Inner::with_routes`]: this thread's copy of the routing table and
//!    its row index of each view (one thread-local lookup for every view).
//! 3. [`Routes::record`]: the measure's views (a float that is not finite,
//!    or a measure of another type, is counted and dropped).
//! 4. For each view, [`Projection::of`]: the tags' values for the view's
//!    keys and their hash, made once for views with the same keys; then
//!    [`ViewState::record`]: find this thread's own share of the row in
//!    its index, and add the value to the share (`cells.rs`).
//!
//! A map with attachments records the same way, and then keeps each value
//! as its bucket's exemplar (`exemplar.rs`).
//!
//! The tags come as a [`TagMap`] or, from
//! [`MeasurementMap::record_tags`](crate::MeasurementMap::record_tags), as
//! borrowed key and text pairs ([`Tags`]): steps 2 to 4 are the same code
//! for both, and hash and compare the text where it lies ([`Probe`]).
//!
//! A thread that has no share of the row yet (its first record of the
//! combination, a new row, a full view, an expired row) leaves step 4
//! through `ViewState::record_new` (`view/table.rs`), the one slow path.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use census_core::{Measure, Number, TagKey, TagMap, TagValue};
use smallvec::SmallVec;

use crate::cells::Share;
use crate::exemplar::{self, Attachment};
use crate::manager::{Inner, Routes};
use crate::view::{Index, ViewState, INLINE_KEYS};
use crate::ViewManager;

impl ViewManager {
    /// Records the values of a `MeasurementMap`, which keeps them in two
    /// slices (its first value apart from the others).
    #[inline]
    pub(crate) fn record<T: Tags + ?Sized>(&self, values: [&[(&Measure, Number)]; 2], tags: &T) {
        if self.inner().is_shut_down() {
            return;
        }
        if self.inner().switch.refuses() {
            return;
        }
        let recorded = self.inner().with_routes(|routes| {
            for &(measure, value) in values.into_iter().flatten() {
                routes.record(self.inner(), measure, value, tags);
            }
        });
        if recorded.is_none() {
            self.inner()
                .dropped_at_thread_exit(values.iter().map(|v| v.len()).sum());
        }
    }

    /// [`record`](ViewManager::record) for a map with attachments, kept
    /// apart so that maps without any run exactly the code they did.
    #[inline(never)]
    pub(crate) fn record_attached(
        &self,
        values: [&[(&Measure, Number)]; 2],
        tags: &TagMap,
        attachments: &[Attachment<'_>],
    ) {
        if self.inner().is_shut_down() {
            return;
        }
        if self.inner().switch.refuses() {
            return;
        }
        let kept = exemplar::kept(attachments);
        if kept < attachments.len() {
            self.inner().drop_attachments(attachments.len() - kept);
        }
        let attachments = attachments.get(..kept).unwrap_or_default();
        let recorded = self.inner().with_routes(|routes| {
            for &(measure, value) in values.into_iter().flatten() {
                routes.record(self.inner(), measure, value, tags);
                // Every attachment dropped: recorded as without any, so the
                // bucket keeps the exemplar (and its trace link) it had.
                if !attachments.is_empty() {
                    // Stamped by the manager's clock, so exemplars fall
                    // within its view data's intervals under a manual
                    // clock too; read only for an exemplar kept.
                    routes.keep_exemplars(measure, value, tags, attachments, &self.inner().clock);
                }
            }
        });
        if recorded.is_none() {
            self.inner()
                .dropped_at_thread_exit(values.iter().map(|v| v.len()).sum());
        }
    }

    /// [`record`](ViewManager::record) for a map of one value, the usual
    /// case: nothing to iterate. Not inlined itself, so that the map's
    /// `put` and `record_to` can be, and the map need not be built.
    #[inline(never)]
    pub(crate) fn record_one<T: Tags + ?Sized>(&self, measure: &Measure, value: &Number, tags: &T) {
        if self.inner().is_shut_down() {
            return;
        }
        if self.inner().switch.refuses() {
            return;
        }
        let recorded = self
            .inner()
            .with_routes(|routes| routes.record(self.inner(), measure, *value, tags));
        if recorded.is_none() {
            self.inner().dropped_at_thread_exit(1);
        }
    }
}

impl Routes {
    /// Records one value into every view of its measure.
    #[inline(always)]
    pub(crate) fn record<T: Tags + ?Sized>(
        &mut self,
        inner: &Inner,
        measure: &Measure,
        value: Number,
        tags: &T,
    ) {
        if let Number::Float(v) = value {
            if !v.is_finite() {
                inner.reject();
                return;
            }
        }
        let (subscriptions, indexes) = self.parts();
        // A measure no view uses ends here: one lookup, no more.
        let Some((sub, compatible)) = subscriptions.get(measure) else {
            return;
        };
        if !compatible {
            inner.reject();
            return;
        }
        // Views of one measure with the same keys sit next to each other
        // and share one projection and hash: a record into Count, Sum and
        // Distribution views of one key set projects and hashes once.
        let mut key = Projection::new();
        for (view, slot, same_keys) in &sub.views {
            let Some(index) = indexes.get_mut(*slot) else {
                continue;
            };
            if !*same_keys || key.is_empty() {
                key.project(view, tags);
            }
            view.record(index, &key, value);
        }
    }
}

impl ViewState {
    /// Records `value` under `key` (the record's tags projected onto this
    /// view's keys) into this view: the one record that `MeasurementMap`s
    /// and bound handles both go through. `index` is the calling thread's
    /// index of this view.
    #[inline(always)]
    pub(crate) fn record<V: Probe + ?Sized>(
        &self,
        index: &mut Index,
        key: &Projection<'_, V>,
        value: Number,
    ) {
        // Recorded on this thread before: its own share, no lock, no write
        // to memory another thread writes. A share refuses the value only
        // when its row expired.
        match index.find(key.hash, key.values()) {
            Some(share) if share.record(value) => {}
            _ => V::record_new(self, index, key.hash, key.values(), value),
        }
    }

    /// This thread's share of the row for `tags`, made if need be, and
    /// whether it is the overflow row's (see `share_for`): bound handles
    /// resolve it once and then record into it directly.
    pub(crate) fn share_of(&self, index: &mut Index, tags: &TagMap) -> (Arc<Share>, bool) {
        let key = Projection::of(self, tags);
        self.share_for(index, key.hash, key.values())
    }
}

/// Views with up to this many tag keys project without touching the heap;
/// wider ones allocate their projection at each record.
const SPILLED_KEYS: usize = 32;

/// A record's tag values for one view's keys, in key order (`None` where
/// the tags have no value for a key), and their hash.
pub(crate) struct Projection<'t, V: ?Sized = TagValue> {
    /// On the stack for views of up to eight keys, borrowing the record's
    /// values; `spilled` holds them for views with more, on the stack too
    /// up to `SPILLED_KEYS` (left uninitialised until a view needs it).
    inline: [Option<&'t V>; INLINE_KEYS],
    len: usize,
    spilled: SmallVec<[Option<&'t V>; SPILLED_KEYS]>,
    hash: u64,
}

impl<'t, V: Probe + ?Sized> Projection<'t, V> {
    #[inline(always)]
    fn new() -> Projection<'t, V> {
        Projection {
            inline: [None; INLINE_KEYS],
            len: usize::MAX,
            spilled: SmallVec::new(),
            hash: 0,
        }
    }

    /// The projection of `tags` onto `view`'s keys.
    pub(crate) fn of<T: Tags<Value = V> + ?Sized>(
        view: &ViewState,
        tags: &'t T,
    ) -> Projection<'t, V> {
        let mut key = Projection::new();
        key.project(view, tags);
        key
    }

    /// Whether no view projected into it yet.
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.len == usize::MAX
    }

    /// Projects `tags` onto `view`'s keys, in place.
    #[inline(always)]
    fn project<T: Tags<Value = V> + ?Sized>(&mut self, view: &ViewState, tags: &'t T) {
        let keys = view.tag_keys();
        self.len = keys.len();
        if keys.len() <= INLINE_KEYS {
            // `value` compares key pointers: keys are interned.
            for (slot, want) in self.inline.iter_mut().zip(keys) {
                *slot = tags.value(want);
            }
        } else {
            self.spilled = keys.iter().map(|k| tags.value(k)).collect();
        }
        self.hash = view.hash(self.values());
    }

    #[inline(always)]
    pub(crate) fn values(&self) -> &[Option<&'t V>] {
        if self.len <= INLINE_KEYS {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.spilled
        }
    }
}

/// The tags a record is made under: a [`TagMap`], or the key and text
/// pairs given to `record_tags`.
pub(crate) trait Tags {
    /// How the tags hold a value.
    type Value: Probe + ?Sized;

    /// The value for `key`, if the tags have one.
    fn value(&self, key: &TagKey) -> Option<&Self::Value>;
}

impl Tags for TagMap {
    type Value = TagValue;

    #[inline(always)]
    fn value(&self, key: &TagKey) -> Option<&TagValue> {
        self.get(key)
    }
}

/// A key given twice has its last value, as when a `TagMap` is built with
/// `with` in the same order.
impl Tags for [(&TagKey, &str)] {
    type Value = str;

    #[inline(always)]
    fn value(&self, key: &TagKey) -> Option<&str> {
        self.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// One value of a record's tags, as the record path finds its row: hashed
/// and compared against the rows' stored values in place.
pub(crate) trait Probe {
    /// Hashes as a [`TagValue`] of the same text does.
    fn hash_into<H: Hasher>(&self, state: &mut H);

    /// Whether a row's stored value is this one.
    fn matches(&self, stored: &TagValue) -> bool;

    /// The slow path (`ViewState::record_new`), for a record whose thread
    /// has no share of its row; `hash` is the projection's.
    fn record_new(
        view: &ViewState,
        index: &mut Index,
        hash: u64,
        key: &[Option<&Self>],
        value: Number,
    );
}

impl Probe for TagValue {
    #[inline(always)]
    fn hash_into<H: Hasher>(&self, state: &mut H) {
        self.hash(state);
    }

    #[inline(always)]
    fn matches(&self, stored: &TagValue) -> bool {
        self == stored
    }

    #[inline(always)]
    fn record_new(
        view: &ViewState,
        index: &mut Index,
        hash: u64,
        key: &[Option<&Self>],
        value: Number,
    ) {
        view.record_new(index, hash, key, value);
    }
}

/// Borrowed text is checked only on the slow path: text equal to a stored
/// value is valid, since every stored value was. Text that breaks the
/// value rule is recorded as [`TagValue::new_lossy`] makes it, and takes
/// the slow path at each record (it never equals a stored value).
impl Probe for str {
    #[inline(always)]
    fn hash_into<H: Hasher>(&self, state: &mut H) {
        TagValue::hash_text(self, state);
    }

    #[inline(always)]
    fn matches(&self, stored: &TagValue) -> bool {
        *stored == *self
    }

    /// Makes the values (on the stack for views of up to eight keys) and
    /// hashes them again: a replaced character changes the hash.
    #[cold]
    #[inline(never)]
    fn record_new(
        view: &ViewState,
        index: &mut Index,
        _hash: u64,
        key: &[Option<&str>],
        value: Number,
    ) {
        let made: SmallVec<[Option<TagValue>; INLINE_KEYS]> =
            key.iter().map(|v| v.map(TagValue::new_lossy)).collect();
        let made: SmallVec<[Option<&TagValue>; INLINE_KEYS]> =
            made.iter().map(Option::as_ref).collect();
        view.record_new(index, view.hash(&made), &made, value);
    }
}
