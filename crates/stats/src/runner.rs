//! Runs the callbacks of callback views off the snapshotting thread, within
//! a budget.
//!
//! A callback is user code: it may panic, block or never return, and no
//! thread can be made to stop running it. So the thread taking a snapshot
//! (the worker, a scrape, `retrieve_data`, shutdown) never calls one: it
//! hands the snapshot's calls to this pool as one *round* and waits at
//! most the budget for them. What returned by then is used; a call still
//! running is abandoned to its thread, and its view is not called again
//! until it returns. So a stuck callback holds one thread, not one per
//! snapshot, and the threads in use are bounded by the callback views
//! plus the rounds running at once.
//!
//! One round is one hand-over, not one per call: a runner thread takes
//! the round's calls one after another, so a snapshot of many quick
//! callbacks costs one wake-up plus the calls. Whenever a sixteenth of
//! the budget goes by with calls still waiting to begin, the round
//! recruits another runner (a new thread if none is idle) to take them,
//! so calls queued behind slow ones begin within that sixteenth, however
//! many there are (fifty calls of a tenth of the budget each all return
//! in time). Each round begins its calls at the view after the one the
//! round before began with, so if the calls together still outlast the
//! budget, the views left without a reading change from round to round
//! rather than always being the last ones.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::callback::CallbackView;
use crate::observer::Observed;

/// How long a runner thread waits for work before it exits; longer than
/// the usual reporting periods and scrape intervals, so a steady service
/// keeps its runner instead of starting a thread each period.
const IDLE_EXIT: Duration = Duration::from_secs(60);

/// What became of one view's call in a round.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It returned these rows in time.
    Observed(Observed),
    /// It panicked.
    Panicked,
    /// It had not returned within the budget; `started` says whether it
    /// had begun (it runs on, abandoned) or never got a thread.
    Overran { started: bool },
    /// An earlier call of this view is still running past its budget, so
    /// it was not called again.
    Busy,
    /// The pool closed (shutdown took its final snapshot) before the call
    /// began: not made, and no failure.
    Closed,
}

/// The pool of runner threads of one manager.
pub(crate) struct Runner {
    jobs: Sender<Arc<Round>>,
    /// Cloned into each new runner thread; the threads exit once the
    /// manager (holding `jobs`) is gone.
    inbox: Receiver<Arc<Round>>,
    /// Runner threads waiting for a round: a hint for whether handing one
    /// over needs a new thread. A stale hint costs a spare thread or one
    /// recruiting step, never a lost round.
    idle: Arc<AtomicUsize>,
    /// Set once no call may begin any more, even one already handed over.
    closed: Arc<AtomicBool>,
    /// Rounds started: where the next round begins its calls. Relaxed:
    /// only spreads the starting point.
    rounds: AtomicUsize,
}

/// One snapshot's calls, shared by the snapshotting thread and the
/// runners working on it.
struct Round {
    calls: Vec<Call>,
    /// The pool's `closed`: checked before each call begins.
    closed: Arc<AtomicBool>,
    /// Calls to make: those not `Busy` at the start.
    pending: usize,
    /// The next call a runner may take, counted from `first`. Relaxed: it
    /// only hands out distinct indexes; each call's state travels through
    /// its mutex.
    next: AtomicUsize,
    /// The call this round begins with.
    first: usize,
    /// Calls finished (returned or panicked) in time; the last signals
    /// `done`. Relaxed: the waiting thread reads results under each call's
    /// mutex, not through this count.
    finished: AtomicUsize,
    /// Signalled once, by the runner that finishes the last call.
    done: Sender<()>,
    done_signal: Receiver<()>,
}

struct Call {
    view: Arc<CallbackView>,
    state: Mutex<State>,
}

enum State {
    Waiting,
    Running,
    Finished(Option<Observed>),
    /// An earlier call of the view is still running: not made.
    Busy,
    /// The snapshot stopped waiting for it.
    Abandoned,
    /// Not begun: the pool closed first.
    Closed,
}

/// A round handed over and not yet waited for.
pub(crate) struct Started<'r> {
    runner: &'r Runner,
    round: Arc<Round>,
    deadline: Instant,
    step: Duration,
}

impl Runner {
    pub(crate) fn new() -> Runner {
        let (jobs, inbox) = crossbeam_channel::unbounded();
        Runner {
            jobs,
            inbox,
            idle: Arc::new(AtomicUsize::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
            rounds: AtomicUsize::new(0),
        }
    }

    /// No call begins from now on, not even one already handed over.
    pub(crate) fn close(&self) {
        // Release: pairs with the Acquire loads in `is_closed` and `work`.
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: see `close`.
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the calling thread is one of this pool's, running a
    /// callback: a snapshot it takes (a callback reading views of its own
    /// manager, even its own view) must not hand callbacks to this pool,
    /// which would start a thread per nesting until the budget ran out.
    /// A callback reading another manager's views is no such nesting.
    pub(crate) fn is_current_thread(&self) -> bool {
        RUNNER.with(Cell::get) == self.id()
    }

    /// Tells this pool from other managers': the address of its `closed`,
    /// which each of its threads holds, so no other pool gets it while
    /// one of them runs.
    fn id(&self) -> usize {
        pool_id(&self.closed)
    }

    /// Hands the calls of `views` to the pool, to run within `budget` from
    /// now; [`Started::wait`] collects them.
    pub(crate) fn start(&self, views: Vec<Arc<CallbackView>>, budget: Duration) -> Started<'_> {
        let deadline = Instant::now() + budget;
        let (done, done_signal) = crossbeam_channel::bounded(1);
        let mut calls = Vec::with_capacity(views.len());
        let mut pending = 0;
        for view in views {
            let state = if view.is_overdue() {
                State::Busy
            } else {
                pending += 1;
                State::Waiting
            };
            calls.push(Call {
                view,
                state: Mutex::new(state),
            });
        }
        let first = match calls.len() {
            0 => 0,
            len => self.rounds.fetch_add(1, Ordering::Relaxed) % len,
        };
        let round = Arc::new(Round {
            calls,
            closed: Arc::clone(&self.closed),
            pending,
            next: AtomicUsize::new(0),
            first,
            finished: AtomicUsize::new(0),
            done,
            done_signal,
        });
        if pending > 0 {
            self.hand_over(&round);
        }
        Started {
            runner: self,
            round,
            deadline,
            step: budget / 16,
        }
    }

    /// Gives `round` to one more runner thread, starting one if none is
    /// idle.
    fn hand_over(&self, round: &Arc<Round>) {
        // Relaxed: a hint; see `idle`.
        if self.idle.load(Ordering::Relaxed) == 0 {
            self.spawn();
        }
        // Fails only without receivers, and this pool holds one.
        let _ = self.jobs.send(Arc::clone(round));
    }

    fn spawn(&self) {
        let inbox = self.inbox.clone();
        let idle = Arc::clone(&self.idle);
        let pool = Arc::clone(&self.closed);
        let spawned = std::thread::Builder::new()
            .name("census-callback".into())
            .spawn(move || serve(&inbox, &idle, &pool));
        if let Err(err) = spawned {
            // The round waits for a runner that is busy, or times out and
            // is counted; either way no snapshot waits past its budget.
            log::error!("census: cannot start a callback thread: {err}");
        }
    }
}

thread_local! {
    /// The pool this thread runs callbacks for (its id), 0 for none.
    static RUNNER: Cell<usize> = const { Cell::new(0) };
}

fn pool_id(closed: &Arc<AtomicBool>) -> usize {
    Arc::as_ptr(closed) as usize
}

/// A runner thread: works on rounds until idle for `IDLE_EXIT` or the
/// manager is gone. Holds `pool` (its pool's `closed`) while it runs.
fn serve(inbox: &Receiver<Arc<Round>>, idle: &AtomicUsize, pool: &Arc<AtomicBool>) {
    RUNNER.with(|runner| runner.set(pool_id(pool)));
    loop {
        // Relaxed: a hint; see `Runner::idle`.
        idle.fetch_add(1, Ordering::Relaxed);
        let job = inbox.recv_timeout(IDLE_EXIT);
        idle.fetch_sub(1, Ordering::Relaxed);
        match job {
            Ok(round) => round.work(),
            Err(_) => return,
        }
    }
}

impl Round {
    /// Takes waiting calls one after another until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.calls.len() {
                return;
            }
            let Some(call) = self.calls.get((self.first + i) % self.calls.len()) else {
                return;
            };
            let began = Instant::now();
            {
                let mut state = call.state.lock();
                if !matches!(*state, State::Waiting) {
                    // Busy, or abandoned before it began.
                    continue;
                }
                // Acquire: see `Runner::close`. A call handed over before
                // shutdown's final snapshot does not begin after it.
                if self.closed.load(Ordering::Acquire) {
                    *state = State::Closed;
                    drop(state);
                    self.finish_one();
                    continue;
                }
                *state = State::Running;
            }
            // The lock is not held while the callback runs: the snapshot
            // must be able to give up on it.
            let observed = catch_unwind(AssertUnwindSafe(|| call.view.read())).ok();
            let late = {
                let mut state = call.state.lock();
                let late = matches!(*state, State::Abandoned);
                if !late {
                    *state = State::Finished(observed);
                }
                late
            };
            if late {
                call.view.returned_late(began.elapsed());
                continue;
            }
            self.finish_one();
        }
    }

    /// Counts one call done in time, signalling the last.
    fn finish_one(&self) {
        if self.finished.fetch_add(1, Ordering::Relaxed) + 1 == self.pending {
            // Capacity one and one last call: this always fits.
            let _ = self.done.try_send(());
        }
    }
}

impl Started<'_> {
    /// Blocks until the round's calls are all done or the deadline passed,
    /// bringing in another runner whenever a step goes by while calls
    /// still wait to begin.
    fn await_calls(&self) {
        let round = &self.round;
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return;
            }
            let tick = self.deadline.min(now + self.step);
            match round.done_signal.recv_deadline(tick) {
                Ok(()) => return,
                Err(RecvTimeoutError::Timeout) => {
                    if round.next.load(Ordering::Relaxed) < round.calls.len() {
                        self.runner.hand_over(round);
                    }
                }
                // The round holds the sender; it cannot go.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Waits until every call returned or the budget ran out, and says what
    /// became of each view's call, in the order the views were given.
    /// Calls still running are abandoned to their threads, their views
    /// marked overdue until they return.
    pub(crate) fn wait(self) -> Vec<(Arc<CallbackView>, Outcome)> {
        if self.round.pending > 0 {
            self.await_calls();
        }
        let round = &self.round;
        let total = round.calls.len();
        let mut outcomes = Vec::with_capacity(total);
        for call in &round.calls {
            let mut state = call.state.lock();
            let outcome = match std::mem::replace(&mut *state, State::Abandoned) {
                State::Finished(Some(observed)) => Outcome::Observed(observed),
                State::Finished(None) => Outcome::Panicked,
                State::Running => {
                    // Under the call's lock, so its runner, finishing,
                    // sees `Abandoned` and clears this mark.
                    call.view.mark_overdue();
                    Outcome::Overran { started: true }
                }
                State::Busy => Outcome::Busy,
                State::Closed => Outcome::Closed,
                State::Waiting | State::Abandoned => Outcome::Overran { started: false },
            };
            drop(state);
            outcomes.push((Arc::clone(&call.view), outcome));
        }
        outcomes
    }
}
