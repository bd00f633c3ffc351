//! Shutdown: the final export to every exporter, within a deadline.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use census_core::DeliveryReport;

use super::{Inner, ViewManager};
use crate::delivery::{Batch, DeliveryCounters};
use crate::view::Audience;

/// What [`ViewManager::shutdown`] found.
///
/// [`is_complete`](ShutdownReport::is_complete) is true only when every
/// exporter finished in time and reached its destination with every
/// batch: an exporter is named in `failed` when its shutdown failed, when
/// any of its exports returned an error or panicked, or when its own
/// [`DeliveryReport`] counts a batch it failed to deliver, dropped or
/// abandoned, or rows of delta data it lost. An exporter that has no
/// destination to confirm (its [`Exporter::delivery`](census_core::Exporter::delivery) is `None`, like
/// stdout's) is judged by its exports alone. Rows a destination's format
/// cannot hold (in Prometheus formats, a gauge row repeating another's
/// labels) are counted by the exporter that leaves them out, not here.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Exporters (by [`Exporter::name`](census_core::Exporter::name)) that had not finished the final
    /// export and their shutdown when the shutdown timeout ran out. Their
    /// threads are left running; nothing waits for them.
    pub unfinished: Vec<String>,
    /// Exporters that failed, with what failed and the counts: their
    /// shutdown's error, failed exports, and batches not delivered (for
    /// example `12 batches failed, 3 abandoned`).
    pub failed: Vec<(String, String)>,
    /// The delivery report of each exporter that did not deliver
    /// everything, with what is lost for good: the rows of delta data no
    /// later batch carries, merged, in [`DeliveryReport::lost`].
    pub undelivered: Vec<(String, DeliveryReport)>,
}

impl ShutdownReport {
    /// Whether every exporter finished in time and every value recorded
    /// before shutdown reached every exporter's destination.
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty() && self.failed.is_empty()
    }
}

impl ViewManager {
    /// Sets the longest [`shutdown`](ViewManager::shutdown) waits for
    /// exporters to finish the final export and their own shutdown.
    /// Exporters still busy then are named in the [`ShutdownReport`] and
    /// left behind. Longer than the HTTP exporter's own 5 s delivery
    /// deadline, so its report of what it could not deliver arrives in
    /// time. A timeout too long to count down (`Duration::MAX`) waits as
    /// long as the exporters take. Default: 10 s
    /// ([`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT)).
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
        // Relaxed: the flag publishes no data. The swap's atomicity alone
        // picks the one call that shuts down, and shutdown_lock hands the
        // report to later calls. A record whose call returned before this
        // call was made is ordered before it by the caller's own
        // synchronisation (its thread, a join, a channel), and the final
        // snapshot reads its cells through their own Acquire loads; a
        // record racing this swap may land in the final snapshot or be a
        // no-op, and `shutdown` promises nothing about it either way.
        if self.inner.shut_down.swap(true, Ordering::Relaxed) {
            return self.inner.report.lock().clone().unwrap_or_default();
        }
        let timeout = *self.inner.shutdown_timeout.lock();
        let worker = self.inner.worker.lock().take();
        let report = match worker.map(|w| w.stop(timeout)) {
            Some(Some(report)) => report,
            Some(None) => {
                // A bug of ours, not an exporter's (their panics are caught
                // on their own threads): the drain must still happen.
                log::error!("census: the export thread panicked; exporting from this thread");
                self.inner.final_export(timeout)
            }
            None => self.inner.final_export(timeout),
        };
        for name in &report.unfinished {
            log::warn!(
                "census: exporter {name} did not finish within the shutdown timeout of {timeout:?}"
            );
        }
        for (name, what) in &report.failed {
            log::warn!("census: exporter {name} failed: {what}");
        }
        self.inner.notice_shutdown(&report);
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
}

/// The least a final snapshot waits for callbacks, whatever the shutdown
/// timeout: quick readings (a gauge of a queue's length) still make the
/// final batch when the timeout is zero.
const FINAL_CALLBACK_FLOOR: Duration = Duration::from_millis(20);

impl Inner {
    /// The drain: one last batch to every exporter, then each exporter's
    /// shutdown, waiting at most `timeout` for all of them together. The
    /// final snapshot waits for callbacks at most half the timeout (at
    /// least `FINAL_CALLBACK_FLOOR`, at most the budget): a stuck callback
    /// used to hold it for the whole budget, up to a day.
    pub(crate) fn final_export(&self, timeout: Duration) -> ShutdownReport {
        let deliveries = self.deliveries();
        if deliveries.is_empty() {
            // Nobody to export to: nothing to snapshot, nothing to wait for.
            self.callbacks.close();
            return ShutdownReport::default();
        }
        let callbacks_by = Instant::now().checked_add((timeout / 2).max(FINAL_CALLBACK_FLOOR));
        let batch: Batch = self
            .snapshot_until(Audience::Exporters, callbacks_by)
            .into();
        // Pulls show this batch from now on, and no callback runs again.
        *self.last_batch.lock() = Some(Arc::clone(&batch));
        self.callbacks.close();
        // A timeout past what `Instant` can hold (`Duration::MAX`) means
        // waiting as long as the exporters take.
        let deadline = Instant::now().checked_add(timeout);
        for delivery in &deliveries {
            delivery.finish(Arc::clone(&batch), &self.counters);
        }
        let mut report = ShutdownReport::default();
        for delivery in &deliveries {
            let name = delivery.name().to_owned();
            if !delivery.wait_until(deadline) {
                report.unfinished.push(name);
                continue;
            }
            let mut problems = Vec::new();
            if let Some(error) = delivery.shutdown_error() {
                problems.push(error);
            }
            let c = &delivery.outcome().counters;
            let errors = DeliveryCounters::get(&c.export_errors);
            let panics = DeliveryCounters::get(&c.export_panics);
            if errors > 0 {
                let last = delivery.outcome().last_error.lock().clone();
                problems.push(format!(
                    "{errors} of {} exports failed (the latest: {})",
                    DeliveryCounters::get(&c.exports),
                    last.unwrap_or_default()
                ));
            }
            if panics > 0 {
                problems.push(format!("{panics} exports or shutdowns panicked"));
            }
            if let Some(delivery) = delivery.final_report().filter(|d| !d.is_clean()) {
                problems.push(describe(&delivery));
                report.undelivered.push((name.clone(), delivery));
            }
            if !problems.is_empty() {
                report.failed.push((name, problems.join("; ")));
            }
        }
        report
    }
}

/// What an exporter's report says it did not deliver, counts only.
fn describe(report: &DeliveryReport) -> String {
    let mut parts = Vec::new();
    for (n, what) in [
        (report.failed, "failed"),
        (report.dropped, "dropped"),
        (report.abandoned, "abandoned"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let mut text = Vec::new();
    if !parts.is_empty() {
        text.push(format!("batches not delivered: {}", parts.join(", ")));
    }
    if report.lost_rows > 0 {
        text.push(format!(
            "{} rows of delta data lost (see ShutdownReport::undelivered)",
            report.lost_rows
        ));
    }
    text.join("; ")
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
    use crate::worker::Worker;
    use crate::MeasurementMap;
    use census_core::{
        Aggregation, Error, ExportError, Exporter, MeasureI64, TagMap, View, ViewData,
    };
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Seen {
        exports: Mutex<Vec<Option<i64>>>,
        shutdowns: Mutex<usize>,
    }

    #[derive(Clone, Default)]
    struct Keep(Arc<Seen>);

    impl Exporter for Keep {
        fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
            let sum = batch
                .first()
                .and_then(|v| v.row(&TagMap::new()))
                .and_then(|r| r.data.as_i64());
            self.0.exports.lock().push(sum);
            Ok(())
        }

        fn shutdown(&self) -> Result<(), ExportError> {
            *self.0.shutdowns.lock() += 1;
            Ok(())
        }
    }

    // A bug of ours that kills the export thread must not cost the drain:
    // shutdown exports from the calling thread instead, and calls the
    // exporter's shutdown (it used to report complete with neither done).
    #[test]
    fn shutdown_drains_after_the_export_thread_panicked() -> Result<(), Error> {
        let vm = ViewManager::new();
        let m = MeasureI64::new("w/jobs", "", "1")?;
        vm.register_view(
            View::builder("w/jobs", &m)
                .aggregation(Aggregation::Sum)
                .build()?,
        )?;
        // The export thread, started by the first exporter, has died.
        *vm.inner().worker.lock() = Some(Worker::panicked());
        let keep = Keep::default();
        vm.register_exporter(keep.clone())?;
        MeasurementMap::new()
            .put(&m, 4)
            .record_to(&vm, &TagMap::new());
        let report = vm.shutdown();
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(*keep.0.exports.lock(), vec![Some(4)]);
        assert_eq!(*keep.0.shutdowns.lock(), 1);
        Ok(())
    }

    // The failure text names only what happened: no empty clause when
    // every batch arrived and only delta rows were lost.
    #[test]
    fn an_exporter_that_only_lost_rows_is_described_without_an_empty_clause() {
        let mut report = DeliveryReport::new();
        report.lost_rows = 2;
        assert_eq!(
            super::describe(&report),
            "2 rows of delta data lost (see ShutdownReport::undelivered)"
        );
        report.abandoned = 1;
        assert_eq!(
            super::describe(&report),
            "batches not delivered: 1 abandoned; 2 rows of delta data lost (see \
             ShutdownReport::undelivered)"
        );
    }
}
