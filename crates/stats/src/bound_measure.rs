//! BoundMeasure: a measure with its tags resolved once, for call sites that
//! record the same series over and over.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use census_core::{Measure, Number, TagMap, TypedMeasure};
use crossbeam_utils::CachePadded;
use thread_local::ThreadLocal;

use crate::cells::Share;
use crate::manager::{Inner, ViewManager};
use crate::record::Projection;
use crate::thread_exit;
use crate::view::{Index, ViewState};

/// A measure bound to one [`TagMap`] in one [`ViewManager`]: recording
/// through it skips the routing and row lookups that
/// [`MeasurementMap`](crate::MeasurementMap) does on every call.
///
/// Made by [`ViewManager::bind`]. Each thread that records through a handle
/// resolves the measure's views and its own share of each view's row once,
/// and after that a record is a few loads and one store per view, with no
/// lock, no hashing and no write to memory another thread writes.
///
/// The handle follows registration changes: when a view of the measure is
/// registered or unregistered, the next record on each thread resolves
/// again, so values go to exactly the views registered at that time (an
/// unregistered view's rows are no longer written; a newly registered view
/// gets a row for the bound tags). After [`ViewManager::shutdown`],
/// recording through the handle does nothing, as with `MeasurementMap`.
/// If the view was full when the handle resolved, its values fold into
/// the overflow row, each counted in
/// [`ViewData::folded`](census_core::ViewData::folded) as a
/// `MeasurementMap`'s are; in a view whose rows expire, the handle tries
/// for a row of its own again each time expiry has freed places (in a
/// view without expiry no place ever frees). In a view with
/// [`expire_after`](census_core::ViewBuilder::expire_after) the handle does
/// not keep its row alive: once the row expired, the next record through
/// the handle (on any thread) goes into a fresh row for the bound tags.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
/// use census_stats::ViewManager;
///
/// let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
/// let method = TagKey::new("method")?;
/// let vm = ViewManager::new();
/// vm.register_view(View::builder("demo/requests_total", &requests)
///     .tag_keys([method.clone()]).aggregation(Aggregation::Sum).build()?)?;
/// let gets = vm.bind(&requests, &TagMap::new().with(&method, "GET")?);
/// for _ in 0..3 {
///     gets.record(1);
/// }
/// assert_eq!(vm.retrieve_data("demo/requests_total")?.rows.len(), 1);
/// vm.shutdown();
/// gets.record(1); // ignored: the manager is shut down
/// # Ok(()) }
/// ```
pub struct BoundMeasure<M: TypedMeasure> {
    inner: Arc<Inner>,
    measure: Measure,
    tags: TagMap,
    /// Each thread's resolution; see the type's doc. Padded as the
    /// manager's `routes` are, for the same reason.
    local: ThreadLocal<CachePadded<RefCell<Resolved>>>,
    _value: PhantomData<fn(M::Value)>,
}

/// What one thread resolved, and at which registry version.
struct Resolved {
    generation: u64,
    /// One per view of the measure.
    bound: Vec<Bound>,
    /// The registered measure of this name has another type or unit.
    incompatible: bool,
}

/// This thread's share of the bound row in one view.
struct Bound {
    share: Arc<Share>,
    /// The view, to find the row again after it expired.
    view: Arc<ViewState>,
    /// For a share of the full view's overflow row, the view's `drops`
    /// when it was resolved: once that moves a place may have freed, and
    /// the handle tries for a row of its own again.
    folded_at: Option<u64>,
}

impl ViewManager {
    /// Binds `measure` to `tags` for repeated recording; see
    /// [`BoundMeasure`].
    pub fn bind<M: TypedMeasure>(&self, measure: &M, tags: &TagMap) -> BoundMeasure<M> {
        BoundMeasure {
            inner: Arc::clone(self.inner()),
            measure: measure.as_ref().clone(),
            tags: tags.clone(),
            local: ThreadLocal::new(),
            _value: PhantomData,
        }
    }
}

impl<M: TypedMeasure> BoundMeasure<M> {
    /// Records `value` into every view of the measure, under the bound
    /// tags. A NaN or infinite float is counted in
    /// [`ManagerStats::rejected_values`](crate::ManagerStats::rejected_values)
    /// instead.
    #[inline]
    pub fn record(&self, value: M::Value) {
        if self.inner.is_shut_down() {
            return;
        }
        if self.inner.switch.refuses() {
            return;
        }
        let number = M::number(value);
        if let Number::Float(v) = number {
            if !v.is_finite() {
                self.inner.reject();
                return;
            }
        }
        let generation = self.inner.version();
        let local = match self.local.get() {
            Some(local) => local,
            None => match self.first_local() {
                Some(local) => local,
                None => return self.inner.dropped_at_thread_exit(1),
            },
        };
        let Ok(mut local) = local.try_borrow_mut() else {
            // Only if recording re-entered itself on this thread, which
            // nothing does.
            return;
        };
        if local.generation != generation && !self.resolve(&mut local, generation) {
            return self.inner.dropped_at_thread_exit(1);
        }
        if local.incompatible {
            self.inner.reject();
        }
        let mut i = 0;
        while let Some(bound) = local.bound.get(i) {
            // A share refuses the value only when its row expired; one of
            // the overflow row is looked at apart (counted, and left once a
            // place frees), off the usual path.
            let taken = match bound.folded_at {
                None => bound.share.record(number),
                Some(at) => Self::fold(bound, at, number),
            };
            if !taken {
                self.renew(&mut local, i, number);
            }
            i += 1;
        }
    }

    /// Records into a share of the overflow row, counting the value as
    /// folded; `false`, recording nothing, when places may have freed
    /// since the handle folded (the caller resolves again).
    #[cold]
    #[inline(never)]
    fn fold(bound: &Bound, at: u64, number: Number) -> bool {
        if bound.view.drops() != at {
            return false;
        }
        bound.view.fold();
        // An overflow row's share never expires: it always takes it.
        bound.share.record(number)
    }

    /// This thread's first resolution slot, unless the thread is exiting
    /// (see `thread_exit`).
    #[cold]
    #[inline(never)]
    fn first_local(&self) -> Option<&CachePadded<RefCell<Resolved>>> {
        if thread_exit::exiting() {
            return None;
        }
        let local = self.local.get_or(|| {
            CachePadded::new(RefCell::new(Resolved {
                generation: u64::MAX,
                bound: Vec::new(),
                incompatible: false,
            }))
        });
        thread_exit::watch();
        Some(local)
    }

    /// Records through a new resolution of view `i`: its row expired (the
    /// thread's share of a fresh row for the bound tags), or it was folded
    /// into the overflow row and a place may have freed since.
    #[cold]
    #[inline(never)]
    fn renew(&self, local: &mut Resolved, i: usize, number: Number) {
        let Some(view) = local.bound.get(i).map(|b| Arc::clone(&b.view)) else {
            return;
        };
        let renewed = self.inner.with_routes(|routes| {
            let (subs, indexes) = routes.parts();
            // A view unregistered meanwhile takes no more values, as with
            // any record racing an unregistration.
            let Some(index) = subs.slot_of(&view).and_then(|slot| indexes.get_mut(slot)) else {
                return;
            };
            view.record(index, &Projection::of(&view, &self.tags), number);
            if let Some(slot) = local.bound.get_mut(i) {
                *slot = Bound::resolve(&view, index, &self.tags);
            }
        });
        if renewed.is_none() {
            self.inner.dropped_at_thread_exit(1);
        }
    }

    /// The tags the handle records under.
    pub fn tags(&self) -> &TagMap {
        &self.tags
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self, local: &mut Resolved, generation: u64) -> bool {
        let resolved = self.inner.with_routes(|routes| {
            let (subs, indexes) = routes.parts();
            local.bound.clear();
            local.incompatible = false;
            match subs.get(&self.measure) {
                Some((sub, true)) => {
                    for (view, slot, _) in &sub.views {
                        if let Some(index) = indexes.get_mut(*slot) {
                            local.bound.push(Bound::resolve(view, index, &self.tags));
                        }
                    }
                }
                Some(_) => local.incompatible = true,
                None => {}
            }
        });
        // A thread that is exiting resolved nothing: it tries again next
        // time, and this value is counted as dropped.
        if resolved.is_some() {
            local.generation = generation;
        }
        resolved.is_some()
    }
}

impl Bound {
    fn resolve(view: &Arc<ViewState>, index: &mut Index, tags: &TagMap) -> Bound {
        // Read before resolving: a drop racing the resolution then shows
        // as a move at the next record, which looks again.
        let drops = view.drops();
        let (share, folded) = view.share_of(index, tags);
        Bound {
            share,
            view: Arc::clone(view),
            folded_at: folded.then_some(drops),
        }
    }
}

impl<M: TypedMeasure> fmt::Debug for BoundMeasure<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundMeasure")
            .field("measure", &self.measure.name())
            .field("tags", &self.tags)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, AggregationData, MeasureF64, TagKey, View};

    fn sum_of(vm: &ViewManager, view: &str) -> Option<f64> {
        let data = vm.retrieve_data(view).ok()?;
        data.rows.iter().find_map(|r| match r.data {
            AggregationData::Sum(n) => Some(n.as_f64()),
            _ => None,
        })
    }

    #[test]
    fn follows_unregister_register_and_shutdown() -> Result<(), census_core::Error> {
        let m = MeasureF64::new("m", "", "1")?;
        let k = TagKey::new("k")?;
        let view = || {
            View::builder("v", &m)
                .tag_keys([k.clone()])
                .aggregation(Aggregation::Sum)
                .build()
        };
        let vm = ViewManager::new();
        vm.register_view(view()?)?;
        let bound = vm.bind(&m, &TagMap::new().with(&k, "a")?);
        bound.record(1.0);
        bound.record(2.0);
        assert_eq!(sum_of(&vm, "v"), Some(3.0));
        vm.unregister_view("v")?;
        bound.record(100.0);
        vm.register_view(view()?)?;
        // The re-registered view starts empty and gets the handle's values.
        assert_eq!(sum_of(&vm, "v"), None);
        bound.record(4.0);
        assert_eq!(sum_of(&vm, "v"), Some(4.0));
        // A record through the map lands in the same row.
        crate::MeasurementMap::new()
            .put(&m, 0.5)
            .record_to(&vm, &TagMap::new().with(&k, "a")?);
        assert_eq!(sum_of(&vm, "v"), Some(4.5));
        bound.record(f64::NAN);
        assert_eq!(vm.stats().rejected_values, 1);
        vm.shutdown();
        bound.record(8.0);
        assert_eq!(sum_of(&vm, "v"), Some(4.5));
        Ok(())
    }

    #[test]
    fn threads_recording_through_one_handle_add_up() -> Result<(), census_core::Error> {
        let m = MeasureF64::new("m", "", "1")?;
        let vm = ViewManager::new();
        vm.register_view(
            View::builder("v", &m)
                .aggregation(Aggregation::Sum)
                .build()?,
        )?;
        let bound = vm.bind(&m, &TagMap::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        bound.record(0.5);
                    }
                });
            }
        });
        assert_eq!(sum_of(&vm, "v"), Some(2000.0));
        Ok(())
    }
}
