//! A census exporter for Prometheus: renders census views in the Prometheus
//! text exposition format (or OpenMetrics 1.0) and serves them from an
//! embedded `/metrics` endpoint, or from the service's own web framework.
//!
//! Registered like every exporter, it receives the manager's producer and
//! renders the views **as of each scrape**, not as of the last reporting
//! tick. Services reach it as `census::exporters::PrometheusExporter`
//! (feature `prometheus`).
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use census_exporter_prometheus::PrometheusExporter;
//!
//! let exporter = PrometheusExporter::builder()
//!     .namespace("myapp")
//!     .const_label("service", "checkout")?
//!     .build()?;
//! // census::view_manager().register_exporter(exporter.clone())?;
//! let endpoint = exporter.serve("127.0.0.1:0")?; // or "127.0.0.1:9464"
//! // ... or, inside axum, actix, hyper:
//! let (content_type, body) = exporter.render();
//! # let _ = (content_type, body);
//! endpoint.stop();
//! # Ok(()) }
//! ```
//!
//! # Mapping
//!
//! - **Names.** A view's metric name is the namespace, `_`, and the view
//!   name with every character outside `[a-zA-Z0-9_]` replaced by `_` (a
//!   leading digit gets a `_` in front). `HELP` is the view's description.
//!   Units stay out of the name; put one in the view name to have it.
//! - **Types.** Count and Sum views are counters (`<name>_total`),
//!   UpDownSum and LastValue views gauges, Distribution views histograms with cumulative
//!   `_bucket{le=".."}` series, `le="+Inf"` equal to `_count`, and `_sum`.
//! - **Labels.** Tag keys become label names (sanitised like metric
//!   names); a tag a row does not hold has no label; values are escaped.
//!   Constant labels come first on every series.
//! - **Overflow.** A view's overflow row is one series labelled
//!   `census_overflow="true"` with none of the view's tag labels.
//! - **Clashes.** A view whose names would clash is refused at
//!   registration ([`Exporter::check_view`](census_core::Exporter::check_view));
//!   clashing views registered before the exporter are left out of scrapes,
//!   logged once and counted, never written twice.
//! - **Order.** Families sorted by name, each family's series together and
//!   sorted by tag values: the same data always renders the same text.
//!
//! docs/exporters.md spells out every rule with examples.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod exporter;
mod exposition;
mod format;
mod self_metrics;
mod server;
mod text;

pub use exporter::{PrometheusExporter, PrometheusExporterBuilder};
pub use format::{PrometheusFormat, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
pub use server::{PrometheusServerHandle, METRICS_PATH};
