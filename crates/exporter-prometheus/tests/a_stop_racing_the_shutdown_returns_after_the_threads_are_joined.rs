//! Two stops of one endpoint at once (the handle's `stop()` and the
//! manager's shutdown of the exporter): the second returns only once the
//! first has joined the endpoint's threads, so when either returns no
//! render is running and the port is closed. Before, the second found the
//! threads taken and returned at once, while a render was still running.

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
fn the_second_stop_waits_for_the_first_to_join() -> TestResult {
    let exporter = PrometheusExporter::builder().self_metrics(false).build()?;
    let (producer, held) = HeldRender::new();
    exporter.attach(producer);
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let (closed_tx, closed) = mpsc::channel();
    let scraper = std::thread::spawn(move || -> Result<(), String> {
        let mut connection = RawConnection::open(addr).map_err(|e| e.to_string())?;
        connection
            .send(b"GET /metrics HTTP/1.1\r\n\r\n")
            .map_err(|e| e.to_string())?;
        // The I/O thread closes every connection as the first stop begins.
        let _ = closed_tx.send(connection.closed_by_server());
        Ok(())
    });
    held.started.recv_timeout(Duration::from_secs(10))?;
    let first = std::thread::spawn(move || endpoint.stop());
    assert!(closed.recv_timeout(Duration::from_secs(10))?);

    let (returned_tx, returned) = mpsc::channel();
    let shutdown_exporter = exporter.clone();
    let render_done = Arc::clone(&held.finished);
    let second = std::thread::spawn(move || {
        let outcome = shutdown_exporter.shutdown();
        let _ = returned_tx.send(render_done.load(Ordering::SeqCst));
        outcome
    });
    // Give the second stop a second to return early (the defect); the
    // render is still held, so a correct stop is still waiting.
    if let Ok(render_finished) = returned.recv_timeout(Duration::from_secs(1)) {
        panic!("the exporter's shutdown returned while a render ran (finished: {render_finished})");
    }
    held.release.send(())?;
    assert!(returned.recv_timeout(Duration::from_secs(10))?);
    assert!(held.finished.load(Ordering::SeqCst));
    // Whichever stop returned, the port is free again.
    drop(std::net::TcpListener::bind(addr)?);
    second.join().map_err(|_| "shutdown panicked")??;
    first.join().map_err(|_| "stop panicked")?;
    scraper.join().map_err(|_| "scraper panicked")??;
    Ok(())
}
