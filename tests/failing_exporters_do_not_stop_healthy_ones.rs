//! An exporter that panics and one that returns errors do not stop a
//! healthy exporter from receiving every period, and each failure is
//! counted.

use std::time::Duration;

use census_testkit::{
    clocked_manager, record, sum_of, sum_view, CapturingExporter, FailingExporter,
    PanickingExporter, PATIENCE,
};

#[test]
fn healthy_exporter_receives_every_period() -> Result<(), census::Error> {
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let m = sum_view(&vm);
    // Registered first, so on a single shared thread they would run before
    // the healthy one; each exporter has its own thread, and the worker
    // must survive them either way.
    let (panicking, panicked) = PanickingExporter::new();
    let (failing, failed) = FailingExporter::new();
    vm.register_exporter(panicking)?;
    vm.register_exporter(failing)?;
    let (healthy, captured) = CapturingExporter::new();
    vm.register_exporter(healthy)?;

    for n in 1..=3 {
        record(&vm, &m, 1);
        let batch = captured.export_after(&clock, period);
        assert_eq!(sum_of(&batch, "v"), n as i64);
        // The bad exporters had this period's batch too, on their own
        // threads, before the next period replaces it.
        assert_eq!(panicked.recv_timeout(PATIENCE).ok(), Some(n));
        assert_eq!(failed.recv_timeout(PATIENCE).ok(), Some(n));
    }
    let report = vm.shutdown();
    // Both bad exporters are reported by name (issue #16: the failing one
    // used to pass as complete), the healthy one is not.
    let failed: Vec<&str> = report.failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(failed.len(), 2, "{report:?}");
    assert!(failed.contains(&"panicking"), "{report:?}");
    let (_, why) = report
        .failed
        .iter()
        .find(|(n, _)| n == "failing")
        .expect("the failing exporter is named");
    assert!(
        why.contains("exports failed") && why.contains("backend down"),
        "{why}"
    );
    assert!(!report.is_complete());
    assert!(report.unfinished.is_empty(), "{report:?}");
    // The final export and shutdown reach the healthy exporter too.
    assert_eq!(captured.shutdowns(), 1);
    assert_eq!(
        sum_of(&captured.last_export().expect("a final batch"), "v"),
        3
    );
    // Every failure counted: three periods and the final export each, and
    // the panicking exporter's shutdown.
    let stats = vm.stats();
    assert_eq!(
        (stats.export_errors, stats.export_panics),
        (4, 5),
        "{stats:?}"
    );
    Ok(())
}
