//! An exporter that panics and one that returns errors do not stop a
//! healthy exporter from receiving every period.

use std::time::Duration;

use census::{ManualClock, ViewManager};

mod support;
use support::{capturing, record, sum_view, wait_for_v, FailingExporter, PanickingExporter};

#[test]
fn healthy_exporter_receives_every_period() -> Result<(), census::Error> {
    let clock = ManualClock::new();
    let period = Duration::from_secs(10);
    let vm = ViewManager::builder()
        .clock(clock.clone())
        .reporting_period(period)
        .build();
    let m = sum_view(&vm)?;
    // Registered first, so on a single shared thread they would run before
    // the healthy one; each exporter has its own thread, and the worker
    // must survive them either way.
    vm.register_exporter(PanickingExporter)?;
    vm.register_exporter(FailingExporter)?;
    let (healthy, batches, shutdowns) = capturing();
    vm.register_exporter(healthy)?;

    let mut stats = vm.stats();
    for expected in 1..=3 {
        record(&vm, &m, 1);
        clock.advance(period);
        // The batch of the period that just ended shows this value.
        wait_for_v(&batches, expected);
        // The bad exporters run on their own threads; wait (bounded) until
        // they too have had this period's batch, each failure counted,
        // before the next period replaces it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        stats = loop {
            let stats = vm.stats();
            let n = expected as u64;
            if stats.export_errors >= n && stats.export_panics >= n {
                break stats;
            }
            assert!(std::time::Instant::now() < deadline, "{stats:?}");
            std::thread::yield_now();
        };
    }
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
