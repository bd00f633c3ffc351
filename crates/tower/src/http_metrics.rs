//! `HttpMetrics`: the standard views registered in one call, and the
//! `tower::Layer` that records into them.

use std::fmt;
use std::sync::Arc;

use census_core::{Error, TagValue};
use census_stats::ViewManager;
use tower_layer::Layer;

use crate::route::{RouteFn, RouteRequest};
use crate::series_cache::SeriesCache;
use crate::service::HttpMetricsService;
use crate::views::Measures;

/// The route value of requests that matched no route, unless
/// [`HttpMetricsBuilder::unmatched_route`] says otherwise.
pub const DEFAULT_UNMATCHED_ROUTE: &str = "unmatched";

/// HTTP server metrics for a tower service: the standard views, and the
/// [`Layer`] that records every request into them.
///
/// [`HttpMetrics::register`] registers the views in the process-wide view
/// manager; [`HttpMetrics::builder`] chooses the manager, the route
/// function and the unmatched route value. The value is the layer: hand
/// it (or a clone, which shares everything) to axum's `Router::layer`,
/// tonic's `Server::layer` or a `tower::ServiceBuilder`.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use axum::{routing::get, Router};
///
/// let http = census_tower::HttpMetrics::register("")?;
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "a user" }))
///     .layer(http);
/// # let _ = app;
/// # census_stats::shutdown();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpMetrics {
    shared: Arc<Shared>,
}

/// What every service and request future of one layer shares.
pub(crate) struct Shared {
    manager: Manager,
    pub(crate) series: SeriesCache,
    pub(crate) route_fn: Option<RouteFn>,
}

enum Manager {
    Global,
    Given(Arc<ViewManager>),
}

impl Shared {
    #[inline]
    pub(crate) fn manager(&self) -> &ViewManager {
        match &self.manager {
            Manager::Global => census_stats::view_manager(),
            Manager::Given(vm) => vm,
        }
    }
}

impl HttpMetrics {
    /// Registers the standard views, their names starting with `prefix`,
    /// in the process-wide view manager, and returns the layer that
    /// records into them. Registering the same prefix again is harmless:
    /// identical views register as no-ops.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidMeasureName`] or [`Error::InvalidViewName`] if
    ///   `prefix` makes a name that is not 1 to 255 bytes of printable
    ///   ASCII without spaces;
    /// - [`Error::ViewConflict`] or [`Error::MeasureConflict`] if views or
    ///   measures of these names but other definitions are registered;
    /// - [`Error::ShutDown`] after the manager was shut down.
    pub fn register(prefix: &str) -> Result<HttpMetrics, Error> {
        HttpMetrics::builder().prefix(prefix).register()
    }

    /// Starts a builder with every default: no prefix, the process-wide
    /// manager, no route function, `unmatched` for unmatched requests.
    pub fn builder() -> HttpMetricsBuilder {
        HttpMetricsBuilder {
            prefix: String::new(),
            manager: None,
            route_fn: None,
            unmatched: DEFAULT_UNMATCHED_ROUTE.to_owned(),
        }
    }
}

impl<S> Layer<S> for HttpMetrics {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> HttpMetricsService<S> {
        HttpMetricsService::new(inner, Arc::clone(&self.shared))
    }
}

impl fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("duration", &self.shared.series.measures().duration.name())
            .field("route_fn", &self.shared.route_fn.is_some())
            .field("series", &self.shared.series)
            .finish()
    }
}

/// Chooses how [`HttpMetrics`] registers and finds routes; made by
/// [`HttpMetrics::builder`].
#[must_use = "a builder does nothing until .register()"]
pub struct HttpMetricsBuilder {
    prefix: String,
    manager: Option<Arc<ViewManager>>,
    route_fn: Option<RouteFn>,
    unmatched: String,
}

impl HttpMetricsBuilder {
    /// Text put in front of every view and measure name: `"shop"` or
    /// `"shop."` gives views `shop.http.server.requests` and so on. A
    /// prefix that does not end in a separator (`.`, `/`, `_`, `:` or
    /// `-`) gets a `.`, so the prefix stays a word of its own. Default:
    /// none.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with(['.', '/', '_', ':', '-']) {
            prefix.push('.');
        }
        self.prefix = prefix;
        self
    }

    /// The view manager to register the views in and record into.
    /// Default: the process-wide one, `census::view_manager()`.
    pub fn view_manager(mut self, manager: Arc<ViewManager>) -> Self {
        self.manager = Some(manager);
        self
    }

    /// The route template of requests axum has not matched to a route
    /// (no `MatchedPath` on the request): tonic and hyper services, and
    /// axum fallbacks. Return the template of the request's route, such
    /// as `"/users/{id}"`, from a fixed set, never the raw path; `None`
    /// counts the request under the unmatched route. Returning
    /// `&'static str` keeps the set fixed by the program. Default: none,
    /// so only axum routes are told apart.
    pub fn route(
        mut self,
        route: impl Fn(&RouteRequest<'_>) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        self.route_fn = Some(RouteFn::new(route));
        self
    }

    /// The route value of requests no route matched, such as requests for
    /// paths that do not exist: one value for all of them, so that
    /// scanners cannot add a row per path. Default:
    /// [`DEFAULT_UNMATCHED_ROUTE`] (`"unmatched"`).
    pub fn unmatched_route(mut self, value: impl Into<String>) -> Self {
        self.unmatched = value.into();
        self
    }

    /// Registers the standard views and returns the layer.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTagValue`] if the unmatched route value is not 0
    ///   to 255 bytes of printable ASCII;
    /// - [`Error::InvalidMeasureName`] or [`Error::InvalidViewName`] if the
    ///   prefix makes a name that is not 1 to 255 bytes of printable ASCII
    ///   without spaces;
    /// - [`Error::ViewConflict`] or [`Error::MeasureConflict`] if views or
    ///   measures of these names but other definitions are registered
    ///   (views registered before the conflicting one stay registered);
    /// - [`Error::ShutDown`] after the manager was shut down.
    pub fn register(self) -> Result<HttpMetrics, Error> {
        let unmatched = TagValue::new(self.unmatched)?;
        let measures = Measures::new(&self.prefix)?;
        let views = measures.views(&self.prefix)?;
        let manager = match self.manager {
            Some(vm) => Manager::Given(vm),
            None => Manager::Global,
        };
        let shared = Shared {
            manager,
            series: SeriesCache::new(measures, unmatched.as_str()),
            route_fn: self.route_fn,
        };
        for view in views {
            shared.manager().register_view(view)?;
        }
        Ok(HttpMetrics {
            shared: Arc::new(shared),
        })
    }
}

impl fmt::Debug for HttpMetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsBuilder")
            .field("prefix", &self.prefix)
            .field("global_manager", &self.manager.is_none())
            .field("route_fn", &self.route_fn.is_some())
            .field("unmatched", &self.unmatched)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_unmatched_value_is_refused_naming_it() {
        let vm = Arc::new(ViewManager::new());
        let err = HttpMetrics::builder()
            .view_manager(Arc::clone(&vm))
            .unmatched_route("no\nroute")
            .register()
            .err();
        assert!(
            matches!(&err, Some(Error::InvalidTagValue { value, .. }) if value == "no\nroute"),
            "{err:?}"
        );
        assert!(vm.views().is_empty());
    }

    #[test]
    fn registering_twice_is_harmless_and_registers_five_views() -> Result<(), Error> {
        let vm = Arc::new(ViewManager::new());
        for _ in 0..2 {
            HttpMetrics::builder()
                .prefix("shop.")
                .view_manager(Arc::clone(&vm))
                .register()?;
        }
        assert_eq!(vm.views().len(), 5);
        Ok(())
    }

    #[test]
    fn a_prefix_without_a_separator_gets_a_dot() -> Result<(), Error> {
        for (prefix, view) in [
            ("myapp", "myapp.http.server.requests"),
            ("myapp.", "myapp.http.server.requests"),
            ("myapp/", "myapp/http.server.requests"),
            ("myapp_", "myapp_http.server.requests"),
            ("", "http.server.requests"),
        ] {
            let vm = Arc::new(ViewManager::new());
            HttpMetrics::builder()
                .prefix(prefix)
                .view_manager(Arc::clone(&vm))
                .register()?;
            let names: Vec<String> = vm.views().iter().map(|v| v.name().to_owned()).collect();
            assert!(names.iter().any(|n| n == view), "{prefix:?}: {names:?}");
        }
        Ok(())
    }
}
