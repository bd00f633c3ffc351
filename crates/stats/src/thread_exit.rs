//! Records made while a thread's thread-local storage is torn down.
//!
//! A service's own `thread_local!` value may record from its `Drop`. If
//! that value was made before the thread first recorded, the platform runs
//! its destructor after the destructors of the thread-local state census
//! (through the `thread_local` crate) keeps, and touching that state then
//! panics, which inside a TLS destructor aborts the process. Census
//! cannot reach its per-thread state at that point, so such a record is
//! dropped and counted in `ManagerStats::thread_exit_values` instead.

use std::cell::Cell;

thread_local! {
    /// Set once this thread's census state may be gone.
    static EXITING: Cell<bool> = const { Cell::new(false) };
    /// Its destructor sets `EXITING`. Armed right after the thread's first
    /// `ThreadLocal` entry is made, so it is registered after the
    /// `thread_local` crate's own per-thread guard, and thread-local
    /// destructors run in reverse order of registration (glibc, and std's
    /// own list elsewhere): `EXITING` is set before that guard goes.
    static WATCH: Watch = const { Watch };
}

struct Watch;

impl Drop for Watch {
    fn drop(&mut self) {
        // `EXITING` has no destructor, so it is always reachable.
        let _ = EXITING.try_with(|exiting| exiting.set(true));
    }
}

/// Whether this thread is tearing down its thread-local storage past the
/// point where census may make per-thread state. Only asked on the cold
/// path, when a `ThreadLocal` has no entry for this thread yet.
pub(crate) fn exiting() -> bool {
    EXITING.try_with(Cell::get).unwrap_or(true)
}

/// Arms the watch; call after making this thread's first `ThreadLocal`
/// entry.
pub(crate) fn watch() {
    let _ = WATCH.try_with(|_| ());
}
