//! Registering views and exporters, and what a manager has registered.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use census_core::{Error, Exporter, Producer, View, ViewData};

use super::producer::ManagerProducer;
use super::{compatible, Registry, Subscriptions, ViewManager, DEFAULT_REPORTING_PERIOD};
use crate::callback::CallbackView;
use crate::delivery::Delivery;
use crate::view::{Audience, ViewState};
use crate::worker::Worker;

impl ViewManager {
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
        if let Some(done) = self.vet_view(&view)? {
            return Ok(done);
        }
        let mut reg = self.inner.registry.lock();
        // Checked again: another thread may have registered since.
        if let Some(done) = self.check_new_view(&reg, &view)? {
            return Ok(done);
        }
        reg.views.push(Arc::new(ViewState::new(
            view,
            SystemTime::now(),
            self.inner.seed.clone(),
        )));
        self.publish(&reg);
        Ok(())
    }

    /// Registers a callback view (see `register_callback`): the checks of
    /// `register_view`, then the view joins the registry, unrouted.
    /// Registering one of the same name again is a conflict: a callback
    /// cannot be compared.
    pub(crate) fn add_callback_view(&self, view: Arc<CallbackView>) -> Result<(), Error> {
        let conflict = || Error::ViewConflict {
            name: view.view().name().to_owned(),
        };
        if self.vet_view(view.view())?.is_some() {
            return Err(conflict());
        }
        let mut reg = self.inner.registry.lock();
        // Checked again: another thread may have registered since.
        if self.check_new_view(&reg, view.view())?.is_some() {
            return Err(conflict());
        }
        reg.callback_views.push(view);
        Ok(())
    }

    /// Checks a new view against the registry and asks every exporter
    /// about it; `Ok(Some(()))` when it is already registered as is. The
    /// caller adds it under the registry lock after `check_new_view`.
    fn vet_view(&self, view: &View) -> Result<Option<()>, Error> {
        let (registered, exporters) = {
            let reg = self.inner.registry.lock();
            if let Some(done) = self.check_new_view(&reg, view)? {
                return Ok(Some(done));
            }
            let registered: Vec<View> = reg.all_views().cloned().collect();
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
            let verdict = catch_unwind(AssertUnwindSafe(|| exporter.check_view(view, &registered)));
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
        Ok(None)
    }

    /// `Ok(Some(()))` when the view is already registered as is, `Ok(None)`
    /// when it is new and acceptable.
    fn check_new_view(&self, reg: &Registry, view: &View) -> Result<Option<()>, Error> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        if reg
            .callback_views
            .iter()
            .any(|c| c.view().name() == view.name())
        {
            return Err(Error::ViewConflict {
                name: view.name().to_owned(),
            });
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
        for old in reg.all_views() {
            let old = old.measure();
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
            // A callback view: nothing routes to it, so nothing to publish.
            let callback = reg
                .callback_views
                .iter()
                .position(|c| c.view().name() == name);
            if let Some(j) = callback {
                reg.callback_views.remove(j);
                return Ok(());
            }
            return Err(Error::UnknownView {
                name: name.to_owned(),
            });
        };
        let state = reg.views.remove(i);
        self.publish(&reg);
        drop(reg);
        // Its rows go now, not when each thread that recorded into it
        // next records (threads keep the old routing table until then).
        state.remove();
        Ok(())
    }

    /// Rebuilds the record path's routing table from the registry.
    fn publish(&self, reg: &Registry) {
        let subs = Subscriptions::build(&reg.views, &self.inner.seed);
        *self.inner.subscriptions.lock() = Arc::new(subs);
        // Release: a thread that reads the new generation and then takes
        // the mutex finds the new table (the mutex alone orders that; the
        // Release keeps the bump from being seen before the store). The
        // AcqRel read-modify-write keeps bumps from two publishers apart.
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The views registered now, in registration order: recorded views,
    /// then callback views.
    pub fn views(&self) -> Vec<View> {
        let reg = self.inner.registry.lock();
        reg.all_views().cloned().collect()
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
            let state = reg.views.iter().find(|s| s.view().name() == name).cloned();
            let callback = reg.callback_views.iter().find(|c| c.view().name() == name);
            (state, !reg.deliveries.is_empty(), callback.cloned())
        };
        // A callback view: its callback reports the rows, now.
        if let Some(callback) = callback {
            let reading = self.inner.callbacks.start(vec![callback]);
            if let Some(data) = reading.finish(SystemTime::now()).pop() {
                return Ok(data);
            }
        }
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
    /// waiting for it (counted in [`ManagerStats::skipped_batches`](crate::ManagerStats::skipped_batches)).
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
            worker.set_period(period);
        }
    }

    /// The current reporting period.
    pub fn reporting_period(&self) -> Duration {
        *self.inner.period.lock()
    }
}
