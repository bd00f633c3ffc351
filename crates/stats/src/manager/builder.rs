//! ViewManagerBuilder: a manager with settings given before it starts.

use std::time::Duration;

use super::{ViewManager, DEFAULT_REPORTING_PERIOD};
use crate::clock::{Clock, ManualClock};

/// Builds a [`ViewManager`]; see [`ViewManager::builder`].
/// [`ViewManager::new`] is `ViewManager::builder().build()`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct ViewManagerBuilder {
    clock: Clock,
    period: Duration,
}

impl ViewManagerBuilder {
    pub(super) fn new() -> ViewManagerBuilder {
        ViewManagerBuilder {
            clock: Clock::System,
            period: DEFAULT_REPORTING_PERIOD,
        }
    }

    /// Reads every time the manager uses from `clock`: its reporting
    /// period, the expiry of rows, the times in its view data. For tests
    /// that advance time instead of sleeping; see [`ManualClock`].
    /// Default: the system clocks.
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Clock::Manual(clock);
        self
    }

    /// How often the export thread exports, as
    /// [`ViewManager::set_reporting_period`] sets it later; zero means the
    /// default. Default: [`DEFAULT_REPORTING_PERIOD`] (10 s).
    pub fn reporting_period(mut self, period: Duration) -> Self {
        self.period = if period.is_zero() {
            DEFAULT_REPORTING_PERIOD
        } else {
            period
        };
        self
    }

    /// Makes the manager: no views, no exporters, no thread yet (the
    /// export thread starts with the first exporter).
    pub fn build(self) -> ViewManager {
        ViewManager::with(self.clock, self.period)
    }
}
