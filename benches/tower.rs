//! What the census tower layer costs per request, beside what a request
//! costs anyway, in one run:
//!
//! - `tower/noop`: a service that does nothing, called and polled in
//!   process, with and without the layer (a 59-byte route template from a
//!   route function, status 200, bodies of known length);
//! - `tower/axum_in_process`: a minimal axum router (`GET /hello` answering
//!   `hello`), called and polled in process, with and without the layer
//!   (the route from axum's `MatchedPath`): axum's own cost, without the
//!   network;
//! - `tower/axum_loopback`: the same router served by hyper on a tokio
//!   runtime, one keep-alive HTTP/1.1 request and answer over 127.0.0.1
//!   from a blocking client: what a minimal real request costs;
//! - `tower/render_scrape`: a Prometheus scrape of the layer's views after
//!   20 routes × 3 methods × 4 status codes were served (240 rows per
//!   view; with three 14-bound histograms, about 12,500 sample lines):
//!   what docs/async.md quotes for rendering on the runtime.
//!
//! The layer's cost is the difference of each pair; its share is that
//! difference over the axum cases.
//!
//! `cargo bench --bench tower --features tower,prometheus -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use axum::routing::get;
use census::tower::HttpMetrics;
use census::ViewManager;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

const ROUTE: &str = "/api/v1/organizations/{org_id}/repositories/{repo_id}/pulls";
const PATH: &str = "/api/v1/organizations/7/repositories/census/pulls";

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A body of known length that needs no allocation.
struct Fixed(u64);

impl Body for Fixed {
    type Data = &'static [u8];
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<&'static [u8]>, Infallible>>> {
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0)
    }
}

/// Answers 200 with a 17-byte body, doing nothing else.
#[derive(Clone)]
struct Nothing;

impl Service<http::Request<Fixed>> for Nothing {
    type Response = http::Response<Fixed>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<Fixed>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Fixed>) -> Self::Future {
        ready(Ok(http::Response::new(Fixed(17))))
    }
}

/// Calls `service` and polls its answer once; every service here answers
/// at once.
fn serve<S, B, R>(service: &mut S, cx: &mut Context<'_>, request: http::Request<B>) -> R
where
    S: Service<http::Request<B>, Response = http::Response<R>, Error = Infallible>,
{
    let _ = service.poll_ready(cx);
    match pin!(service.call(request)).poll(cx) {
        Poll::Ready(Ok(response)) => response.into_body(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the benchmarked services answer at once"),
    }
}

fn layer(vm: &Arc<ViewManager>) -> HttpMetrics {
    HttpMetrics::builder()
        .view_manager(Arc::clone(vm))
        .route(|req| (req.path() == PATH).then_some(ROUTE))
        .register()
        .expect("the standard views register in a fresh manager")
}

fn noop(c: &mut Criterion) {
    let vm = Arc::new(ViewManager::new());
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let request = || {
        http::Request::get(PATH)
            .body(Fixed(0))
            .expect("a static request builds")
    };
    let mut group = c.benchmark_group("tower/noop");
    let mut plain = Nothing;
    group.bench_function("without_layer", |b| {
        b.iter_batched(
            request,
            |r| black_box(serve(&mut plain, &mut cx, r)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = layer(&vm).layer(Nothing);
    group.bench_function("with_layer", |b| {
        b.iter_batched(
            request,
            |r| black_box(serve(&mut layered, &mut cx, r)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    vm.shutdown();
}

fn router(metrics: Option<HttpMetrics>) -> axum::Router {
    let router = axum::Router::new().route("/hello", get(|| async { "hello" }));
    match metrics {
        Some(m) => router.layer(m),
        None => router,
    }
}

fn axum_in_process(c: &mut Criterion) {
    let vm = Arc::new(ViewManager::new());
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let request = || {
        http::Request::get("/hello")
            .body(axum::body::Body::empty())
            .expect("a static request builds")
    };
    let mut group = c.benchmark_group("tower/axum_in_process");
    let mut plain = router(None);
    group.bench_function("without_layer", |b| {
        b.iter_batched(
            request,
            |r| black_box(serve(&mut plain, &mut cx, r)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = router(Some(layer(&vm)));
    group.bench_function("with_layer", |b| {
        b.iter_batched(
            request,
            |r| black_box(serve(&mut layered, &mut cx, r)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    vm.shutdown();
}

fn axum_loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("127.0.0.1:0 binds");
    let url = format!(
        "http://{}/hello",
        listener
            .local_addr()
            .expect("a bound listener has an address")
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(async move {
        axum::serve(listener, router(None))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    c.bench_function("tower/axum_loopback/without_layer", |b| {
        b.iter(|| {
            let mut response = agent.get(&url).call().expect("the server answers");
            black_box(response.body_mut().read_to_string().expect("a text body"))
        })
    });
    let _ = stop.send(());
    let _ = runtime.block_on(server);
}

/// Answers with the status code the request's `x-status` header names.
#[derive(Clone)]
struct Echoes;

impl Service<http::Request<Fixed>> for Echoes {
    type Response = http::Response<Fixed>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<Fixed>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Fixed>) -> Self::Future {
        let status = request
            .headers()
            .get("x-status")
            .and_then(|v| http::StatusCode::from_bytes(v.as_bytes()).ok())
            .unwrap_or_default();
        let mut response = http::Response::new(Fixed(100));
        *response.status_mut() = status;
        ready(Ok(response))
    }
}

fn render_scrape(c: &mut Criterion) {
    const ROUTES: [&str; 20] = [
        "/r00", "/r01", "/r02", "/r03", "/r04", "/r05", "/r06", "/r07", "/r08", "/r09", "/r10",
        "/r11", "/r12", "/r13", "/r14", "/r15", "/r16", "/r17", "/r18", "/r19",
    ];
    let vm = Arc::new(ViewManager::new());
    let exporter = census::exporters::PrometheusExporter::builder()
        .namespace("myapp")
        .build()
        .expect("a plain exporter builds");
    vm.register_exporter(exporter.clone())
        .expect("register the exporter");
    let mut service = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .route(|req| ROUTES.iter().copied().find(|r| *r == req.path()))
        .register()
        .expect("the standard views register in a fresh manager")
        .layer(Echoes);
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    for route in ROUTES {
        for method in [http::Method::GET, http::Method::POST, http::Method::PUT] {
            for status in ["200", "404", "500", "503"] {
                let request = http::Request::builder()
                    .method(method.clone())
                    .uri(route)
                    .header("x-status", status)
                    .body(Fixed(10))
                    .expect("a request of static parts builds");
                serve(&mut service, &mut cx, request);
            }
        }
    }
    c.bench_function("tower/render_scrape", |b| {
        b.iter(|| black_box(exporter.render()))
    });
    vm.shutdown();
}

criterion_group!(benches, noop, axum_in_process, axum_loopback, render_scrape);
criterion_main!(benches);
