//! The fakes and fixtures census's own tests share, one copy of each, in
//! the manner of tracing's `tracing-mock`. Not published: a service
//! testing its own code reads docs/testing.md, which shows the same
//! patterns with nothing but `census`.
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use std::time::Duration;
//! use census_core::{Aggregation, TagMap};
//! use census_stats::MeasurementMap;
//! use census_testkit::{clocked_manager, int_measure, rows_of, view, view_in, CapturingExporter};
//!
//! let period = Duration::from_secs(10);
//! let (vm, clock) = clocked_manager(period);
//! let jobs = int_measure("demo/jobs");
//! vm.register_view(view("demo/jobs", &jobs, &[], Aggregation::Sum))?;
//! let (exporter, captured) = CapturingExporter::new();
//! vm.register_exporter(exporter)?;
//! MeasurementMap::new().put(&jobs, 3).record_to(&vm, &TagMap::new());
//! let batch = captured.export_after(&clock, period);
//! assert_eq!(rows_of(view_in(&batch, "demo/jobs")), [(vec![], Some(3))]);
//! # Ok(()) }
//! ```
//!
//! # What is here
//!
//! - [`CapturingExporter`] and its test end [`Captured`]: every export
//!   and shutdown, in order, and the producer the manager attached.
//! - [`FailingExporter`], [`PanickingExporter`], [`HangingExporter`],
//!   [`SlowExporter`], [`PanickingProcessor`]: misbehaviour on purpose.
//!   [`FakeProducer`]: view data a test sets, for pull exporters.
//!   [`SharedBuffer`]: an in-memory `Write` for exporters that write.
//! - Hand-made view data: [`key`], [`value`], [`at`], [`int_measure`],
//!   [`float_measure`], [`view`], [`int_view`], [`float_view`], [`row`],
//!   [`distribution`], [`histogram`].
//! - Reading it: [`view_in`], [`find_view`], [`row_in`], [`rows_of`], [`int_sum`],
//!   [`count`], [`as_dist`], [`close`], [`assert_same_distribution`].
//! - Setup: [`clocked_manager`], a manager on a `ManualClock`;
//!   [`sum_view`], [`record`] and [`sum_of`], one untagged Sum view;
//!   [`record_sample_service`], three views with known values for the
//!   tests against a real Prometheus.
//!
//! Helpers panic with a message naming what was missing, as a failed
//! assertion does: they are for tests.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod buffer;
mod capture;
mod data;
mod faulty;
mod read;
mod service;
mod setup;

pub use buffer::SharedBuffer;
pub use capture::{Call, Captured, CapturingExporter, PATIENCE};
pub use data::{
    at, distribution, float_measure, float_view, histogram, int_measure, int_view, key, row, value,
    view,
};
pub use faulty::{
    FailingExporter, FakeProducer, HangingExporter, PanickingExporter, PanickingProcessor,
    SlowExporter,
};
pub use read::{
    as_dist, assert_same_distribution, close, count, find_view, int_sum, lost_int_sum, row_in,
    rows_of, view_in,
};
pub use service::record_sample_service;
pub use setup::{clocked_manager, record, sum_of, sum_view};
