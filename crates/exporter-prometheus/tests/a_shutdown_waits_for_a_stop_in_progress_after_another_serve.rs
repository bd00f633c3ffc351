//! An endpoint whose `stop()` is still joining a render stays the
//! exporter's until it has stopped: serving a second endpoint meanwhile
//! must not drop it from the exporter's list, or the exporter's shutdown
//! returns while that render still runs. Before, `serve` took a stopping
//! endpoint for stopped and forgot it.

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_prometheus::PrometheusExporter;
use support::held_render::{scrape_until_closed, shutdown_on_a_thread, HeldRender};
use support::TestResult;

#[test]
fn the_shutdown_waits_for_the_first_endpoint() -> TestResult {
    let exporter = PrometheusExporter::builder().self_metrics(false).build()?;
    let (producer, held) = HeldRender::new();
    exporter.attach(producer);
    let first = exporter.serve("127.0.0.1:0")?;
    let addr = first.local_addr();

    let (scraper, closed) = scrape_until_closed(addr);
    held.started.recv_timeout(Duration::from_secs(10))?;
    let stopping = std::thread::spawn(move || first.stop());
    assert!(closed.recv_timeout(Duration::from_secs(10))?);

    // The first endpoint is stopping, its render held.
    let second = exporter.serve("127.0.0.1:0")?;

    let (shutdown, returned) = shutdown_on_a_thread(&exporter, &held);
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
