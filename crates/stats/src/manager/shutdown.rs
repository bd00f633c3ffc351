//! Shutdown: the final export to every exporter, within a deadline.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Inner, ViewManager};
use crate::delivery::Batch;
use crate::view::Audience;

/// What [`ViewManager::shutdown`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Exporters (by [`Exporter::name`](census_core::Exporter::name)) that had not finished the final
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
}

impl Inner {
    /// The drain: one last batch to every exporter, then each exporter's
    /// shutdown, waiting at most `timeout` for all of them together.
    pub(crate) fn final_export(&self, timeout: Duration) -> ShutdownReport {
        let deliveries = self.deliveries();
        if deliveries.is_empty() {
            // Nobody to export to: nothing to snapshot, nothing to wait for.
            return ShutdownReport::default();
        }
        // A timeout past what `Instant` can hold (`Duration::MAX`) means
        // waiting as long as the exporters take.
        let deadline = Instant::now().checked_add(timeout);
        let batch: Batch = self.snapshot_all(Audience::Exporters).into();
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
