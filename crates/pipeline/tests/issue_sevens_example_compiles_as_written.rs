//! Issue #7 shows the pipeline a user writes, with
//! `.with(Rename::prefix("shop/"))` and no `?` after it, though
//! `Rename::prefix` returns a `Result` (a prefix may be invalid). A
//! processor's `Result` is itself a processor, so the example compiles as
//! written; a pipeline holding an invalid prefix is refused when it is
//! registered, with the constructor's message.

use census_core::{Aggregation, Error, MeasureI64, TagMap, View};
use census_pipeline::{ConstTags, Delta, DropTags, FilterViews, Pipeline, Rename};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::CapturingExporter;

#[test]
fn the_example_runs_as_the_issue_writes_it() -> Result<(), Error> {
    let vm = ViewManager::new();
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    vm.register_view(
        View::builder("demo/requests", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let (http_exporter, captured) = CapturingExporter::new();
    // As issue #7 writes it (but on this manager rather than the global).
    vm.register_exporter(
        Pipeline::new(http_exporter)
            .with(ConstTags::new([
                ("service", "checkout"),
                ("region", "eu-1"),
            ])?) // enrich every row
            .with(FilterViews::matching("demo/*")) // keep only these views
            .with(DropTags::new(["path"])) // drop a key, merging rows that now coincide
            .with(Rename::prefix("shop/"))
            .with(Delta::new()), // cumulative -> per-interval
    )?;
    MeasurementMap::new()
        .put(&m, 4)
        .record_to(&vm, &TagMap::new());
    vm.shutdown();
    let batch = captured.last_export().ok_or(Error::ShutDown)?;
    let names: Vec<&str> = batch.iter().map(|d| d.view.name()).collect();
    assert_eq!(names, ["shop/demo/requests"]);
    Ok(())
}

#[test]
fn an_invalid_prefix_is_refused_at_registration() -> Result<(), Error> {
    let vm = ViewManager::new();
    let (exporter, _captured) = CapturingExporter::new();
    // No view yet: the pipeline itself is refused, where the mistake is.
    let refused = vm.register_exporter(Pipeline::new(exporter).with(Rename::prefix("no spaces")));
    let Err(Error::InvalidConfig { what, reason, .. }) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!(what, "exporter");
    assert!(reason.contains("could not be built"), "{reason}");
    assert!(reason.contains("no spaces"), "{reason}");
    // Nothing was registered: views register as usual.
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    vm.register_view(
        View::builder("demo/requests", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.shutdown();
    Ok(())
}
