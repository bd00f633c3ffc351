//! ViewManager: owns the registered views and exporters, routes recorded
//! values to views, and runs the export worker.

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use census_core::{Error, Exporter, Measure, Number, Producer, TagMap, View, ViewData};
use parking_lot::{Mutex, RwLock};

use crate::delivery::{Batch, Delivery, DeliveryCounters};
use crate::rows::ViewState;
use crate::worker::Worker;

/// The reporting period a manager starts with.
pub const DEFAULT_REPORTING_PERIOD: Duration = Duration::from_secs(10);

/// How long `shutdown` waits, unless told otherwise, for exporters to
/// finish the final export and their own shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Measure name to the views that aggregate it: the record path's only
    /// shared structure, rebuilt whole on each registration change.
    subscriptions: RwLock<Subscriptions>,
    shut_down: AtomicBool,
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

type Subscriptions = HashMap<String, Subscription, foldhash::fast::RandomState>;

struct Subscription {
    measure: Measure,
    views: Vec<Arc<ViewState>>,
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
}

impl ShutdownReport {
    /// Whether every exporter finished in time.
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty()
    }
}

impl ViewManager {
    /// A new manager with no views, no exporters and no thread; the export
    /// thread starts with the first exporter.
    pub fn new() -> ViewManager {
        ViewManager {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::default()),
                subscriptions: RwLock::new(Subscriptions::default()),
                shut_down: AtomicBool::new(false),
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
        reg.views
            .push(Arc::new(ViewState::new(view, SystemTime::now())));
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
        let mut subs = Subscriptions::default();
        for state in &reg.views {
            let measure = state.view().measure();
            subs.entry(measure.name().to_owned())
                .or_insert_with(|| Subscription {
                    measure: measure.clone(),
                    views: Vec::new(),
                })
                .views
                .push(Arc::clone(state));
        }
        *self.inner.subscriptions.write() = subs;
    }

    /// The views registered now, in registration order.
    pub fn views(&self) -> Vec<View> {
        let reg = self.inner.registry.lock();
        reg.views.iter().map(|s| s.view().clone()).collect()
    }

    /// A snapshot of one view, taken now.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownView`] if no view of that name is registered.
    pub fn retrieve_data(&self, name: &str) -> Result<ViewData, Error> {
        let state = {
            let reg = self.inner.registry.lock();
            reg.views.iter().find(|s| s.view().name() == name).cloned()
        };
        // Snapshotting happens outside the registry lock: a large view
        // takes a while and must not hold up registrations.
        match state {
            Some(state) => Ok(state.snapshot(SystemTime::now())),
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
    /// left behind. Default: 5 s ([`DEFAULT_SHUTDOWN_TIMEOUT`]).
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
    /// It waits at most the shutdown timeout (default 5 s,
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

    /// Routes recorded values to their views; see `MeasurementMap`.
    #[inline]
    pub(crate) fn record<'m>(
        &self,
        values: impl Iterator<Item = (&'m Measure, Number)>,
        tags: &TagMap,
    ) {
        // Relaxed: a record racing with shutdown may land either side of
        // it, which the shutdown contract allows.
        if self.inner.shut_down.load(Ordering::Relaxed) {
            return;
        }
        let subs = self.inner.subscriptions.read();
        for (measure, value) in values {
            if let Number::Float(v) = value {
                if !v.is_finite() {
                    self.inner.reject();
                    continue;
                }
            }
            // A measure no view uses ends here: one hash lookup, no more.
            let Some(sub) = subs.get(measure.name()) else {
                continue;
            };
            if !compatible(&sub.measure, measure) {
                self.inner.reject();
                continue;
            }
            for view in &sub.views {
                view.record(tags, value);
            }
        }
    }
}

impl Inner {
    #[cold]
    fn reject(&self) {
        // Relaxed: a statistic.
        self.rejected_values.fetch_add(1, Ordering::Relaxed);
    }

    /// Every view's data, taken now, plus what exporters contribute.
    pub(crate) fn snapshot_all(&self) -> Vec<ViewData> {
        let (views, producers) = {
            let reg = self.registry.lock();
            (reg.views.clone(), reg.producers.clone())
        };
        let end = SystemTime::now();
        let mut batch: Vec<ViewData> = views.iter().map(|v| v.snapshot(end)).collect();
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
        let batch: Batch = self.snapshot_all().into();
        for delivery in self.deliveries() {
            delivery.offer(Arc::clone(&batch), &self.counters);
        }
    }

    /// The drain: one last batch to every exporter, then each exporter's
    /// shutdown, waiting at most `timeout` for all of them together.
    pub(crate) fn final_export(&self, timeout: Duration) -> ShutdownReport {
        let deadline = Instant::now() + timeout;
        let batch: Batch = self.snapshot_all().into();
        let deliveries = self.deliveries();
        for delivery in &deliveries {
            delivery.finish(Arc::clone(&batch), &self.counters);
        }
        let unfinished = deliveries
            .iter()
            .filter(|d| !d.wait_until(deadline))
            .map(|d| d.name().to_owned())
            .collect();
        ShutdownReport { unfinished }
    }

    fn deliveries(&self) -> Vec<Arc<Delivery>> {
        self.registry.lock().deliveries.clone()
    }
}

/// Whether a recorded measure may feed views of the registered one: the
/// same type (so cells see the type they expect) and unit.
fn compatible(registered: &Measure, recorded: &Measure) -> bool {
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
            Some(inner) if !inner.shut_down.load(Ordering::Acquire) => inner.snapshot_all(),
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
