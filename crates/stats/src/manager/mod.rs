//! ViewManager: owns the registered views and exporters, routes recorded
//! values to views, and runs the export worker.
//!
//! [`registry`] registers views and exporters, [`routing`] keeps the
//! record path's routing table and each thread's copy, [`producer`] takes
//! snapshots for exporters, [`shutdown`] drains, and [`shutdown_future`]
//! drains for async callers. The record path itself is in `record.rs`.

mod builder;
mod health;
mod producer;
mod registered;
mod registry;
mod routing;
mod shutdown;
mod shutdown_future;
mod subscriptions;

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::callback::Callbacks;
use crate::clock::Clock;
use crate::delivery::{Batch, DeliveryCounters};
use crate::seed::Seed;
use crate::switch::Switch;
use crate::worker::Worker;

pub use builder::ViewManagerBuilder;
pub use health::{ExporterHealth, Health};
use registered::Registry;
pub(crate) use routing::{compatible, Routes};
pub use shutdown::{ShutdownGuard, ShutdownReport};
pub use shutdown_future::ShutdownFuture;
pub(crate) use subscriptions::Subscriptions;

/// The reporting period a manager starts with.
pub const DEFAULT_REPORTING_PERIOD: Duration = Duration::from_secs(10);

/// How long `shutdown` waits, unless told otherwise, for exporters to
/// finish the final export and their own shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns registered views and exporters, routes recorded values into the
/// views, and runs one background thread that exports every view each
/// reporting period.
///
/// Use the process-wide instance from [`crate::view_manager`], or make
/// independent ones with [`ViewManager::new`] (tests, embedding): both work
/// the same way. Dropping a manager shuts it down.
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
/// MeasurementMap::new().put(&requests, 3).record_to(&vm, &TagMap::new());
/// let data = vm.retrieve_data("demo/requests_total")?;
/// assert_eq!(data.rows.len(), 1);
/// vm.shutdown();
/// # Ok(()) }
/// ```
pub struct ViewManager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Views, exporters and producers. Taken to register, unregister and to
    /// list what to snapshot; never on the record path, never while calling
    /// an exporter.
    pub(super) registry: Mutex<Registry>,
    /// Measure name to the views that aggregate it, rebuilt whole, when
    /// a thread needs it, after registrations changed the registry. The
    /// record path reads it through its thread's `routes` copy, and comes
    /// here only when `version` moved.
    pub(super) subscriptions: Mutex<Arc<Subscriptions>>,
    /// The registry's version, published after every registration change.
    pub(super) version: AtomicU64,
    /// Each thread's copy of `subscriptions`, the version it was taken
    /// at, and the thread's row index for each view. Checking a copy reads
    /// `version` and writes nothing shared, where a read lock would
    /// write its reader count and an `Arc` clone its reference count: both
    /// cache lines every recording thread would fight over.
    // CachePadded: ThreadLocal keeps threads' values next to each other,
    // and each thread writes its copy's borrow flag on every record; the
    // padding (128 bytes on x86_64 and aarch64, whose cores fetch lines in
    // pairs) keeps neighbours from bouncing one line between cores.
    pub(super) routes: ThreadLocal<CachePadded<RefCell<Routes>>>,
    pub(super) shut_down: AtomicBool,
    /// Makes a second `shutdown` call wait for the first to finish.
    pub(super) shutdown_lock: Mutex<()>,
    pub(super) worker: Mutex<Option<Worker>>,
    pub(super) period: Mutex<Duration>,
    pub(super) shutdown_timeout: Mutex<Duration>,
    /// What the first shutdown found, handed to later callers too.
    pub(super) report: Mutex<Option<ShutdownReport>>,
    /// The final batch, once shutdown took it: what pull exporters show
    /// from then on, so no callback runs after the drain's snapshot.
    pub(super) last_batch: Mutex<Option<Batch>>,
    pub(super) rejected_values: AtomicU64,
    pub(super) dropped_attachments: AtomicU64,
    pub(super) thread_exit_values: AtomicU64,
    pub(super) counters: Arc<DeliveryCounters>,
    /// Recording on or off (issue #12).
    pub(crate) switch: Switch,
    /// Runs callback views' callbacks at each snapshot (issue #12).
    pub(crate) callbacks: Callbacks,
    /// Where periods, row ages and view data times come from.
    pub(crate) clock: Clock,
}

/// What a manager has counted about itself; see [`ViewManager::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ManagerStats {
    /// Values not aggregated: NaN or infinite floats, values of a
    /// measure whose type or unit differs from the registered measure of
    /// the same name, and values a callback observed that do not fit its
    /// view (see [`Observer::observe`](crate::Observer::observe)).
    pub rejected_values: u64,
    /// Attachments not kept with their exemplar: past the first 8 of a
    /// measurement map, or past 256 bytes of keys and values together
    /// (see `MeasurementMap::attach`).
    pub dropped_attachments: u64,
    /// Values recorded from a thread-local destructor after census's own
    /// per-thread state on that thread was gone (a `thread_local!` value,
    /// made before the thread first recorded, whose `Drop` records):
    /// dropped, since census can no longer reach that thread's rows.
    pub thread_exit_values: u64,
    /// Batches handed to exporters (one per exporter per period).
    pub exports: u64,
    /// Exports that returned an error.
    pub export_errors: u64,
    /// Exports (and exporter shutdowns) that panicked.
    pub export_panics: u64,
    /// Periodic batches an exporter never saw because it was still busy
    /// with an earlier one when a newer one arrived. Batches are
    /// cumulative, so the newer batch carried the skipped one's values.
    pub skipped_batches: u64,
    /// Record calls (a [`MeasurementMap`](crate::MeasurementMap)'s
    /// `record`/`record_to`, a [`BoundMeasure`](crate::BoundMeasure)'s
    /// `record`) made while recording was off
    /// ([`ViewManager::set_enabled`]): each changed nothing. A map of
    /// several values counts once.
    pub disabled_records: u64,
    /// Calls of callback views' callbacks that panicked; each left its
    /// view without new rows in that snapshot.
    pub callback_panics: u64,
    /// Snapshots in which a callback view got no new rows because its
    /// callback had not returned within the callback budget
    /// ([`ViewManager::set_callback_budget`]): once for the call that
    /// overran, and once for each later snapshot that found it still
    /// running (it is not called again until it returns).
    pub callback_timeouts: u64,
}

impl ViewManager {
    /// A new manager with no views, no exporters and no thread; the export
    /// thread starts with the first exporter.
    pub fn new() -> ViewManager {
        ViewManager::builder().build()
    }

    /// Starts a builder, for a manager with a [`ManualClock`](crate::ManualClock)
    /// or a reporting period set before it starts.
    pub fn builder() -> ViewManagerBuilder {
        ViewManagerBuilder::new()
    }

    fn with(clock: Clock, period: Duration) -> ViewManager {
        let seed = Seed::default();
        ViewManager {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::new(seed.clone())),
                subscriptions: Mutex::new(Arc::new(Subscriptions::new(seed))),
                version: AtomicU64::new(0),
                routes: ThreadLocal::new(),
                shut_down: AtomicBool::new(false),
                shutdown_lock: Mutex::new(()),
                worker: Mutex::new(None),
                period: Mutex::new(period),
                shutdown_timeout: Mutex::new(DEFAULT_SHUTDOWN_TIMEOUT),
                report: Mutex::new(None),
                last_batch: Mutex::new(None),
                rejected_values: AtomicU64::new(0),
                dropped_attachments: AtomicU64::new(0),
                thread_exit_values: AtomicU64::new(0),
                counters: Arc::new(DeliveryCounters::default()),
                switch: Switch::new(),
                callbacks: Callbacks::new(),
                clock,
            }),
        }
    }

    /// What the manager has counted about itself.
    pub fn stats(&self) -> ManagerStats {
        let c = &self.inner.counters;
        ManagerStats {
            rejected_values: self
                .inner
                .rejected_values
                .load(Ordering::Relaxed)
                .saturating_add(self.inner.callbacks.rejected()),
            dropped_attachments: self.inner.dropped_attachments.load(Ordering::Relaxed),
            thread_exit_values: self.inner.thread_exit_values.load(Ordering::Relaxed),
            exports: c.exports.load(Ordering::Relaxed),
            export_errors: c.export_errors.load(Ordering::Relaxed),
            export_panics: c.export_panics.load(Ordering::Relaxed),
            skipped_batches: c.skipped_batches.load(Ordering::Relaxed),
            disabled_records: self.inner.switch.refused(),
            callback_panics: self.inner.callbacks.panics(),
            callback_timeouts: self.inner.callbacks.timeouts(),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Inner {
    /// Whether recording is over.
    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        // Relaxed: the flag publishes no data; see ViewManager::shutdown.
        self.shut_down.load(Ordering::Relaxed)
    }

    /// The registry's current version.
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        // Relaxed: see with_routes.
        self.version.load(Ordering::Relaxed)
    }

    /// Counts `n` values dropped because the recording thread is exiting.
    #[cold]
    pub(crate) fn dropped_at_thread_exit(&self, n: usize) {
        // Relaxed: a statistic.
        self.thread_exit_values
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    #[cold]
    pub(crate) fn reject(&self) {
        // Relaxed: a statistic.
        self.rejected_values.fetch_add(1, Ordering::Relaxed);
    }

    #[cold]
    pub(crate) fn drop_attachments(&self, n: usize) {
        // Relaxed: a statistic.
        self.dropped_attachments
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Default for ViewManager {
    fn default() -> ViewManager {
        ViewManager::new()
    }
}

impl Drop for ViewManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for ViewManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reg = self.inner.registry.lock();
        f.debug_struct("ViewManager")
            .field("views", &reg.len())
            .field("exporters", &reg.deliveries.len())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{
        Aggregation, AggregationData, Error, MeasureI64, Number, TagKey, TagMap, View,
    };

    fn sums(vm: &ViewManager, view: &str) -> Vec<(Vec<Option<String>>, i64)> {
        let mut rows: Vec<_> = vm
            .retrieve_data(view)
            .map(|d| d.rows)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let tags = r
                    .tags
                    .iter()
                    .map(|t| t.as_ref().map(|v| v.as_str().to_owned()))
                    .collect();
                let sum = match r.data {
                    AggregationData::Sum(Number::Int(v)) => v,
                    AggregationData::Count(n) => n as i64,
                    other => panic!("{other:?}"),
                };
                (tags, sum)
            })
            .collect();
        rows.sort();
        rows
    }

    // Views of one measure with interleaved key sets each project the
    // record's tags onto their own keys (issue #5).
    #[test]
    fn interleaved_key_sets_each_get_their_own_projection() -> Result<(), Error> {
        let m = MeasureI64::new("m", "", "1")?;
        let (a, b) = (TagKey::new("a")?, TagKey::new("b")?);
        let vm = ViewManager::new();
        let specs: [(&str, Vec<TagKey>, Aggregation); 4] = [
            ("a_sum", vec![a.clone()], Aggregation::Sum),
            ("a_count", vec![a.clone()], Aggregation::Count),
            ("ba_sum", vec![b.clone(), a.clone()], Aggregation::Sum),
            ("a_sum2", vec![a.clone()], Aggregation::Sum),
        ];
        for (name, keys, agg) in specs {
            vm.register_view(
                View::builder(name, &m)
                    .tag_keys(keys)
                    .aggregation(agg)
                    .build()?,
            )?;
        }
        let tags = TagMap::new().with(&a, "x")?.with(&b, "y")?;
        crate::MeasurementMap::new()
            .put(&m, 5)
            .record_to(&vm, &tags);
        crate::MeasurementMap::new()
            .put(&m, 2)
            .record_to(&vm, &tags.clone().without(&b));
        let x = || Some("x".to_owned());
        assert_eq!(sums(&vm, "a_sum"), vec![(vec![x()], 7)]);
        assert_eq!(sums(&vm, "a_count"), vec![(vec![x()], 2)]);
        assert_eq!(sums(&vm, "a_sum2"), vec![(vec![x()], 7)]);
        assert_eq!(
            sums(&vm, "ba_sum"),
            vec![(vec![None, x()], 2), (vec![Some("y".to_owned()), x()], 5)]
        );
        Ok(())
    }
}
