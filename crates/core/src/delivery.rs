//! What an exporter tells its view manager about delivering batches, for
//! health checks and the shutdown report.

use crate::view_data::ViewData;

/// An exporter's account of its deliveries since it was built: what it
/// could not deliver, and what data is gone for good.
///
/// Returned by [`Exporter::delivery`](crate::Exporter::delivery). The view
/// manager shows it in `ViewManager::health()` and, after the exporter's
/// shutdown, in the shutdown report, where any undelivered batch or lost
/// row makes the exporter *failed*.
///
/// For cumulative data a batch that is not delivered loses resolution, not
/// values: the next batch carries everything it did. Delta data is
/// different: a delta batch that never arrives takes its values with it,
/// unless the exporter folds it into a later batch. What is gone for good
/// is counted in `lost_rows` and kept, merged into one batch, in `lost`,
/// so that a service can log it or write it somewhere.
///
/// ```
/// use census_core::DeliveryReport;
///
/// let mut report = DeliveryReport::default();
/// assert!(report.is_clean());
/// report.abandoned = 2;
/// assert_eq!(report.undelivered(), 2);
/// assert!(!report.is_clean());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Batches the destination confirmed.
    pub delivered: u64,
    /// Batches waiting to be sent, or being sent.
    pub pending: u64,
    /// Batches given up on: refused by the destination, or out of attempts.
    pub failed: u64,
    /// Batches dropped unsent (a full queue drops its oldest batch).
    pub dropped: u64,
    /// Batches of delta data folded into a later batch instead of being
    /// dropped: not lost, their values travel in that batch.
    pub merged: u64,
    /// Batches still undelivered when the exporter shut down.
    pub abandoned: u64,
    /// Attempts that failed, whether retried or not.
    pub errors: u64,
    /// Rows of delta data that will never reach the destination: they were
    /// in failed or abandoned batches, and no later batch carries them.
    pub lost_rows: u64,
    /// Those rows' data, merged into one batch (see [`merge_batches`]);
    /// empty when nothing is lost.
    ///
    /// [`merge_batches`]: crate::merge_batches
    pub lost: Vec<ViewData>,
    /// The latest failure, for people.
    pub last_error: Option<String>,
    /// The exporter's own counters by name, for a health endpoint (the
    /// HTTP exporter lists every counter of its metrics here).
    pub counters: Vec<(String, u64)>,
}

impl DeliveryReport {
    /// An empty report: nothing delivered, nothing lost.
    pub fn new() -> DeliveryReport {
        DeliveryReport::default()
    }

    /// Batches that did not reach the destination: failed, dropped and
    /// abandoned.
    pub fn undelivered(&self) -> u64 {
        self.failed
            .saturating_add(self.dropped)
            .saturating_add(self.abandoned)
    }

    /// Whether every batch so far reached the destination (or is still on
    /// its way) and nothing is lost.
    pub fn is_clean(&self) -> bool {
        self.undelivered() == 0 && self.lost_rows == 0
    }
}
