//! The threads that render scrapes. They never touch a socket, so no
//! client's pace can hold up a render, and a render never holds up the I/O
//! thread.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use mio::Waker;
use parking_lot::{Condvar, Mutex};

use crate::exporter::Shared;
use crate::format::PrometheusFormat;

/// A connection as the render threads name it: its slot in the I/O
/// thread's table and the id of the connection that asked, so that an
/// answer for a connection since closed never reaches the slot's next
/// occupant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) slot: usize,
    pub(crate) id: u64,
}

/// A render's outcome for one connection: the body, or `None` when the
/// render panicked.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) ticket: Ticket,
    pub(crate) format: PrometheusFormat,
    pub(crate) body: Option<Arc<String>>,
}

/// Scrapes waiting for a render thread. It holds at most one entry per
/// open connection, since a connection reads no further request until its
/// answer is written, so it is bounded by `max_connections`.
#[derive(Debug, Default)]
pub(crate) struct RenderQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: VecDeque<(Ticket, PrometheusFormat)>,
    stopping: bool,
}

impl RenderQueue {
    pub(crate) fn push(&self, ticket: Ticket, format: PrometheusFormat) {
        self.state.lock().waiting.push_back((ticket, format));
        self.ready.notify_one();
    }

    /// Makes every render thread return once its current render is done;
    /// scrapes still waiting are dropped with their connections.
    pub(crate) fn stop(&self) {
        let mut state = self.state.lock();
        state.stopping = true;
        state.waiting.clear();
        drop(state);
        self.ready.notify_all();
    }

    /// Waits for the oldest waiting scrape and takes every other scrape of
    /// the same format with it: they all arrived before the render starts,
    /// so one render answers each of them with data as fresh as it asked
    /// for. `None` once stopping.
    fn next(&self) -> Option<(PrometheusFormat, Vec<Ticket>)> {
        let mut state = self.state.lock();
        loop {
            if state.stopping {
                return None;
            }
            if let Some((first, format)) = state.waiting.pop_front() {
                let mut tickets = vec![first];
                state.waiting.retain(|&(ticket, f)| {
                    let same = f == format;
                    if same {
                        tickets.push(ticket);
                    }
                    !same
                });
                return Some((format, tickets));
            }
            self.ready.wait(&mut state);
        }
    }
}

/// Starts render thread number `index`. Each answer goes to `done`, and
/// `waker` wakes the I/O thread to write it.
///
/// # Errors
///
/// The system's error when the thread cannot be started.
pub(crate) fn start_thread(
    index: usize,
    queue: &Arc<RenderQueue>,
    shared: &Arc<Shared>,
    done: &Sender<Rendered>,
    waker: &Arc<Waker>,
) -> io::Result<JoinHandle<()>> {
    let queue = Arc::clone(queue);
    let shared = Arc::clone(shared);
    let done = done.clone();
    let waker = Arc::clone(waker);
    thread::Builder::new()
        .name(format!("census-prom-{index}"))
        .spawn(move || render(&queue, &shared, &done, &waker))
}

fn render(queue: &RenderQueue, shared: &Shared, done: &Sender<Rendered>, waker: &Waker) {
    while let Some((format, tickets)) = queue.next() {
        // A producer that panics must cost one answer (a 500), not a
        // render thread: with none left, every scrape would wait forever.
        let body = match catch_unwind(AssertUnwindSafe(|| shared.render(format))) {
            Ok(body) => Some(Arc::new(body)),
            Err(_) => {
                log::error!("rendering a Prometheus scrape panicked; the scrape is answered 500");
                None
            }
        };
        for ticket in tickets {
            let answer = Rendered {
                ticket,
                format,
                body: body.clone(),
            };
            if done.send(answer).is_err() {
                // The I/O thread is gone: the endpoint is stopping.
                return;
            }
        }
        if let Err(err) = waker.wake() {
            log::error!("a Prometheus render thread could not wake the I/O thread: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_render_answers_every_waiting_scrape_of_its_format() {
        let queue = RenderQueue::default();
        let t = |slot| Ticket {
            slot,
            id: slot as u64,
        };
        queue.push(t(0), PrometheusFormat::Text);
        queue.push(t(1), PrometheusFormat::OpenMetrics);
        queue.push(t(2), PrometheusFormat::Text);
        assert_eq!(
            queue.next(),
            Some((PrometheusFormat::Text, vec![t(0), t(2)]))
        );
        assert_eq!(
            queue.next(),
            Some((PrometheusFormat::OpenMetrics, vec![t(1)]))
        );
        queue.push(t(3), PrometheusFormat::Text);
        queue.stop();
        assert_eq!(queue.next(), None);
    }
}
