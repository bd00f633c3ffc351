//! Callback views: views whose rows a function reports at each snapshot,
//! instead of rows aggregated from records.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use census_core::{Error, View, ViewData};
use parking_lot::Mutex;

use crate::manager::ViewManager;
use crate::observer::{Observed, Observer, Shape};
use crate::runner::{Outcome, Runner, Started};

/// How long a snapshot waits for a callback view's callback, unless told
/// otherwise; see [`ViewManager::set_callback_budget`].
pub const DEFAULT_CALLBACK_BUDGET: Duration = Duration::from_millis(100);

/// The longest callback budget: a snapshot's deadline is an `Instant`,
/// which cannot hold `Duration::MAX` from now.
const LONGEST_CALLBACK_BUDGET: Duration = Duration::from_secs(24 * 60 * 60);

type Callback = Box<dyn Fn(&mut Observer) + Send + Sync>;

/// A registered callback view.
pub(crate) struct CallbackView {
    shape: Arc<Shape>,
    callback: Callback,
    /// Calls that overran their budget and have not returned. While one
    /// runs, the view is not called again: a stuck callback holds one
    /// thread, not one per snapshot.
    overdue: AtomicUsize,
    /// For a view of running totals, the rows of the call that began last
    /// among those that returned: a call that fails shows them again (see
    /// `Callbacks`).
    last: Mutex<Option<Observed>>,
    /// Calls begun so far: numbers them in the order they began.
    calls: AtomicU64,
}

impl CallbackView {
    pub(crate) fn view(&self) -> &View {
        self.shape.view()
    }

    /// Calls the callback; on a runner thread.
    pub(crate) fn read(&self) -> Observed {
        // Relaxed: the number only orders this view's calls among
        // themselves, which a read-modify-write of one atomic does.
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut out = Observer::new(Arc::clone(&self.shape));
        (self.callback)(&mut out);
        let mut observed = out.finish();
        observed.call = call;
        observed
    }

    /// Keeps `observed` as the rows a failed call shows, unless a call
    /// that began after it has already been kept: two snapshots at once
    /// call side by side, and the call that began first may return last;
    /// its older totals shown again would read as totals gone back.
    fn keep(&self, observed: &Observed) {
        let mut last = self.last.lock();
        if last.as_ref().is_none_or(|kept| kept.call < observed.call) {
            *last = Some(observed.clone());
        }
    }

    /// The view's data at `end` from a call's rows; `None` for a call that
    /// failed or was not made, which shows the latest rows of a view of
    /// running totals and none of a LastValue view (see `Reading::finish`).
    fn data(&self, observed: Option<Observed>, end: SystemTime) -> ViewData {
        let observed = match observed {
            Some(observed) => Some(observed),
            None if self.shape.is_cumulative() => self.last.lock().clone(),
            None => None,
        };
        let (rows, folded) = observed.map_or((Vec::new(), 0), |o| (o.rows, o.folded));
        let mut data = ViewData::new(self.view().clone(), self.shape.start(), end, rows);
        data.folded = folded;
        data
    }

    pub(crate) fn is_overdue(&self) -> bool {
        // Relaxed: a view marked overdue a moment late is called once more
        // than needed, which the budget bounds like any call.
        self.overdue.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn mark_overdue(&self) {
        // Relaxed: see is_overdue; the mark and its clearing are ordered
        // by the call's lock in the runner.
        self.overdue.fetch_add(1, Ordering::Relaxed);
    }

    /// An abandoned call came back after `after`.
    pub(crate) fn returned_late(&self, after: Duration) {
        // Relaxed: see mark_overdue.
        self.overdue.fetch_sub(1, Ordering::Relaxed);
        log::info!(
            "census: the callback of view {} returned after {after:?}; it is called again from \
             the next snapshot on",
            self.view().name()
        );
    }
}

/// The callback machinery of one manager: the runner pool, the budget and
/// what went wrong, for `stats()`.
pub(crate) struct Callbacks {
    runner: Runner,
    budget: Mutex<Duration>,
    panics: AtomicU64,
    timeouts: AtomicU64,
    rejected: AtomicU64,
}

/// Callbacks handed to the runners for one snapshot.
pub(crate) struct Reading<'c> {
    callbacks: &'c Callbacks,
    /// `None` when there is no callback view: no round, no hand-over.
    started: Option<Started<'c>>,
    /// Views not called (the manager shut down, or the snapshot is taken
    /// inside a callback): they show what a call that failed shows.
    uncalled: Vec<Arc<CallbackView>>,
    budget: Duration,
}

impl Callbacks {
    pub(crate) fn new() -> Callbacks {
        Callbacks {
            runner: Runner::new(),
            budget: Mutex::new(DEFAULT_CALLBACK_BUDGET),
            panics: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// Starts calling the callbacks of `views`; they run while the caller
    /// snapshots the recorded views, and [`Reading::finish`] collects them,
    /// waiting at most the budget, and never past `deadline` (shutdown's).
    pub(crate) fn start(
        &self,
        views: Vec<Arc<CallbackView>>,
        deadline: Option<Instant>,
    ) -> Reading<'_> {
        let mut budget = *self.budget.lock();
        if let Some(deadline) = deadline {
            budget = budget.min(deadline.saturating_duration_since(Instant::now()));
        }
        if views.is_empty() || self.runner.is_closed() || self.runner.is_current_thread() {
            return Reading {
                callbacks: self,
                started: None,
                uncalled: views,
                budget,
            };
        }
        Reading {
            callbacks: self,
            started: Some(self.runner.start(views, budget)),
            uncalled: Vec::new(),
            budget,
        }
    }

    /// No callback is called from now on: shutdown took its final snapshot.
    pub(crate) fn close(&self) {
        self.runner.close();
    }

    /// Relaxed, all three: statistics.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    pub(crate) fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

impl Reading<'_> {
    /// Each view's data, taken at `end`, in the order given to `start`.
    ///
    /// A view whose call failed (panicked, overran the budget, or was not
    /// made because an earlier call is still running) gets no new rows: a
    /// view of running totals (Count, Sum, UpDownSum) shows its latest
    /// call's rows again, since a total stays true and dropping it would
    /// make a delta processor count it anew when it comes back; a LastValue
    /// view shows none, since a reading that could not be taken is absent,
    /// not the old one.
    pub(crate) fn finish(self, end: SystemTime) -> Vec<ViewData> {
        let c = self.callbacks;
        let Some(started) = self.started else {
            return self
                .uncalled
                .iter()
                .map(|state| state.data(None, end))
                .collect();
        };
        let outcomes = started.wait();
        let mut batch = Vec::with_capacity(outcomes.len());
        for (state, outcome) in outcomes {
            let name = state.view().name();
            let observed = match outcome {
                Outcome::Observed(observed) => {
                    if observed.rejected > 0 {
                        // Relaxed: statistics, as below.
                        c.rejected.fetch_add(observed.rejected, Ordering::Relaxed);
                    }
                    if state.shape.is_cumulative() {
                        state.keep(&observed);
                    }
                    Some(observed)
                }
                Outcome::Panicked => {
                    c.panics.fetch_add(1, Ordering::Relaxed);
                    log::error!(
                        "census: the callback of view {name} panicked; the view has no new rows \
                         in this snapshot"
                    );
                    None
                }
                Outcome::Overran { started } => {
                    c.timeouts.fetch_add(1, Ordering::Relaxed);
                    if started {
                        log::warn!(
                            "census: the callback of view {name} did not return within {:?}; the \
                             view has no new rows until it does",
                            self.budget
                        );
                    } else {
                        log::warn!(
                            "census: the callback of view {name} got no thread within {:?}; the \
                             view has no new rows in this snapshot",
                            self.budget
                        );
                    }
                    None
                }
                // Logged when the call overran.
                Outcome::Busy => {
                    c.timeouts.fetch_add(1, Ordering::Relaxed);
                    None
                }
                // Shutdown took its final snapshot: not a failure.
                Outcome::Closed => None,
            };
            batch.push(state.data(observed, end));
        }
        batch
    }
}

impl ViewManager {
    /// Registers a **callback view**: a view whose rows `callback` reports
    /// each time the view is snapshotted (each export period, each scrape
    /// of a pull exporter, [`retrieve_data`](ViewManager::retrieve_data),
    /// and the final export at shutdown), for values that exist only when
    /// asked: a queue's depth, open connections, a pool's size, a value
    /// read from another library.
    ///
    /// Inside the callback, [`Observer::observe`] reports one row per call
    /// (the same tags twice keep the last value). A LastValue view is a
    /// gauge of the values observed; a Sum, UpDownSum or Count view takes
    /// each observed value as the row's cumulative total since the view
    /// was registered (exported as monotonic, unless the view is an
    /// UpDownSum). Each snapshot's rows are exactly those of that call: a
    /// row not observed is absent. The row limit applies to each call, and
    /// the overflow row with it ([`ViewData::folded`] then counts the tag
    /// combinations folded in that call). Exporters and pipelines see the
    /// view like any other; values recorded into its measure do not reach
    /// it.
    ///
    /// The callback runs on a thread of its own, never on the thread
    /// taking the snapshot, so that one that panics or takes longer than
    /// the callback budget (100 ms by default,
    /// [`set_callback_budget`](ViewManager::set_callback_budget)) is
    /// isolated: no other view, exporter or recorder waits on it longer
    /// than the budget, its view has no new rows in that snapshot (a
    /// LastValue view shows none; a view of totals shows the rows of its
    /// latest successful call again), it is counted in
    /// [`ManagerStats::callback_panics`](crate::ManagerStats::callback_panics)
    /// or [`callback_timeouts`](crate::ManagerStats::callback_timeouts),
    /// and it is logged. A callback still running past its budget is not
    /// called again until it returns. Callbacks of one manager may run
    /// concurrently with each other and with themselves (two snapshots at
    /// once), hence `Sync`.
    ///
    /// Callbacks keep being called while recording is disabled
    /// ([`set_enabled`](ViewManager::set_enabled)): they read state the
    /// service keeps anyway.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
    /// use std::sync::Arc;
    /// use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
    /// use census_stats::ViewManager;
    ///
    /// let open = MeasureI64::new("pool/open", "open connections", "1")?;
    /// let pool = TagKey::new("pool")?;
    /// let tags_a = TagMap::new().with(&pool, "a")?;
    /// let a = Arc::new(AtomicI64::new(0));
    /// let vm = ViewManager::new();
    /// let reader = Arc::clone(&a);
    /// vm.register_callback(
    ///     View::builder("pool/open", &open)
    ///         .tag_keys([pool.clone()])
    ///         .aggregation(Aggregation::LastValue)
    ///         .build()?,
    ///     move |out| out.observe(&tags_a, reader.load(Relaxed)),
    /// )?;
    /// a.store(7, Relaxed);
    /// let data = vm.retrieve_data("pool/open")?;
    /// assert_eq!(data.rows[0].data, AggregationData::LastValue(Number::Int(7)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::UnsupportedCallbackView`] for a Distribution view or a
    ///   view with `expire_after`;
    /// - [`Error::ViewConflict`] if any view has this name (registering a
    ///   callback view twice is refused too: a callback cannot be
    ///   compared);
    /// - [`Error::MeasureConflict`] if another registered view's measure
    ///   has the same name but another type or unit;
    /// - [`Error::ViewRejected`] if a registered exporter refuses the view;
    /// - [`Error::ShutDown`] after [`shutdown`](ViewManager::shutdown).
    pub fn register_callback(
        &self,
        view: View,
        callback: impl Fn(&mut Observer) + Send + Sync + 'static,
    ) -> Result<(), Error> {
        let shape = Shape::new(view, self.inner().clock.system_time())?;
        self.add_callback_view(Arc::new(CallbackView {
            shape: Arc::new(shape),
            callback: Box::new(callback),
            overdue: AtomicUsize::new(0),
            last: Mutex::new(None),
            calls: AtomicU64::new(0),
        }))
    }

    /// Sets how long a snapshot waits for callback views' callbacks: a
    /// callback that has not returned by then leaves its view without new
    /// rows in that snapshot (see
    /// [`register_callback`](ViewManager::register_callback)). Callbacks
    /// run side by side, so a snapshot waits about this long at most,
    /// however many overrun. Takes effect from the next snapshot. A zero
    /// budget means the default; a budget longer than a day (such as
    /// `Duration::MAX`) is taken as a day, since a snapshot must end.
    /// Default: 100 ms ([`DEFAULT_CALLBACK_BUDGET`]).
    pub fn set_callback_budget(&self, budget: Duration) {
        let budget = if budget.is_zero() {
            DEFAULT_CALLBACK_BUDGET
        } else {
            budget.min(LONGEST_CALLBACK_BUDGET)
        };
        *self.inner().callbacks.budget.lock() = budget;
    }

    /// The current callback budget; see
    /// [`set_callback_budget`](ViewManager::set_callback_budget).
    pub fn callback_budget(&self) -> Duration {
        *self.inner().callbacks.budget.lock()
    }
}
