//! An exporter that panics and one that returns errors do not stop a
//! healthy exporter from receiving every period.

use std::time::Duration;

use census::ViewManager;

mod support;
use support::{capturing, record, sum_view, wait_for_v, FailingExporter, PanickingExporter};

#[test]
fn healthy_exporter_receives_every_period() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm)?;
    // Registered first, so on a single shared thread they would run before
    // the healthy one; each exporter has its own thread, and the worker
    // must survive them either way.
    vm.register_exporter(PanickingExporter)?;
    vm.register_exporter(FailingExporter)?;
    let (healthy, batches, shutdowns) = capturing();
    vm.register_exporter(healthy)?;
    vm.set_reporting_period(Duration::from_millis(20));

    for expected in 1..=3 {
        record(&vm, &m, 1);
        // Wait for a batch that shows this period's value.
        wait_for_v(&batches, expected);
    }
    // The bad exporters run on their own threads; wait (bounded) until
    // they too have been called three times, each failure counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = vm.stats();
        if stats.export_errors >= 3 && stats.export_panics >= 3 {
            break stats;
        }
        assert!(std::time::Instant::now() < deadline, "{stats:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    let report = vm.shutdown();
    // Both bad exporters are reported by name (issue #16: the failing one
    // used to pass as complete), the healthy one is not.
    let failed: Vec<&str> = report.failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(failed.len(), 2, "{report:?}");
    assert!(
        failed.iter().any(|n| n.contains("PanickingExporter")),
        "{report:?}"
    );
    let (_, why) = report
        .failed
        .iter()
        .find(|(n, _)| n.contains("FailingExporter"))
        .expect("the failing exporter is named");
    assert!(
        why.contains("exports failed") && why.contains("backend down"),
        "{why}"
    );
    assert!(!report.is_complete());
    assert!(report.unfinished.is_empty(), "{report:?}");
    // The final export and shutdown reach the healthy exporter too.
    assert_eq!(shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(vm.stats().export_panics >= stats.export_panics + 2);
    Ok(())
}
