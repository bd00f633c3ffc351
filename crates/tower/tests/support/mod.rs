//! What the layer's tests share: serving a request through a service that
//! answers at once, without an executor.
//!
//! Each test file uses a part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use http::Request;
use tower_service::Service;

/// Wakes nothing: every service under test answers at once.
pub struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A waker for polling services that answer at once.
pub fn noop_waker() -> Waker {
    Waker::from(Arc::new(Noop))
}

/// Calls `service` with `request` and polls the answer once; panics if
/// it is not ready, as every service under test answers at once.
pub fn serve_once<S, B>(service: &mut S, request: Request<B>) -> Result<S::Response, S::Error>
where
    S: Service<Request<B>>,
{
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(answer) => answer,
        Poll::Pending => panic!("the service under test answers at once"),
    }
}
