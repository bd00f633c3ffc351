//! Callback views meet shutdown and themselves (a QA pass found three
//! ways they did not):
//!
//! - a stuck callback held the final snapshot for the whole callback
//!   budget, past the shutdown timeout (now at most half the timeout, and
//!   at least a floor, so a zero timeout still reads quick gauges);
//! - after shutdown had taken its final snapshot, `retrieve_data` (and a
//!   scrape racing shutdown, even one whose calls were already queued)
//!   still called callbacks, which may read what the service has closed;
//! - a callback reading its own view started a new thread per nesting
//!   (808 calls and threads for one `retrieve_data`); a callback reading
//!   another manager's view is no nesting and gets its reading.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagMap, View};
use census_stats::ViewManager;
use census_testkit::CapturingExporter;

fn gauge(name: &str) -> Result<View, census_core::Error> {
    View::builder(name, MeasureI64::new(format!("m/{name}"), "", "1")?)
        .aggregation(Aggregation::LastValue)
        .build()
}

#[test]
fn a_stuck_callback_does_not_hold_shutdown_past_its_timeout() -> Result<(), census_core::Error> {
    let vm = ViewManager::new();
    vm.set_callback_budget(Duration::from_secs(5));
    vm.set_shutdown_timeout(Duration::from_millis(300));
    vm.register_callback(gauge("stuck")?, |out| {
        std::thread::sleep(Duration::from_secs(10));
        out.observe(&TagMap::new(), 1);
    })?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    let started = Instant::now();
    let report = vm.shutdown();
    let took = started.elapsed();
    // The budget (5 s) used to count in full; the timeout is 300 ms.
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(captured.shutdowns(), 1);
    Ok(())
}

#[test]
fn no_callback_runs_after_the_final_snapshot() -> Result<(), census_core::Error> {
    let vm = ViewManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    vm.register_callback(gauge("depth")?, move |out| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        out.observe(&TagMap::new(), n as i64);
    })?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    assert_eq!(vm.retrieve_data("depth")?.rows.len(), 1);
    vm.shutdown();
    let made = calls.load(Ordering::SeqCst);
    let last = captured.last_export().unwrap_or_default();
    let exported = last
        .iter()
        .find(|d| d.view.name() == "depth")
        .and_then(|d| d.rows.first())
        .map(|r| r.data.clone());
    assert_eq!(
        exported,
        Some(AggregationData::LastValue(Number::Int(made as i64)))
    );
    // Read after shutdown: no call, so no new reading either.
    let data = vm.retrieve_data("depth")?;
    assert!(data.rows.is_empty(), "{data:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        made,
        "a callback ran after shutdown"
    );
    Ok(())
}

#[test]
fn a_callback_reading_its_own_view_is_called_once() -> Result<(), census_core::Error> {
    let vm = Arc::new(ViewManager::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let (inner, counted) = (Arc::clone(&vm), Arc::clone(&calls));
    vm.register_callback(gauge("self")?, move |out| {
        counted.fetch_add(1, Ordering::SeqCst);
        // Inside a callback a snapshot calls no callback: the view shows
        // what a call that could not be made shows (no LastValue row).
        let nested = inner.retrieve_data("self").map(|d| d.rows.len());
        out.observe(&TagMap::new(), nested.map_or(-1, |n| n as i64));
    })?;
    let data = vm.retrieve_data("self")?;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        data.rows.first().map(|r| r.data.clone()),
        Some(AggregationData::LastValue(Number::Int(0)))
    );
    assert_eq!(vm.stats().callback_timeouts, 0);
    vm.shutdown();
    Ok(())
}

#[test]
fn a_zero_timeout_still_reads_quick_gauges_into_the_final_batch() -> Result<(), census_core::Error>
{
    let vm = ViewManager::new();
    vm.set_shutdown_timeout(Duration::ZERO);
    vm.register_callback(gauge("quick")?, |out| out.observe(&TagMap::new(), 7))?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    vm.shutdown();
    // The exporter may not have finished by a zero timeout; its batch
    // arrives all the same.
    let last = captured.next_export();
    let quick = last
        .iter()
        .find(|d| d.view.name() == "quick")
        .map(|d| d.rows.len());
    assert_eq!(quick, Some(1));
    assert_eq!(vm.stats().callback_timeouts, 0);
    Ok(())
}

#[test]
fn a_callback_reading_another_managers_view_gets_its_reading() -> Result<(), census_core::Error> {
    let other = Arc::new(ViewManager::new());
    other.register_callback(gauge("theirs")?, |out| out.observe(&TagMap::new(), 3))?;
    let vm = ViewManager::new();
    let reader = Arc::clone(&other);
    vm.register_callback(gauge("mine")?, move |out| {
        let theirs = reader.retrieve_data("theirs").map(|d| d.rows.len());
        out.observe(&TagMap::new(), theirs.map_or(-1, |n| n as i64));
    })?;
    let data = vm.retrieve_data("mine")?;
    assert_eq!(
        data.rows.first().map(|r| r.data.clone()),
        Some(AggregationData::LastValue(Number::Int(1)))
    );
    Ok(())
}

#[test]
fn a_call_queued_before_the_final_snapshot_is_not_made_after_it() -> Result<(), census_core::Error>
{
    let vm = ViewManager::new();
    // Long enough that the pull's round recruits no second runner: its
    // second call waits behind the first.
    vm.set_callback_budget(Duration::from_secs(8));
    vm.set_shutdown_timeout(Duration::from_millis(200));
    let (slow_calls, behind_calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let slow = Arc::clone(&slow_calls);
    vm.register_callback(gauge("a_slow_first")?, move |out| {
        if slow.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        out.observe(&TagMap::new(), 1);
    })?;
    let behind = Arc::clone(&behind_calls);
    vm.register_callback(gauge("b_behind")?, move |out| {
        behind.fetch_add(1, Ordering::SeqCst);
        out.observe(&TagMap::new(), 1);
    })?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    std::thread::scope(|s| {
        let pull = s.spawn(|| captured.pull());
        while slow_calls.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        vm.shutdown();
        let at_return = behind_calls.load(Ordering::SeqCst);
        let _ = pull.join();
        assert_eq!(
            behind_calls.load(Ordering::SeqCst),
            at_return,
            "a queued call was made after shutdown returned"
        );
    });
    Ok(())
}
