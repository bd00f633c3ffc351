//! census gives Rust services OpenCensus-style stats: declare **measures**,
//! aggregate them into **views** broken down by **tags**, record through a
//! [`MeasurementMap`], and let **exporters** ship the view data from one
//! background thread every reporting period. [`shutdown`] drains: every
//! value recorded before it is called reaches every exporter.
//!
//! ```
//! use census::{Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View};
//! use std::time::Duration;
//!
//! fn main() -> Result<(), census::Error> {
//!     let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
//!     let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
//!     let method = TagKey::new("method")?;
//!
//!     let vm = census::view_manager();
//!     vm.register_view(
//!         View::builder("demo/latency_distribution", &latency)
//!             .description("latency by method")
//!             .tag_keys([method.clone()])
//!             .aggregation(Aggregation::distribution([0.0, 10.0, 100.0, 1000.0])?)
//!             .build()?,
//!     )?;
//!     vm.register_view(View::builder("demo/requests_total", &requests)
//!         .tag_keys([method.clone()]).aggregation(Aggregation::Sum).build()?)?;
//! #   #[cfg(feature = "stdout")]
//!     vm.register_exporter(census::exporters::StdoutExporter::default())?;
//!     vm.set_reporting_period(Duration::from_secs(10));
//!
//!     let tags = TagMap::new().with(&method, "GET")?;
//!     MeasurementMap::new().put(&latency, 12.5).put(&requests, 1).record(&tags);
//!
//!     let data = vm.retrieve_data("demo/requests_total")?;
//!     assert_eq!(data.rows.len(), 1);
//!     census::shutdown();
//!     Ok(())
//! }
//! ```
//!
//! # Measures
//!
//! [`MeasureI64`] and [`MeasureF64`] name a quantity and its unit. Names
//! are 1 to 255 bytes of printable ASCII without spaces.
//!
//! # Tags
//!
//! A [`TagMap`] holds at most one [`TagValue`] per [`TagKey`]. A view keeps
//! only the keys it lists; a key it lists but the map lacks is recorded as
//! absent (`None`), which differs from an empty value.
//!
//! # Views and aggregations
//!
//! A [`View`] aggregates one measure with one [`Aggregation`]: `Count`,
//! `Sum`, `UpDownSum` (a sum that may go down, exported as a gauge or a
//! non-monotonic sum), `LastValue` or `Distribution` (upper-inclusive
//! buckets, as Prometheus `le`). Count, Sum, UpDownSum and Distribution are
//! cumulative since the view was registered; LastValue is a gauge. Each
//! view keeps at most [`View::row_limit`] rows; further tag combinations
//! fold into one overflow row and are counted in [`ViewData::folded`].
//!
//! # Callback views
//!
//! [`ViewManager::register_callback`] registers a view whose rows a
//! function reports through an [`Observer`] at every snapshot: queue
//! depths, open connections, values read from elsewhere. It runs off the
//! exporting thread within a budget, so one that panics or hangs delays
//! nothing else.
//!
//! # Turning recording off
//!
//! [`ViewManager::set_enabled`]`(false)` makes every record a counted
//! no-op until `set_enabled(true)`; exports keep running.
//!
//! # The view manager
//!
//! [`view_manager`] is the process-wide [`ViewManager`]; [`ViewManager::new`]
//! makes independent ones for tests and embedding. It routes records to
//! views without a global lock, serves snapshots ([`ViewManager::retrieve_data`]),
//! and runs one thread that hands every view's data to every [`Exporter`].
//!
//! # Exporters
//!
//! [`exporters`] holds the built-in exporters, each behind a cargo feature
//! (`stdout` is on by default). Write your own by implementing
//! [`Exporter`]; its documentation states the contract.
//!
//! # Pipelines
//!
//! [`pipeline::Pipeline`] wraps an exporter in a chain of processors (constant
//! tags, view filters, dropped tags, renames, delta temporality, or your own
//! [`pipeline::Processor`]) and registers like any exporter.
//!
//! # HTTP servers
//!
//! `tower::HttpMetrics` (feature `tower`) is a `tower::Layer` recording
//! the standard HTTP server views for axum, tonic and hyper services;
//! `examples/axum.rs` shows a whole service.
//!
//! # Shutdown
//!
//! [`shutdown`] (or [`ViewManager::shutdown`], or dropping the guard from
//! [`shutdown_guard`]) takes a final snapshot, exports it, shuts every
//! exporter down and joins the thread. `std::process::exit` skips
//! destructors, so call `shutdown` before it. An async `main` awaits
//! [`shutdown_async`] instead, which drains on a thread of its own so no
//! executor thread blocks.

// On docs.rs, label each item behind a feature with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub use census_core::{
    join_same_views, keep_lost, merge_batches, merge_batches_keeping, unix_nanos, Aggregation,
    AggregationData, Bounds, DeliveryReport, DistributionData, Error, Exemplar, ExportError,
    Exporter, InvalidReason, Measure, MeasureF64, MeasureI64, MeasureType, Mismatch, Moments,
    Number, Producer, Row, TagKey, TagMap, TagValue, Temporality, TypedMeasure, View, ViewBuilder,
    ViewData, DEFAULT_ROW_LIMIT, MAX_BOUNDS,
};
pub use census_stats::{
    shutdown, shutdown_async, shutdown_guard, view_manager, BoundMeasure, ExporterHealth, Health,
    ManagerStats, ManualClock, MeasurementMap, Observer, ShutdownFuture, ShutdownGuard,
    ShutdownReport, ViewManager, ViewManagerBuilder, DEFAULT_CALLBACK_BUDGET,
    DEFAULT_REPORTING_PERIOD, DEFAULT_SHUTDOWN_TIMEOUT,
};

/// The current tag context: the tags of the work a thread is doing,
/// entered once where they are known (a request handler) and recorded
/// under by code that never sees a tag map (a database client, a cache),
/// through [`MeasurementMap::record_current`].
///
/// - [`scope`](tags::scope)`(&tags, || work())` runs `work` with `tags`
///   merged over the current context (an inner scope adds keys or
///   overrides their values) and restores the outer context on the way
///   out, panics included;
/// - [`current`](tags::current)`()` is the merged context now (empty
///   outside any scope);
/// - [`WithTags::with_tags`](tags::WithTags::with_tags) wraps any future
///   so that every poll, on whatever thread, runs inside its tags; no
///   async runtime is involved.
///
/// `record(&tags)` with an explicit map ignores the context. The context
/// does not follow work to another thread by itself: take
/// `tags::current()` before spawning and enter it with `tags::scope`
/// inside. `docs/semantics.md` has the rules.
///
/// ```
/// use census::{tags, Aggregation, MeasureF64, MeasurementMap, TagKey, TagMap, View, ViewManager};
///
/// # fn main() -> Result<(), census::Error> {
/// let latency = MeasureF64::new("db/latency", "query latency", "ms")?;
/// let route = TagKey::new("route")?;
/// let vm = ViewManager::new();
/// vm.register_view(View::builder("db/latency_by_route", &latency)
///     .tag_keys([route.clone()]).aggregation(Aggregation::Count).build()?)?;
///
/// // Library code: no tags in sight.
/// let query = |ms: f64| MeasurementMap::new().put(&latency, ms).record_current_to(&vm);
///
/// // The handler enters the request's tags once.
/// tags::scope(&TagMap::new().with(&route, "/checkout")?, || query(3.5));
/// let rows = vm.retrieve_data("db/latency_by_route")?.rows;
/// assert_eq!(rows[0].tags[0].as_ref().map(|v| v.as_str()), Some("/checkout"));
/// # Ok(()) }
/// ```
pub mod tags {
    pub use census_stats::tags::{current, scope, Tagged, WithTags};
}

/// Export pipelines: processors between the views and one exporter that
/// filter, enrich, relabel or turn cumulative data into deltas. The chain
/// model and each processor's exact semantics are in `docs/pipeline.md`.
pub mod pipeline {
    pub use census_pipeline::{
        ConstTags, Delta, DropTags, FilterViews, Pipeline, PipelineStats, Processor, Rename,
    };
}

// Runs the examples of docs/pipeline.md as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/pipeline.md")]
struct PipelineGuide;

// Runs the tests of docs/testing.md as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
struct TestingGuide;

// Runs the examples of the exporter guides as doc tests: the ones that
// would bind a port or reach an endpoint are compiled only (`no_run`).
#[cfg(all(doctest, feature = "prometheus"))]
#[doc = include_str!("../docs/exporters.md")]
struct ExportersGuide;

#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../docs/http-exporter.md")]
struct HttpExporterGuide;

#[cfg(doctest)]
#[doc = include_str!("../docs/writing-an-exporter.md")]
struct WritingAnExporterGuide;

#[cfg(all(doctest, feature = "tower", feature = "prometheus"))]
#[doc = include_str!("../docs/async.md")]
struct AsyncGuide;

#[cfg(doctest)]
#[doc = include_str!("../docs/semantics.md")]
struct SemanticsGuide;

// Runs README.md's examples as doc tests: they are what crates.io shows.
#[cfg(all(doctest, feature = "stdout"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// HTTP server metrics in one line (feature `tower`): a `tower::Layer` for
/// axum, tonic and hyper services that records request count, latency,
/// requests in flight and body sizes by method, route and status code into
/// standard views named after OpenTelemetry's HTTP conventions. See
/// `examples/axum.rs` and `docs/async.md`.
#[cfg(feature = "tower")]
pub mod tower {
    pub use census_tower::{
        HttpMetrics, HttpMetricsBuilder, HttpMetricsService, ResponseFuture, RouteRequest,
        ACTIVE_REQUESTS_VIEW, BODY_SIZE_BOUNDS, DEFAULT_UNMATCHED_ROUTE, DURATION_BOUNDS,
        DURATION_VIEW, METHOD_KEY, OTHER_METHOD, REQUESTS_VIEW, REQUEST_BODY_SIZE_VIEW,
        RESPONSE_BODY_SIZE_VIEW, ROUTE_KEY, STATUS_KEY,
    };
}

/// The built-in exporters, each behind the cargo feature named for it
/// (the HTTP exporter behind `http`, with https, or `http-plain`, without
/// TLS and its dependencies).
pub mod exporters {
    #[cfg(feature = "http-plain")]
    pub use census_exporter_http::{
        HttpExporter, HttpExporterBuilder, HttpExporterMetrics, HttpFormat,
    };
    #[cfg(feature = "prometheus")]
    pub use census_exporter_prometheus::{
        PrometheusExporter, PrometheusExporterBuilder, PrometheusFormat, PrometheusServerHandle,
        METRICS_PATH, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE,
    };
    #[cfg(feature = "stdout")]
    pub use census_exporter_stdout::{StdoutExporter, StdoutExporterBuilder, StdoutFormat};
}
