//! With the endpoint hanging on every request, a ViewManager's interval
//! thread keeps exporting on time, and its shutdown ends within the
//! exporter's shutdown deadline (issue #4).

mod support;

use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_exporter_http::HttpExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{wait_until, Reply, TestServer};

#[test]
fn export_never_slows_the_interval_thread() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Hang);
    let http = HttpExporter::builder(server.url())
        .timeout(Duration::from_secs(30))
        .queue_capacity(2)
        .shutdown_deadline(Duration::from_millis(300))
        .build()?;
    let m = MeasureI64::new("slow/requests", "requests", "1")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("slow/requests", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.set_reporting_period(Duration::from_millis(20));
    vm.register_exporter(http.clone())?;

    // The first request hangs for the 30 s timeout; if export() waited on
    // it, the manager would be stuck at its first export.
    server.take(1, Duration::from_secs(10));
    let t = Instant::now();
    wait_until(Duration::from_secs(10), "20 exports", || {
        vm.stats().exports >= 20
    });
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "20 exports of a 20 ms period took {took:?}"
    );
    MeasurementMap::new()
        .put(&m, 1)
        .record_to(&vm, &TagMap::new());

    let t = Instant::now();
    vm.shutdown();
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(300 + 500),
        "shutdown took {took:?}"
    );
    let s = http.metrics();
    assert!(s.dropped > 0, "a 2-batch queue must have dropped: {s:?}");
    assert_eq!(
        s.sent + s.failed + s.dropped + s.abandoned + s.pending,
        s.enqueued,
        "{s:?}"
    );
    assert_eq!(s.pending, 0);
    assert!(s.abandoned >= 1, "{s:?}");
    Ok(())
}
