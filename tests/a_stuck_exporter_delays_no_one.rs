//! An exporter whose `export` never returns delays no other exporter and
//! no recording, and shutdown still returns within its timeout, naming it.
//! (Issue 6, stuck and slow exporters.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use census::{ManualClock, ViewManager};

mod support;
use support::{capturing, hanging, record, sum_of_v, sum_view, wait_for_v, SlowExporter};

#[test]
fn stuck_exporter_is_isolated_and_named_at_shutdown() -> Result<(), census::Error> {
    let clock = ManualClock::new();
    let period = Duration::from_secs(10);
    let vm = ViewManager::builder()
        .clock(clock.clone())
        .reporting_period(period)
        .build();
    let m = sum_view(&vm)?;
    let (stuck, release) = hanging();
    vm.register_exporter(stuck)?;
    let (healthy, batches, shutdowns) = capturing();
    vm.register_exporter(healthy)?;
    vm.set_shutdown_timeout(Duration::from_millis(300));

    // The healthy exporter keeps getting fresh batches while the other one
    // is stuck in its first export.
    for expected in 1..=5 {
        record(&vm, &m, 1);
        clock.advance(period);
        wait_for_v(&batches, expected);
    }
    let started = Instant::now();
    let report = vm.shutdown();
    let took = started.elapsed();
    assert_eq!(report.unfinished, vec!["hanging".to_owned()]);
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(!report.is_complete());
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    // The healthy one got its final batch and its shutdown call.
    assert_eq!(shutdowns.load(Ordering::SeqCst), 1);
    let final_batch = batches.try_iter().last().expect("a final export");
    assert_eq!(sum_of_v(&final_batch), 5);
    // Asking again gives the same answer without waiting again.
    assert_eq!(vm.shutdown(), report);
    drop(release);
    Ok(())
}

#[test]
fn slow_exporter_does_not_pile_up_work() -> Result<(), census::Error> {
    let clock = ManualClock::new();
    let period = Duration::from_secs(10);
    let vm = ViewManager::builder()
        .clock(clock.clone())
        .reporting_period(period)
        .build();
    sum_view(&vm)?;
    let exports = Arc::new(AtomicUsize::new(0));
    // Ten times slower than the period, as a 1 s exporter at 100 ms is.
    vm.register_exporter(SlowExporter {
        delay: Duration::from_millis(100),
        exports: Arc::clone(&exports),
    })?;
    let (healthy, batches, _) = capturing();
    vm.register_exporter(healthy)?;
    let started = Instant::now();
    // Forty periods, each as soon as the fast exporter has the last one:
    // far more often than the slow one finishes a batch.
    for _ in 0..40 {
        clock.advance(period);
        batches
            .recv_timeout(Duration::from_secs(10))
            .expect("periodic batches");
    }
    let elapsed = started.elapsed();
    let stats = vm.stats();
    // The slow one handled at most one batch per 100 ms (plus the one in
    // hand); the rest were replaced by newer ones and counted, not queued.
    let max_handled = (elapsed.as_millis() / 100) as usize + 2;
    assert!(exports.load(Ordering::SeqCst) <= max_handled, "{stats:?}");
    assert!(stats.skipped_batches >= 20, "{stats:?}");
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    Ok(())
}
