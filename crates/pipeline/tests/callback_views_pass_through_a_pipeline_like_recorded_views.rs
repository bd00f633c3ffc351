//! A pipeline sees callback views like any other: registration checks go
//! through its processors, exports carry them processed, and Delta turns a
//! callback's running totals into changes. A call that fails shows the
//! previous total again, so Delta sees no change instead of counting the
//! whole total anew when the next call succeeds (issue #12).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use census_core::{
    Aggregation, AggregationData, MeasureI64, Number, Processor, TagMap, View, ViewData,
};
use census_pipeline::{ConstTags, Delta, Pipeline, Rename};
use census_stats::ViewManager;
use census_testkit::*;

#[test]
fn a_pipeline_exports_callback_views_processed() -> Result<(), census_core::Error> {
    let jobs = MeasureI64::new("queue/jobs", "jobs queued", "1")?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    let (capture, calls) = CapturingExporter::new();
    let capture = capture.refusing("shop/queue/refused");
    vm.register_exporter(
        Pipeline::new(capture)
            .with(ConstTags::new([("service", "checkout")])?)
            .with(Rename::prefix("shop/")?)
            .with(Delta::new()),
    )?;
    let total = Arc::new(AtomicI64::new(10));
    let reader = Arc::clone(&total);
    vm.register_callback(
        View::builder("queue/jobs", &jobs)
            .aggregation(Aggregation::Sum)
            .build()?,
        move |out| out.observe(&TagMap::new(), reader.load(Relaxed)),
    )?;
    // The exporter is asked about the view as the pipeline will show it.
    let refused = vm.register_callback(
        View::builder("queue/refused", &jobs)
            .aggregation(Aggregation::Sum)
            .build()?,
        |_| {},
    );
    assert!(
        matches!(refused, Err(census_core::Error::ViewRejected { .. })),
        "{refused:?}"
    );
    total.store(15, Relaxed);
    vm.shutdown();
    let batch = calls.next_export();
    let view = batch
        .iter()
        .find(|v| v.view.name() == "shop/queue/jobs")
        .unwrap_or_else(|| panic!("shop/queue/jobs missing from {batch:?}"));
    assert_eq!(view.view.tag_keys()[0].name(), "service");
    assert_eq!(
        view.rows[0].tags[0].as_ref().map(|v| v.as_str()),
        Some("checkout")
    );
    // The first delta of a row is its whole total.
    assert_eq!(view.rows[0].data, AggregationData::Sum(Number::Int(15)));
    Ok(())
}

#[test]
fn delta_turns_callback_totals_into_changes_across_a_failed_call() -> Result<(), census_core::Error>
{
    let jobs = MeasureI64::new("queue/jobs", "jobs queued", "1")?;
    let vm = ViewManager::new();
    // Room for the panic hook's backtrace, when RUST_BACKTRACE asks for
    // one: the failed call must count as a panic, not an overrun.
    vm.set_callback_budget(Duration::from_secs(10));
    let total = Arc::new(AtomicI64::new(10));
    let reader = Arc::clone(&total);
    vm.register_callback(
        View::builder("queue/jobs", &jobs)
            .aggregation(Aggregation::Sum)
            .build()?,
        move |out| {
            let now = reader.load(Relaxed);
            // A negative total stands for "the source is broken".
            assert!(now >= 0, "the test's callback fails on purpose");
            out.observe(&TagMap::new(), now)
        },
    )?;
    let delta = Delta::new();
    let export = || -> Result<Vec<AggregationData>, census_core::Error> {
        let batch: Vec<ViewData> = delta.process(vec![vm.retrieve_data("queue/jobs")?]);
        Ok(batch[0].rows.iter().map(|r| r.data.clone()).collect())
    };
    let sum = |n| vec![AggregationData::Sum(Number::Int(n))];
    assert_eq!(export()?, sum(10));
    total.store(15, Relaxed);
    assert_eq!(export()?, sum(5));
    total.store(-1, Relaxed);
    // The failed call shows 15 again: no change, nothing passed on.
    assert_eq!(vm.retrieve_data("queue/jobs")?.rows.len(), 1);
    assert_eq!(export()?, vec![]);
    total.store(21, Relaxed);
    assert_eq!(export()?, sum(6), "not 21 counted anew");
    assert_eq!(vm.stats().callback_panics, 2);
    vm.shutdown();
    Ok(())
}
