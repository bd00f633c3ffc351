//! A producer whose render starts, says so, and waits to be released: a
//! render in progress for as long as a test needs one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use census_core::{ExportError, Exporter, Producer, ViewData};
use census_exporter_prometheus::PrometheusExporter;
use parking_lot::Mutex;

use super::raw_client::RawConnection;

pub struct HeldRender {
    entered: SyncSender<()>,
    release: Mutex<Receiver<()>>,
    finished: Arc<AtomicBool>,
}

/// What a test holds of a [`HeldRender`]: `started` hears of each render
/// that begins, a send on `release` lets one finish, and `finished` says
/// whether one did.
pub struct HeldRenderControl {
    pub started: Receiver<()>,
    pub release: Sender<()>,
    pub finished: Arc<AtomicBool>,
}

impl HeldRender {
    pub fn new() -> (Arc<HeldRender>, HeldRenderControl) {
        let (entered, started) = mpsc::sync_channel(4);
        let (release, released) = mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let producer = Arc::new(HeldRender {
            entered,
            release: Mutex::new(released),
            finished: Arc::clone(&finished),
        });
        let control = HeldRenderControl {
            started,
            release,
            finished,
        };
        (producer, control)
    }
}

impl Producer for HeldRender {
    fn produce(&self) -> Vec<ViewData> {
        let _ = self.entered.send(());
        let _ = self.release.lock().recv();
        self.finished.store(true, Ordering::SeqCst);
        Vec::new()
    }
}

/// A scraper on its own thread: it asks `addr` for the page (which a held
/// render keeps waiting) and says on the receiver whether the endpoint
/// then closed the connection, as its I/O thread does when a stop begins.
pub fn scrape_until_closed(addr: SocketAddr) -> (JoinHandle<Result<(), String>>, Receiver<bool>) {
    let (closed_tx, closed) = mpsc::channel();
    let scraper = std::thread::spawn(move || -> Result<(), String> {
        let mut connection = RawConnection::open(addr).map_err(|e| e.to_string())?;
        connection
            .send(b"GET /metrics HTTP/1.1\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let _ = closed_tx.send(connection.closed_by_server());
        Ok(())
    });
    (scraper, closed)
}

/// Shuts `exporter` down on its own thread; the receiver hears, when the
/// shutdown returns, whether `held`'s render had finished by then.
pub fn shutdown_on_a_thread(
    exporter: &PrometheusExporter,
    held: &HeldRenderControl,
) -> (JoinHandle<Result<(), ExportError>>, Receiver<bool>) {
    let (returned_tx, returned) = mpsc::channel();
    let exporter = exporter.clone();
    let render_done = Arc::clone(&held.finished);
    let shutdown = std::thread::spawn(move || {
        let outcome = exporter.shutdown();
        let _ = returned_tx.send(render_done.load(Ordering::SeqCst));
        outcome
    });
    (shutdown, returned)
}
