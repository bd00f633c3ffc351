//! The one background thread per manager that exports every period and
//! drains at shutdown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::view_manager::Inner;

enum Command {
    Period(Duration),
    Shutdown,
}

/// Handle to a running worker thread.
pub(crate) struct Worker {
    commands: Sender<Command>,
    thread: JoinHandle<()>,
}

impl Worker {
    pub(crate) fn spawn(inner: Arc<Inner>, period: Duration) -> std::io::Result<Worker> {
        let (commands, receiver) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("census-worker".into())
            .spawn(move || run(&inner, &receiver, period))?;
        Ok(Worker { commands, thread })
    }

    pub(crate) fn set_period(&self, period: Duration) {
        // A send fails only if the thread is gone, and then there is no
        // period left to change.
        let _ = self.commands.send(Command::Period(period));
    }

    /// Asks for the final export and waits for it and the exporters'
    /// shutdowns to finish.
    pub(crate) fn stop(self) {
        let _ = self.commands.send(Command::Shutdown);
        if self.thread.join().is_err() {
            log::error!("census: the export thread panicked");
        }
    }
}

fn run(inner: &Inner, commands: &Receiver<Command>, mut period: Duration) {
    let mut next = Instant::now() + period;
    loop {
        match commands.recv_deadline(next) {
            Ok(Command::Period(p)) => {
                period = p;
                next = Instant::now() + period;
            }
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let batch = inner.snapshot_all();
                inner.export_all(&batch);
                // Keep to the period's grid, but after a stall (slow
                // exporters, a suspended process) start afresh rather than
                // firing a burst of catch-up exports.
                next += period;
                let now = Instant::now();
                if next <= now {
                    next = now + period;
                }
            }
        }
    }
    inner.final_export();
}
