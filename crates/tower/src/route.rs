//! Where a request's route template comes from: axum's `MatchedPath` when
//! the router put one on the request, the service's own function
//! otherwise, and a fixed value when neither knows the route. Never the
//! raw path: each distinct path would make rows of its own.

use std::fmt;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Request, Uri};

/// The parts of a request a route function may look at.
///
/// ```
/// use census_tower::RouteRequest;
///
/// // A route function for a service with two routes.
/// fn route(req: &RouteRequest<'_>) -> Option<&'static str> {
///     match req.path() {
///         "/hello" => Some("/hello"),
///         p if p.starts_with("/users/") => Some("/users/{id}"),
///         _ => None,
///     }
/// }
/// # fn main() -> Result<(), http::Error> {
/// let request = http::Request::get("/users/7").body(())?;
/// assert_eq!(route(&RouteRequest::new(&request)), Some("/users/{id}"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RouteRequest<'a> {
    /// A view of `request`'s method, URI, headers and extensions.
    pub fn new<B>(request: &'a Request<B>) -> RouteRequest<'a> {
        RouteRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The path of the request URI.
    pub fn path(&self) -> &'a str {
        self.uri.path()
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions, where routers and earlier layers leave what
    /// they found.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// A service's own route function: the template of the route a request
/// matched, or `None`.
#[derive(Clone)]
pub(crate) struct RouteFn(Arc<RouteFnDyn>);

type RouteFnDyn = dyn Fn(&RouteRequest<'_>) -> Option<&'static str> + Send + Sync;

impl RouteFn {
    pub(crate) fn new(
        f: impl Fn(&RouteRequest<'_>) -> Option<&'static str> + Send + Sync + 'static,
    ) -> RouteFn {
        RouteFn(Arc::new(f))
    }
}

impl fmt::Debug for RouteFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RouteFn")
    }
}

/// The route template of `request`, if any source knows it.
#[inline]
pub(crate) fn route_of<'r, B>(
    request: &'r Request<B>,
    route_fn: Option<&RouteFn>,
) -> Option<&'r str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    route_fn.and_then(|f| (f.0)(&RouteRequest::new(request)))
}
