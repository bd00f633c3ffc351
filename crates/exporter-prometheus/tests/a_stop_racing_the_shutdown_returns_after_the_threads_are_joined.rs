//! Two stops of one endpoint at once (the handle's `stop()` and the
//! manager's shutdown of the exporter): the second returns only once the
//! first has joined the endpoint's threads, so when either returns no
//! render is running and the port is closed. Before, the second found the
//! threads taken and returned at once, while a render was still running.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use census_core::Exporter;
use census_exporter_prometheus::PrometheusExporter;
use support::held_render::{scrape_until_closed, shutdown_on_a_thread, HeldRender};
use support::TestResult;

#[test]
fn the_second_stop_waits_for_the_first_to_join() -> TestResult {
    let exporter = PrometheusExporter::builder().self_metrics(false).build()?;
    let (producer, held) = HeldRender::new();
    exporter.attach(producer);
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let (scraper, closed) = scrape_until_closed(addr);
    held.started.recv_timeout(Duration::from_secs(10))?;
    let first = std::thread::spawn(move || endpoint.stop());
    assert!(closed.recv_timeout(Duration::from_secs(10))?);

    let (second, returned) = shutdown_on_a_thread(&exporter, &held);
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
