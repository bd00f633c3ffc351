//! A request whose future is dropped before its response (the client went
//! away) leaves the in-flight count and is not counted as served; one
//! whose service fails is counted without a status code and leaves too.

use std::future::{pending, ready, Future, Pending, Ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use census_core::{AggregationData, Number, Row};
use census_stats::ViewManager;
use census_tower::HttpMetrics;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Never answers.
struct Hangs;

impl Service<Request<String>> for Hangs {
    type Response = Response<String>;
    type Error = std::io::Error;
    type Future = Pending<Result<Response<String>, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        pending()
    }
}

/// Fails every request.
struct Fails;

impl Service<Request<String>> for Fails {
    type Response = Response<String>;
    type Error = std::io::Error;
    type Future = Ready<Result<Response<String>, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        ready(Err(std::io::Error::other("backend down")))
    }
}

fn in_flight(rows: &[Row]) -> Vec<(Vec<Option<String>>, i64)> {
    rows.iter()
        .map(|row| {
            let tags = row
                .tags
                .iter()
                .map(|t| t.as_ref().map(|v| v.as_str().to_owned()))
                .collect();
            match row.data {
                AggregationData::Sum(Number::Int(n)) => (tags, n),
                ref other => panic!("in flight is an integer sum, not {other:?}"),
            }
        })
        .collect()
}

fn setup() -> Result<(Arc<ViewManager>, HttpMetrics), census_core::Error> {
    let vm = Arc::new(ViewManager::new());
    let metrics = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .route(|req| (req.path() == "/slow").then_some("/slow"))
        .register()?;
    Ok((vm, metrics))
}

#[test]
fn a_request_dropped_unfinished_leaves_and_is_not_counted() -> Result<(), Box<dyn std::error::Error>>
{
    let (vm, metrics) = setup()?;
    let mut service = metrics.layer(Hangs);
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    {
        let mut future = pin!(service.call(Request::get("/slow").body(String::new())?));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        let during = in_flight(&vm.retrieve_data("http.server.active_requests")?.rows);
        let tags = vec![Some("GET".to_owned()), Some("/slow".to_owned())];
        assert_eq!(during, [(tags, 1)]);
    }
    let after = in_flight(&vm.retrieve_data("http.server.active_requests")?.rows);
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    assert!(vm.retrieve_data("http.server.requests")?.rows.is_empty());
    vm.shutdown();
    Ok(())
}

#[test]
fn a_failed_request_counts_without_a_status_and_leaves() -> Result<(), Box<dyn std::error::Error>> {
    let (vm, metrics) = setup()?;
    let mut service = metrics.layer(Fails);
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let future = pin!(service.call(Request::post("/elsewhere").body("abc".to_owned())?));
    assert!(matches!(future.poll(&mut cx), Poll::Ready(Err(_))));

    let requests = vm.retrieve_data("http.server.requests")?;
    let rows: Vec<_> = requests
        .rows
        .iter()
        .map(|r| {
            (
                r.tags
                    .iter()
                    .map(|t| t.as_ref().map(|v| v.as_str().to_owned()))
                    .collect::<Vec<_>>(),
                r.data.clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(
            vec![Some("POST".to_owned()), Some("unmatched".to_owned()), None],
            AggregationData::Count(1)
        )]
    );
    let after = in_flight(&vm.retrieve_data("http.server.active_requests")?.rows);
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    vm.shutdown();
    Ok(())
}
