//! What happened to every batch: live counters and their snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use census_core::{keep_lost, ViewData};
use parking_lot::Mutex;

/// A snapshot of an [`HttpExporter`](crate::HttpExporter)'s delivery
/// counters, from [`HttpExporter::metrics`](crate::HttpExporter::metrics).
///
/// Counters are cumulative since the exporter was built. Every batch
/// `export` accepted is in exactly one of `sent`, `failed`, `dropped`,
/// `merged`, `abandoned` or `pending`:
/// `enqueued == sent + failed + dropped + merged + abandoned + pending`
/// (a snapshot taken while the sender works may be off by the one batch
/// changing state).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HttpExporterMetrics {
    /// Batches `export` accepted into the queue.
    pub enqueued: u64,
    /// Batches waiting in the queue or being sent now.
    pub pending: u64,
    /// Batches the endpoint accepted (a 2xx response).
    pub sent: u64,
    /// Requests sent again after a failed attempt (one batch may be retried
    /// several times).
    pub retried: u64,
    /// Batches given up on: a permanent error status (such as 400), a
    /// transport error that retrying cannot fix, or every attempt failed.
    pub failed: u64,
    /// Batches of cumulative data dropped, oldest first, because the queue
    /// was full (the next batch carries their values).
    pub dropped: u64,
    /// Batches of delta data folded into the batch behind them because the
    /// queue was full: not lost, their values travel in that batch.
    pub merged: u64,
    /// Batches still queued or in flight when the shutdown deadline passed.
    /// One in flight may still have reached the endpoint.
    pub abandoned: u64,
    /// Attempts that failed, for any reason (transport error or non-2xx
    /// status).
    pub errors: u64,
    /// Rows of delta data that never reached the endpoint: in batches that
    /// failed for good (a status that is not retried) or were abandoned at
    /// the shutdown deadline. Their data, merged, is in
    /// [`Exporter::delivery`](census_core::Exporter::delivery)'s report.
    pub lost_rows: u64,
    /// Rows of views with `expire_after` whose last values were given up:
    /// they expired while no batch carrying them arrived, past the view's
    /// row limit of such rows (docs/http-exporter.md, "a full queue").
    /// Counted only, and always beside batches dropped or failed.
    pub expired_rows_lost: u64,
    /// Data points an OTLP receiver accepted the batch without, as its
    /// `partial_success.rejected_data_points` said (JSON and protobuf).
    /// The batch counts as sent.
    pub rejected_points: u64,
    /// Views left out of a body because the format cannot carry them:
    /// remote write refuses delta Count, Sum and Distribution views, and
    /// the later of two views whose Prometheus names clash. Counted once
    /// per batch they were left out of.
    pub omitted_views: u64,
    /// Rows left out of a body: data that does not fit its view (a
    /// producer's bug), or, in remote write, a gauge row that is one series
    /// with another row (an empty tag value reads as an absent one).
    pub omitted_rows: u64,
    /// How many responses came back with each status code.
    pub status_codes: BTreeMap<u16, u64>,
    /// The most recent failure, for people: status or transport error, and
    /// a body excerpt, or a receiver's partial-success message.
    pub last_error: Option<String>,
}

/// The live counters, shared by the exporter handles and the sender thread.
///
/// Every counter is Relaxed: each is an independent tally read for
/// reporting, and no other memory is published through them.
#[derive(Debug, Default)]
pub(crate) struct DeliveryStats {
    pub(crate) enqueued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) merged: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) lost_rows: AtomicU64,
    pub(crate) expired_rows_lost: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) rejected_points: AtomicU64,
    pub(crate) omitted_views: AtomicU64,
    pub(crate) omitted_rows: AtomicU64,
    /// Filled by the sender thread only, read by snapshots: a lock held for
    /// a map update is cheaper than anything cleverer at one request at a
    /// time.
    details: Mutex<Details>,
}

#[derive(Debug, Default)]
struct Details {
    status_codes: BTreeMap<u16, u64>,
    last_error: Option<String>,
    /// The delta data that never arrived, merged into one batch.
    lost: Vec<ViewData>,
}

impl DeliveryStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self, status: u16) {
        *self.details.lock().status_codes.entry(status).or_insert(0) += 1;
    }

    pub(crate) fn error(&self, message: String) {
        DeliveryStats::add(&self.errors, 1);
        self.details.lock().last_error = Some(message);
    }

    /// A receiver accepted a batch but rejected `rejected` of its points.
    pub(crate) fn partial(&self, rejected: u64, message: String) {
        DeliveryStats::add(&self.rejected_points, rejected);
        self.details.lock().last_error = Some(message);
    }

    /// Counts the rows of a batch of delta data that will never arrive,
    /// and keeps its data with what was lost before.
    pub(crate) fn lose(&self, batch: &[ViewData]) {
        let rows = keep_lost(&mut self.details.lock().lost, batch.to_vec());
        DeliveryStats::add(&self.lost_rows, rows);
    }

    /// The delta data that never arrived, merged.
    pub(crate) fn lost(&self) -> Vec<ViewData> {
        self.details.lock().lost.clone()
    }

    pub(crate) fn status_codes(&self) -> BTreeMap<u16, u64> {
        self.details.lock().status_codes.clone()
    }

    pub(crate) fn snapshot(&self, pending: u64) -> HttpExporterMetrics {
        let details = self.details.lock();
        HttpExporterMetrics {
            enqueued: DeliveryStats::get(&self.enqueued),
            pending,
            sent: DeliveryStats::get(&self.sent),
            retried: DeliveryStats::get(&self.retried),
            failed: DeliveryStats::get(&self.failed),
            dropped: DeliveryStats::get(&self.dropped),
            merged: DeliveryStats::get(&self.merged),
            abandoned: DeliveryStats::get(&self.abandoned),
            errors: DeliveryStats::get(&self.errors),
            lost_rows: DeliveryStats::get(&self.lost_rows),
            expired_rows_lost: DeliveryStats::get(&self.expired_rows_lost),
            rejected_points: DeliveryStats::get(&self.rejected_points),
            omitted_views: DeliveryStats::get(&self.omitted_views),
            omitted_rows: DeliveryStats::get(&self.omitted_rows),
            status_codes: details.status_codes.clone(),
            last_error: details.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_every_counter() {
        let s = DeliveryStats::default();
        DeliveryStats::add(&s.enqueued, 5);
        DeliveryStats::add(&s.sent, 2);
        DeliveryStats::add(&s.dropped, 1);
        s.status(200);
        s.status(200);
        s.status(503);
        s.error("status 503".into());
        let m = s.snapshot(2);
        assert_eq!(
            (m.enqueued, m.sent, m.dropped, m.pending, m.errors),
            (5, 2, 1, 2, 1)
        );
        assert_eq!(m.status_codes.get(&200), Some(&2));
        assert_eq!(m.status_codes.get(&503), Some(&1));
        assert_eq!(m.last_error.as_deref(), Some("status 503"));
    }
}
