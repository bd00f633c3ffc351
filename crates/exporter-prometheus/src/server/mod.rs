//! The embedded `/metrics` endpoint: one I/O thread running a readiness
//! loop over every connection, and a few render threads. See
//! docs/exporters.md ("What the endpoint tolerates") for the threat model.

mod connection;
mod event_loop;
pub(crate) mod limits;
mod render_pool;
mod request;
mod response;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle, ThreadId};

use census_core::Error;
use mio::{Interest, Poll, Waker};
use parking_lot::Mutex;

use crate::exporter::Shared;
use event_loop::{EventLoop, LISTENER, WAKER};
use render_pool::RenderQueue;

pub(crate) use response::Status;

/// The path scrapes are answered on.
pub const METRICS_PATH: &str = "/metrics";

/// A running `/metrics` endpoint, returned by
/// [`PrometheusExporter::serve`](crate::PrometheusExporter::serve).
///
/// The endpoint stops when [`stop`](PrometheusServerHandle::stop) is
/// called, when the exporter is shut down by its view manager, or when the
/// exporter's last clone is dropped, whichever comes first; dropping the
/// handle leaves it serving. Stopping closes
/// every connection and the port without waiting on any client; it waits
/// only for renders in progress.
#[derive(Debug)]
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

    /// Stops the endpoint and waits for its threads: when it returns the
    /// port is closed, also when the exporter's shutdown stops the
    /// endpoint at the same time (whichever comes second waits for the
    /// first). Stopping twice is harmless.
    pub fn stop(self) {
        self.server.stop();
    }
}

/// The shared state of one endpoint, held by the exporter (which stops it
/// on shutdown, or when its last clone is dropped) and by the handle.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    waker: Arc<Waker>,
    queue: Arc<RenderQueue>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The endpoint's own threads, which never wait for a stop (a render
    /// that shuts the exporter down runs on one of them).
    own: Mutex<Vec<ThreadId>>,
    /// Held for the whole of a stop, joins included, so that a second
    /// `stop` (the handle's racing the manager's shutdown) returns only
    /// once the endpoint's threads are gone and its port closed.
    stopping_lock: Mutex<()>,
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
    /// Whether the endpoint has stopped, its threads joined. A stop takes
    /// the threads first and holds `stopping_lock` until they are joined:
    /// an endpoint still stopping is not stopped, so the exporter keeps
    /// it and its shutdown waits for that stop.
    pub(crate) fn is_stopped(&self) -> bool {
        self.threads.lock().is_empty() && !self.stopping_lock.is_locked()
    }

    /// Stops the I/O thread (which closes the port and every connection on
    /// its way out) and the render threads, and waits for them. Bounded by
    /// the longest render in progress: no thread of the endpoint ever
    /// waits on a client. A stop that finds another in progress waits for
    /// it to finish, unless it runs on one of the endpoint's own threads.
    pub(crate) fn stop(&self) {
        let me = thread::current().id();
        let _stopping = if self.own.lock().contains(&me) {
            // A render thread stopping its own endpoint: if another thread
            // is stopping it already, that one waits for this thread, so
            // waiting here in turn would never end.
            match self.stopping_lock.try_lock() {
                Some(guard) => guard,
                None => return,
            }
        } else {
            self.stopping_lock.lock()
        };
        let threads = std::mem::take(&mut *self.threads.lock());
        if threads.is_empty() {
            return;
        }
        // Release pairs with the I/O thread's Acquire load after each
        // wake-up; the flag publishes nothing else.
        self.stopping.store(true, Ordering::Release);
        self.queue.stop();
        if let Err(err) = self.waker.wake() {
            // The I/O thread still sees the flag within a second.
            log::warn!("could not wake the Prometheus endpoint's I/O thread: {err}");
        }
        for thread in threads {
            // A render that shuts the exporter down cannot wait for
            // itself; its thread ends when the render returns.
            if thread.thread().id() != me && thread.join().is_err() {
                log::error!("a Prometheus endpoint thread panicked");
            }
        }
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
    // The standard library listens with a backlog of 128: connections the
    // I/O thread has not accepted yet wait there, and past it the system
    // refuses them.
    let listener = TcpListener::bind(target).map_err(|err| {
        cannot_listen(format!(
            "cannot listen there: {err}; pick a free port, or port 0 for any"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|err| cannot_listen(format!("cannot read the bound address: {err}")))?;
    let cannot_start =
        |err: std::io::Error| cannot_listen(format!("cannot start the endpoint: {err}"));
    listener.set_nonblocking(true).map_err(cannot_start)?;
    let mut listener = mio::net::TcpListener::from_std(listener);
    let poll = Poll::new().map_err(cannot_start)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(cannot_start)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(cannot_start)?);
    let queue = Arc::new(RenderQueue::default());
    let (done, rendered) = mpsc::channel();
    let stopping = Arc::new(AtomicBool::new(false));
    let server = Arc::new(Server {
        addr: local,
        stopping: Arc::clone(&stopping),
        waker: Arc::clone(&waker),
        queue: Arc::clone(&queue),
        threads: Mutex::new(Vec::new()),
        own: Mutex::new(Vec::new()),
        stopping_lock: Mutex::new(()),
    });
    let keep = |server: &Server, thread: JoinHandle<()>| {
        server.own.lock().push(thread.thread().id());
        server.threads.lock().push(thread);
    };
    let cannot_spawn = |server: &Server, err: std::io::Error| {
        server.stop();
        cannot_listen(format!("cannot start a server thread: {err}"))
    };
    for index in 0..shared.limits().render_threads {
        match render_pool::start_thread(index, &queue, &shared, &done, &waker) {
            Ok(thread) => keep(&server, thread),
            Err(err) => return Err(cannot_spawn(&server, err)),
        }
    }
    drop(done);
    let event_loop = EventLoop::new(
        poll,
        listener,
        local,
        Arc::clone(&shared),
        queue,
        rendered,
        stopping,
    );
    let io = thread::Builder::new()
        .name("census-prom-io".into())
        .spawn(move || event_loop.run());
    match io {
        Ok(thread) => keep(&server, thread),
        Err(err) => return Err(cannot_spawn(&server, err)),
    }
    shared.track(&server)?;
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
