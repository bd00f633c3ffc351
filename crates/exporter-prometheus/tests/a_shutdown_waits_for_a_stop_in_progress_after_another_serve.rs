//! An endpoint whose `stop()` is still joining a render stays the
//! exporter's until it has stopped: serving a second endpoint meanwhile
//! must not drop it from the exporter's list, or the exporter's shutdown
//! returns while that render still runs. Before, `serve` took a stopping
//! endpoint for stopped and forgot it.

mod support;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use census_core::Exporter;
use census_exporter_prometheus::PrometheusExporter;
use support::held_render::HeldRender;
use support::raw_client::RawConnection;
use support::TestResult;

#[test]
fn the_shutdown_waits_for_the_first_endpoint() -> TestResult {
    let exporter = PrometheusExporter::builder().self_metrics(false).build()?;
    let (producer, held) = HeldRender::new();
    exporter.attach(producer);
    let first = exporter.serve("127.0.0.1:0")?;
    let addr = first.local_addr();

    let (closed_tx, closed) = mpsc::channel();
    let scraper = std::thread::spawn(move || -> Result<(), String> {
        let mut connection = RawConnection::open(addr).map_err(|e| e.to_string())?;
        connection
            .send(b"GET /metrics HTTP/1.1\r\n\r\n")
            .map_err(|e| e.to_string())?;
        // The I/O thread closes every connection as the stop begins.
        let _ = closed_tx.send(connection.closed_by_server());
        Ok(())
    });
    held.started.recv_timeout(Duration::from_secs(10))?;
    let stopping = std::thread::spawn(move || first.stop());
    assert!(closed.recv_timeout(Duration::from_secs(10))?);

    // The first endpoint is stopping, its render held.
    let second = exporter.serve("127.0.0.1:0")?;

    let (returned_tx, returned) = mpsc::channel();
    let shutdown_exporter = exporter.clone();
    let render_done = Arc::clone(&held.finished);
    let shutdown = std::thread::spawn(move || {
        let outcome = shutdown_exporter.shutdown();
        let _ = returned_tx.send(render_done.load(Ordering::SeqCst));
        outcome
    });
    // Give the shutdown a second to return early (the defect); the render
    // is still held, so a correct shutdown is still waiting.
    if let Ok(render_finished) = returned.recv_timeout(Duration::from_secs(1)) {
        panic!("the exporter's shutdown returned while a render ran (finished: {render_finished})");
    }
    held.release.send(())?;
    assert!(returned.recv_timeout(Duration::from_secs(10))?);
    drop(std::net::TcpListener::bind(addr)?);
    drop(std::net::TcpListener::bind(second.local_addr())?);
    shutdown.join().map_err(|_| "shutdown panicked")??;
    stopping.join().map_err(|_| "stop panicked")?;
    scraper.join().map_err(|_| "scraper panicked")??;
    Ok(())
}
