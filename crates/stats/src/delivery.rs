//! One delivery thread per exporter, so that an exporter that is slow or
//! stuck delays neither the worker nor any other exporter.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use census_core::{Exporter, ViewData};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

/// A batch shared by every exporter's thread: snapshotted once, never copied.
pub(crate) type Batch = Arc<[ViewData]>;

enum Message {
    Batch(Batch),
    /// Export this last batch, then shut the exporter down and exit.
    Final(Batch),
}

/// Counters shared by all of one manager's deliveries. Relaxed: each is an
/// independent statistic.
#[derive(Debug, Default)]
pub(crate) struct DeliveryCounters {
    pub(crate) exports: AtomicU64,
    pub(crate) export_errors: AtomicU64,
    pub(crate) export_panics: AtomicU64,
    pub(crate) skipped_batches: AtomicU64,
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
    /// What the exporter's `shutdown` said, if it failed.
    shutdown_error: Arc<Mutex<Option<String>>>,
}

impl Delivery {
    pub(crate) fn spawn(
        exporter: Arc<dyn Exporter>,
        counters: Arc<DeliveryCounters>,
    ) -> std::io::Result<Delivery> {
        let (mailbox, inbox) = crossbeam_channel::bounded(1);
        let (exit_guard, exited) = crossbeam_channel::bounded::<()>(0);
        let evict = inbox.clone();
        let runner = Arc::clone(&exporter);
        let shutdown_error = Arc::new(Mutex::new(None));
        let outcome = Arc::clone(&shutdown_error);
        std::thread::Builder::new()
            .name(format!("census-export:{}", exporter.name()))
            .spawn(move || {
                let _exit_guard = exit_guard;
                if let Err(error) = run(&*runner, &inbox, &counters) {
                    *outcome.lock() = Some(error);
                }
            })?;
        Ok(Delivery {
            exporter,
            mailbox,
            evict,
            exited,
            shutdown_error,
        })
    }

    pub(crate) fn name(&self) -> &str {
        self.exporter.name()
    }

    pub(crate) fn exporter(&self) -> &Arc<dyn Exporter> {
        &self.exporter
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
                        counters.skipped_batches.fetch_add(1, Ordering::Relaxed);
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
            counters.skipped_batches.fetch_add(1, Ordering::Relaxed);
        }
        // Only the worker sends, and the slot was just emptied, so this
        // fits; a stuck exporter never takes it, which `wait_until` bounds.
        let _ = self.mailbox.try_send(Message::Final(batch));
    }

    /// What the exporter's `shutdown` reported, once the thread has ended.
    pub(crate) fn shutdown_error(&self) -> Option<String> {
        self.shutdown_error.lock().clone()
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

/// Feeds the exporter until its final batch; returns what its `shutdown`
/// said if that failed.
fn run(
    exporter: &dyn Exporter,
    inbox: &Receiver<Message>,
    counters: &DeliveryCounters,
) -> Result<(), String> {
    while let Ok(message) = inbox.recv() {
        match message {
            Message::Batch(batch) => export(exporter, &batch, counters),
            Message::Final(batch) => {
                export(exporter, &batch, counters);
                return match catch_unwind(AssertUnwindSafe(|| exporter.shutdown())) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => {
                        log::warn!(
                            "census: exporter {} failed to shut down: {err}",
                            exporter.name()
                        );
                        Err(err.to_string())
                    }
                    Err(_) => {
                        counters.export_panics.fetch_add(1, Ordering::Relaxed);
                        log::error!(
                            "census: exporter {} panicked during shutdown",
                            exporter.name()
                        );
                        Err("panicked during shutdown".to_owned())
                    }
                };
            }
        }
    }
    Ok(())
}

fn export(exporter: &dyn Exporter, batch: &[ViewData], counters: &DeliveryCounters) {
    counters.exports.fetch_add(1, Ordering::Relaxed);
    match catch_unwind(AssertUnwindSafe(|| exporter.export(batch))) {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            counters.export_errors.fetch_add(1, Ordering::Relaxed);
            log::warn!("census: exporter {} failed: {err}", exporter.name());
        }
        Err(_) => {
            counters.export_panics.fetch_add(1, Ordering::Relaxed);
            log::error!(
                "census: exporter {} panicked during export",
                exporter.name()
            );
        }
    }
}
