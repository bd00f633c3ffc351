//! The switch that turns recording off and on at run time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use thread_local::ThreadLocal;

use crate::manager::ViewManager;
use crate::thread_exit;

/// Whether a manager records, and how many records it refused while it
/// did not.
pub(crate) struct Switch {
    enabled: AtomicBool,
    /// Each thread counts the records it made while disabled on a line of
    /// its own, so that a disabled manager under many recording threads
    /// costs no shared write.
    refused: ThreadLocal<CachePadded<AtomicU64>>,
    /// Records refused on a thread that is exiting and has no counter of
    /// its own yet (see `thread_exit`).
    refused_at_exit: AtomicU64,
}

impl Switch {
    pub(crate) fn new() -> Switch {
        Switch {
            enabled: AtomicBool::new(true),
            refused: ThreadLocal::new(),
            refused_at_exit: AtomicU64::new(0),
        }
    }

    /// Whether recording is off, counting the record if so. One relaxed
    /// load while recording is on.
    #[inline(always)]
    pub(crate) fn refuses(&self) -> bool {
        // Relaxed: a record racing with `set_enabled` may land either side
        // of it; one made after `set_enabled` returned on the same thread
        // sees it (coherence), and nothing else is published through it.
        if self.enabled.load(Ordering::Relaxed) {
            return false;
        }
        self.count();
        true
    }

    #[cold]
    #[inline(never)]
    fn count(&self) {
        // A load and a store, not a locked add: only this thread writes
        // its counter (`ThreadLocal` hands a slot to one live thread at a
        // time). Relaxed: a statistic, summed by `refused`.
        let mine = match self.refused.get() {
            Some(mine) => mine,
            // Making a counter now could panic inside a thread-local
            // destructor; count on the shared one instead.
            None if thread_exit::exiting() => {
                self.refused_at_exit.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => {
                let mine = self.refused.get_or_default();
                thread_exit::watch();
                mine
            }
        };
        let n = mine.load(Ordering::Relaxed);
        mine.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Records refused while disabled, over all threads.
    pub(crate) fn refused(&self) -> u64 {
        // Relaxed: a statistic.
        let threads: u64 = self.refused.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        threads.wrapping_add(self.refused_at_exit.load(Ordering::Relaxed))
    }
}

impl ViewManager {
    /// Turns recording off (`false`) or back on (`true`); on by default.
    ///
    /// While off, every record, through a
    /// [`MeasurementMap`](crate::MeasurementMap) or a
    /// [`BoundMeasure`](crate::BoundMeasure), is a no-op that changes no
    /// view and is counted in
    /// [`ManagerStats::disabled_records`](crate::ManagerStats::disabled_records)
    /// (once per `record` call). Checking costs one relaxed load per
    /// record while on. Everything else keeps running: exports, scrapes
    /// and `retrieve_data` show the values recorded while on, unchanged
    /// (a disabled period reads as flat values, not a gap; see
    /// docs/semantics.md), and callback views are still called. Turning it
    /// back on resumes recording into the same rows.
    ///
    /// A record racing with this call on another thread may land either
    /// side of it; a record made after it returns, on any thread that
    /// synchronised with the caller, sees the new state.
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
    /// vm.set_enabled(false);
    /// MeasurementMap::new().put(&requests, 1).record_to(&vm, &TagMap::new());
    /// assert!(vm.retrieve_data("demo/requests_total")?.rows.is_empty());
    /// assert_eq!(vm.stats().disabled_records, 1);
    /// vm.set_enabled(true);
    /// MeasurementMap::new().put(&requests, 1).record_to(&vm, &TagMap::new());
    /// assert_eq!(vm.retrieve_data("demo/requests_total")?.rows.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn set_enabled(&self, enabled: bool) {
        // Relaxed: see Switch::refuses.
        self.inner()
            .switch
            .enabled
            .store(enabled, Ordering::Relaxed);
    }

    /// Whether recording is on; see
    /// [`set_enabled`](ViewManager::set_enabled).
    pub fn is_enabled(&self) -> bool {
        // Relaxed: see Switch::refuses.
        self.inner().switch.enabled.load(Ordering::Relaxed)
    }
}
