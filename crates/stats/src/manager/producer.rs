//! Snapshots of every view, for the worker's batches and for pull
//! exporters.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::Instant;

use census_core::{join_same_views, Producer, ViewData};

use super::Inner;
use crate::delivery::{Batch, Delivery};
use crate::view::Audience;

impl Inner {
    /// Every view's data, taken now, plus what exporters contribute.
    pub(crate) fn snapshot_all(&self, audience: Audience) -> Vec<ViewData> {
        self.snapshot_until(audience, None)
    }

    /// [`snapshot_all`](Inner::snapshot_all), waiting for callbacks no
    /// later than `deadline`.
    pub(crate) fn snapshot_until(
        &self,
        audience: Audience,
        deadline: Option<Instant>,
    ) -> Vec<ViewData> {
        let (views, producers, callback_views) = {
            let reg = self.registry.lock();
            let callback_views = reg.callback_views().to_vec();
            (reg.views(), reg.producers.clone(), callback_views)
        };
        // Callbacks run on their threads while the recorded views are
        // snapshotted here.
        let reading = self.callbacks.start(callback_views, deadline);
        let end = self.clock.system_time();
        let mut batch: Vec<ViewData> = views.iter().map(|v| v.snapshot(end, audience)).collect();
        batch.extend(reading.finish(end));
        let mut own = Vec::new();
        for producer in producers {
            match catch_unwind(AssertUnwindSafe(|| producer.produce())) {
                Ok(data) => own.extend(data),
                Err(_) => log::warn!("census: an exporter's self-metrics producer panicked"),
            }
        }
        // Exporters of one kind report under the same view names (each HTTP
        // exporter's rows under its own `endpoint` tag): one view each.
        join_same_views(&mut own);
        batch.extend(own);
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

    pub(crate) fn deliveries(&self) -> Vec<Arc<Delivery>> {
        self.registry.lock().deliveries.clone()
    }
}

/// Snapshots a manager's views for pull exporters; holds the manager
/// weakly so an exporter cannot keep it alive.
pub(super) struct ManagerProducer(pub(super) Weak<Inner>);

impl Producer for ManagerProducer {
    /// Also while `shutdown` drains, and after: a service's own `/metrics`
    /// route may be scraped then, and an empty answer would make the
    /// scraper drop every series instead of reading the last values. Once
    /// the final batch is taken, that batch: nothing runs a callback after
    /// the drain's snapshot, and every value recorded before `shutdown` is
    /// in it.
    fn produce(&self) -> Vec<ViewData> {
        let Some(inner) = self.0.upgrade() else {
            return Vec::new();
        };
        if let Some(last) = inner.last_batch.lock().as_ref() {
            return last.to_vec();
        }
        // A pull: one reader among exporters, which must each have had a
        // row's last value in a batch before the row may expire.
        let data = inner.snapshot_all(Audience::Reader { exporters: true });
        // Shutdown took its final snapshot meanwhile: this one may lack
        // callback readings (they are no longer called), the final has them.
        if let Some(last) = inner.last_batch.lock().as_ref() {
            return last.to_vec();
        }
        data
    }
}
