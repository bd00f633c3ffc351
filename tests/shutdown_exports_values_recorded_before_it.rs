//! Shutdown drains: every value recorded before `shutdown()` is called is
//! in the final export, even with 8 threads recording up to the call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};

use census_testkit::{int_sum, record, row_in, sum_of, sum_view, view_in, CapturingExporter};

#[test]
fn final_batch_holds_everything_recorded_by_eight_busy_threads() -> Result<(), census::Error> {
    const THREADS: usize = 8;
    let m = MeasureI64::new("work", "", "1")?;
    let key = TagKey::new("thread")?;
    let vm = Arc::new(ViewManager::new());
    vm.register_view(
        View::builder("work_total", &m)
            .tag_keys([key.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    // A long period: the only export is the final one.
    vm.set_reporting_period(Duration::from_secs(3600));

    let stop = Arc::new(AtomicBool::new(false));
    let done: Arc<Vec<AtomicU64>> = Arc::new((0..THREADS).map(|_| AtomicU64::new(0)).collect());
    let ready = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (vm, m, stop, done, ready) = (
                Arc::clone(&vm),
                m.clone(),
                Arc::clone(&stop),
                Arc::clone(&done),
                Arc::clone(&ready),
            );
            let tags = TagMap::new().with(&key, t.to_string());
            thread::spawn(move || -> Result<(), census::Error> {
                let tags = tags?;
                ready.wait();
                while !stop.load(Ordering::Relaxed) {
                    MeasurementMap::new().put(&m, 1).record_to(&vm, &tags);
                    // Release: whoever reads this count also sees the
                    // record it counts.
                    done[t].fetch_add(1, Ordering::Release);
                }
                Ok(())
            })
        })
        .collect();
    ready.wait();
    // Let every thread get going, then shut down while they still record.
    while done.iter().any(|d| d.load(Ordering::Acquire) < 1_000) {
        thread::yield_now();
    }
    let before: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();
    vm.shutdown();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("recording thread panicked")?;
    }
    let after: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();

    let final_batch = captured.last_export().expect("a final export");
    assert_eq!(captured.shutdowns(), 1);
    let data = view_in(&final_batch, "work_total");
    for t in 0..THREADS {
        let exported = row_in(data, &[Some(&t.to_string())]).map_or(0, |r| int_sum(&r.data)) as u64;
        assert!(
            exported >= before[t] && exported <= after[t],
            "thread {t}: exported {exported}, recorded {} before shutdown and {} in all",
            before[t],
            after[t]
        );
    }
    Ok(())
}

#[test]
fn a_value_recorded_just_before_shutdown_is_exported() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    vm.set_reporting_period(Duration::from_secs(3600));
    record(&vm, &m, 41);
    record(&vm, &m, 1);
    vm.shutdown();
    let final_batch = captured.last_export().expect("a final export");
    assert_eq!(sum_of(&final_batch, "v"), 42);
    Ok(())
}

#[test]
fn shutdown_twice_is_harmless_and_later_records_are_ignored() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    record(&vm, &m, 5);
    vm.shutdown();
    vm.shutdown();
    record(&vm, &m, 100);
    // Borrowed tags are ignored alike.
    MeasurementMap::new().put(&m, 100).record_tags_to(&vm, &[]);
    assert_eq!(captured.shutdowns(), 1);
    assert_eq!(captured.exports().len(), 1);
    assert_eq!(int_sum(&vm.retrieve_data("v")?.rows[0].data), 5);
    Ok(())
}

#[test]
fn dropping_the_guard_drains() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    {
        let _census = vm.shutdown_guard();
        record(&vm, &m, 7);
    }
    assert!(vm.is_shut_down());
    assert_eq!(captured.shutdowns(), 1);
    let final_batch = captured.last_export().expect("a final export");
    assert_eq!(sum_of(&final_batch, "v"), 7);
    Ok(())
}
