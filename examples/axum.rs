//! An axum service measured by census in three lines: the standard HTTP
//! server views (requests, latency, requests in flight, body sizes by
//! method, route and status) recorded by the `census::tower` layer and
//! served at `/metrics` from the same router through the Prometheus
//! exporter. Ctrl-C (or `--seconds N`) stops accepting, lets requests in
//! flight finish, then drains census without blocking the runtime.
//!
//! ```text
//! cargo run --example axum --features tower,prometheus
//! cargo run --example axum --features tower,prometheus -- --addr 127.0.0.1:3000 --seconds 60
//! curl http://127.0.0.1:3000/hello
//! curl http://127.0.0.1:3000/users/7
//! curl -d 'some text' http://127.0.0.1:3000/echo
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! The routes, with knobs to see every kind of row:
//!
//! - `GET /hello`: `hello`; `?delay_ms=N` waits N ms first (at most 5000),
//!   to move the latency buckets;
//! - `GET /users/{id}`: user ids 1 to 999 exist; id 0 is a simulated
//!   store failure (500), 1000 to 4294967295 answer 404, anything else
//!   (not a whole number, negative, or past 32 bits) 400;
//! - `POST /echo`: answers with the request body.
//!
//! Paths outside these share the route value `unmatched`, so a scanner
//! cannot add a row per path. tests/the_axum_example_counts_exactly_what_clients_sent.rs
//! serves this very router and checks every count a scrape shows.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use census::exporters::PrometheusExporter;
use census::tower::HttpMetrics;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::from_env()?;

    // The setup: the standard views, the exporter, the layer (in `app`).
    let http = HttpMetrics::register("")?;
    let prometheus = PrometheusExporter::builder().namespace("myapp").build()?;
    census::view_manager().register_exporter(prometheus.clone())?;

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!("serving http://{addr}/hello, /users/{{id}}, /echo (POST) and /metrics");
    match args.seconds {
        Some(s) => println!("running for {s} s (Ctrl-C stops earlier)"),
        None => println!("running until Ctrl-C"),
    }
    axum::serve(listener, app(http, prometheus))
        .with_graceful_shutdown(stop(args.seconds))
        .await?;

    // Requests have finished; the final export reaches every exporter.
    // Awaited, not blocked on: the drain runs on a thread of its own.
    let report = census::shutdown_async().await;
    println!(
        "stopped; census drained (complete: {})",
        report.is_complete()
    );
    Ok(())
}

/// The service: its routes and `/metrics`, all behind the census layer.
/// The layer goes last, after the routes, so it sees axum's matched route.
pub fn app(http: HttpMetrics, prometheus: PrometheusExporter) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/users/{id}", get(user))
        .route("/echo", post(echo))
        .route(
            "/metrics",
            get(move |headers: HeaderMap| async move {
                let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
                // About a millisecond for a service's views: cheap enough
                // to render on the runtime, like any small handler.
                let (content_type, body) = prometheus.render_for_accept(accept);
                ([(header::CONTENT_TYPE, content_type)], body)
            }),
        )
        .layer(http)
}

async fn hello(uri: Uri) -> &'static str {
    let delay = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("delay_ms="))
        .and_then(|ms| ms.parse::<u64>().ok());
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms.min(5_000))).await;
    }
    "hello\n"
}

async fn user(Path(id): Path<u32>) -> impl IntoResponse {
    match id {
        0 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "user store unavailable (simulated for id 0)\n".to_owned(),
        ),
        1..=999 => (StatusCode::OK, format!("user {id}\n")),
        _ => (StatusCode::NOT_FOUND, format!("no user {id}\n")),
    }
}

async fn echo(body: Bytes) -> Bytes {
    body
}

/// Completes on Ctrl-C, or after `seconds` if given.
async fn stop(seconds: Option<u64>) {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            eprintln!("cannot listen for Ctrl-C ({err}); stop with --seconds or a kill");
            std::future::pending::<()>().await;
        }
    };
    match seconds {
        Some(s) => {
            tokio::select! {
                () = ctrl_c => {}
                () = tokio::time::sleep(Duration::from_secs(s)) => {}
            }
        }
        None => ctrl_c.await,
    }
    println!("stopping: finishing requests in flight");
}

/// `--addr HOST:PORT` (default 127.0.0.1:3000) and `--seconds N`.
struct Args {
    addr: SocketAddr,
    seconds: Option<u64>,
}

impl Args {
    fn from_env() -> Result<Args, String> {
        let usage = "usage: axum [--addr HOST:PORT] [--seconds N]";
        let mut args = Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            seconds: None,
        };
        let mut given = std::env::args().skip(1);
        while let Some(flag) = given.next() {
            let value = given
                .next()
                .ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
            match flag.as_str() {
                "--addr" => {
                    args.addr = value.parse().map_err(|_| {
                        format!("--addr needs HOST:PORT, such as 127.0.0.1:3000, not {value:?}")
                    })?;
                }
                "--seconds" => {
                    args.seconds =
                        Some(value.parse().map_err(|_| {
                            format!("--seconds needs a whole number, not {value:?}")
                        })?);
                }
                _ => return Err(format!("unknown argument {flag:?}; {usage}")),
            }
        }
        Ok(args)
    }
}
