//! Past 1,000 distinct route templates, later routes are recorded as
//! `_OTHER` and the layer says so once: a QA pass found one warning per
//! request (2,500 lines for 2,500 requests), which floods a service's log
//! exactly when its routes are misconfigured.

mod support;

use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use census_stats::ViewManager;
use census_tower::HttpMetrics;
use http::{Request, Response};
use support::serve_once;
use tower_layer::Layer;
use tower_service::Service;

/// Counts census-tower's warnings.
struct Counting(AtomicUsize);

impl log::Log for Counting {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && record.args().to_string().contains("distinct routes")
        {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flush(&self) {}
}

static WARNINGS: Counting = Counting(AtomicUsize::new(0));

struct Ok200;

impl Service<Request<String>> for Ok200 {
    type Response = Response<String>;
    type Error = http::Error;
    type Future = Ready<Result<Response<String>, http::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), http::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        ready(Response::builder().body(String::new()))
    }
}

#[test]
fn requests_past_the_route_limit_warn_once() -> Result<(), Box<dyn std::error::Error>> {
    log::set_logger(&WARNINGS).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Warn);
    let vm = Arc::new(ViewManager::new());
    // Every path its own route: the misconfiguration the limit guards.
    let routes: &'static [&'static str] = Vec::leak(
        (0..1_200)
            .map(|n| &*String::leak(format!("/r{n}")))
            .collect(),
    );
    let metrics = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .route(move |req| {
            let n: usize = req.path().strip_prefix("/r")?.parse().ok()?;
            routes.get(n).copied()
        })
        .register()?;
    let mut service = metrics.layer(Ok200);
    for n in 0..1_200 {
        let request = Request::get(format!("/r{n}")).body(String::new())?;
        assert!(serve_once(&mut service, request).is_ok());
    }
    assert_eq!(WARNINGS.0.load(Ordering::SeqCst), 1);
    let requests = vm.retrieve_data("http.server.request.duration")?;
    let other = requests
        .rows
        .iter()
        .find(|r| r.tags[1].as_ref().map(|v| v.as_str()) == Some("_OTHER"))
        .ok_or("an _OTHER row")?;
    match &other.data {
        census_core::AggregationData::Distribution(d) => assert_eq!(d.count, 200),
        data => panic!("{data:?}"),
    }
    vm.shutdown();
    Ok(())
}
