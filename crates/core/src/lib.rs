//! The census data model: tags, measures, views, aggregations, view data,
//! and the contract every exporter implements.
//!
//! This crate has no threads and no global state, and depends on no other
//! census crate, so exporters can build on it alone and rely on it staying
//! small and stable. Services use the `census` crate, which re-exports all
//! of this next to the recording machinery.
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use census_core::{Aggregation, MeasureF64, TagKey, TagMap, View};
//!
//! let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
//! let method = TagKey::new("method")?;
//! let view = View::builder("demo/latency_distribution", &latency)
//!     .tag_keys([method.clone()])
//!     .aggregation(Aggregation::distribution([0.0, 10.0, 100.0])?)
//!     .build()?;
//! let tags = TagMap::new().with(&method, "GET")?;
//! # let _ = (view, tags);
//! # Ok(()) }
//! ```
//!
//! # Concepts
//!
//! - [`MeasureI64`] / [`MeasureF64`]: what is measured, with a unit.
//! - [`TagKey`], [`TagValue`], [`TagMap`]: the dimensions of a measurement.
//! - [`View`]: measure + tag keys + [`Aggregation`]; the unit of export.
//! - [`ViewData`] / [`Row`] / [`AggregationData`]: a snapshot of a view;
//!   [`Exemplar`]: a recorded value kept with its attachments.
//! - [`Exporter`]: receives snapshots; its contract is stated on the trait.
//! - [`Processor`]: one step that changes view data on its way to an exporter.
//! - [`DeliveryReport`]: what an exporter could not deliver, and what is lost.
//! - [`Error`]: every way input can be refused.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod aggregation;
mod batch_merge;
mod delivery;
mod error;
mod exemplar;
mod exporter;
mod json;
mod measure;
mod merge;
mod name;
mod processor;
mod tag;
mod view;
mod view_data;

pub use aggregation::{Aggregation, Bounds, MAX_BOUNDS};
pub use batch_merge::{join_same_views, keep_lost, merge_batches, merge_batches_keeping};
pub use delivery::DeliveryReport;
pub use error::{Error, ExportError, InvalidReason};
pub use exemplar::Exemplar;
pub use exporter::{Exporter, Producer};
pub use measure::{Measure, MeasureF64, MeasureI64, MeasureType, TypedMeasure};
pub use merge::{Mismatch, Moments};
pub use processor::Processor;
pub use tag::{TagKey, TagMap, TagValue};
pub use view::{View, ViewBuilder, DEFAULT_ROW_LIMIT};
pub use view_data::{
    unix_nanos, AggregationData, DistributionData, Number, Row, Temporality, ViewData,
};
