//! The setup most behaviour tests share: a manager on a manual clock, one
//! untagged Sum view, and reading it back.

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, ViewData};
use census_stats::{ManualClock, MeasurementMap, ViewManager};

use crate::data::{int_measure, view};
use crate::read::{int_sum, view_in};

/// A fresh manager that reads its time from a new [`ManualClock`], with
/// `period` as its reporting period, and the clock: each
/// `clock.advance(period)` ends a period, and the manager exports at once.
pub fn clocked_manager(period: Duration) -> (ViewManager, ManualClock) {
    let clock = ManualClock::new();
    let vm = ViewManager::builder()
        .clock(clock.clone())
        .reporting_period(period)
        .build();
    (vm, clock)
}

/// Registers the measure `m` and an untagged Sum view `v` over it in `vm`,
/// and returns the measure: the setup most behaviour tests need.
pub fn sum_view(vm: &ViewManager) -> MeasureI64 {
    let m = int_measure("m");
    vm.register_view(view("v", &m, &[], Aggregation::Sum))
        .expect("the test's sum view registers");
    m
}

/// Records `value` of `m` into `vm` with no tags.
pub fn record(vm: &ViewManager, m: &MeasureI64, value: i64) {
    MeasurementMap::new()
        .put(m, value)
        .record_to(vm, &TagMap::new());
}

/// The sum in the only row of the untagged view `name` of `batch` (the
/// view [`sum_view`] registers is `v`).
pub fn sum_of(batch: &[ViewData], name: &str) -> i64 {
    let data = view_in(batch, name);
    let row = data
        .rows
        .first()
        .unwrap_or_else(|| panic!("view {name} has no row"));
    int_sum(&row.data)
}
