//! A shutdown an async `main` can await: the drain runs on a thread of its
//! own and wakes the awaiting task when it is done, so no executor thread
//! blocks for the shutdown timeout, and census needs no async runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use super::{Inner, ShutdownReport, ViewManager};

/// The future of [`ViewManager::shutdown_async`]: resolves to the
/// [`ShutdownReport`] once the manager has drained.
///
/// Nothing happens until it is first polled; then a thread named
/// `census-shutdown` runs [`ViewManager::shutdown`] and wakes the task.
/// Dropping the future after that does not stop the drain.
#[must_use = "the shutdown starts when the future is first polled: .await it"]
pub struct ShutdownFuture {
    state: State,
}

enum State {
    /// Not polled yet. The manager's state, not a `ViewManager`: dropping
    /// one shuts it down, which must happen on the drain thread alone.
    Idle(Arc<Inner>),
    /// The drain runs; the slot receives the report.
    Draining(Arc<Mutex<Slot>>),
    /// The report was handed out; polling again hands out a copy.
    Done(ShutdownReport),
}

#[derive(Default)]
struct Slot {
    report: Option<ShutdownReport>,
    waker: Option<Waker>,
}

impl ViewManager {
    /// Shuts the manager down like [`shutdown`](ViewManager::shutdown),
    /// without blocking the caller: returns a future that completes with
    /// the report when the drain, run on a thread of its own, is done.
    /// For an async `main`, whose executor threads must not block for up
    /// to the shutdown timeout. It works with any executor: census starts
    /// the thread and wakes the task itself.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Thread(std::thread::Thread);
    /// #     impl std::task::Wake for Thread {
    /// #         fn wake(self: std::sync::Arc<Self>) { self.0.unpark() }
    /// #     }
    /// #     let waker = std::sync::Arc::new(Thread(std::thread::current())).into();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// let vm = census_stats::ViewManager::new();
    /// // ... serve; then, in an async fn:
    /// # block_on(async {
    /// let report = vm.shutdown_async().await;
    /// assert!(report.is_complete());
    /// # });
    /// assert!(vm.is_shut_down());
    /// ```
    pub fn shutdown_async(&self) -> ShutdownFuture {
        ShutdownFuture {
            state: State::Idle(Arc::clone(&self.inner)),
        }
    }
}

impl Future for ShutdownFuture {
    type Output = ShutdownReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ShutdownReport> {
        let taken = std::mem::replace(&mut self.state, State::Done(ShutdownReport::default()));
        match taken {
            State::Idle(inner) => {
                let slot = Arc::new(Mutex::new(Slot {
                    report: None,
                    waker: Some(cx.waker().clone()),
                }));
                let theirs = Arc::clone(&slot);
                let manager = Arc::clone(&inner);
                let spawned = std::thread::Builder::new()
                    .name("census-shutdown".into())
                    .spawn(move || {
                        let report = ViewManager { inner: manager }.shutdown();
                        // Wake outside the lock: the woken task may poll at
                        // once, on another thread, and take it.
                        let waker = {
                            let mut slot = theirs.lock();
                            slot.report = Some(report);
                            slot.waker.take()
                        };
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    });
                match spawned {
                    Ok(_) => {
                        self.state = State::Draining(slot);
                        Poll::Pending
                    }
                    Err(err) => {
                        log::warn!(
                            "census: could not start the shutdown thread ({err}); \
                             shutting down on the caller's thread"
                        );
                        let report = ViewManager { inner }.shutdown();
                        self.state = State::Done(report.clone());
                        Poll::Ready(report)
                    }
                }
            }
            State::Draining(slot) => {
                let mut guard = slot.lock();
                match guard.report.take() {
                    Some(report) => {
                        self.state = State::Done(report.clone());
                        Poll::Ready(report)
                    }
                    None => {
                        guard.waker = Some(cx.waker().clone());
                        drop(guard);
                        self.state = State::Draining(slot);
                        Poll::Pending
                    }
                }
            }
            State::Done(report) => {
                self.state = State::Done(report.clone());
                Poll::Ready(report)
            }
        }
    }
}

impl fmt::Debug for ShutdownFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle(_) => "idle",
            State::Draining(_) => "draining",
            State::Done(_) => "done",
        };
        f.debug_struct("ShutdownFuture")
            .field("state", &state)
            .finish()
    }
}
