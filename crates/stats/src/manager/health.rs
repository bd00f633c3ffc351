//! One call for a health endpoint: the manager's own counters and every
//! exporter's account of its deliveries.

use census_core::DeliveryReport;

use super::{Inner, ManagerStats, ViewManager};
use crate::delivery::{Delivery, DeliveryCounters};
use crate::notice;

/// What a manager and each of its exporters have counted; see
/// [`ViewManager::health`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Health {
    /// The manager's own counters ([`ViewManager::stats`]).
    pub stats: ManagerStats,
    /// One entry per registered exporter, in registration order.
    pub exporters: Vec<ExporterHealth>,
}

/// One exporter's part of [`Health`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ExporterHealth {
    /// The exporter's [`name`](census_core::Exporter::name).
    pub name: String,
    /// Batches handed to it.
    pub exports: u64,
    /// Its exports that returned an error.
    pub export_errors: u64,
    /// Its exports (and shutdown) that panicked.
    pub export_panics: u64,
    /// Periodic batches it never saw because it was still busy.
    pub skipped_batches: u64,
    /// Its latest failed export, for people.
    pub last_error: Option<String>,
    /// Its own account of delivering to its destination
    /// ([`Exporter::delivery`](census_core::Exporter::delivery)); `None`
    /// for an exporter with no destination to confirm, such as stdout.
    pub delivery: Option<DeliveryReport>,
}

impl Health {
    /// Whether nothing has failed so far: no export returned an error or
    /// panicked, and every exporter's delivery report is clean.
    pub fn is_healthy(&self) -> bool {
        self.exporters.iter().all(ExporterHealth::is_healthy)
    }
}

impl ExporterHealth {
    fn of(delivery: &Delivery) -> ExporterHealth {
        let outcome = delivery.outcome();
        let c = &outcome.counters;
        ExporterHealth {
            name: delivery.name().to_owned(),
            exports: DeliveryCounters::get(&c.exports),
            export_errors: DeliveryCounters::get(&c.export_errors),
            export_panics: DeliveryCounters::get(&c.export_panics),
            skipped_batches: DeliveryCounters::get(&c.skipped_batches),
            last_error: outcome.last_error.lock().clone(),
            delivery: delivery.report(),
        }
    }

    /// Whether this exporter has failed nothing so far.
    pub fn is_healthy(&self) -> bool {
        self.export_errors == 0
            && self.export_panics == 0
            && self.delivery.as_ref().is_none_or(DeliveryReport::is_clean)
    }

    /// Failed exports and failed delivery attempts, and dropped batches.
    fn failures(&self) -> u64 {
        let own = self.export_errors.saturating_add(self.export_panics);
        let delivery = self
            .delivery
            .as_ref()
            .map_or(0, |d| d.errors.saturating_add(d.dropped));
        own.saturating_add(delivery)
    }

    /// The latest failure, for a notice.
    fn latest(&self) -> String {
        let last = self
            .delivery
            .as_ref()
            .and_then(|d| d.last_error.clone())
            .or_else(|| self.last_error.clone());
        match last {
            Some(last) => format!("the latest: {last}"),
            None => "no message".to_owned(),
        }
    }
}

impl ViewManager {
    /// The manager's counters and every exporter's, from one call: what a
    /// health endpoint serves. Each exporter's part holds its export
    /// counts here and its own delivery report
    /// ([`Exporter::delivery`](census_core::Exporter::delivery): for the
    /// HTTP exporter, every counter of its `metrics()`).
    pub fn health(&self) -> Health {
        Health {
            stats: self.stats(),
            exporters: self
                .inner()
                .deliveries()
                .iter()
                .map(|d| ExporterHealth::of(d))
                .collect(),
        }
    }
}

impl Inner {
    /// Writes a notice for each exporter the shutdown report names, if no
    /// logger shows the warnings just logged (see `notice.rs`).
    pub(crate) fn notice_shutdown(&self, report: &super::ShutdownReport) {
        if !notice::silent() {
            return;
        }
        let deliveries = self.deliveries();
        for (name, what) in &report.failed {
            if let Some(delivery) = deliveries.iter().find(|d| d.name() == name) {
                let health = ExporterHealth::of(delivery);
                delivery.notice.observe(name, health.failures().max(1), || {
                    format!("at shutdown: {what}")
                });
            }
        }
    }

    /// Writes a notice for each exporter with failures no logger shows
    /// (see `notice.rs`). Called by the worker after every period.
    pub(crate) fn notice_failures(&self) {
        if !notice::silent() {
            return;
        }
        for delivery in self.deliveries() {
            let health = ExporterHealth::of(&delivery);
            delivery
                .notice
                .observe(&health.name, health.failures(), || health.latest());
        }
    }
}
