//! ViewManager: owns the registered views and exporters, routes recorded
//! values to views, and runs the export worker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use census_core::{Error, Exporter, Measure, Number, Producer, TagMap, View, ViewData};
use hashbrown::HashTable;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::delivery::{Batch, Delivery, DeliveryCounters};
use crate::padded::Padded;
use crate::rows::{random_seed, Audience, Index, ViewState};
use crate::worker::Worker;

/// The reporting period a manager starts with.
pub const DEFAULT_REPORTING_PERIOD: Duration = Duration::from_secs(10);

/// How long `shutdown` waits, unless told otherwise, for exporters to
/// finish the final export and their own shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns registered views and exporters, routes recorded values into the
/// views, and runs one background thread that exports every view each
/// reporting period.
///
/// Use the process-wide instance from [`crate::view_manager`], or make
/// independent ones with [`ViewManager::new`] (tests, embedding): both work
/// the same way. Dropping a manager shuts it down.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{Aggregation, MeasureI64, TagMap, View};
/// use census_stats::{MeasurementMap, ViewManager};
///
/// let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
/// let vm = ViewManager::new();
/// vm.register_view(View::builder("demo/requests_total", &requests)
///     .aggregation(Aggregation::Sum).build()?)?;
/// MeasurementMap::new().put(&requests, 3).record_to(&vm, &TagMap::new());
/// let data = vm.retrieve_data("demo/requests_total")?;
/// assert_eq!(data.rows.len(), 1);
/// vm.shutdown();
/// # Ok(()) }
/// ```
pub struct ViewManager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Views, exporters and producers. Taken to register, unregister and to
    /// list what to snapshot; never on the record path, never while calling
    /// an exporter.
    registry: Mutex<Registry>,
    /// Measure name to the views that aggregate it, rebuilt whole on each
    /// registration change. The record path reads it through its thread's
    /// `routes` copy, and comes here only when `generation` moved.
    subscriptions: Mutex<Arc<Subscriptions>>,
    /// Bumped after every change of `subscriptions`.
    generation: AtomicU64,
    /// Each thread's copy of `subscriptions`, the generation it was taken
    /// at, and the thread's row index for each view. Checking a copy reads
    /// `generation` and writes nothing shared, where a read lock would
    /// write its reader count and an `Arc` clone its reference count: both
    /// cache lines every recording thread would fight over.
    routes: ThreadLocal<Padded<RefCell<Routes>>>,
    shut_down: AtomicBool,
    /// The hash seed of every view of this manager; see `ViewState::new`.
    seed: (u64, u64),
    /// Makes a second `shutdown` call wait for the first to finish.
    shutdown_lock: Mutex<()>,
    worker: Mutex<Option<Worker>>,
    period: Mutex<Duration>,
    shutdown_timeout: Mutex<Duration>,
    /// What the first shutdown found, handed to later callers too.
    report: Mutex<Option<ShutdownReport>>,
    rejected_values: AtomicU64,
    counters: Arc<DeliveryCounters>,
}

#[derive(Default)]
struct Registry {
    views: Vec<Arc<ViewState>>,
    deliveries: Vec<Arc<Delivery>>,
    producers: Vec<Arc<dyn Producer>>,
}

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
}

pub(crate) struct Subscription {
    pub(crate) measure: Measure,
    /// The measure's views, each with its slot and how it shares a
    /// projection with its neighbours.
    pub(crate) views: Vec<(Arc<ViewState>, usize, Projection)>,
}

/// Views of one measure with the same tag keys, listed next to each other,
/// project and hash a record's tags once between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Projection {
    /// No neighbour has the same keys: project privately.
    Alone,
    /// The next view has the same keys: project and keep it.
    Lead,
    /// The view before has the same keys: reuse its projection.
    Reuse,
}

impl Subscriptions {
    fn build(views: &[Arc<ViewState>]) -> Subscriptions {
        let mut subs = Subscriptions::default();
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
                let keys = state.view().tag_keys();
                let mode = match sub.views.last_mut() {
                    Some((prev, _, mode)) if prev.view().tag_keys() == keys => {
                        if *mode == Projection::Alone {
                            *mode = Projection::Lead;
                        }
                        Projection::Reuse
                    }
                    _ => Projection::Alone,
                };
                sub.views.push((Arc::clone(state), subs.slots.len(), mode));
            }
            subs.slots.push(Arc::clone(state));
            let address = address_of(measure);
            if subs
                .by_address
                .find(hash_address(address), |e| e.0 == address)
                .is_none()
            {
                subs.by_address
                    .insert_unique(hash_address(address), (address, i), |e| hash_address(e.0));
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
                .find(hash_address(address), |e| e.0 == address)
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

#[inline]
fn hash_address(address: usize) -> u64 {
    // Addresses are aligned and close together; a multiply by an odd
    // constant spreads them over the bits the table looks at.
    (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// One thread's copy of the routing table, and its row index for each
/// routed view (by slot).
pub(crate) struct Routes {
    generation: u64,
    subscriptions: Arc<Subscriptions>,
    indexes: Vec<Index>,
}

/// What a manager has counted about itself; see [`ViewManager::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ManagerStats {
    /// Values not aggregated: NaN or infinite floats, and values of a
    /// measure whose type or unit differs from the registered measure of
    /// the same name.
    pub rejected_values: u64,
    /// Batches handed to exporters (one per exporter per period).
    pub exports: u64,
    /// Exports that returned an error.
    pub export_errors: u64,
    /// Exports (and exporter shutdowns) that panicked.
    pub export_panics: u64,
    /// Periodic batches an exporter never saw because it was still busy
    /// with an earlier one when a newer one arrived. Batches are
    /// cumulative, so the newer batch carried the skipped one's values.
    pub skipped_batches: u64,
}

/// What [`ViewManager::shutdown`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Exporters (by [`Exporter::name`]) that had not finished the final
    /// export and their shutdown when the shutdown timeout ran out. Their
    /// threads are left running; nothing waits for them.
    pub unfinished: Vec<String>,
    /// Exporters whose `shutdown` returned an error or panicked, with what
    /// they said (for example how many batches could not be delivered).
    pub failed: Vec<(String, String)>,
}

impl ShutdownReport {
    /// Whether every exporter finished in time and shut down cleanly.
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty() && self.failed.is_empty()
    }
}

impl ViewManager {
    /// A new manager with no views, no exporters and no thread; the export
    /// thread starts with the first exporter.
    pub fn new() -> ViewManager {
        ViewManager {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::default()),
                subscriptions: Mutex::new(Arc::new(Subscriptions::default())),
                generation: AtomicU64::new(0),
                routes: ThreadLocal::new(),
                shut_down: AtomicBool::new(false),
                seed: random_seed(),
                shutdown_lock: Mutex::new(()),
                worker: Mutex::new(None),
                period: Mutex::new(DEFAULT_REPORTING_PERIOD),
                shutdown_timeout: Mutex::new(DEFAULT_SHUTDOWN_TIMEOUT),
                report: Mutex::new(None),
                rejected_values: AtomicU64::new(0),
                counters: Arc::new(DeliveryCounters::default()),
            }),
        }
    }

    /// Starts collecting `view`. Registering an identical view again does
    /// nothing and succeeds.
    ///
    /// # Errors
    ///
    /// - [`Error::ViewConflict`] if a different view has this name;
    /// - [`Error::MeasureConflict`] if another registered view's measure has
    ///   the same name but another type or unit;
    /// - [`Error::ViewRejected`] if a registered exporter refuses the view;
    /// - [`Error::ShutDown`] after [`shutdown`](ViewManager::shutdown).
    pub fn register_view(&self, view: View) -> Result<(), Error> {
        let (registered, exporters) = {
            let reg = self.inner.registry.lock();
            if let Some(done) = self.check_new_view(&reg, &view)? {
                return Ok(done);
            }
            let registered: Vec<View> = reg.views.iter().map(|s| s.view().clone()).collect();
            let exporters: Vec<Arc<dyn Exporter>> = reg
                .deliveries
                .iter()
                .map(|d| Arc::clone(d.exporter()))
                .collect();
            (registered, exporters)
        };
        // Exporters are asked without the registry lock held, so a slow or
        // re-entrant exporter cannot stall other registrations.
        for exporter in &exporters {
            let verdict =
                catch_unwind(AssertUnwindSafe(|| exporter.check_view(&view, &registered)));
            let reason = match verdict {
                Ok(Ok(())) => continue,
                Ok(Err(err)) => err.to_string(),
                Err(_) => format!(
                    "exporter {} panicked while checking the view",
                    exporter.name()
                ),
            };
            return Err(Error::ViewRejected {
                view: view.name().to_owned(),
                reason,
            });
        }
        let mut reg = self.inner.registry.lock();
        // Checked again: another thread may have registered since.
        if let Some(done) = self.check_new_view(&reg, &view)? {
            return Ok(done);
        }
        reg.views.push(Arc::new(ViewState::new(
            view,
            SystemTime::now(),
            self.inner.seed,
        )));
        self.publish(&reg);
        Ok(())
    }

    /// `Ok(Some(()))` when the view is already registered as is, `Ok(None)`
    /// when it is new and acceptable.
    fn check_new_view(&self, reg: &Registry, view: &View) -> Result<Option<()>, Error> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        if let Some(existing) = reg.views.iter().find(|s| s.view().name() == view.name()) {
            return if existing.view() == view {
                Ok(Some(()))
            } else {
                Err(Error::ViewConflict {
                    name: view.name().to_owned(),
                })
            };
        }
        let new = view.measure();
        for state in &reg.views {
            let old = state.view().measure();
            if old.name() == new.name() && !compatible(old, new) {
                return Err(Error::MeasureConflict {
                    name: new.name().to_owned(),
                    existing: format!("{}, unit {:?}", old.measure_type(), old.unit()),
                    refused: format!("{}, unit {:?}", new.measure_type(), new.unit()),
                });
            }
        }
        Ok(None)
    }

    /// Stops collecting the view named `name` and drops its rows.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownView`] if no view of that name is registered.
    pub fn unregister_view(&self, name: &str) -> Result<(), Error> {
        let mut reg = self.inner.registry.lock();
        let Some(i) = reg.views.iter().position(|s| s.view().name() == name) else {
            return Err(Error::UnknownView {
                name: name.to_owned(),
            });
        };
        reg.views.remove(i);
        self.publish(&reg);
        Ok(())
    }

    /// Rebuilds the record path's routing table from the registry.
    fn publish(&self, reg: &Registry) {
        let subs = Subscriptions::build(&reg.views);
        *self.inner.subscriptions.lock() = Arc::new(subs);
        // Release: a thread that reads the new generation and then takes
        // the mutex finds the new table (the mutex alone orders that; the
        // Release keeps the bump from being seen before the store). The
        // AcqRel read-modify-write keeps bumps from two publishers apart.
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The views registered now, in registration order.
    pub fn views(&self) -> Vec<View> {
        let reg = self.inner.registry.lock();
        reg.views.iter().map(|s| s.view().clone()).collect()
    }

    /// A snapshot of one view, taken now. In a view with
    /// [`expire_after`](census_core::ViewBuilder::expire_after), rows that
    /// have expired are dropped here, as in every snapshot (see
    /// docs/semantics.md, "Rows that expire").
    ///
    /// # Errors
    ///
    /// [`Error::UnknownView`] if no view of that name is registered.
    pub fn retrieve_data(&self, name: &str) -> Result<ViewData, Error> {
        let (state, exporters) = {
            let reg = self.inner.registry.lock();
            let state = reg.views.iter().find(|s| s.view().name() == name).cloned();
            (state, !reg.deliveries.is_empty())
        };
        // Snapshotting happens outside the registry lock: a large view
        // takes a while and must not hold up registrations.
        match state {
            Some(state) => Ok(state.snapshot(SystemTime::now(), Audience::Reader { exporters })),
            None => Err(Error::UnknownView {
                name: name.to_owned(),
            }),
        }
    }

    /// Adds an exporter. From the next period on, it receives every view's
    /// data each period and once more at shutdown; see
    /// [`Exporter`]'s contract.
    ///
    /// Each exporter gets a thread of its own that feeds it batches, so a
    /// slow or stuck exporter delays neither recording, nor the worker, nor
    /// any other exporter; while it is busy, newer batches replace the one
    /// waiting for it (counted in [`ManagerStats::skipped_batches`]).
    ///
    /// The exporter's [`attach`](Exporter::attach) receives a producer for
    /// on-demand snapshots, and any [`self_metrics`](Exporter::self_metrics)
    /// producer it returns joins every batch. The first exporter starts the
    /// manager's worker thread. After shutdown, or if its thread cannot be
    /// started, the exporter is dropped and the reason logged.
    pub fn register_exporter(&self, exporter: impl Exporter) {
        self.register_shared_exporter(Arc::new(exporter));
    }

    fn register_shared_exporter(&self, exporter: Arc<dyn Exporter>) {
        if self.inner.shut_down.load(Ordering::Acquire) {
            log::warn!(
                "census: exporter {} registered after shutdown; it will receive nothing",
                exporter.name()
            );
            return;
        }
        let producer: Arc<dyn Producer> = Arc::new(ManagerProducer(Arc::downgrade(&self.inner)));
        exporter.attach(producer);
        let own = exporter.self_metrics();
        let counters = Arc::clone(&self.inner.counters);
        let delivery = match Delivery::spawn(Arc::clone(&exporter), counters) {
            Ok(delivery) => delivery,
            Err(err) => {
                log::error!(
                    "census: exporter {} not registered: cannot start its thread: {err}",
                    exporter.name()
                );
                return;
            }
        };
        {
            let mut reg = self.inner.registry.lock();
            reg.deliveries.push(Arc::new(delivery));
            reg.producers.extend(own);
        }
        self.ensure_worker();
    }

    fn ensure_worker(&self) {
        let mut worker = self.inner.worker.lock();
        if worker.is_none() && !self.inner.shut_down.load(Ordering::Acquire) {
            let period = *self.inner.period.lock();
            match Worker::spawn(Arc::clone(&self.inner), period) {
                Ok(w) => *worker = Some(w),
                // Without a thread there are no periodic exports; shutdown
                // still exports once, from the caller's thread.
                Err(err) => log::error!("census: cannot start the export thread: {err}"),
            }
        }
    }

    /// Sets how often the worker exports. Takes effect at once: the next
    /// export comes one new period from now. A zero period means the
    /// default, 10 s, as in OpenCensus.
    pub fn set_reporting_period(&self, period: Duration) {
        let period = if period.is_zero() {
            DEFAULT_REPORTING_PERIOD
        } else {
            period
        };
        *self.inner.period.lock() = period;
        if let Some(worker) = self.inner.worker.lock().as_ref() {
            worker.set_period(period);
        }
    }

    /// The current reporting period.
    pub fn reporting_period(&self) -> Duration {
        *self.inner.period.lock()
    }

    /// Sets the longest [`shutdown`](ViewManager::shutdown) waits for
    /// exporters to finish the final export and their own shutdown.
    /// Exporters still busy then are named in the [`ShutdownReport`] and
    /// left behind. Longer than the HTTP exporter's own 5 s delivery
    /// deadline, so its report of what it could not deliver arrives in
    /// time. Default: 10 s ([`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn set_shutdown_timeout(&self, timeout: Duration) {
        *self.inner.shutdown_timeout.lock() = timeout;
    }

    /// Stops the manager, draining: takes one final snapshot of every view,
    /// exports it to every exporter, calls every exporter's `shutdown`,
    /// stops the worker thread, and returns.
    ///
    /// Every value whose `record` call returned before `shutdown` was
    /// called is in that final export. Values recorded by other threads
    /// while `shutdown` runs may or may not be; values recorded after it
    /// returns are ignored.
    ///
    /// It waits at most the shutdown timeout (default 10 s,
    /// [`set_shutdown_timeout`](ViewManager::set_shutdown_timeout)) for
    /// exporters; the report names any that had not finished. Calling it
    /// again returns the same report (a concurrent second call waits for
    /// the first to finish).
    pub fn shutdown(&self) -> ShutdownReport {
        let _one_at_a_time = self.inner.shutdown_lock.lock();
        // SeqCst pairs with the recorders' check so that, once this store
        // is done, later records are no-ops and the final snapshot sees
        // everything recorded before.
        if self.inner.shut_down.swap(true, Ordering::SeqCst) {
            return self.inner.report.lock().clone().unwrap_or_default();
        }
        let timeout = *self.inner.shutdown_timeout.lock();
        let worker = self.inner.worker.lock().take();
        let report = match worker {
            Some(worker) => worker.stop(timeout),
            None => self.inner.final_export(timeout),
        };
        for name in &report.unfinished {
            log::warn!(
                "census: exporter {name} did not finish within the shutdown timeout of {timeout:?}"
            );
        }
        *self.inner.report.lock() = Some(report.clone());
        report
    }

    /// A guard that shuts the manager down when dropped: hold it in `main`.
    ///
    /// ```
    /// let vm = census_stats::ViewManager::new();
    /// let _census = vm.shutdown_guard();
    /// // ... the service runs; leaving main drains every exporter.
    /// ```
    pub fn shutdown_guard(&self) -> ShutdownGuard<'_> {
        ShutdownGuard(self)
    }

    /// Whether [`shutdown`](ViewManager::shutdown) has been called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.load(Ordering::Acquire)
    }

    /// What the manager has counted about itself.
    pub fn stats(&self) -> ManagerStats {
        let c = &self.inner.counters;
        ManagerStats {
            rejected_values: self.inner.rejected_values.load(Ordering::Relaxed),
            exports: c.exports.load(Ordering::Relaxed),
            export_errors: c.export_errors.load(Ordering::Relaxed),
            export_panics: c.export_panics.load(Ordering::Relaxed),
            skipped_batches: c.skipped_batches.load(Ordering::Relaxed),
        }
    }

    /// Routes recorded values to their views; see `MeasurementMap`. The
    /// values are `inline` up to its first `None`, then `spilled`.
    #[inline]
    pub(crate) fn record(
        &self,
        inline: &[Option<(&Measure, Number)>],
        spilled: &[(&Measure, Number)],
        tags: &TagMap,
    ) {
        // Relaxed: a record racing with shutdown may land either side of
        // it, which the shutdown contract allows.
        if self.inner.shut_down.load(Ordering::Relaxed) {
            return;
        }
        self.inner.with_routes(|subs, indexes| {
            for &(measure, value) in inline.iter().map_while(Option::as_ref) {
                self.route(subs, indexes, measure, value, tags);
            }
            for &(measure, value) in spilled {
                self.route(subs, indexes, measure, value, tags);
            }
        });
    }

    /// [`record`](ViewManager::record) for a map of one value, the usual
    /// case: nothing to iterate, and the map itself need not be built in
    /// memory once its `put` and `record_to` are inlined. Not inlined
    /// itself, so that they can be.
    #[inline(never)]
    pub(crate) fn record_one(&self, measure: &Measure, value: Number, tags: &TagMap) {
        // Relaxed: see record.
        if self.inner.shut_down.load(Ordering::Relaxed) {
            return;
        }
        self.inner.with_routes(|subs, indexes| {
            self.route(subs, indexes, measure, value, tags);
        });
    }

    /// Records one value into every view of its measure.
    #[inline(always)]
    fn route(
        &self,
        subs: &Subscriptions,
        indexes: &mut [Index],
        measure: &Measure,
        value: Number,
        tags: &TagMap,
    ) {
        if let Number::Float(v) = value {
            if !v.is_finite() {
                self.inner.reject();
                return;
            }
        }
        // A measure no view uses ends here: one lookup, no more.
        let Some((sub, compatible)) = subs.get(measure) else {
            return;
        };
        if !compatible {
            self.inner.reject();
            return;
        }
        // The hot loop: every view that knows this map records through
        // its memo; the first that does not hands the rest to the lookup.
        for (i, (view, slot, _)) in sub.views.iter().enumerate() {
            let Some(index) = indexes.get_mut(*slot) else {
                continue;
            };
            if !view.record_remembered(index, tags, value) {
                self.route_looked_up(sub, i, indexes, value, tags);
                return;
            }
        }
    }

    /// Records into views `from..` of `sub` by looking rows up; kept out
    /// of line so the memo's hot loop stays small.
    #[inline(never)]
    fn route_looked_up(
        &self,
        sub: &Subscription,
        from: usize,
        indexes: &mut [Index],
        value: Number,
        tags: &TagMap,
    ) {
        // Views with the same keys as the one before them reuse its
        // projection and hash: a record into Count, Sum and Distribution
        // views of one key set projects once, and only for those of them
        // that do not know the map yet.
        let mut projected = None;
        for (i, (view, slot, mode)) in sub.views.iter().enumerate().skip(from) {
            let Some(index) = indexes.get_mut(*slot) else {
                continue;
            };
            if *mode != Projection::Reuse {
                projected = None;
            }
            if i != from && view.record_remembered(index, tags, value) {
                continue;
            }
            if *mode == Projection::Alone {
                view.record_looked_up(index, tags, value);
                continue;
            }
            match projected.get_or_insert_with(|| view.project(tags)) {
                Some(p) => view.record_projected(index, tags, p.key(), p.hash(), value),
                None => view.record_looked_up(index, tags, value),
            }
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Inner {
    /// Calls `f` with the current routing table, from this thread's copy
    /// when that is still current, and the thread's row indexes.
    #[inline]
    pub(crate) fn with_routes<R>(&self, f: impl FnOnce(&Subscriptions, &mut [Index]) -> R) -> R {
        // Relaxed is enough to notice a change: a registration that
        // happened before this call is seen by coherence, and one racing
        // with it may land either side. The table itself is read under the
        // mutex on refresh, which orders it.
        let generation = self.generation.load(Ordering::Relaxed);
        let routes = self.routes.get_or(|| {
            Padded(RefCell::new(Routes {
                generation: u64::MAX,
                subscriptions: Arc::new(Subscriptions::default()),
                indexes: Vec::new(),
            }))
        });
        // `f` is called from one place, so that it is inlined here: a
        // call per record cost ~20 instructions of saving and restoring.
        let mut borrowed;
        let mut fallback;
        let (subscriptions, indexes): (&Subscriptions, &mut [Index]) = match routes.try_borrow_mut()
        {
            Ok(routes) => {
                borrowed = routes;
                if borrowed.generation != generation {
                    self.refresh(&mut borrowed, generation);
                }
                let Routes {
                    subscriptions,
                    indexes,
                    ..
                } = &mut *borrowed;
                (subscriptions, indexes)
            }
            // Only if recording re-entered itself on this thread, which
            // nothing does. Fresh indexes still give the right answer:
            // the shares they make are listed with their views.
            Err(_) => {
                fallback = self.fresh_routes();
                (&fallback.0, &mut fallback.1)
            }
        };
        f(subscriptions, indexes)
    }

    #[cold]
    fn fresh_routes(&self) -> (Arc<Subscriptions>, Vec<Index>) {
        let subs = Arc::clone(&self.subscriptions.lock());
        let indexes = subs.slots.iter().map(|_| Index::default()).collect();
        (subs, indexes)
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

    /// Whether recording is over.
    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        // Relaxed: see ViewManager::record.
        self.shut_down.load(Ordering::Relaxed)
    }

    /// The routing table's current generation.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        // Relaxed: see with_routes.
        self.generation.load(Ordering::Relaxed)
    }

    #[cold]
    pub(crate) fn reject(&self) {
        // Relaxed: a statistic.
        self.rejected_values.fetch_add(1, Ordering::Relaxed);
    }

    /// Every view's data, taken now, plus what exporters contribute.
    pub(crate) fn snapshot_all(&self, audience: Audience) -> Vec<ViewData> {
        let (views, producers) = {
            let reg = self.registry.lock();
            (reg.views.clone(), reg.producers.clone())
        };
        let end = SystemTime::now();
        let mut batch: Vec<ViewData> = views.iter().map(|v| v.snapshot(end, audience)).collect();
        for producer in producers {
            match catch_unwind(AssertUnwindSafe(|| producer.produce())) {
                Ok(data) => batch.extend(data),
                Err(_) => log::warn!("census: an exporter's self-metrics producer panicked"),
            }
        }
        batch
    }

    /// Snapshots every view once and offers the batch to every exporter's
    /// thread; never waits for an exporter.
    pub(crate) fn export_all(&self) {
        let batch: Batch = self.snapshot_all(Audience::Exporters).into();
        for delivery in self.deliveries() {
            delivery.offer(Arc::clone(&batch), &self.counters);
        }
    }

    /// The drain: one last batch to every exporter, then each exporter's
    /// shutdown, waiting at most `timeout` for all of them together.
    pub(crate) fn final_export(&self, timeout: Duration) -> ShutdownReport {
        let deadline = Instant::now() + timeout;
        let batch: Batch = self.snapshot_all(Audience::Exporters).into();
        let deliveries = self.deliveries();
        for delivery in &deliveries {
            delivery.finish(Arc::clone(&batch), &self.counters);
        }
        let mut report = ShutdownReport::default();
        for delivery in &deliveries {
            if !delivery.wait_until(deadline) {
                report.unfinished.push(delivery.name().to_owned());
            } else if let Some(error) = delivery.shutdown_error() {
                report.failed.push((delivery.name().to_owned(), error));
            }
        }
        report
    }

    fn deliveries(&self) -> Vec<Arc<Delivery>> {
        self.registry.lock().deliveries.clone()
    }
}

/// Whether a recorded measure may feed views of the registered one: the
/// same type (so cells see the type they expect) and unit.
pub(crate) fn compatible(registered: &Measure, recorded: &Measure) -> bool {
    registered.same_as(recorded)
        || (registered.measure_type() == recorded.measure_type()
            && registered.unit() == recorded.unit())
}

impl Default for ViewManager {
    fn default() -> ViewManager {
        ViewManager::new()
    }
}

impl Drop for ViewManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for ViewManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reg = self.inner.registry.lock();
        f.debug_struct("ViewManager")
            .field("views", &reg.views.len())
            .field("exporters", &reg.deliveries.len())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Snapshots a manager's views for pull exporters; holds the manager
/// weakly so an exporter cannot keep it alive.
struct ManagerProducer(Weak<Inner>);

impl Producer for ManagerProducer {
    fn produce(&self) -> Vec<ViewData> {
        match self.0.upgrade() {
            // A pull: one reader among exporters, which must each have had
            // a row's last value in a batch before the row may expire.
            Some(inner) if !inner.shut_down.load(Ordering::Acquire) => {
                inner.snapshot_all(Audience::Reader { exporters: true })
            }
            _ => Vec::new(),
        }
    }
}

/// Shuts a [`ViewManager`] down when dropped; made by
/// [`ViewManager::shutdown_guard`] or [`crate::shutdown_guard`].
#[must_use = "the guard shuts down when dropped; bind it with `let _census = ...`"]
pub struct ShutdownGuard<'a>(&'a ViewManager);

impl Drop for ShutdownGuard<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl fmt::Debug for ShutdownGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShutdownGuard")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, AggregationData, MeasureI64, TagKey};

    fn sums(vm: &ViewManager, view: &str) -> Vec<(Vec<Option<String>>, i64)> {
        let mut rows: Vec<_> = vm
            .retrieve_data(view)
            .map(|d| d.rows)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let tags = r
                    .tags
                    .iter()
                    .map(|t| t.as_ref().map(|v| v.as_str().to_owned()))
                    .collect();
                let sum = match r.data {
                    AggregationData::Sum(Number::Int(v)) => v,
                    AggregationData::Count(n) => n as i64,
                    other => panic!("{other:?}"),
                };
                (tags, sum)
            })
            .collect();
        rows.sort();
        rows
    }

    // Views of one measure reuse the projection of the view before them
    // only when their keys are the same (issue #5); interleaved key sets
    // must each get their own.
    #[test]
    fn interleaved_key_sets_each_get_their_own_projection() -> Result<(), Error> {
        let m = MeasureI64::new("m", "", "1")?;
        let (a, b) = (TagKey::new("a")?, TagKey::new("b")?);
        let vm = ViewManager::new();
        let specs: [(&str, Vec<TagKey>, Aggregation); 4] = [
            ("a_sum", vec![a.clone()], Aggregation::Sum),
            ("a_count", vec![a.clone()], Aggregation::Count),
            ("ba_sum", vec![b.clone(), a.clone()], Aggregation::Sum),
            ("a_sum2", vec![a.clone()], Aggregation::Sum),
        ];
        for (name, keys, agg) in specs {
            vm.register_view(
                View::builder(name, &m)
                    .tag_keys(keys)
                    .aggregation(agg)
                    .build()?,
            )?;
        }
        let tags = TagMap::new().with(&a, "x")?.with(&b, "y")?;
        crate::MeasurementMap::new()
            .put(&m, 5)
            .record_to(&vm, &tags);
        crate::MeasurementMap::new()
            .put(&m, 2)
            .record_to(&vm, &tags.clone().without(&b));
        let x = || Some("x".to_owned());
        assert_eq!(sums(&vm, "a_sum"), vec![(vec![x()], 7)]);
        assert_eq!(sums(&vm, "a_count"), vec![(vec![x()], 2)]);
        assert_eq!(sums(&vm, "a_sum2"), vec![(vec![x()], 7)]);
        assert_eq!(
            sums(&vm, "ba_sum"),
            vec![(vec![None, x()], 2), (vec![Some("y".to_owned()), x()], 5)]
        );
        Ok(())
    }
}
