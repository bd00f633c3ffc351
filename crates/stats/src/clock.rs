//! The time a manager reads: the real clocks, or a manual clock that
//! tests move by hand, so that a reporting period or a row's expiry comes
//! when the test says, without the test sleeping.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

/// A clock that stands still until it is told to move: for tests of
/// reporting periods and row expiry that advance time instead of sleeping.
///
/// Give it to a manager with [`ViewManagerBuilder::clock`](crate::ViewManagerBuilder::clock)
/// and keep a clone. The manager then reads all its time from it: when the
/// export thread's next period comes, how long a row has gone without a
/// record ([`expire_after`](census_core::ViewBuilder::expire_after)), and
/// the times in its view data (starts, ends, exemplars). [`advance`](ManualClock::advance)
/// moves it, and wakes the export thread if that brings a period's end.
/// Exporters' own deadlines (the shutdown timeout, an HTTP exporter's
/// retries), the callback budget, and the views exporters contribute
/// about themselves (self-metrics, stamped by the exporter) stay on real
/// time.
///
/// It starts at the real time at which it was made, and clones share one
/// time.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use std::time::Duration;
/// use census_core::{Aggregation, MeasureI64, TagMap, View};
/// use census_stats::{ManualClock, MeasurementMap, ViewManager};
///
/// let clock = ManualClock::new();
/// let vm = ViewManager::builder().clock(clock.clone()).build();
/// let jobs = MeasureI64::new("demo/jobs", "jobs run", "1")?;
/// vm.register_view(
///     View::builder("demo/jobs", &jobs)
///         .aggregation(Aggregation::Sum)
///         .expire_after(Duration::from_secs(60))
///         .build()?,
/// )?;
/// MeasurementMap::new().put(&jobs, 1).record_to(&vm, &TagMap::new());
/// assert_eq!(vm.retrieve_data("demo/jobs")?.rows.len(), 1);
/// clock.advance(Duration::from_secs(60)); // a minute passes, at once
/// assert!(vm.retrieve_data("demo/jobs")?.rows.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManualClock {
    shared: Arc<Manual>,
}

struct Manual {
    /// The real clocks' readings when the clock was made.
    origin: Instant,
    origin_system: SystemTime,
    state: Mutex<ManualState>,
}

struct ManualState {
    /// How far the clock has been advanced.
    elapsed: Duration,
    /// Threads waiting for a time to come: each gets a tick whenever the
    /// clock moves, and checks the time itself.
    waiting: Vec<Sender<()>>,
}

impl Manual {
    /// `wanted`, or the farthest both clocks can be advanced if not that
    /// far: `now` and `system_time` add the elapsed time to their origins.
    fn reachable(&self, wanted: Duration) -> Duration {
        let fits = |d: Duration| {
            self.origin.checked_add(d).is_some() && self.origin_system.checked_add(d).is_some()
        };
        if fits(wanted) {
            return wanted;
        }
        // The largest whole number of seconds that fits: a binary search,
        // about 64 steps, only when a test asks for the unreachable.
        let (mut low, mut high) = (0u64, wanted.as_secs());
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            if fits(Duration::from_secs(mid)) {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        Duration::from_secs(low)
    }
}

impl ManualClock {
    /// A clock standing at the current real time.
    pub fn new() -> ManualClock {
        ManualClock {
            shared: Arc::new(Manual {
                origin: Instant::now(),
                origin_system: SystemTime::now(),
                state: Mutex::new(ManualState {
                    elapsed: Duration::ZERO,
                    waiting: Vec::new(),
                }),
            }),
        }
    }

    /// Moves the clock forward by `by`, and wakes a manager's export
    /// thread waiting on it: when `by` brings the end of its period, the
    /// thread exports as it would at that time. The export itself runs on
    /// that thread, after this returns; wait for it where it arrives (an
    /// exporter's channel, for instance).
    ///
    /// However far `by` goes, the clock stops at the latest time the
    /// platform's `Instant` and `SystemTime` can hold (hundreds of billions
    /// of years on Linux): `advance(Duration::MAX)` means "as late as can
    /// be", never a panic in the manager's threads.
    pub fn advance(&self, by: Duration) {
        let mut state = self.shared.state.lock();
        // Never back: the farthest reachable is searched in whole seconds,
        // and the clock may stand a few nanoseconds past that already.
        let wanted = self.shared.reachable(state.elapsed.saturating_add(by));
        state.elapsed = wanted.max(state.elapsed);
        // A full channel already holds a tick its waiter has not taken;
        // a disconnected one belongs to a waiter that has gone.
        state
            .waiting
            .retain(|tick| !matches!(tick.try_send(()), Err(TrySendError::Disconnected(_))));
    }

    /// The clock's time, as an `Instant`.
    pub fn now(&self) -> Instant {
        self.shared.origin + self.shared.state.lock().elapsed
    }

    /// The clock's time, as the wall-clock time view data carries.
    pub fn system_time(&self) -> SystemTime {
        self.shared.origin_system + self.shared.state.lock().elapsed
    }

    /// Receives from `rx` until the clock reaches `deadline`.
    fn recv_deadline<T>(&self, rx: &Receiver<T>, deadline: Instant) -> Result<T, RecvTimeoutError> {
        let (tick, ticks) = crossbeam_channel::bounded(1);
        // Listen before looking at the time, so that an advance between
        // the look and the wait still wakes this thread.
        self.shared.state.lock().waiting.push(tick);
        loop {
            if self.now() >= deadline {
                return Err(RecvTimeoutError::Timeout);
            }
            crossbeam_channel::select! {
                recv(rx) -> message => return message.map_err(|_| RecvTimeoutError::Disconnected),
                recv(ticks) -> _ => {}
            }
        }
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.shared.state.lock().elapsed)
            .finish()
    }
}

/// Where a manager reads the time.
#[derive(Debug, Clone, Default)]
pub(crate) enum Clock {
    /// The real clocks.
    #[default]
    System,
    Manual(ManualClock),
}

impl Clock {
    /// Now, for periods and row ages.
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(clock) => clock.now(),
        }
    }

    /// Now, for the times in view data.
    pub(crate) fn system_time(&self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            Clock::Manual(clock) => clock.system_time(),
        }
    }

    /// Receives from `rx` until this clock reaches `deadline`.
    pub(crate) fn recv_deadline<T>(
        &self,
        rx: &Receiver<T>,
        deadline: Instant,
    ) -> Result<T, RecvTimeoutError> {
        match self {
            Clock::System => rx.recv_deadline(deadline),
            Clock::Manual(clock) => clock.recv_deadline(rx, deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new();
        let (before, before_system) = (clock.now(), clock.system_time());
        assert_eq!(clock.now(), before);
        clock.clone().advance(Duration::from_secs(90));
        assert_eq!(clock.now() - before, Duration::from_secs(90));
        assert_eq!(
            clock.system_time().duration_since(before_system).ok(),
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn a_waiter_wakes_when_an_advance_reaches_its_deadline() {
        let clock = ManualClock::new();
        let deadline = clock.now() + Duration::from_secs(10);
        let (_keep, rx) = crossbeam_channel::unbounded::<()>();
        let (started, waiting) = crossbeam_channel::bounded(0);
        let woke = std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let _ = started.send(());
                Clock::Manual(clock.clone()).recv_deadline(&rx, deadline)
            });
            let _ = waiting.recv();
            // Short of the deadline: the waiter checks and waits on.
            clock.advance(Duration::from_secs(9));
            clock.advance(Duration::from_secs(1));
            waiter.join()
        });
        assert!(matches!(woke, Ok(Err(RecvTimeoutError::Timeout))));
        // A message still wins over a deadline not yet reached.
        let (tx, rx) = crossbeam_channel::unbounded();
        let _ = tx.send(7);
        let later = clock.now() + Duration::from_secs(1);
        assert_eq!(Clock::Manual(clock).recv_deadline(&rx, later).ok(), Some(7));
    }
}
