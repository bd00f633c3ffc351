//! Once a route's rows exist, a request through the layer allocates
//! nothing: not for its tags (route templates longer than any inline
//! buffer included), not for recording, not for its future. Counted by a
//! global allocator, per thread, so tests running beside it do not count.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use census_core::Row;
use census_stats::ViewManager;
use census_tower::HttpMetrics;
use http::{Method, Request, Response, StatusCode};
use support::noop_waker;
use tower_layer::Layer;
use tower_service::Service;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; `ptr` came from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Calls `service` with `request` and polls the answer once: every
/// service here answers at once.
fn serve<S, B, R>(service: &mut S, waker: &Waker, request: Request<B>) -> StatusCode
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible>,
{
    let mut cx = Context::from_waker(waker);
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the service under test answers at once"),
    }
}

/// Route templates as long as real APIs have, past 23 bytes.
const ROUTES: [&str; 3] = [
    "/api/v1/organizations/{org_id}/repositories/{repo_id}/pulls",
    "/api/v1/users/{user_id}/preferences/notifications",
    "/healthz",
];

/// A body of known length that needs no allocation.
struct Fixed(u64);

impl http_body::Body for Fixed {
    type Data = &'static [u8];
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<&'static [u8]>, Infallible>>> {
        Poll::Ready(None)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0)
    }
}

/// A service doing no work: answers with the status the request's path
/// asks for.
#[derive(Clone)]
struct Nothing;

impl Service<Request<Fixed>> for Nothing {
    type Response = Response<Fixed>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Fixed>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Fixed>) -> Self::Future {
        let status = match request.uri().path().len() % 3 {
            0 => StatusCode::OK,
            1 => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = Response::new(Fixed(17));
        *response.status_mut() = status;
        ready(Ok(response))
    }
}

fn requests(rounds: usize) -> Result<Vec<Request<Fixed>>, http::Error> {
    let paths = ["/a", "/ab", "/abc", "/nowhere"];
    let methods = [Method::GET, Method::POST, Method::DELETE];
    let mut out = Vec::new();
    for round in 0..rounds {
        for (i, path) in paths.iter().enumerate() {
            let method = methods[(round + i) % methods.len()].clone();
            out.push(
                Request::builder()
                    .method(method)
                    .uri(*path)
                    .body(Fixed(5))?,
            );
        }
    }
    Ok(out)
}

/// Every request counted in the view's rows.
fn count(rows: &[Row]) -> u64 {
    rows.iter()
        .map(|row| census_testkit::count(&row.data))
        .sum()
}

#[test]
fn a_request_through_the_layer_allocates_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let vm = Arc::new(ViewManager::new());
    let metrics = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .route(|req| match req.path() {
            "/a" => Some(ROUTES[0]),
            "/ab" => Some(ROUTES[1]),
            "/abc" => Some(ROUTES[2]),
            _ => None,
        })
        .register()?;
    let mut service = metrics.layer(Nothing);
    let waker = noop_waker();

    // Every (method, route, status) the counted run sends, a few times,
    // so that its rows and this thread's maps exist.
    for request in requests(30)? {
        serve(&mut service, &waker, request);
    }
    let counted = requests(1_000)?;
    let sent = counted.len() as u64;
    let allocations = allocations_in(|| {
        for request in counted {
            serve(&mut service, &waker, request);
        }
    });
    assert_eq!(allocations, 0, "allocations in {sent} requests");

    let requests_seen = count(&vm.retrieve_data("http.server.requests")?.rows);
    assert_eq!(requests_seen, 30 * 4 + sent, "every request was recorded");
    vm.shutdown();
    Ok(())
}

#[test]
fn the_layer_adds_no_allocation_to_an_axum_request() -> Result<(), Box<dyn std::error::Error>> {
    use axum::routing::get;
    let vm = Arc::new(ViewManager::new());
    let metrics = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .register()?;
    // axum clones a layer that holds state per request for handler routes
    // (a boxed clone, so an allocation); a layer that does nothing but hold
    // a pointer, as this one does, shows what axum spends, so the
    // difference is this layer's own.
    let state = Arc::new(());
    let router = |layered: bool| {
        let router = axum::Router::new()
            .route(ROUTES[0], get(|| async { "pulls" }))
            .route(ROUTES[1], get(|| async { StatusCode::NOT_FOUND }));
        if layered {
            router.layer(metrics.clone())
        } else {
            let state = Arc::clone(&state);
            router.layer(tower_layer::layer_fn(move |inner| {
                let _holds = &state;
                inner
            }))
        }
    };
    let waker = noop_waker();
    let paths = [
        "/api/v1/organizations/7/repositories/census/pulls",
        "/api/v1/users/42/preferences/notifications",
        "/nowhere",
    ];
    let requests = |n: usize| -> Result<Vec<Request<axum::body::Body>>, http::Error> {
        (0..n)
            .map(|i| Request::get(paths[i % paths.len()]).body(axum::body::Body::empty()))
            .collect()
    };

    let mut per_request = Vec::new();
    for layered in [false, true] {
        let mut service = router(layered);
        for request in requests(30)? {
            serve(&mut service, &waker, request);
        }
        let counted = requests(300)?;
        let allocations = allocations_in(|| {
            for request in counted {
                serve(&mut service, &waker, request);
            }
        });
        per_request.push(allocations);
    }
    assert_eq!(
        per_request[1], per_request[0],
        "allocations in 300 axum requests, through a layer that only holds a pointer and through this one"
    );
    assert!(
        per_request[0] > 0,
        "the counter sees axum's own allocations"
    );

    let seen = count(&vm.retrieve_data("http.server.requests")?.rows);
    assert_eq!(seen, 330);
    vm.shutdown();
    Ok(())
}
