//! A view that already has a constant tag's key is refused when it is
//! registered with a manager whose pipeline adds that key; the exporter is
//! asked about views as they will reach it.

use census_core::{Aggregation, Error};
use census_pipeline::{ConstTags, Pipeline};
use census_stats::ViewManager;
use census_testkit::*;

#[test]
fn colliding_views_are_refused_and_others_checked_with_the_constants() -> Result<(), Error> {
    let (capture, captured) = CapturingExporter::new();
    let vm = ViewManager::new();
    vm.register_exporter(Pipeline::new(capture).with(ConstTags::new([("service", "checkout")])?))?;
    let m = int_measure("demo/requests");

    let err = vm
        .register_view(view(
            "demo/by_service",
            &m,
            &["method", "service"],
            Aggregation::Count,
        ))
        .unwrap_err();
    match &err {
        Error::ViewRejected { view, reason } => {
            assert_eq!(view, "demo/by_service");
            assert!(reason.contains("\"service\""), "{reason}");
            assert!(reason.contains("ConstTags"), "{reason}");
        }
        other => panic!("expected ViewRejected, got {other:?}"),
    }
    assert!(vm.views().is_empty());
    // Refused before the exporter was asked.
    assert!(captured.checked().is_empty());

    vm.register_view(view("demo/by_method", &m, &["method"], Aggregation::Count))?;
    let checked = captured.checked();
    assert_eq!(checked.len(), 1);
    let keys: Vec<&str> = checked[0].0.tag_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys, ["method", "service"]);
    vm.shutdown();
    Ok(())
}
