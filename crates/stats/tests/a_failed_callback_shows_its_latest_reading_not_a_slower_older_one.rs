//! A callback view of running totals whose call fails shows the rows of
//! its latest reading again. Two snapshots at once (a pull during a
//! period) call it side by side, and the one that began first may return
//! last: its older reading must not become the one shown. Before, the
//! reading that returned last was kept, so a failed call after it showed
//! a count that had gone back (12, then 11), which a `Delta` takes for a
//! restart and passes whole again (QA of issue #12).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, AggregationData, MeasureI64, TagMap, View, ViewData};
use census_testkit::*;

fn count_in(batch: &[ViewData]) -> Option<AggregationData> {
    let data = batch.iter().find(|d| d.view.name() == "jobs/done")?;
    data.rows.first().map(|r| r.data.clone())
}

#[test]
fn an_older_reading_returning_late_does_not_replace_a_newer_one() -> Result<(), census_core::Error>
{
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let vm = Arc::new(vm);
    // Long enough that neither call below overruns it.
    vm.set_callback_budget(Duration::from_secs(20));
    let done = MeasureI64::new("jobs/done", "jobs done", "1")?;
    let total = Arc::new(AtomicI64::new(11));
    let (hold, failing) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
    );
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let (release, release_rx) = crossbeam_channel::unbounded::<()>();
    {
        let (total, hold, failing) = (Arc::clone(&total), Arc::clone(&hold), Arc::clone(&failing));
        vm.register_callback(
            View::builder("jobs/done", &done)
                .aggregation(Aggregation::Count)
                .build()?,
            move |out| {
                assert!(
                    !failing.load(SeqCst),
                    "the library behind the callback failed"
                );
                out.observe(&TagMap::new(), total.load(SeqCst));
                // The first call (the pull's) is slow after its reading.
                if hold.swap(false, SeqCst) {
                    let _ = entered_tx.send(());
                    let _ = release_rx.recv();
                }
            },
        )?;
    }
    let (capture, calls) = CapturingExporter::new();
    vm.register_exporter(capture)?;

    // A pull reads 11 and is slow to return.
    let puller = Arc::clone(&vm);
    let pull = std::thread::spawn(move || puller.retrieve_data("jobs/done"));
    entered
        .recv_timeout(PATIENCE)
        .expect("the pull's call began");

    // Meanwhile a period reads 12 and is exported.
    total.store(12, SeqCst);
    clock.advance(period);
    assert_eq!(
        count_in(&calls.next_export()),
        Some(AggregationData::Count(12))
    );

    // The pull's older reading returns after it.
    drop(release);
    let pulled = pull.join().expect("the pull returned")?;
    assert_eq!(pulled.rows[0].data, AggregationData::Count(11));

    // The next call fails: the view shows its latest reading, 12, again.
    failing.store(true, SeqCst);
    clock.advance(period);
    assert_eq!(
        count_in(&calls.next_export()),
        Some(AggregationData::Count(12)),
        "a failed call shows the latest reading, not an older one that returned late"
    );
    vm.shutdown();
    Ok(())
}
