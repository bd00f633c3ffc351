//! A request whose future is dropped before its response (the client went
//! away) leaves the in-flight count and is not counted as served; one
//! whose service fails is counted without a status code and leaves too.

mod support;

use std::future::{pending, ready, Future, Pending, Ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use census_stats::ViewManager;
use census_testkit::{count, rows_of};
use census_tower::HttpMetrics;
use http::{Request, Response};
use support::noop_waker;
use tower_layer::Layer;
use tower_service::Service;

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
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut future = pin!(service.call(Request::get("/slow").body(String::new())?));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        let during = rows_of(&vm.retrieve_data("http.server.active_requests")?);
        let tags = vec!["GET".to_owned(), "/slow".to_owned()];
        assert_eq!(during, [(tags, Some(1))]);
    }
    let after = rows_of(&vm.retrieve_data("http.server.active_requests")?);
    assert!(after.iter().all(|(_, n)| *n == Some(0)), "{after:?}");
    assert!(vm.retrieve_data("http.server.requests")?.rows.is_empty());
    vm.shutdown();
    Ok(())
}

#[test]
fn a_failed_request_counts_without_a_status_and_leaves() -> Result<(), Box<dyn std::error::Error>> {
    let (vm, metrics) = setup()?;
    let mut service = metrics.layer(Fails);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let future = pin!(service.call(Request::post("/elsewhere").body("abc".to_owned())?));
    assert!(matches!(future.poll(&mut cx), Poll::Ready(Err(_))));

    let requests = vm.retrieve_data("http.server.requests")?;
    // An absent status reads "-".
    assert_eq!(
        rows_of(&requests),
        [(
            vec!["POST".to_owned(), "unmatched".to_owned(), "-".to_owned()],
            Some(1)
        )]
    );
    assert_eq!(count(&requests.rows[0].data), 1);
    let after = rows_of(&vm.retrieve_data("http.server.active_requests")?);
    assert!(after.iter().all(|(_, n)| *n == Some(0)), "{after:?}");
    vm.shutdown();
    Ok(())
}
