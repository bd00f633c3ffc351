//! The service the layer wraps around another, and the future that
//! records a request when its response is ready.
//!
//! Recording never waits: each step is a few loads and stores on memory
//! the current thread owns (see `series_cache`), with no lock held across
//! an await, no I/O, and, once a route's rows exist, no allocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::http_metrics::Shared;
use crate::method::MethodIndex;
use crate::route::route_of;
use crate::series_cache::RouteId;

/// A service that records each request it passes to the service inside;
/// made by [`HttpMetrics`](crate::HttpMetrics) as a layer.
#[derive(Clone)]
pub struct HttpMetricsService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> HttpMetricsService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> HttpMetricsService<S> {
        HttpMetricsService { inner, shared }
    }
}

impl<S> std::fmt::Debug for HttpMetricsService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpMetricsService")
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> ResponseFuture<S::Future> {
        let shared = &self.shared;
        let method = MethodIndex::of(request.method());
        let route = route_of(&request, shared.route_fn.as_ref());
        let request_size = request
            .body()
            .size_hint()
            .exact()
            .or_else(|| declared_length(request.headers()));
        let in_flight = InFlight::enter(Arc::clone(shared), route, method, request_size);
        ResponseFuture {
            inner: self.inner.call(request),
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// The response future of [`HttpMetricsService`]: the inner service's,
    /// recording the request when it completes.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = match this.inner.poll(cx) {
            Poll::Ready(output) => output,
            Poll::Pending => return Poll::Pending,
        };
        if let Some(mut in_flight) = this.in_flight.take() {
            match &output {
                Ok(response) => {
                    let size = if in_flight.sends_no_body(response.status()) {
                        Some(0)
                    } else {
                        response
                            .body()
                            .size_hint()
                            .exact()
                            .or_else(|| declared_length(response.headers()))
                    };
                    in_flight.finish(Some(response.status()), size)
                }
                // An error is no response: counted without a status code.
                Err(_) => in_flight.finish(None, None),
            }
        }
        Poll::Ready(output)
    }
}

/// The length a message's `Content-Length` header declares: what a
/// streamed body the handler announced will carry, which the body itself
/// does not know.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A request being served: counted in the in-flight view from `enter`
/// until dropped, so a request whose future is dropped unfinished (the
/// client went away, a timeout outside fired) leaves it too.
struct InFlight {
    shared: Arc<Shared>,
    route: RouteId,
    method: MethodIndex,
    request_size: Option<u64>,
    start: Instant,
    /// Whether `finish` has recorded the request and left already.
    left: bool,
}

impl InFlight {
    fn enter(
        shared: Arc<Shared>,
        route: Option<&str>,
        method: MethodIndex,
        request_size: Option<u64>,
    ) -> InFlight {
        let route = shared
            .series
            .enter(shared.manager(), route, method, |route, flight| {
                flight.record(1);
                route
            });
        InFlight {
            shared,
            route,
            method,
            request_size,
            start: Instant::now(),
            left: false,
        }
    }

    /// Whether the response goes out without a body whatever the service
    /// returned (HTTP servers drop it): for HEAD, 204 and 304 the bytes
    /// transferred, which the response size view counts, are none.
    fn sends_no_body(&self, status: StatusCode) -> bool {
        self.method.is_head()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
    }

    /// Records the finished request, then leaves the in-flight count.
    fn finish(&mut self, status: Option<StatusCode>, response_size: Option<u64>) {
        let seconds = self.start.elapsed().as_secs_f64();
        let request_size = self.request_size;
        let shared = &*self.shared;
        shared.series.with_done(
            shared.manager(),
            self.route,
            self.method,
            status,
            |done, flight| {
                done.duration.record(seconds);
                if let Some(size) = request_size {
                    done.request_size.record(saturate(size));
                }
                if let Some(size) = response_size {
                    done.response_size.record(saturate(size));
                }
                flight.record(-1);
            },
        );
        self.left = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let shared = &*self.shared;
        shared
            .series
            .with_in_flight(shared.manager(), self.route, self.method, |flight| {
                flight.record(-1)
            });
    }
}

fn saturate(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}
