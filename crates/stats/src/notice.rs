//! Failures told on standard error when no logger would show them.
//!
//! Library code speaks through the `log` facade, and a service that
//! installed no logger hears nothing: twelve failed batches and 48 retries
//! went by in silence (issue #16). So when the `log` facade would drop a
//! census warning (no logger installed, or one that filters census's
//! warnings out), an exporter's first failure, and every tenth after it,
//! is written to standard error, at most once a minute per exporter. This
//! is the one place census prints.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often one exporter may write to standard error at most.
const QUIET: Duration = Duration::from_secs(60);
/// Failures between two notices of one exporter, at least.
const EVERY: u64 = 10;

/// The notices of one exporter.
#[derive(Debug, Default)]
pub(crate) struct Notice {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The failure count the last notice told, 0 before the first.
    told: u64,
    /// When the last notice was written.
    at: Option<Instant>,
}

impl Notice {
    /// Looks at the exporter's failure count so far and writes a notice
    /// if one is due; `describe` says what failed, for the line.
    pub(crate) fn observe(&self, exporter: &str, failures: u64, describe: impl FnOnce() -> String) {
        if failures == 0 || logged() {
            return;
        }
        let mut state = self.state.lock();
        let due = state.told == 0 || failures >= state.told.saturating_add(EVERY);
        let quiet = state.at.is_none_or(|at| at.elapsed() >= QUIET);
        if !(due && quiet) {
            return;
        }
        state.told = failures;
        state.at = Some(Instant::now());
        drop(state);
        // The documented exception to "library code never prints": with
        // no logger, this is the only way the failure reaches anyone.
        let plural = if failures == 1 { "" } else { "s" };
        eprintln!(
            "census: exporter {exporter}: {failures} failure{plural} so far; {} (no logger \
             shows census warnings, so census writes this to stderr, at most once a minute)",
            describe()
        );
    }
}

/// Whether a census warning would reach no one through the `log` facade.
pub(crate) fn silent() -> bool {
    !logged()
}

/// Whether the `log` facade would pass a census warning to a logger.
fn logged() -> bool {
    log::log_enabled!(target: "census", log::Level::Warn)
}
