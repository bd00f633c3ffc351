//! census views as Prometheus sees them, without any wire format: metric
//! and label names, the family (counter, gauge, histogram) a view becomes,
//! the series its rows become, and how numbers are spelled.
//!
//! The Prometheus exporter (text exposition and OpenMetrics) and the HTTP
//! exporter's remote write format both build on this crate, so a view has
//! the same name, the same `_total`, the same histogram samples and the
//! same labels whichever way it reaches Prometheus. It depends on
//! `census-core` alone.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use census_core::{Aggregation, MeasureI64, View};
//! use census_prometheus_model::{Family, Kind};
//!
//! let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
//! let view = View::builder("demo/requests", &requests)
//!     .aggregation(Aggregation::Count)
//!     .build()?;
//! let family = Family::plan(&view, "myapp", &[])?;
//! assert_eq!(family.kind, Kind::Counter);
//! assert_eq!(family.text_name(), "myapp_demo_requests_total");
//! # Ok(()) }
//! ```
//!
//! # Rules
//!
//! - **Names.** The namespace, `_`, and the view name with every character
//!   outside `[a-zA-Z0-9_]` replaced by `_` ([`metric_name`]); tag keys
//!   become label names the same way ([`label_name`]).
//! - **Families.** Count and Sum views are counters whose samples end in
//!   `_total`, UpDownSum and LastValue views gauges, Distribution views histograms with
//!   cumulative `_bucket{le=..}` samples, `le="+Inf"` equal to `_count`,
//!   and `_sum` ([`Family`], [`cumulative_counts`], [`total_count`]).
//! - **Series.** An absent or empty tag has no label; the overflow row is
//!   the one series labelled `census_overflow="true"` ([`row_labels`]);
//!   rows that end up with the same labels are one series
//!   ([`merge_same_series`]).
//! - **Clashes.** Two views whose family or sample names overlap cannot
//!   both be exported ([`NameTable`]); an exporter checks each view as it
//!   is registered beside the others without planning them all again
//!   ([`NameClaims`]).

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod family;
mod name_claims;
mod names;
mod number;
mod series;

pub use family::{Family, Kind, NameTable};
pub use name_claims::NameClaims;
pub use names::{
    is_label_name, label_name, label_problem, metric_name, OVERFLOW_LABEL, RESERVED_LABELS,
};
pub use number::{write_f64, write_i64, write_openmetrics_le, write_u64};
pub use series::{
    check_cumulative, cumulative_counts, fits, merge_same_series, row_labels, samples_per_row,
    total_count,
};
