//! A service serving `/metrics` from its own router may be scraped while
//! `shutdown` drains the other exporters (up to the shutdown timeout) and
//! after. `render()` then still shows every value: it used to answer an
//! empty exposition from the moment `shutdown` began, so the scraper
//! marked every series stale instead of reading the last values. After
//! the drain's snapshot it shows that final batch, and runs no callback:
//! the service may have closed what its callbacks read.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use census_core::{Aggregation, ExportError, Exporter, MeasureI64, TagMap, View, ViewData};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{parse, TestResult};

/// An exporter whose shutdown waits until the test lets it finish.
struct SlowToShutDown(parking_lot::Mutex<mpsc::Receiver<()>>);

impl Exporter for SlowToShutDown {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Ok(())
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        let _ = self.0.lock().recv_timeout(Duration::from_secs(10));
        Ok(())
    }
}

#[test]
fn render_shows_the_values_while_shutdown_drains_and_after() -> TestResult {
    let vm = ViewManager::new();
    let requests = MeasureI64::new("last/requests", "requests", "1")?;
    vm.register_view(
        View::builder("last/requests", &requests)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let depth = MeasureI64::new("last/depth", "queue depth", "1")?;
    vm.register_callback(
        View::builder("last/depth", &depth)
            .aggregation(Aggregation::LastValue)
            .build()?,
        move |out| {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            out.observe(&TagMap::new(), n as i64);
        },
    )?;
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    let (finish, wait) = mpsc::channel();
    vm.register_exporter(SlowToShutDown(parking_lot::Mutex::new(wait)))?;
    MeasurementMap::new()
        .put(&requests, 5)
        .record_to(&vm, &TagMap::new());
    let value = |body: &str| -> Result<Option<f64>, String> {
        Ok(parse(body, false)?.find("last_requests_total", &[]))
    };
    assert_eq!(value(&exporter.render().1)?, Some(5.0));

    let during = std::thread::scope(|s| {
        let drain = s.spawn(|| vm.shutdown());
        // Shutdown has begun once the manager says so; the slow exporter
        // holds the drain open until the render below is done.
        while !vm.is_shut_down() {
            std::thread::yield_now();
        }
        let during = exporter.render().1;
        let _ = finish.send(());
        let report = drain.join();
        (during, report)
    });
    let (during, report) = during;
    assert!(report.is_ok_and(|r| r.is_complete()));
    assert_eq!(value(&during)?, Some(5.0), "during the drain:\n{during}");
    let after = exporter.render().1;
    assert_eq!(value(&after)?, Some(5.0), "after shutdown");
    // The final batch's reading of the callback (the render during the
    // drain may have called it once more, before or after the final
    // snapshot), and no call once shutdown returned.
    let read = calls.load(Ordering::SeqCst);
    let depth = parse(&after, false)?.find("last_depth", &[]);
    assert!(
        depth.is_some_and(|d| d >= 1.0 && d <= read as f64),
        "{depth:?} of {read} calls:\n{after}"
    );
    exporter.render();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        read,
        "a callback ran after shutdown"
    );
    Ok(())
}
