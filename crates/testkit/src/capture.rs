//! The capturing exporter: every call a manager makes, handed to the test.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use census_core::{ExportError, Exporter, Producer, View, ViewData};
use census_stats::ManualClock;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

/// How long a test waits for something that should come at once (an
/// export after a period ended, a shutdown call) before it fails: long
/// enough for a loaded machine, short enough to fail a stuck test.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One call a [`CapturingExporter`] received.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `export`, with a copy of the batch.
    Export(Vec<ViewData>),
    /// `shutdown`.
    Shutdown,
}

/// An exporter that hands every `export` and `shutdown` call to the test,
/// in order, through its [`Captured`], and keeps the producer the manager
/// attaches. It can refuse a view ([`refusing`](CapturingExporter::refusing))
/// and contribute self-metrics ([`contributing`](CapturingExporter::contributing)).
pub struct CapturingExporter {
    shared: Arc<Shared>,
    calls: Sender<Call>,
    refuse: Vec<String>,
    own: Option<Arc<dyn Producer>>,
    name: String,
}

/// The test's end of a [`CapturingExporter`].
pub struct Captured {
    shared: Arc<Shared>,
    calls: Receiver<Call>,
}

#[derive(Default)]
struct Shared {
    producer: Mutex<Option<Arc<dyn Producer>>>,
    attached: AtomicUsize,
    shutdowns: AtomicUsize,
    checked: Mutex<Vec<(View, Vec<View>)>>,
}

impl CapturingExporter {
    /// A capturing exporter named `capture`, and its test end.
    pub fn new() -> (CapturingExporter, Captured) {
        let shared = Arc::new(Shared::default());
        let (calls, rx) = crossbeam_channel::unbounded();
        let exporter = CapturingExporter {
            shared: Arc::clone(&shared),
            calls,
            refuse: Vec::new(),
            own: None,
            name: "capture".to_owned(),
        };
        (exporter, Captured { shared, calls: rx })
    }

    /// Refuses, in `check_view`, views named `name`.
    pub fn refusing(mut self, name: &str) -> CapturingExporter {
        self.refuse.push(name.to_owned());
        self
    }

    /// Contributes `producer` as its self-metrics.
    pub fn contributing(mut self, producer: Arc<dyn Producer>) -> CapturingExporter {
        self.own = Some(producer);
        self
    }

    /// Reports `name` as its name (for delivery threads, logs and
    /// shutdown reports).
    pub fn named(mut self, name: &str) -> CapturingExporter {
        name.clone_into(&mut self.name);
        self
    }
}

impl fmt::Debug for CapturingExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapturingExporter")
            .field("name", &self.name)
            .field("refuse", &self.refuse)
            .finish_non_exhaustive()
    }
}

impl Exporter for CapturingExporter {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        // The test may have stopped listening once it has what it needs.
        let _ = self.calls.send(Call::Export(batch.to_vec()));
        Ok(())
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        // Counted before it is sent, so a test that received the call
        // reads the count it made.
        self.shared.shutdowns.fetch_add(1, Ordering::SeqCst);
        let _ = self.calls.send(Call::Shutdown);
        Ok(())
    }

    fn attach(&self, producer: Arc<dyn Producer>) {
        *self.shared.producer.lock() = Some(producer);
        self.shared.attached.fetch_add(1, Ordering::SeqCst);
    }

    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        self.shared
            .checked
            .lock()
            .push((view.clone(), registered.to_vec()));
        if self.refuse.iter().any(|r| r == view.name()) {
            return Err(ExportError::new(format!("capture refuses {}", view.name())));
        }
        Ok(())
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        self.own.clone()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

impl Captured {
    /// The next call, waiting at most [`PATIENCE`]; panics without one.
    pub fn next_call(&self) -> Call {
        match self.calls.recv_timeout(PATIENCE) {
            Ok(call) => call,
            Err(err) => panic!("no call on the capturing exporter within {PATIENCE:?}: {err}"),
        }
    }

    /// The next export's batch, waiting at most [`PATIENCE`]; panics if
    /// none comes, or if the next call is `shutdown`.
    pub fn next_export(&self) -> Vec<ViewData> {
        match self.next_call() {
            Call::Export(batch) => batch,
            Call::Shutdown => panic!("expected an export, got shutdown"),
        }
    }

    /// The next export's batch within `timeout`, if one comes before it
    /// (or a shutdown).
    pub fn next_export_within(&self, timeout: Duration) -> Option<Vec<ViewData>> {
        match self.calls.recv_timeout(timeout) {
            Ok(Call::Export(batch)) => Some(batch),
            Ok(Call::Shutdown)
            | Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Advances `clock` by `by` and returns the batch of the period that
    /// ended: for a manager on that clock whose period `by` completes.
    pub fn export_after(&self, clock: &ManualClock, by: Duration) -> Vec<ViewData> {
        clock.advance(by);
        self.next_export()
    }

    /// Exports until one satisfies `wanted`, which it returns; panics if
    /// none does within [`PATIENCE`] of the last.
    pub fn export_where(&self, wanted: impl Fn(&[ViewData]) -> bool) -> Vec<ViewData> {
        loop {
            let batch = self.next_export();
            if wanted(&batch) {
                return batch;
            }
        }
    }

    /// Every call received so far and not yet taken, without waiting.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.try_iter().collect()
    }

    /// The batches of the exports received so far and not yet taken,
    /// without waiting.
    pub fn exports(&self) -> Vec<Vec<ViewData>> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Export(batch) => Some(batch),
                Call::Shutdown => None,
            })
            .collect()
    }

    /// The last batch exported among the calls not yet taken: after the
    /// manager's `shutdown` returned, the final batch.
    pub fn last_export(&self) -> Option<Vec<ViewData>> {
        self.exports().pop()
    }

    /// Every view's data now, taken through the producer the manager
    /// attached, as a pull exporter takes it; empty before attachment.
    pub fn pull(&self) -> Vec<ViewData> {
        let producer = self.shared.producer.lock().clone();
        producer.map(|p| p.produce()).unwrap_or_default()
    }

    /// How many times `shutdown` was called.
    pub fn shutdowns(&self) -> usize {
        self.shared.shutdowns.load(Ordering::SeqCst)
    }

    /// How many times a producer was attached.
    pub fn attached(&self) -> usize {
        self.shared.attached.load(Ordering::SeqCst)
    }

    /// Every `check_view` call: the view, and the views registered then.
    pub fn checked(&self) -> Vec<(View, Vec<View>)> {
        self.shared.checked.lock().clone()
    }
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captured")
            .field("waiting_calls", &self.calls.len())
            .field("shutdowns", &self.shutdowns())
            .finish_non_exhaustive()
    }
}
