//! Rename prefixes or maps view names; a name that would be too long is
//! refused at registration and passed on unrenamed (and counted) at
//! export; two views renamed to one name cannot both register.

use census_core::{Aggregation, AggregationData, Error, Processor, ViewData};
use census_pipeline::{Pipeline, Rename};
use census_stats::ViewManager;
use census_testkit::*;

fn data(name: &str, keys: &[&str]) -> ViewData {
    let m = int_measure("m");
    let tags: Vec<Option<&str>> = keys.iter().map(|_| Some("x")).collect();
    ViewData::new(
        view(name, &m, keys, Aggregation::Count),
        at(1),
        at(2),
        vec![row(&tags, AggregationData::Count(4), at(1))],
    )
}

#[test]
fn prefix_and_mapping_rename_and_keep_everything_else() -> Result<(), Error> {
    let out = Rename::prefix("shop/")?.process(vec![data("demo/a", &["k"]), data("b", &[])]);
    let names: Vec<&str> = out.iter().map(|d| d.view.name()).collect();
    assert_eq!(names, ["shop/demo/a", "shop/b"]);
    let original = data("demo/a", &["k"]);
    assert_eq!(out[0].rows, original.rows);
    assert_eq!(out[0].view.tag_keys(), original.view.tag_keys());
    assert_eq!(out[0].view.measure(), original.view.measure());
    assert_eq!(out[0].view.aggregation(), original.view.aggregation());

    let map = Rename::mapping([("demo/a", "b"), ("b", "c")])?;
    let out = map.process(vec![data("demo/a", &[]), data("b", &[]), data("z", &[])]);
    let names: Vec<&str> = out.iter().map(|d| d.view.name()).collect();
    // Renamed once each: demo/a becomes b, not c.
    assert_eq!(names, ["b", "c", "z"]);
    Ok(())
}

#[test]
fn too_long_names_pass_unrenamed_and_are_counted_at_export() -> Result<(), Error> {
    let long = "v".repeat(250);
    let rename = Rename::prefix("shop/x/")?;
    let out = rename.process(vec![data(&long, &[]), data("ok", &[])]);
    assert_eq!(out[0].view.name(), long);
    assert_eq!(out[1].view.name(), "shop/x/ok");
    assert_eq!(rename.conflicts(), 1);
    Ok(())
}

#[test]
fn registration_refuses_too_long_names_and_shared_names() -> Result<(), Error> {
    let (capture, captured) = CapturingExporter::new();
    let vm = ViewManager::new();
    vm.register_exporter(
        Pipeline::new(capture)
            .with(Rename::mapping([("demo/old", "demo/new")])?)
            .with(Rename::prefix("shop/")?),
    )?;
    let m = int_measure("m");
    vm.register_view(view("demo/old", &m, &[], Aggregation::Count))?;
    assert_eq!(captured.checked()[0].0.name(), "shop/demo/new");
    // "demo/new" would also be exported as "shop/demo/new".
    match vm.register_view(view("demo/new", &m, &[], Aggregation::Sum)) {
        Err(Error::ViewRejected { view, reason }) => {
            assert_eq!(view, "demo/new");
            assert!(reason.contains("\"shop/demo/new\""), "{reason}");
            assert!(reason.contains("\"demo/old\""), "{reason}");
        }
        other => panic!("expected ViewRejected, got {other:?}"),
    }
    let long = "v".repeat(251);
    match vm.register_view(view(&long, &m, &[], Aggregation::Sum)) {
        Err(Error::ViewRejected { reason, .. }) => {
            assert!(reason.contains("Rename"), "{reason}");
            assert!(reason.contains("255"), "{reason}");
        }
        other => panic!("expected ViewRejected, got {other:?}"),
    }
    // The exporter saw the registered views as they reach it.
    vm.register_view(view("demo/other", &m, &[], Aggregation::Sum))?;
    {
        let checked = captured.checked();
        let (last, registered) = checked.last().expect("checked");
        assert_eq!(last.name(), "shop/demo/other");
        let names: Vec<&str> = registered.iter().map(|v| v.name()).collect();
        assert_eq!(names, ["shop/demo/new"]);
    }
    vm.shutdown();
    Ok(())
}
