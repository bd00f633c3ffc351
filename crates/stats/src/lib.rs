//! The census recording machinery: [`MeasurementMap`] records values,
//! [`ViewManager`] routes them into views and runs the one background
//! thread that exports every period and drains at shutdown.
//!
//! Services use the `census` crate, which re-exports this next to the data
//! model of `census-core`.
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use census_core::{Aggregation, MeasureF64, TagKey, TagMap, View};
//! use census_stats::{MeasurementMap, ViewManager};
//!
//! let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
//! let method = TagKey::new("method")?;
//! let vm = ViewManager::new();
//! vm.register_view(View::builder("demo/latency_count", &latency)
//!     .tag_keys([method.clone()]).aggregation(Aggregation::Count).build()?)?;
//! let tags = TagMap::new().with(&method, "GET")?;
//! MeasurementMap::new().put(&latency, 12.5).record_to(&vm, &tags);
//! assert_eq!(vm.retrieve_data("demo/latency_count")?.rows.len(), 1);
//! vm.shutdown();
//! # Ok(()) }
//! ```
//!
//! # Threads
//!
//! Recording happens on the caller's thread and never waits on an
//! exporter. Each manager starts one thread, `census-worker`, when its first
//! exporter registers: it snapshots every view each period. Each exporter
//! has a delivery thread of its own (`census-export:<name>`) where its
//! `export` and `shutdown` run, so one stuck exporter holds up no one else.
//! The callbacks of callback views run on `census-callback` threads, started
//! on first need and ended after a minute idle, so that a snapshot waits for
//! them at most the callback budget.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod bound_measure;
mod callback;
mod cells;
mod clock;
mod context;
mod delivery;
mod exemplar;
mod global;
mod manager;
mod measurement_map;
mod notice;
mod observer;
mod record;
mod runner;
mod seed;
mod switch;
mod thread_exit;
mod view;
mod worker;

pub use bound_measure::BoundMeasure;
pub use callback::DEFAULT_CALLBACK_BUDGET;
pub use clock::ManualClock;
pub use global::{shutdown, shutdown_async, shutdown_guard, view_manager};
pub use manager::{
    ExporterHealth, Health, ManagerStats, ShutdownFuture, ShutdownGuard, ShutdownReport,
    ViewManager, ViewManagerBuilder, DEFAULT_REPORTING_PERIOD, DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use measurement_map::MeasurementMap;
pub use observer::Observer;

/// The current tag context: tags entered for a stretch of work (a
/// [`scope`](tags::scope), or every poll of a [`Tagged`](tags::Tagged)
/// future) that [`MeasurementMap::record_current`] records under.
pub mod tags {
    pub use crate::context::{current, scope, Tagged, WithTags};
}
