//! The response body size view counts the bytes a response carries. A
//! HEAD response, a 204 and a 304 carry none, whatever body the service
//! returned (HTTP servers drop it): they count 0, where the layer used to
//! count the body the service returned (a QA pass: 6 bytes for
//! `HEAD /hello` answered with "hello\n").

mod support;

use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use census_core::AggregationData;
use census_stats::ViewManager;
use census_tower::HttpMetrics;
use http::{Method, Request, Response, StatusCode};
use support::serve_once;
use tower_layer::Layer;
use tower_service::Service;

/// Answers every request with "hello\n" and the status the path names.
struct Hello;

impl Service<Request<String>> for Hello {
    type Response = Response<String>;
    type Error = http::Error;
    type Future = Ready<Result<Response<String>, http::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), http::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let status = match request.uri().path() {
            "/204" => StatusCode::NO_CONTENT,
            "/304" => StatusCode::NOT_MODIFIED,
            _ => StatusCode::OK,
        };
        ready(
            Response::builder()
                .status(status)
                .body("hello\n".to_owned()),
        )
    }
}

#[test]
fn head_204_and_304_count_no_response_bytes() -> Result<(), Box<dyn std::error::Error>> {
    let vm = Arc::new(ViewManager::new());
    let metrics = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .route(|req| {
            Some(if req.path() == "/hello" {
                "/hello"
            } else {
                "/status"
            })
        })
        .register()?;
    let mut service = metrics.layer(Hello);
    for (method, path) in [
        (Method::GET, "/hello"),
        (Method::HEAD, "/hello"),
        (Method::GET, "/204"),
        (Method::GET, "/304"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(String::new())?;
        assert!(serve_once(&mut service, request).is_ok());
    }
    let sizes = vm.retrieve_data("http.server.response.body.size")?;
    let mut got: Vec<(Vec<String>, u64, f64)> = sizes
        .rows
        .iter()
        .map(|r| {
            let tags = r
                .tags
                .iter()
                .map(|t| t.as_ref().map_or("-", |v| v.as_str()).to_owned())
                .collect();
            match &r.data {
                AggregationData::Distribution(d) => (tags, d.count, d.sum),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let row = |m: &str, route: &str, status: &str, sum: f64| {
        (
            vec![m.to_owned(), route.to_owned(), status.to_owned()],
            1,
            sum,
        )
    };
    assert_eq!(
        got,
        vec![
            row("GET", "/hello", "200", 6.0),
            row("GET", "/status", "204", 0.0),
            row("GET", "/status", "304", 0.0),
            row("HEAD", "/hello", "200", 0.0),
        ]
    );
    vm.shutdown();
    Ok(())
}
