//! A health endpoint needs one call (issue #16): `ViewManager::health()`
//! holds the manager's own counters and, per exporter, its export counts
//! and its delivery report, which for the HTTP exporter lists every
//! counter of its `metrics()`.

mod support;

use std::time::Duration;

use census_core::{ExportError, Exporter, ViewData};
use census_exporter_http::HttpExporter;
use census_stats::ViewManager;
use census_testkit::{record, sum_view};
use support::{wait_until, Reply, TestServer};

struct Refusing;

impl Exporter for Refusing {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Err(ExportError::from("disk full"))
    }

    fn name(&self) -> &str {
        "refusing"
    }
}

#[test]
fn health_shows_each_exporter_and_its_counters() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| match req.index {
        0 => Reply::Status(503),
        _ => Reply::Status(200),
    });
    let http = HttpExporter::builder(server.url())
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(2))
        .build()?;
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    vm.register_exporter(http.clone())?;
    vm.register_exporter(Refusing)?;
    vm.set_reporting_period(Duration::from_millis(10));
    record(&vm, &m, 1);
    wait_until(
        Duration::from_secs(10),
        "a delivered batch and a refusal",
        || {
            let h = vm.health();
            h.exporters.len() == 2
                && h.exporters[0]
                    .delivery
                    .as_ref()
                    .is_some_and(|d| d.delivered >= 1)
                && h.exporters[1].export_errors >= 1
        },
    );
    let health = vm.health();
    assert!(!health.is_healthy());
    assert!(health.stats.exports >= 2);
    let (web, refusing) = (&health.exporters[0], &health.exporters[1]);
    assert!(web.name.starts_with("http exporter"), "{web:?}");
    let delivery = web.delivery.as_ref().ok_or("the HTTP exporter reports")?;
    let counter = |name: &str| {
        delivery
            .counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    };
    // The 503 was retried: every counter of metrics() is there.
    assert!(counter("retried") >= Some(1), "{delivery:?}");
    assert!(counter("status_503") == Some(1), "{delivery:?}");
    assert!(counter("sent") >= Some(1), "{delivery:?}");
    assert!(delivery.is_clean(), "retried, not lost: {delivery:?}");
    assert_eq!(refusing.name, "refusing");
    assert_eq!(refusing.delivery, None);
    assert_eq!(refusing.last_error.as_deref(), Some("disk full"));
    assert!(!refusing.is_healthy() && web.is_healthy());
    vm.shutdown();
    Ok(())
}
