//! A callback that panics, or blocks past the callback budget, is isolated:
//! the snapshot (a pull, the final batch) still comes within about the
//! budget with every other view in it, the failed views have no new rows,
//! both are counted, and a stuck callback is not called again until it
//! returns, so it holds one thread however many snapshots pass (issue #12).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagMap, View, ViewData};
use census_stats::{MeasurementMap, ViewManager, DEFAULT_CALLBACK_BUDGET};
use census_testkit::{find_view, rows_of, CapturingExporter};

const BUDGET: Duration = Duration::from_millis(200);
/// What a loaded two-core machine may add to a snapshot beyond the budget;
/// a snapshot that waited for the stuck callback would take 30 s.
const SLACK: Duration = Duration::from_millis(250);

fn value(batch: &[ViewData], view: &str) -> Option<Vec<(Vec<String>, Option<i64>)>> {
    find_view(batch, view).map(rows_of)
}

/// The test's own panics print nothing: with RUST_BACKTRACE set, the
/// default hook's backtrace alone can take longer than the budget, and
/// the panicking callback would then count as overrunning.
fn quiet_test_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let ours = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.contains(PANIC));
        if !ours {
            default(info);
        }
    }));
}

const PANIC: &str = "a callback that panics (the test's)";

#[test]
fn failing_callbacks_cost_other_views_at_most_the_budget() -> Result<(), census_core::Error> {
    quiet_test_panics();
    let m = MeasureI64::new("iso/m", "a measure", "1")?;
    let view = |name: &str, agg: Aggregation| View::builder(name, &m).aggregation(agg).build();
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    assert_eq!(vm.callback_budget(), DEFAULT_CALLBACK_BUDGET);
    vm.set_callback_budget(BUDGET);
    assert_eq!(vm.callback_budget(), BUDGET);

    let healthy = Arc::new(AtomicI64::new(1));
    let reader = Arc::clone(&healthy);
    vm.register_callback(view("iso/healthy", Aggregation::LastValue)?, move |out| {
        out.observe(&TagMap::new(), reader.load(Relaxed))
    })?;
    vm.register_view(view("iso/recorded", Aggregation::Sum)?)?;
    vm.register_callback(view("iso/panics", Aggregation::LastValue)?, |out| {
        out.observe(&TagMap::new(), 1);
        std::panic::panic_any(PANIC);
    })?;
    // Blocks on its first call until the test releases it.
    let (release, released) = crossbeam_channel::unbounded::<()>();
    let (returned, has_returned) = crossbeam_channel::unbounded::<()>();
    let stuck_calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&stuck_calls);
    let (hold, back) = (released.clone(), returned.clone());
    vm.register_callback(view("iso/stuck", Aggregation::LastValue)?, move |out| {
        if counted.fetch_add(1, Relaxed) == 0 {
            let _ = hold.recv_timeout(Duration::from_secs(30));
            let _ = back.send(());
        }
        out.observe(&TagMap::new(), 3);
    })?;
    // A total that answers once, then blocks once: its view shows the
    // first answer again instead of nothing.
    let total_calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&total_calls);
    vm.register_callback(view("iso/total", Aggregation::Sum)?, move |out| {
        if counted.fetch_add(1, Relaxed) == 1 {
            let _ = released.recv_timeout(Duration::from_secs(30));
            let _ = returned.send(());
        }
        out.observe(&TagMap::new(), 7);
    })?;
    let (capture, captured) = CapturingExporter::new();
    vm.register_exporter(capture)?;
    MeasurementMap::new()
        .put(&m, 5)
        .record_to(&vm, &TagMap::new());

    let timed = || {
        let began = Instant::now();
        let batch = captured.pull();
        (batch, began.elapsed())
    };
    let one = || Some(vec![(Vec::<String>::new(), Some(1))]);
    let no_rows = Some(vec![]);

    // 1: the stuck callback overruns, the other one panics.
    let (batch, took) = timed();
    println!("snapshot with a stuck and a panicking callback: {took:?}");
    assert!(took < BUDGET + SLACK, "took {took:?}");
    assert_eq!(value(&batch, "iso/healthy"), one());
    assert_eq!(value(&batch, "iso/recorded"), Some(vec![(vec![], Some(5))]));
    assert_eq!(value(&batch, "iso/panics"), no_rows);
    assert_eq!(value(&batch, "iso/stuck"), no_rows);
    assert_eq!(value(&batch, "iso/total"), Some(vec![(vec![], Some(7))]));
    let stats = vm.stats();
    assert_eq!((stats.callback_panics, stats.callback_timeouts), (1, 1));

    // 2: the stuck one is not called again; the total overruns and shows
    // its last answer. Recording does not wait on either.
    healthy.store(2, Relaxed);
    let began = Instant::now();
    MeasurementMap::new()
        .put(&m, 1)
        .record_to(&vm, &TagMap::new());
    assert!(began.elapsed() < BUDGET);
    let (batch, took) = timed();
    println!("snapshot with a busy, an overrunning and a panicking callback: {took:?}");
    assert!(took < BUDGET + SLACK, "took {took:?}");
    assert_eq!(value(&batch, "iso/healthy"), Some(vec![(vec![], Some(2))]));
    assert_eq!(value(&batch, "iso/recorded"), Some(vec![(vec![], Some(6))]));
    assert_eq!(value(&batch, "iso/stuck"), no_rows);
    assert_eq!(value(&batch, "iso/total"), Some(vec![(vec![], Some(7))]));
    assert_eq!(
        stuck_calls.load(Relaxed),
        1,
        "a stuck callback was called again"
    );
    let stats = vm.stats();
    assert_eq!((stats.callback_panics, stats.callback_timeouts), (2, 3));

    // A snapshot of the healthy view alone does not wait at all.
    let began = Instant::now();
    assert_eq!(
        rows_of(&vm.retrieve_data("iso/healthy")?),
        vec![(vec![], Some(2))]
    );
    assert!(began.elapsed() < BUDGET, "took {:?}", began.elapsed());

    // Released, both return; from then on they are called and answer.
    drop(release);
    for _ in 0..2 {
        has_returned
            .recv_timeout(Duration::from_secs(10))
            .expect("the blocked callbacks return once released");
    }
    // Their runners clear the overdue mark right after the callback
    // returns; a snapshot racing with that may still find one busy.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let batch = captured.pull();
        if value(&batch, "iso/stuck") == Some(vec![(vec![], Some(3))]) {
            assert_eq!(value(&batch, "iso/total"), Some(vec![(vec![], Some(7))]));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the released callback never answered"
        );
    }
    assert_eq!(stuck_calls.load(Relaxed), 2);

    // The final batch comes within the budget too, panics and all.
    healthy.store(9, Relaxed);
    let began = Instant::now();
    let report = vm.shutdown();
    let took = began.elapsed();
    println!("shutdown with a panicking callback: {took:?}");
    assert!(took < BUDGET + SLACK, "took {took:?}");
    assert!(report.is_complete(), "{report:?}");
    let last = captured.last_export().expect("a final batch");
    assert_eq!(value(&last, "iso/healthy"), Some(vec![(vec![], Some(9))]));
    assert_eq!(value(&last, "iso/panics"), no_rows);
    Ok(())
}
