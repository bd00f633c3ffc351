//! Each thread's copy of the routing table (`subscriptions.rs`), with the
//! thread's row index for every view, and how a thread catches up with a
//! registration.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use census_core::Measure;
use crossbeam_utils::CachePadded;

use super::{Inner, Subscriptions};
use crate::thread_exit;
use crate::view::Index;

/// One thread's copy of the routing table, and its row index for each
/// routed view (by slot).
pub(crate) struct Routes {
    /// The registry version of `subscriptions`.
    version: u64,
    subscriptions: Arc<Subscriptions>,
    indexes: Vec<Index>,
}

impl Routes {
    fn empty() -> Routes {
        Routes {
            version: u64::MAX,
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
        let version = self.version.load(Ordering::Relaxed);
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
                if borrowed.version != version {
                    self.refresh(&mut borrowed);
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
    fn first_routes(&self) -> Option<&CachePadded<RefCell<Routes>>> {
        if thread_exit::exiting() {
            return None;
        }
        let routes = self
            .routes
            .get_or(|| CachePadded::new(RefCell::new(Routes::empty())));
        thread_exit::watch();
        Some(routes)
    }

    #[cold]
    fn fresh_routes(&self) -> Routes {
        let subscriptions = self.subscriptions();
        let indexes = subscriptions
            .slot_ids()
            .iter()
            .map(|_| Index::default())
            .collect();
        Routes {
            version: u64::MAX,
            subscriptions,
            indexes,
        }
    }

    /// A copy of the routing table as the registry has it now. Taken here,
    /// by the first thread that needs it after a registration, rather than
    /// by each registration: ten thousand registrations in a row copy it
    /// once. A copy shares the table's chunks of subscriptions and copies
    /// the rest as plain data.
    pub(crate) fn subscriptions(&self) -> Arc<Subscriptions> {
        let mut current = self.subscriptions.lock();
        // Acquire: pairs with the registration's Release store, so the
        // registry read below is at least that new (its mutex orders it
        // as well).
        if current.version != self.version.load(Ordering::Acquire) {
            // Lock order: subscriptions, then registry. Registrations take
            // the registry alone.
            let reg = self.registry.lock();
            *current = Arc::new(reg.routing().published());
        }
        Arc::clone(&current)
    }

    #[cold]
    #[inline(never)]
    fn refresh(&self, routes: &mut Routes) {
        let new = self.subscriptions();
        // A slot holds the same view (the same id) for as long as the
        // view is registered: this thread keeps its index of every view
        // that stayed and drops the index of every view that went.
        let (old, now) = (routes.subscriptions.slot_ids(), new.slot_ids());
        routes.indexes.truncate(now.len());
        for (index, (was, is)) in routes.indexes.iter_mut().zip(old.iter().zip(now)) {
            if was != is {
                *index = Index::default();
            }
        }
        // Slots past the old table's end (or past the indexes, after a
        // fallback) start empty.
        let known = old.len().min(routes.indexes.len());
        routes.indexes.truncate(known);
        routes.indexes.resize_with(now.len(), Index::default);
        routes.version = new.version;
        routes.subscriptions = new;
    }
}

/// Whether a recorded measure may feed views of the registered one: the
/// same type (so cells see the type they expect) and unit.
pub(crate) fn compatible(registered: &Measure, recorded: &Measure) -> bool {
    registered.same_as(recorded)
        || (registered.measure_type() == recorded.measure_type()
            && registered.unit() == recorded.unit())
}
