//! One delivery thread per exporter, so that an exporter that is slow or
//! stuck delays neither the worker nor any other exporter.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use census_core::{DeliveryReport, Exporter, ViewData};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::notice::Notice;

/// A batch shared by every exporter's thread: snapshotted once, never copied.
pub(crate) type Batch = Arc<[ViewData]>;

enum Message {
    Batch(Batch),
    /// Export this last batch, then shut the exporter down and exit.
    Final(Batch),
}

/// Export counters: one set for the whole manager, one per exporter.
/// Relaxed: each is an independent statistic.
#[derive(Debug, Default)]
pub(crate) struct DeliveryCounters {
    pub(crate) exports: AtomicU64,
    pub(crate) export_errors: AtomicU64,
    pub(crate) export_panics: AtomicU64,
    pub(crate) skipped_batches: AtomicU64,
}

impl DeliveryCounters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What one exporter's thread found, beside the shared counters.
#[derive(Default)]
pub(crate) struct Outcome {
    /// This exporter's own counters.
    pub(crate) counters: DeliveryCounters,
    /// The latest failed export or shutdown, for people.
    pub(crate) last_error: Mutex<Option<String>>,
    /// What the exporter's `shutdown` said, if it failed.
    shutdown_error: Mutex<Option<String>>,
    /// The exporter's delivery report, asked for after its shutdown.
    report: Mutex<Option<DeliveryReport>>,
}

/// An exporter and the thread that feeds it.
pub(crate) struct Delivery {
    exporter: Arc<dyn Exporter>,
    /// Capacity one: the exporter works on one batch while at most one
    /// newer batch waits. Bounded work whatever the exporter's speed.
    mailbox: Sender<Message>,
    /// The same channel's receiving end, used only to evict a stale batch.
    evict: Receiver<Message>,
    /// Disconnects when the thread exits.
    exited: Receiver<()>,
    outcome: Arc<Outcome>,
    /// The exporter's [`Exporter::instance`], as the registration asked
    /// it, so that the registry compares it without calling exporter code
    /// under its lock.
    instance: usize,
    /// Failures told on stderr when no logger shows them.
    pub(crate) notice: Notice,
}

impl Delivery {
    pub(crate) fn spawn(
        exporter: Arc<dyn Exporter>,
        instance: usize,
        counters: Arc<DeliveryCounters>,
    ) -> std::io::Result<Delivery> {
        let (mailbox, inbox) = crossbeam_channel::bounded(1);
        let (exit_guard, exited) = crossbeam_channel::bounded::<()>(0);
        let evict = inbox.clone();
        let runner = Arc::clone(&exporter);
        let outcome = Arc::new(Outcome::default());
        let thread_outcome = Arc::clone(&outcome);
        std::thread::Builder::new()
            .name(format!("census-export:{}", exporter.name()))
            .spawn(move || {
                let _exit_guard = exit_guard;
                run(&*runner, &inbox, &counters, &thread_outcome);
            })?;
        Ok(Delivery {
            exporter,
            mailbox,
            evict,
            exited,
            outcome,
            instance,
            notice: Notice::default(),
        })
    }

    /// The exporter's [`Exporter::instance`], as an address.
    pub(crate) fn instance(&self) -> usize {
        self.instance
    }

    pub(crate) fn name(&self) -> &str {
        self.exporter.name()
    }

    pub(crate) fn exporter(&self) -> &Arc<dyn Exporter> {
        &self.exporter
    }

    pub(crate) fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Hands over a periodic batch without waiting. If the exporter has not
    /// taken the previous one yet, the previous one is dropped: batches are
    /// cumulative, so the newer one carries everything the older did.
    pub(crate) fn offer(&self, batch: Batch, counters: &DeliveryCounters) {
        let mut message = Message::Batch(batch);
        loop {
            match self.mailbox.try_send(message) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    if self.evict.try_recv().is_ok() {
                        DeliveryCounters::add(&counters.skipped_batches);
                        DeliveryCounters::add(&self.outcome.counters.skipped_batches);
                    }
                    message = back;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// Hands over the final batch, replacing any pending one.
    pub(crate) fn finish(&self, batch: Batch, counters: &DeliveryCounters) {
        if self.evict.try_recv().is_ok() {
            DeliveryCounters::add(&counters.skipped_batches);
            DeliveryCounters::add(&self.outcome.counters.skipped_batches);
        }
        // Only the worker sends, and the slot was just emptied, so this
        // fits; a stuck exporter never takes it, which `wait_until` bounds.
        let _ = self.mailbox.try_send(Message::Final(batch));
    }

    /// What the exporter's `shutdown` reported, once the thread has ended.
    pub(crate) fn shutdown_error(&self) -> Option<String> {
        self.outcome.shutdown_error.lock().clone()
    }

    /// The exporter's delivery report from after its shutdown, once the
    /// thread has ended.
    pub(crate) fn final_report(&self) -> Option<DeliveryReport> {
        self.outcome.report.lock().clone()
    }

    /// The exporter's delivery report now (see `Exporter::delivery`).
    pub(crate) fn report(&self) -> Option<DeliveryReport> {
        ask(self.exporter.as_ref())
    }

    /// Waits for the thread to finish until `deadline` (for as long as it
    /// takes without one); whether it did.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        match deadline {
            Some(deadline) => matches!(
                self.exited.recv_deadline(deadline),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected)
            ),
            // The thread never sends; `recv` returns once it exits.
            None => self.exited.recv().is_err(),
        }
    }
}

/// The exporter's delivery report; a panic in it reads as none.
fn ask(exporter: &dyn Exporter) -> Option<DeliveryReport> {
    catch_unwind(AssertUnwindSafe(|| exporter.delivery())).unwrap_or_else(|_| {
        log::error!(
            "census: exporter {} panicked in delivery()",
            exporter.name()
        );
        None
    })
}

/// Feeds the exporter until its final batch, then shuts it down and keeps
/// what it said and what it reports.
fn run(
    exporter: &dyn Exporter,
    inbox: &Receiver<Message>,
    counters: &DeliveryCounters,
    outcome: &Outcome,
) {
    while let Ok(message) = inbox.recv() {
        match message {
            Message::Batch(batch) => export(exporter, &batch, counters, outcome),
            Message::Final(batch) => {
                export(exporter, &batch, counters, outcome);
                let error = match catch_unwind(AssertUnwindSafe(|| exporter.shutdown())) {
                    Ok(Ok(())) => None,
                    Ok(Err(err)) => {
                        log::warn!(
                            "census: exporter {} failed to shut down: {err}",
                            exporter.name()
                        );
                        Some(err.to_string())
                    }
                    Err(_) => {
                        DeliveryCounters::add(&counters.export_panics);
                        DeliveryCounters::add(&outcome.counters.export_panics);
                        log::error!(
                            "census: exporter {} panicked during shutdown",
                            exporter.name()
                        );
                        Some("panicked during shutdown".to_owned())
                    }
                };
                *outcome.shutdown_error.lock() = error;
                *outcome.report.lock() = ask(exporter);
                return;
            }
        }
    }
}

fn export(
    exporter: &dyn Exporter,
    batch: &[ViewData],
    counters: &DeliveryCounters,
    outcome: &Outcome,
) {
    DeliveryCounters::add(&counters.exports);
    DeliveryCounters::add(&outcome.counters.exports);
    match catch_unwind(AssertUnwindSafe(|| exporter.export(batch))) {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            DeliveryCounters::add(&counters.export_errors);
            DeliveryCounters::add(&outcome.counters.export_errors);
            log::warn!("census: exporter {} failed: {err}", exporter.name());
            *outcome.last_error.lock() = Some(err.to_string());
        }
        Err(_) => {
            DeliveryCounters::add(&counters.export_panics);
            DeliveryCounters::add(&outcome.counters.export_panics);
            log::error!(
                "census: exporter {} panicked during export",
                exporter.name()
            );
            *outcome.last_error.lock() = Some("panicked during export".to_owned());
        }
    }
}
