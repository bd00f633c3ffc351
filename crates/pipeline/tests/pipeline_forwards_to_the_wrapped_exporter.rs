//! A pipeline is an exporter: it runs its chain on each batch and hands
//! the result on, and forwards attach, self-metrics, name and shutdown to
//! the exporter it wraps. Other exporters see the batch unchanged.

use census_core::{Aggregation, AggregationData, Exporter, Producer, ViewData};
use census_core::{MeasureI64, TagMap, View};
use census_pipeline::{ConstTags, Pipeline, Rename};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::*;
use std::sync::Arc;

struct OwnStats;

impl Producer for OwnStats {
    fn produce(&self) -> Vec<ViewData> {
        let m = int_measure("capture/sent");
        vec![ViewData::new(
            view("capture/sent", &m, &[], Aggregation::Count),
            at(1),
            at(2),
            vec![row(&[], AggregationData::Count(11), at(1))],
        )]
    }
}

#[test]
fn the_chain_runs_on_the_batch_and_the_rest_is_forwarded() -> Result<(), census_core::Error> {
    let (inner, piped) = CapturingExporter::new();
    let inner = Arc::new(inner.contributing(Arc::new(OwnStats)));
    let (plain, unpiped) = CapturingExporter::new();
    let pipeline = Arc::new(
        Pipeline::new(Arc::clone(&inner))
            .with(ConstTags::new([("service", "checkout")])?)
            .with(Rename::prefix("shop/")?),
    );
    assert_eq!(pipeline.name(), "capture");

    let vm = ViewManager::new();
    let requests = MeasureI64::new("demo/requests", "requests", "1")?;
    vm.register_view(
        View::builder("demo/requests", &requests)
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_exporter(Arc::clone(&pipeline))?;
    vm.register_exporter(plain)?;
    assert_eq!(piped.attached(), 1);
    MeasurementMap::new()
        .put(&requests, 1)
        .record_to(&vm, &TagMap::new());
    vm.shutdown();

    // Shutdown exports once more, then shuts the wrapped exporter down.
    let batch = piped.next_export();
    assert_eq!(piped.next_call(), Call::Shutdown);
    let names: Vec<&str> = batch.iter().map(|d| d.view.name()).collect();
    // The exporter's own self-metrics joined the batch and went through
    // the chain like recorded views.
    assert_eq!(names, ["shop/demo/requests", "shop/capture/sent"]);
    for data in &batch {
        let keys: Vec<&str> = data.view.tag_keys().iter().map(|k| k.name()).collect();
        assert_eq!(keys, ["service"]);
    }
    assert_eq!(
        batch[0].rows,
        vec![row(
            &[Some("checkout")],
            AggregationData::Count(1),
            batch[0].rows[0].start
        )]
    );

    let untouched = unpiped.next_export();
    let names: Vec<&str> = untouched.iter().map(|d| d.view.name()).collect();
    assert_eq!(names, ["demo/requests", "capture/sent"]);
    assert!(untouched[0].view.tag_keys().is_empty());

    assert_eq!(pipeline.stats().batches_passed, 1);
    assert_eq!(pipeline.stats().processor_panics, 0);
    Ok(())
}
