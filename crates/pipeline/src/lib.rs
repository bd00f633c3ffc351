//! Export pipelines: a chain of [`Processor`]s in front of one exporter
//! that filters, enriches, relabels or converts the view data before the
//! exporter sees it. A [`Pipeline`] is itself an exporter, so one service
//! can send everything to one backend and a filtered, relabelled delta
//! subset to another.
//!
//! Services use this as `census::pipeline`. The semantics of each
//! processor, merge and delta rules included, are in `docs/pipeline.md`
//! and on each type.
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use census_core::{Aggregation, ExportError, Exporter, MeasureI64, TagKey, TagMap, View, ViewData};
//! use census_pipeline::{ConstTags, Delta, DropTags, FilterViews, Pipeline, Rename};
//! use census_stats::{MeasurementMap, ViewManager};
//!
//! # #[derive(Debug)] struct Backend;
//! # impl Exporter for Backend {
//! #     fn export(&self, _: &[ViewData]) -> Result<(), ExportError> { Ok(()) }
//! # }
//! let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
//! let path = TagKey::new("path")?;
//! let vm = ViewManager::new();
//! vm.register_exporter(
//!     Pipeline::new(Backend)
//!         .with(ConstTags::new([("service", "checkout"), ("region", "eu-1")])?)
//!         .with(FilterViews::matching("demo/*"))
//!         .with(DropTags::new(["path"]))
//!         .with(Rename::prefix("shop/")?)
//!         .with(Delta::new()),
//! )?;
//! vm.register_view(View::builder("demo/requests_total", &requests)
//!     .tag_keys([path.clone()]).aggregation(Aggregation::Sum).build()?)?;
//! MeasurementMap::new().put(&requests, 1).record_to(&vm, &TagMap::new().with(&path, "/")?);
//! vm.shutdown();
//! # Ok(()) }
//! ```
//!
//! # The chain
//!
//! Each period the view manager hands the pipeline its batch; the pipeline
//! copies it once and passes it through the processors in the order they
//! were added, then hands the result to the wrapped exporter. Each
//! exporter has its own chain and its own processor state.
//!
//! # Writing a processor
//!
//! Implement [`Processor`]: `process` takes the batch by value and returns
//! the batch to pass on. A processor that renames views, changes their
//! tag keys or drops views also implements `map_view`, so registrations
//! are checked against the exporter as it will see the views.
//!
//! ```
//! use census_core::{AggregationData, Processor, ViewData};
//!
//! /// Keeps only the rows of count views that counted at least `min`.
//! struct AtLeast {
//!     min: u64,
//! }
//!
//! impl Processor for AtLeast {
//!     fn process(&self, mut batch: Vec<ViewData>) -> Vec<ViewData> {
//!         for data in &mut batch {
//!             data.rows.retain(|row| match row.data {
//!                 AggregationData::Count(n) => n >= self.min,
//!                 _ => true,
//!             });
//!         }
//!         batch
//!     }
//! }
//! # let _ = census_pipeline::Pipeline::new(NoOp).with(AtLeast { min: 2 });
//! # #[derive(Debug)] struct NoOp;
//! # impl census_core::Exporter for NoOp {
//! #     fn export(&self, _: &[ViewData]) -> Result<(), census_core::ExportError> { Ok(()) }
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod conflict_log;
mod const_tags;
mod delta;
mod drop_tags;
mod filter_views;
mod glob;
mod pipeline;
mod rename;
mod view_name;
mod view_shape;

pub use census_core::Processor;
pub use const_tags::ConstTags;
pub use delta::Delta;
pub use drop_tags::DropTags;
pub use filter_views::FilterViews;
pub use pipeline::{Pipeline, PipelineStats};
pub use rename::Rename;
