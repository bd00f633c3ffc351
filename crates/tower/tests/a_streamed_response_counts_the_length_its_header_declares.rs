//! A streamed response body does not know its length, but a handler that
//! announces it in a `Content-Length` header has said what will go out:
//! the response size view counts it (a QA pass found no size recorded for
//! such a response). Without the header, nothing is recorded, as before.

mod support;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use census_core::AggregationData;
use census_stats::ViewManager;
use census_tower::HttpMetrics;
use http::{header, Request, Response};
use http_body::{Body, Frame};
use support::serve_once;
use tower_layer::Layer;
use tower_service::Service;

/// A body of unknown length, as a stream is.
struct Streamed;

impl Body for Streamed {
    type Data = &'static [u8];
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(None)
    }
}

/// Streams every answer; `/announced` says its length in a header.
struct Streaming;

impl Service<Request<String>> for Streaming {
    type Response = Response<Streamed>;
    type Error = http::Error;
    type Future = Ready<Result<Response<Streamed>, http::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), http::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let mut response = Response::builder();
        if request.uri().path() == "/announced" {
            response = response.header(header::CONTENT_LENGTH, "5000");
        }
        ready(response.body(Streamed))
    }
}

#[test]
fn the_declared_length_is_counted_and_an_unknown_one_is_not(
) -> Result<(), Box<dyn std::error::Error>> {
    let vm = Arc::new(ViewManager::new());
    let metrics = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .route(|req| {
            Some(if req.path() == "/announced" {
                "/announced"
            } else {
                "/unknown"
            })
        })
        .register()?;
    let mut service = metrics.layer(Streaming);
    for path in ["/announced", "/unknown"] {
        let request = Request::get(path).body(String::new())?;
        assert!(serve_once(&mut service, request).is_ok());
    }
    let sizes = vm.retrieve_data("http.server.response.body.size")?;
    let got: Vec<(String, u64, f64)> = sizes
        .rows
        .iter()
        .map(|r| {
            let route = r.tags[1].as_ref().map_or("-", |v| v.as_str()).to_owned();
            match &r.data {
                AggregationData::Distribution(d) => (route, d.count, d.sum),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(got, [("/announced".to_owned(), 1, 5000.0)]);
    // Both requests are counted.
    let durations = vm.retrieve_data("http.server.request.duration")?;
    assert_eq!(durations.rows.len(), 2);
    vm.shutdown();
    Ok(())
}
