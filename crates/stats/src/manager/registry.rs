//! Registering views and exporters, and what a manager has registered.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use census_core::{Error, ExportError, Exporter, Producer, View, ViewData};

use super::producer::ManagerProducer;
use super::{compatible, Registry, ViewManager, DEFAULT_REPORTING_PERIOD};
use crate::callback::CallbackView;
use crate::delivery::Delivery;
use crate::view::Audience;
use crate::worker::Worker;

/// Asks `exporter` whether it can export `view` beside `registered`.
fn check(exporter: &dyn Exporter, view: &View, registered: &[View]) -> Result<(), Error> {
    let verdict = catch_unwind(AssertUnwindSafe(|| exporter.check_view(view, registered)));
    let reason = match verdict {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!(
            "exporter {} panicked while checking the view",
            exporter.name()
        ),
    };
    Err(Error::ViewRejected {
        view: view.name().to_owned(),
        reason,
    })
}

/// An exporter's registration under way (see `Registry::registering`);
/// ends it when dropped, on every way out of `register_exporter`.
struct Reservation<'a> {
    manager: &'a ViewManager,
    instance: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut reg = self.manager.inner.registry.lock();
        if let Some(at) = reg.registering.iter().position(|&i| i == self.instance) {
            reg.registering.swap_remove(at);
        }
    }
}

impl ViewManager {
    /// Starts collecting `view`. Registering an identical view again does
    /// nothing and succeeds.
    ///
    /// # Errors
    ///
    /// - [`Error::ViewConflict`] if a different view, or a callback view,
    ///   has this name;
    /// - [`Error::MeasureConflict`] if another registered view's measure has
    ///   the same name but another type or unit;
    /// - [`Error::ViewRejected`] if a registered exporter refuses the view;
    /// - [`Error::ShutDown`] after [`shutdown`](ViewManager::shutdown).
    pub fn register_view(&self, view: View) -> Result<(), Error> {
        self.admit(&view.clone(), |reg| {
            reg.insert(view, &self.inner.clock);
            self.publish(reg);
        })
        .map(|_| ())
    }

    /// Registers a callback view (see `register_callback`): the checks of
    /// `register_view`, then the view joins the registry, unrouted.
    /// Registering one of the same name again is a conflict: a callback
    /// cannot be compared.
    pub(crate) fn add_callback_view(&self, view: Arc<CallbackView>) -> Result<(), Error> {
        let added = self.admit(view.view(), |reg| reg.insert_callback(Arc::clone(&view)))?;
        if !added {
            return Err(Error::ViewConflict {
                name: view.view().name().to_owned(),
            });
        }
        Ok(())
    }

    /// Checks a new view against the registry, asks every exporter about
    /// it, and then calls `add` with the registry locked; `Ok(false)`
    /// without calling it when the view is already registered as is.
    fn admit(&self, view: &View, add: impl FnOnce(&mut Registry)) -> Result<bool, Error> {
        loop {
            let (changes, registered, exporters) = {
                let mut reg = self.inner.registry.lock();
                if self.check_new_view(&reg, view)?.is_some() {
                    return Ok(false);
                }
                if reg.deliveries.is_empty() {
                    // Nobody to ask: register at once.
                    add(&mut reg);
                    return Ok(true);
                }
                let exporters: Vec<Arc<dyn Exporter>> = reg
                    .deliveries
                    .iter()
                    .map(|d| Arc::clone(d.exporter()))
                    .collect();
                (reg.changes, reg.listed(), exporters)
            };
            // Exporters are asked without the registry lock held, so a slow
            // or re-entrant exporter cannot stall other registrations.
            for exporter in &exporters {
                check(exporter.as_ref(), view, &registered)?;
            }
            // Let go of the list before `add` extends it: a second holder
            // would make that copy every view, O(n) per registration.
            drop(registered);
            let mut reg = self.inner.registry.lock();
            // A shutdown that ran meanwhile took its final snapshot
            // without this view: added now, it would be in no batch ever.
            // Acquire, as in `check_new_view`.
            if self.inner.shut_down.load(Ordering::Acquire) {
                return Err(Error::ShutDown);
            }
            // Nothing registered meanwhile: the answers still hold.
            // Otherwise ask again about the registry as it is now.
            if reg.changes == changes && reg.deliveries.len() == exporters.len() {
                add(&mut reg);
                return Ok(true);
            }
        }
    }

    /// `Ok(Some(()))` when the view is already registered as is, `Ok(None)`
    /// when it is new and acceptable.
    fn check_new_view(&self, reg: &Registry, view: &View) -> Result<Option<()>, Error> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        if reg.callback(view.name()).is_some() {
            return Err(Error::ViewConflict {
                name: view.name().to_owned(),
            });
        }
        if let Some(existing) = reg.get(view.name()) {
            return if existing.view() == view {
                Ok(Some(()))
            } else {
                Err(Error::ViewConflict {
                    name: view.name().to_owned(),
                })
            };
        }
        let new = view.measure();
        if let Some(old) = reg.measure(new.name()) {
            if !compatible(old, new) {
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
    /// - [`Error::UnknownView`] if no view of that name is registered;
    /// - [`Error::ShutDown`] once [`shutdown`](ViewManager::shutdown) has
    ///   been called: the final batch holds every view registered then,
    ///   with every value recorded before.
    pub fn unregister_view(&self, name: &str) -> Result<(), Error> {
        let mut reg = self.inner.registry.lock();
        // Acquire, under the registry lock, as `check_new_view`: the
        // final snapshot lists the views under this lock after the flag
        // was set, so an unregister that gets the lock after that listing
        // sees the flag, and cannot take away rows the final batch is
        // reading or has yet to read.
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        let Some(state) = reg.remove(name) else {
            // A callback view: nothing routes to it, so nothing to publish.
            if reg.remove_callback(name) {
                return Ok(());
            }
            return Err(Error::UnknownView {
                name: name.to_owned(),
            });
        };
        self.publish(&reg);
        drop(reg);
        // Its rows go now, not when each thread that recorded into it
        // next records (threads keep the old routing table until then).
        state.remove();
        Ok(())
    }

    /// Tells recording threads that the registry changed; the first to
    /// record builds the new routing table (see `Inner::subscriptions`).
    /// Called with the registry locked, so versions publish in order.
    fn publish(&self, reg: &Registry) {
        // Release: a thread that reads the new version and then takes the
        // registry finds the change (the mutex alone orders that; the
        // Release keeps the store from being seen before the change).
        self.inner.version.store(reg.version, Ordering::Release);
    }

    /// The views registered now, in registration order: recorded views,
    /// then callback views.
    pub fn views(&self) -> Vec<View> {
        let reg = self.inner.registry.lock();
        let recorded = reg.views().into_iter().map(|s| s.view().clone());
        let callbacks = reg.callback_views().iter().map(|c| c.view().clone());
        recorded.chain(callbacks).collect()
    }

    /// A snapshot of one view, taken now. In a view with
    /// [`expire_after`](census_core::ViewBuilder::expire_after), rows that
    /// have expired are dropped here, as in every snapshot (see
    /// docs/semantics.md, "Rows that expire"). A callback view's callback
    /// is called for it, waiting at most the callback budget (see
    /// [`register_callback`](ViewManager::register_callback)).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownView`] if no view of that name is registered.
    pub fn retrieve_data(&self, name: &str) -> Result<ViewData, Error> {
        let (state, exporters, callback) = {
            let reg = self.inner.registry.lock();
            let state = reg.get(name).cloned();
            (
                state,
                !reg.deliveries.is_empty(),
                reg.callback(name).cloned(),
            )
        };
        // A callback view: its callback reports the rows, now.
        if let Some(callback) = callback {
            let reading = self.inner.callbacks.start(vec![callback], None);
            if let Some(data) = reading.finish(self.inner.clock.system_time()).pop() {
                return Ok(data);
            }
        }
        // Snapshotting happens outside the registry lock: a large view
        // takes a while and must not hold up registrations.
        match state {
            Some(state) => Ok(state.snapshot(
                self.inner.clock.system_time(),
                Audience::Reader { exporters },
            )),
            None => Err(Error::UnknownView {
                name: name.to_owned(),
            }),
        }
    }

    /// Adds an exporter. From the next period on, it receives every view's
    /// data each period and once more at shutdown; see
    /// [`Exporter`]'s contract.
    ///
    /// The exporter is first asked about every view already registered, in
    /// registration order, each beside the views registered before it
    /// ([`Exporter::check_view`]), exactly as it would have been had it
    /// been registered first: a view it cannot export refuses the
    /// exporter, whatever the order of registration.
    ///
    /// Each exporter gets a thread of its own that feeds it batches, so a
    /// slow or stuck exporter delays neither recording, nor the worker, nor
    /// any other exporter; while it is busy, newer batches replace the one
    /// waiting for it (counted in [`ManagerStats::skipped_batches`](crate::ManagerStats::skipped_batches)).
    ///
    /// The exporter's [`attach`](Exporter::attach) receives a producer for
    /// on-demand snapshots, and any [`self_metrics`](Exporter::self_metrics)
    /// producer it returns joins every batch. The first exporter starts the
    /// manager's worker thread.
    ///
    /// The returned `Result` is not `#[must_use]` beyond what `Result`
    /// itself asks: code that calls this as a statement, as earlier
    /// versions returned nothing, still compiles (with the usual
    /// unused-`Result` warning).
    ///
    /// # Errors
    ///
    /// - [`Error::ViewRejected`] naming the first registered view the
    ///   exporter refuses, with its reason; the exporter is not registered;
    /// - [`Error::ExporterAlreadyRegistered`] when this exporter is
    ///   registered already, or being registered by another call now (the
    ///   same value, such as a clone of the same `Arc`; see
    ///   [`Exporter::instance`]): it would get every batch twice;
    /// - [`Error::ShutDown`] after [`shutdown`](ViewManager::shutdown);
    /// - [`Error::InvalidConfig`] (`what` = `exporter`) when the exporter
    ///   refuses to be registered at all
    ///   ([`Exporter::check_registration`]: a pipeline with a processor
    ///   that could not be built), with its reason;
    /// - [`Error::InvalidConfig`] (`what` = `exporter thread`) when its
    ///   delivery thread cannot be started.
    ///
    /// [`ManagerStats::skipped_batches`]: crate::ManagerStats::skipped_batches
    pub fn register_exporter(&self, exporter: impl Exporter) -> Result<(), Error> {
        self.register_shared_exporter(Arc::new(exporter))
    }

    fn register_shared_exporter(&self, exporter: Arc<dyn Exporter>) -> Result<(), Error> {
        // Asked here: no exporter code runs under the registry lock.
        let (instance, name) = (exporter.instance() as usize, exporter.name());
        // Refused before `attach`, so a second registration leaves the
        // registered exporter as it was; the reservation, held until this
        // returns (or unwinds), refuses a registration of the same
        // exporter racing this one at the same point.
        let _reserved = {
            let mut reg = self.inner.registry.lock();
            // First: after shutdown, ShutDown is the answer whatever was
            // registered before it.
            if self.inner.shut_down.load(Ordering::Acquire) {
                return Err(Error::ShutDown);
            }
            Self::refuse_registered(&reg, instance, name)?;
            reg.registering.push(instance);
            Reservation {
                manager: self,
                instance,
            }
        };
        let ready = catch_unwind(AssertUnwindSafe(|| exporter.check_registration()))
            .unwrap_or_else(|_| Err(ExportError::new("it panicked while checking itself")));
        if let Err(err) = ready {
            return Err(Error::InvalidConfig {
                what: "exporter".to_owned(),
                value: exporter.name().to_owned(),
                reason: err.to_string(),
            });
        }
        let mut checked = self.check_registered(exporter.as_ref())?;
        let producer: Arc<dyn Producer> = Arc::new(ManagerProducer(Arc::downgrade(&self.inner)));
        exporter.attach(producer);
        let own = exporter.self_metrics();
        let counters = Arc::clone(&self.inner.counters);
        let delivery =
            Delivery::spawn(Arc::clone(&exporter), instance, counters).map_err(|err| {
                Error::InvalidConfig {
                    what: "exporter thread".to_owned(),
                    value: exporter.name().to_owned(),
                    reason: format!("the operating system refused a new thread: {err}"),
                }
            })?;
        loop {
            let mut reg = self.inner.registry.lock();
            if self.inner.shut_down.load(Ordering::Acquire) {
                // Dropping the delivery ends its thread.
                return Err(Error::ShutDown);
            }
            // No view registered since the check: it still holds. `changes`,
            // not the routing `version`: callback views count too.
            if reg.changes == checked {
                reg.deliveries.push(Arc::new(delivery));
                reg.producers.extend(own);
                break;
            }
            drop(reg);
            checked = self.check_registered(exporter.as_ref())?;
        }
        self.ensure_worker();
        Ok(())
    }

    /// `Err` when `exporter` (the same instance) is registered already,
    /// or being registered by another call: it would get every batch
    /// twice.
    fn refuse_registered(reg: &Registry, instance: usize, name: &str) -> Result<(), Error> {
        if reg.deliveries.iter().any(|d| d.instance() == instance)
            || reg.registering.contains(&instance)
        {
            return Err(Error::ExporterAlreadyRegistered {
                exporter: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Asks `exporter` about every registered view, each beside the views
    /// registered before it; the registry's change count that held.
    fn check_registered(&self, exporter: &dyn Exporter) -> Result<u64, Error> {
        let (changes, registered) = {
            let mut reg = self.inner.registry.lock();
            if self.inner.shut_down.load(Ordering::Acquire) {
                return Err(Error::ShutDown);
            }
            (reg.changes, reg.listed())
        };
        // Without the registry lock: see register_view.
        for (i, view) in registered.iter().enumerate() {
            let before = registered.get(..i).unwrap_or_default();
            check(exporter, view, before).map_err(|err| match err {
                Error::ViewRejected { view, reason } => Error::ViewRejected {
                    view,
                    reason: format!(
                        "{reason}; exporter {} was not registered (it checks every registered \
                         view)",
                        exporter.name()
                    ),
                },
                other => other,
            })?;
        }
        Ok(changes)
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
    /// default, 10 s, as in OpenCensus; a period too long to count down
    /// (`Duration::MAX`, "forever") means no periodic export at all, only
    /// the final one at shutdown.
    pub fn set_reporting_period(&self, period: Duration) {
        let period = if period.is_zero() {
            DEFAULT_REPORTING_PERIOD
        } else {
            period
        };
        *self.inner.period.lock() = period;
        if let Some(worker) = self.inner.worker.lock().as_ref() {
            worker.set_period(period, self.inner.clock.now());
        }
    }

    /// The current reporting period.
    pub fn reporting_period(&self) -> Duration {
        *self.inner.period.lock()
    }
}
