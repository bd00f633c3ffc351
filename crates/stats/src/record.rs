//! The record path, whole: from a recorded value to the cell it lands in.
//!
//! 1. [`ViewManager::record`]: after shutdown, nothing (one relaxed load).
//! 2. [`Inner::with_routes`]: this thread's copy of the routing table and
//!    its row index of each view (one thread-local lookup for every view).
//! 3. [`Routes::record`]: the measure's views (a float that is not finite,
//!    or a measure of another type, is counted and dropped).
//! 4. [`ViewState::record`], for each view: project the tags onto the
//!    view's keys, hash the values, find this thread's own share of the row
//!    in its index, and add the value to the share (`cells.rs`).
//!
//! A thread that has no share of the row yet (its first record of the
//! combination, a new row, a full view, an expired row) leaves step 4
//! through `ViewState::record_new` (`view/table.rs`), the one slow path.

use std::sync::Arc;

use census_core::{Measure, Number, TagMap, TagValue};

use crate::cells::Share;
use crate::manager::{Inner, Routes};
use crate::view::{Index, ViewState, INLINE_KEYS};
use crate::ViewManager;

impl ViewManager {
    /// Records the values of a `MeasurementMap`.
    #[inline]
    pub(crate) fn record(&self, values: &[(&Measure, Number)], tags: &TagMap) {
        if self.inner().is_shut_down() {
            return;
        }
        self.inner().with_routes(|routes| {
            for &(measure, value) in values {
                routes.record(self.inner(), measure, value, tags);
            }
        });
    }

    /// [`record`](ViewManager::record) for a map of one value, the usual
    /// case: nothing to iterate. Not inlined itself, so that the map's
    /// `put` and `record_to` can be, and the map need not be built.
    #[inline(never)]
    pub(crate) fn record_one(&self, measure: &Measure, value: Number, tags: &TagMap) {
        if self.inner().is_shut_down() {
            return;
        }
        self.inner()
            .with_routes(|routes| routes.record(self.inner(), measure, value, tags));
    }
}

impl Routes {
    /// Records one value into every view of its measure.
    #[inline(always)]
    pub(crate) fn record(
        &mut self,
        inner: &Inner,
        measure: &Measure,
        value: Number,
        tags: &TagMap,
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
        for (view, slot) in &sub.views {
            if let Some(index) = indexes.get_mut(*slot) {
                view.record(index, tags, value);
            }
        }
    }
}

impl ViewState {
    /// Records `value` under `tags` into this view: the one record that
    /// `MeasurementMap`s and bound handles both go through. `index` is the
    /// calling thread's index of this view.
    #[inline]
    pub(crate) fn record(&self, index: &mut Index, tags: &TagMap, value: Number) {
        project(self, tags, |key| {
            let hash = self.hash(key);
            // Recorded on this thread before: its own share, no lock, no
            // write to memory another thread writes. A share refuses the
            // value only when its row expired.
            match index.find(hash, key) {
                Some(share) if share.record(value) => {}
                _ => self.record_new(index, hash, key, value),
            }
        });
    }

    /// This thread's share of the row for `tags`, made if need be: bound
    /// handles resolve it once and then record into it directly.
    pub(crate) fn share_of(&self, index: &mut Index, tags: &TagMap) -> Arc<Share> {
        project(self, tags, |key| self.share_for(index, self.hash(key), key))
    }
}

/// Calls `f` with the values of `tags` for `view`'s keys, in key order,
/// `None` where the map has no value for a key.
#[inline(always)]
pub(crate) fn project<'t, R>(
    view: &ViewState,
    tags: &'t TagMap,
    f: impl FnOnce(&[Option<&'t TagValue>]) -> R,
) -> R {
    let keys = view.tag_keys();
    if keys.len() <= INLINE_KEYS {
        // No allocation for the usual views: the projection lives on the
        // stack and borrows the map's values. `get` compares key pointers.
        let mut key = [None; INLINE_KEYS];
        for (slot, want) in key.iter_mut().zip(keys) {
            *slot = tags.get(want);
        }
        f(key.get(..keys.len()).unwrap_or_default())
    } else {
        let key: Vec<Option<&TagValue>> = keys.iter().map(|k| tags.get(k)).collect();
        f(&key)
    }
}
