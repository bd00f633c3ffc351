//! HTTP server metrics for census in one line: a [`tower`] layer that
//! records request count, latency, requests in flight and body sizes by
//! method, route and status code into standard views, for axum, tonic and
//! hyper services alike. Services reach it as `census::tower` (feature
//! `tower`).
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use axum::{routing::get, Router};
//!
//! let http = census_tower::HttpMetrics::register("")?; // the views, in census::view_manager()
//! let app: Router = Router::new()
//!     .route("/hello", get(|| async { "hello" }))
//!     .route("/users/{id}", get(|| async { "a user" }))
//!     .layer(http); // after the routes, so it sees axum's matched route
//! # let _ = app;
//! # census_stats::shutdown();
//! # Ok(()) }
//! ```
//!
//! [`tower`]: https://docs.rs/tower
//!
//! # Views
//!
//! Names and tag keys follow OpenTelemetry's semantic conventions for HTTP
//! servers, each view name after the prefix given to
//! [`HttpMetrics::register`] (`"myapp"` gives `myapp.http.server.requests`;
//! a prefix ending in `.`, `/`, `_`, `:` or `-` is used as it is):
//!
//! | view | aggregation | tag keys |
//! |---|---|---|
//! | `http.server.requests` | Count | method, route, status |
//! | `http.server.request.duration` | Distribution, seconds, [`DURATION_BOUNDS`] | method, route, status |
//! | `http.server.active_requests` | UpDownSum of +1 and -1 (in flight) | method, route |
//! | `http.server.request.body.size` | Distribution, bytes, [`BODY_SIZE_BOUNDS`] | method, route, status |
//! | `http.server.response.body.size` | Distribution, bytes, [`BODY_SIZE_BOUNDS`] | method, route, status |
//!
//! The tag keys are `http.request.method` (the nine standard methods, any
//! other as `_OTHER`), `http.route` (the route template, never the raw
//! path) and `http.response.status_code`. Body sizes are recorded when
//! the length is known: a body that knows its exact length (one held in
//! full, or an incoming body with a `Content-Length`) or, for a streamed
//! body, the `Content-Length` header the message declares; so their
//! counts may be lower than the request count. Responses
//! to HEAD, and 204 and 304 responses, carry no body whatever the service
//! returned: they count 0 bytes.
//!
//! A request whose inner service returns an error (tonic and hyper
//! services may; axum's never do) is counted without a status code. A
//! request whose future is dropped before its response is ready (the
//! client went away, a timeout further out fired) is not counted; it only
//! leaves the in-flight count. Turning recording off
//! (`ViewManager::set_enabled(false)`) while requests are in flight drops
//! the −1 of those that end meanwhile, and the in-flight count stays that
//! much too high (docs/semantics.md, "Turning recording off and on").
//!
//! # Routes
//!
//! The route is axum's `MatchedPath` when the router put one on the
//! request (add the layer with `Router::layer`, after the routes), the
//! service's own [route function](HttpMetricsBuilder::route) otherwise
//! (tonic, hyper), and one fixed value ([`DEFAULT_UNMATCHED_ROUTE`]) for
//! requests no route matched. A path scanner hitting thousands of paths
//! that do not exist adds one row, not thousands.
//!
//! Reading `MatchedPath` takes the `axum` feature, on by default (and
//! always on through the `census` facade's `tower` feature). Without it an
//! axum service's requests all record as unmatched unless a route function
//! names them: a tonic or hyper service that wants no axum in its build
//! depends on `census-tower` with `default-features = false` and gives a
//! route function.
//!
//! # What a request costs
//!
//! The latency covers the inner service from `call` until its response
//! is ready (the head, not the streaming of its body). Recording takes no
//! lock that could wait, does no I/O and, once the rows of a route exist,
//! allocates nothing: each thread keeps a bound handle
//! (`ViewManager::bind`) per series it has served, so a record is a few
//! loads and one store per view.

// On docs.rs, label each item behind a feature with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod http_metrics;
mod method;
mod route;
mod series_cache;
mod service;
mod views;

pub use http_metrics::{HttpMetrics, HttpMetricsBuilder, DEFAULT_UNMATCHED_ROUTE};
pub use route::RouteRequest;
pub use service::{HttpMetricsService, ResponseFuture};
pub use views::{
    ACTIVE_REQUESTS_VIEW, BODY_SIZE_BOUNDS, DURATION_BOUNDS, DURATION_VIEW, METHOD_KEY,
    OTHER_METHOD, REQUESTS_VIEW, REQUEST_BODY_SIZE_VIEW, RESPONSE_BODY_SIZE_VIEW, ROUTE_KEY,
    STATUS_KEY,
};
