//! The embedded `/metrics` endpoint.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use census_core::Error;
use parking_lot::Mutex;
use tiny_http::{Header, Method, Request, Response};

use crate::exporter::Shared;
use crate::format::PrometheusFormat;
use crate::self_metrics::Refusal;

/// The path scrapes are answered on.
pub const METRICS_PATH: &str = "/metrics";

/// Threads answering requests. Two let one slow client (a scrape being
/// written to a congested socket) not hold up another scraper; rendering
/// takes no lock, so more would only add memory.
const WORKERS: usize = 2;

/// A running `/metrics` endpoint, returned by
/// [`PrometheusExporter::serve`](crate::PrometheusExporter::serve).
///
/// The endpoint stops when the handle is dropped, when
/// [`stop`](PrometheusServerHandle::stop) is called, or when the exporter is shut
/// down by its view manager, whichever comes first. Stopping waits for the
/// requests being answered and frees the port.
#[derive(Debug)]
#[must_use = "the endpoint stops when its handle is dropped"]
pub struct PrometheusServerHandle {
    server: Arc<Server>,
}

impl PrometheusServerHandle {
    /// The address the endpoint listens on (with the real port when port 0
    /// was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The endpoint's URL, such as `http://127.0.0.1:9464/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}{METRICS_PATH}", self.server.addr)
    }

    /// Stops the endpoint and waits for its threads. Stopping twice is
    /// harmless.
    pub fn stop(self) {
        self.server.stop();
    }
}

impl Drop for PrometheusServerHandle {
    fn drop(&mut self) {
        self.server.stop();
    }
}

/// The shared state of one endpoint: the exporter keeps a weak reference to
/// stop it on shutdown, the handle a strong one.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: AtomicBool,
    http: Mutex<Option<Arc<tiny_http::Server>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("stopping", &self.stopping.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Server {
    pub(crate) fn stop(&self) {
        // Release pairs with the workers' Acquire load: a worker woken by
        // `unblock` must see the flag to tell a stop from an accept error.
        self.stopping.store(true, Ordering::Release);
        let http = self.http.lock().take();
        let workers = std::mem::take(&mut *self.workers.lock());
        let Some(http) = http else {
            return;
        };
        // tiny_http wakes one blocked receiver per `unblock`.
        for _ in &workers {
            http.unblock();
        }
        let me = thread::current().id();
        for worker in workers {
            // A request handler that shuts the exporter down cannot wait
            // for itself; its thread ends when the handler returns.
            if worker.thread().id() != me && worker.join().is_err() {
                log::error!("a Prometheus endpoint thread panicked");
            }
        }
        // Dropping the last reference closes the listening socket.
        drop(http);
        log::info!("stopped the Prometheus endpoint on {}", self.addr);
    }
}

/// Resolves `addr`: `host:port`, or a bare port (`9464` or `:9464`), which
/// means loopback.
fn resolve(addr: &str) -> Result<SocketAddr, Error> {
    let invalid = |reason: String| Error::InvalidConfig {
        what: "listen address".into(),
        value: addr.into(),
        reason,
    };
    let port_only = addr.strip_prefix(':').unwrap_or(addr);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)));
    }
    match addr.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(|| {
            invalid("it resolves to no address; use an address such as \"127.0.0.1:9464\"".into())
        }),
        Err(err) => Err(invalid(format!(
            "{err}; use \"host:port\" such as \"127.0.0.1:9464\", or a bare port for loopback"
        ))),
    }
}

pub(crate) fn start(addr: &str, shared: Arc<Shared>) -> Result<PrometheusServerHandle, Error> {
    let target = resolve(addr)?;
    let cannot_listen = |reason: String| Error::InvalidConfig {
        what: "listen address".into(),
        value: addr.into(),
        reason,
    };
    let listener = TcpListener::bind(target).map_err(|err| {
        cannot_listen(format!(
            "cannot listen there: {err}; pick a free port, or port 0 for any"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|err| cannot_listen(format!("cannot read the bound address: {err}")))?;
    let http = tiny_http::Server::from_listener(listener, None)
        .map(Arc::new)
        .map_err(|err| cannot_listen(format!("cannot start the HTTP server: {err}")))?;
    let server = Arc::new(Server {
        addr: local,
        stopping: AtomicBool::new(false),
        http: Mutex::new(Some(Arc::clone(&http))),
        workers: Mutex::new(Vec::with_capacity(WORKERS)),
    });
    for i in 0..WORKERS {
        let (http, server_ref, shared) =
            (Arc::clone(&http), Arc::clone(&server), Arc::clone(&shared));
        let spawned = thread::Builder::new()
            .name(format!("census-prometheus-{i}"))
            .spawn(move || work(&http, &server_ref, &shared));
        match spawned {
            Ok(worker) => server.workers.lock().push(worker),
            Err(err) => {
                server.stop();
                return Err(cannot_listen(format!(
                    "cannot start a server thread: {err}"
                )));
            }
        }
    }
    shared.track(&server);
    if local.ip().is_loopback() {
        log::info!("serving Prometheus metrics on http://{local}{METRICS_PATH}");
    } else {
        log::info!(
            "serving Prometheus metrics on http://{local}{METRICS_PATH}, reachable beyond this \
             host"
        );
    }
    Ok(PrometheusServerHandle { server })
}

fn work(http: &tiny_http::Server, server: &Server, shared: &Shared) {
    loop {
        match http.recv() {
            Ok(request) => answer(request, shared),
            Err(err) => {
                if server.stopping.load(Ordering::Acquire) {
                    return;
                }
                log::warn!(
                    "the Prometheus endpoint on {} failed to accept: {err}",
                    server.addr
                );
            }
        }
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn answer(request: Request, shared: &Shared) {
    let path = request.url().split('?').next().unwrap_or_default();
    let method = request.method().clone();
    let result = if path != METRICS_PATH {
        shared.self_metrics().refused(Refusal::NotFound);
        let body = format!("not found: metrics are served at {METRICS_PATH}\n");
        request.respond(Response::from_string(body).with_status_code(404))
    } else if !matches!(method, Method::Get | Method::Head) {
        shared.self_metrics().refused(Refusal::MethodNotAllowed);
        let mut response = Response::from_string(format!("method {method} not allowed: use GET\n"))
            .with_status_code(405);
        if let Some(allow) = header("Allow", "GET, HEAD") {
            response = response.with_header(allow);
        }
        request.respond(response)
    } else {
        let accept = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Accept"))
            .map(|h| h.value.as_str());
        let format = PrometheusFormat::from_accept(accept);
        let body = shared.render(format);
        let mut response = Response::from_string(body);
        if let Some(content_type) = header("Content-Type", format.content_type()) {
            response = response.with_header(content_type);
        }
        shared.self_metrics().scraped(format);
        request.respond(response)
    };
    if let Err(err) = result {
        shared.self_metrics().response_failed();
        log::debug!("could not send a Prometheus endpoint response: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ports_mean_loopback() -> Result<(), Error> {
        assert_eq!(resolve("9464")?.to_string(), "127.0.0.1:9464");
        assert_eq!(resolve(":0")?.ip(), Ipv4Addr::LOCALHOST);
        assert_eq!(resolve("0.0.0.0:9464")?.ip().to_string(), "0.0.0.0");
        assert!(matches!(
            resolve("not an address"),
            Err(Error::InvalidConfig { .. })
        ));
        Ok(())
    }
}
