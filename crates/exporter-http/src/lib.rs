//! A census exporter that pushes view data to an HTTP endpoint: census's
//! own JSON schema (`census.v1`), OTLP/HTTP (JSON or protobuf) or
//! Prometheus remote write, through a bounded queue with retries, so
//! `export()` never waits on the network.
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use std::time::Duration;
//! use census_exporter_http::{HttpExporter, HttpFormat};
//!
//! let http = HttpExporter::builder("http://127.0.0.1:4318/v1/metrics")
//!     .format(HttpFormat::OtlpJson)
//!     .header("Authorization", "Bearer secret")
//!     .timeout(Duration::from_secs(5))
//!     .queue_capacity(1_000)
//!     .build()?;
//! // With the `census` crate: census::view_manager().register_exporter(http.clone())?;
//! // ...and at any time:
//! let m = http.metrics();
//! println!("{} sent, {} pending, {} dropped", m.sent, m.pending, m.dropped);
//! # Ok(()) }
//! ```
//!
//! # Delivery
//!
//! [`Exporter::export`](census_core::Exporter::export) serialises the batch
//! and puts it in a queue of at most `queue_capacity` batches; one sender
//! thread per exporter POSTs them in order. When the queue is full the
//! **oldest** batch is dropped and counted in
//! [`HttpExporterMetrics::dropped`]; a batch of delta data (behind a
//! `Delta` processor) is merged into the next instead, counted in
//! [`HttpExporterMetrics::merged`], since no later batch carries its
//! values. Connection errors, timeouts and the
//! statuses the format's protocol calls transient (census.v1: 408, 429 and
//! 5xx; remote write: 429 and 5xx; OTLP: 429, 502, 503 and 504) are
//! retried with exponential backoff and full jitter, honouring
//! `Retry-After`; any other status is a permanent failure. Every request
//! carries `Idempotency-Key: <batch id>`, the same for every attempt of one
//! batch, so a receiver can drop duplicates.
//!
//! # Accounting
//!
//! Every batch `export` accepts ends in exactly one counter of
//! [`HttpExporterMetrics`]: `sent`, `failed`, `dropped`, `merged` or
//! `abandoned` (not delivered by the shutdown deadline), or is still
//! `pending`.
//!
//! # Formats
//!
//! See [`HttpFormat`] and `docs/http-exporter.md` for every format, with
//! example bodies.
//!
//! # Configuration from the environment
//!
//! [`HttpExporter::builder_from_env`] reads the `OTEL_EXPORTER_OTLP_*`,
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` variables as
//! OpenTelemetry SDKs do; explicit builder calls win.
//!
//! # Features
//!
//! `tls` (default): `https://` endpoints, through rustls with the Mozilla
//! roots. Without it the crate builds without rustls, ring and
//! webpki-roots, and `build()` refuses `https://` URLs.

// On docs.rs, label each item behind a feature with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod builder;
mod delivery_stats;
mod env;
mod expired_rows;
mod exporter;
mod format;
mod queue;
mod retry;
mod self_metrics;
mod sender;

pub use builder::HttpExporterBuilder;
pub use delivery_stats::HttpExporterMetrics;
pub use exporter::HttpExporter;
pub use format::HttpFormat;
