//! Counting and logging the views a processor could not transform as
//! configured at export time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use census_core::ViewData;
use parking_lot::Mutex;

/// Counts every conflict and warns once per view while the view keeps
/// arriving, so a lasting misconfiguration is reported without a warning
/// every period.
#[derive(Debug, Default)]
pub(crate) struct ConflictLog {
    count: AtomicU64,
    /// Views already warned about; pruned to the views of the latest
    /// batch, so it never outgrows the registered views.
    warned: Mutex<HashSet<String>>,
}

impl ConflictLog {
    /// Counts one conflict in `view`, and warns with `message` unless this
    /// view was warned about while it kept arriving.
    pub(crate) fn conflict(&self, processor: &str, view: &str, message: impl FnOnce() -> String) {
        // Relaxed: a statistic.
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.warned.lock().insert(view.to_owned()) {
            log::warn!("census: {processor}: view {view:?}: {}", message());
        }
    }

    /// Forgets views absent from `batch`, so one that comes back is
    /// warned about again.
    pub(crate) fn retain_present(&self, batch: &[ViewData]) {
        let mut warned = self.warned.lock();
        if !warned.is_empty() {
            let present: HashSet<&str> = batch.iter().map(|d| d.view.name()).collect();
            warned.retain(|name| present.contains(name.as_str()));
        }
    }

    /// Conflicts counted so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}
