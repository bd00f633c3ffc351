//! The one background thread per manager that snapshots every period,
//! hands the batch to each exporter's delivery thread, and drains at
//! shutdown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::manager::{Inner, ShutdownReport, DEFAULT_SHUTDOWN_TIMEOUT};

enum Command {
    /// A new period, and when it was set (on the manager's clock).
    Period(Duration, Instant),
    /// The final export, giving exporters this long once it is taken.
    Shutdown(Duration),
}

/// Handle to a running worker thread.
pub(crate) struct Worker {
    commands: Sender<Command>,
    thread: JoinHandle<ShutdownReport>,
}

impl Worker {
    pub(crate) fn spawn(inner: Arc<Inner>, period: Duration) -> std::io::Result<Worker> {
        let (commands, receiver) = crossbeam_channel::unbounded();
        // The first period ends one period after the exporter that started
        // the thread was registered, whenever the thread gets going (a
        // manual clock may be advanced before it does).
        let first = after(inner.clock.now(), period);
        let thread = std::thread::Builder::new()
            .name("census-worker".into())
            .spawn(move || run(&inner, &receiver, period, first))?;
        Ok(Worker { commands, thread })
    }

    pub(crate) fn set_period(&self, period: Duration, at: Instant) {
        // A send fails only if the thread is gone, and then there is no
        // period left to change.
        let _ = self.commands.send(Command::Period(period, at));
    }

    /// Asks for the final export and waits for it, giving exporters at most
    /// `timeout` to finish; `None` if the thread had panicked, and so made
    /// no final export (the caller makes it).
    pub(crate) fn stop(self, timeout: Duration) -> Option<ShutdownReport> {
        let _ = self.commands.send(Command::Shutdown(timeout));
        self.thread.join().ok()
    }
}

fn run(
    inner: &Inner,
    commands: &Receiver<Command>,
    mut period: Duration,
    mut next: Option<Instant>,
) -> ShutdownReport {
    loop {
        match receive(inner, commands, next) {
            Ok(Command::Period(p, at)) => {
                period = p;
                next = after(at, period);
            }
            Ok(Command::Shutdown(timeout)) => return inner.final_export(timeout),
            Err(RecvTimeoutError::Disconnected) => {
                return inner.final_export(DEFAULT_SHUTDOWN_TIMEOUT)
            }
            Err(RecvTimeoutError::Timeout) => {
                // Keep to the period's grid, but after a stall (a suspended
                // process) start afresh rather than firing a burst of
                // catch-up exports. The stall is judged by when the period
                // fired, before exporting: a period that ends while the
                // export runs is due next, not skipped.
                let now = inner.clock.now();
                next = next
                    .and_then(|n| after(n, period))
                    .filter(|n| *n > now)
                    .or_else(|| after(now, period));
                inner.export_all();
                inner.notice_failures();
            }
        }
    }
}

/// `from + period`, or `None` when that is past what `Instant` can hold
/// (a period such as `Duration::MAX`, "forever"): then no periodic export
/// comes, only the one at shutdown.
fn after(from: Instant, period: Duration) -> Option<Instant> {
    from.checked_add(period)
}

/// The next command, waiting until the manager's clock reaches
/// `deadline` (forever without one).
fn receive(
    inner: &Inner,
    commands: &Receiver<Command>,
    deadline: Option<Instant>,
) -> Result<Command, RecvTimeoutError> {
    match deadline {
        Some(deadline) => inner.clock.recv_deadline(commands, deadline),
        None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

#[cfg(test)]
impl Worker {
    /// A worker whose thread has panicked, as a bug of ours would leave it.
    pub(crate) fn panicked() -> Worker {
        let (commands, _) = crossbeam_channel::unbounded();
        let thread = std::thread::spawn(|| -> ShutdownReport { panic!("a bug in census") });
        while !thread.is_finished() {
            std::thread::yield_now();
        }
        Worker { commands, thread }
    }
}
