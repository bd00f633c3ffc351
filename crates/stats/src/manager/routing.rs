//! The routing table: which views each measure feeds, and each thread's
//! copy of it with the thread's row index for every view.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use census_core::{Measure, TagKey};
use hashbrown::HashTable;

use super::Inner;
use crate::padded::Padded;
use crate::seed::Seed;
use crate::thread_exit;
use crate::view::{Index, ViewState};

/// The record path's routing table: measure to the views that aggregate it.
#[derive(Default)]
pub(crate) struct Subscriptions {
    list: Vec<Subscription>,
    /// Every routed view, by its slot: a thread's `Routes::indexes` holds
    /// its index for the view at the same position.
    slots: Vec<Arc<ViewState>>,
    by_name: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Keyed by the address of a registered measure's name: a recorded
    /// handle that is a clone of a view's measure (the usual case) is found
    /// by one multiply and one compare, without hashing its name. The table
    /// keeps those measures alive, so no other measure can have the address.
    by_address: HashTable<(usize, usize)>,
    /// The same pairs as a plain list while there are a few: scanning it
    /// beats probing the table (or iterating its groups) for the usual
    /// handful of measures.
    few: Vec<(usize, usize)>,
    /// The manager's hash, for `by_address`.
    seed: Seed,
}

pub(crate) struct Subscription {
    pub(crate) measure: Measure,
    /// The measure's views, each with its slot in a thread's indexes and
    /// whether its keys are those of the view before it (views with the
    /// same keys are listed together, so they share a projection).
    pub(crate) views: Vec<(Arc<ViewState>, usize, bool)>,
}

impl Subscriptions {
    pub(super) fn build(views: &[Arc<ViewState>], seed: &Seed) -> Subscriptions {
        let mut subs = Subscriptions {
            seed: seed.clone(),
            ..Subscriptions::default()
        };
        for state in views {
            let measure = state.view().measure();
            let i = match subs.by_name.get(measure.name()) {
                Some(&i) => i,
                None => {
                    subs.list.push(Subscription {
                        measure: measure.clone(),
                        views: Vec::new(),
                    });
                    let i = subs.list.len() - 1;
                    subs.by_name.insert(measure.name().to_owned(), i);
                    i
                }
            };
            if let Some(sub) = subs.list.get_mut(i) {
                sub.views.push((Arc::clone(state), subs.slots.len(), false));
            }
            subs.slots.push(Arc::clone(state));
            let address = address_of(measure);
            let hash = seed.hash_address(address);
            if subs.by_address.find(hash, |e| e.0 == address).is_none() {
                subs.by_address
                    .insert_unique(hash, (address, i), |e| seed.hash_address(e.0));
            }
        }
        for sub in &mut subs.list {
            // A stable sort keeps registration order among equal key sets.
            sub.views.sort_by(|a, b| a.0.tag_keys().cmp(b.0.tag_keys()));
            let mut previous: Option<&[TagKey]> = None;
            for (view, _, same_keys) in &mut sub.views {
                *same_keys = previous == Some(view.tag_keys());
                previous = Some(view.tag_keys());
            }
        }
        if subs.by_address.len() <= FEW {
            subs.few = subs.by_address.iter().copied().collect();
        }
        subs
    }

    /// The subscription for `measure`'s name, and whether `measure` may
    /// feed it (see `compatible`).
    #[inline]
    pub(crate) fn get(&self, measure: &Measure) -> Option<(&Subscription, bool)> {
        let address = address_of(measure);
        let found = if self.by_address.len() <= FEW {
            self.few.iter().find(|e| e.0 == address)
        } else {
            self.by_address
                .find(self.seed.hash_address(address), |e| e.0 == address)
        };
        if let Some(&(_, i)) = found {
            // The very measure a view was registered with: registration
            // already proved it compatible.
            return self.list.get(i).map(|sub| (sub, true));
        }
        self.get_by_name(measure)
    }

    /// Where `view` sits in a thread's `Routes::indexes`, if routed.
    pub(crate) fn slot_of(&self, view: &Arc<ViewState>) -> Option<usize> {
        self.slots.iter().position(|v| Arc::ptr_eq(v, view))
    }

    #[cold]
    fn get_by_name(&self, measure: &Measure) -> Option<(&Subscription, bool)> {
        let sub = self.list.get(*self.by_name.get(measure.name())?)?;
        Some((sub, compatible(&sub.measure, measure)))
    }
}

/// Up to this many routed measures, lookups scan a list.
const FEW: usize = 8;

/// The address of a measure's name: the same for every clone of one
/// measure handle, different for live measures with separate definitions.
#[inline]
fn address_of(measure: &Measure) -> usize {
    measure.name().as_ptr() as usize
}

/// One thread's copy of the routing table, and its row index for each
/// routed view (by slot).
pub(crate) struct Routes {
    generation: u64,
    subscriptions: Arc<Subscriptions>,
    indexes: Vec<Index>,
}

impl Routes {
    fn empty() -> Routes {
        Routes {
            generation: u64::MAX,
            subscriptions: Arc::new(Subscriptions::default()),
            indexes: Vec::new(),
        }
    }

    /// The routing table and this thread's index of each routed view, by
    /// slot.
    #[inline]
    pub(crate) fn parts(&mut self) -> (&Subscriptions, &mut [Index]) {
        (&self.subscriptions, &mut self.indexes)
    }
}

impl Inner {
    /// Calls `f` with the current routing table, from this thread's copy
    /// when that is still current, and the thread's row indexes. `None`
    /// without calling `f` when the thread is exiting and census can no
    /// longer make its per-thread state (see `thread_exit`).
    #[inline]
    pub(crate) fn with_routes<R>(&self, f: impl FnOnce(&mut Routes) -> R) -> Option<R> {
        // Relaxed is enough to notice a change: a registration that
        // happened before this call is seen by coherence, and one racing
        // with it may land either side. The table itself is read under the
        // mutex on refresh, which orders it.
        let generation = self.generation.load(Ordering::Relaxed);
        let routes = match self.routes.get() {
            Some(routes) => routes,
            None => self.first_routes()?,
        };
        // `f` is called from one place, so that it is inlined here: a
        // call per record cost ~20 instructions of saving and restoring.
        let mut borrowed;
        let mut fallback;
        let routes: &mut Routes = match routes.try_borrow_mut() {
            Ok(routes) => {
                borrowed = routes;
                if borrowed.generation != generation {
                    self.refresh(&mut borrowed, generation);
                }
                &mut borrowed
            }
            // Only if recording re-entered itself on this thread, which
            // nothing does. Fresh indexes still give the right answer:
            // the shares they make are listed with their views.
            Err(_) => {
                fallback = self.fresh_routes();
                &mut fallback
            }
        };
        Some(f(routes))
    }

    /// This thread's first routing copy, unless the thread is exiting.
    #[cold]
    #[inline(never)]
    fn first_routes(&self) -> Option<&Padded<RefCell<Routes>>> {
        if thread_exit::exiting() {
            return None;
        }
        let routes = self.routes.get_or(|| Padded(RefCell::new(Routes::empty())));
        thread_exit::watch();
        Some(routes)
    }

    #[cold]
    fn fresh_routes(&self) -> Routes {
        let subscriptions = Arc::clone(&self.subscriptions.lock());
        let indexes = subscriptions
            .slots
            .iter()
            .map(|_| Index::default())
            .collect();
        Routes {
            generation: u64::MAX,
            subscriptions,
            indexes,
        }
    }

    #[cold]
    #[inline(never)]
    fn refresh(&self, routes: &mut Routes, generation: u64) {
        // Taken after reading `generation`, so the table is at least that
        // new; if it is newer the next record refreshes once more.
        let new = Arc::clone(&self.subscriptions.lock());
        // Views that stay keep this thread's index; the indexes of views
        // that went are dropped with them.
        let mut old = std::mem::take(&mut routes.indexes);
        routes.indexes = new
            .slots
            .iter()
            .map(|view| {
                routes
                    .subscriptions
                    .slots
                    .iter()
                    .position(|v| Arc::ptr_eq(v, view))
                    .and_then(|i| old.get_mut(i))
                    .map(std::mem::take)
                    .unwrap_or_default()
            })
            .collect();
        routes.subscriptions = new;
        routes.generation = generation;
    }
}

/// Whether a recorded measure may feed views of the registered one: the
/// same type (so cells see the type they expect) and unit.
pub(crate) fn compatible(registered: &Measure, recorded: &Measure) -> bool {
    registered.same_as(recorded)
        || (registered.measure_type() == recorded.measure_type()
            && registered.unit() == recorded.unit())
}
