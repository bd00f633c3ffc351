//! Registering, re-registering, conflicting, unregistering and looking up
//! views.

use census::{
    Aggregation, Error, MeasureF64, MeasureI64, MeasurementMap, TagMap, View, ViewManager,
};

fn sum_view(name: &str, m: &MeasureI64) -> View {
    View::builder(name, m)
        .aggregation(Aggregation::Sum)
        .build()
        .expect("valid view")
}

#[test]
fn registering_the_same_view_twice_is_fine() -> Result<(), Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(sum_view("v", &m))?;
    MeasurementMap::new()
        .put(&m, 4)
        .record_to(&vm, &TagMap::new());
    // An equal definition built separately is the same view: no reset.
    vm.register_view(sum_view("v", &m))?;
    assert_eq!(vm.views().len(), 1);
    assert_eq!(vm.retrieve_data("v")?.rows.len(), 1);
    Ok(())
}

#[test]
fn a_different_view_under_a_taken_name_is_refused() -> Result<(), Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(sum_view("v", &m))?;
    let other = View::builder("v", &m)
        .aggregation(Aggregation::Count)
        .build()?;
    let err = vm.register_view(other).unwrap_err();
    assert_eq!(err, Error::ViewConflict { name: "v".into() });
    assert!(err.to_string().contains("already registered"), "{err}");
    Ok(())
}

#[test]
fn a_measure_reused_with_another_type_or_unit_is_refused() -> Result<(), Error> {
    let int = MeasureI64::new("size", "", "By")?;
    let float = MeasureF64::new("size", "", "By")?;
    let kib = MeasureI64::new("size", "", "KiBy")?;
    let vm = ViewManager::new();
    vm.register_view(sum_view("size_sum", &int))?;
    let err = vm
        .register_view(
            View::builder("size_f", &float)
                .aggregation(Aggregation::Sum)
                .build()?,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::MeasureConflict { ref name, .. } if name == "size"),
        "{err}"
    );
    assert!(err.to_string().contains("float64"), "{err}");
    let err = vm.register_view(sum_view("size_kib", &kib)).unwrap_err();
    assert!(err.to_string().contains("KiBy"), "{err}");
    // Recording through the conflicting handle is refused and counted.
    MeasurementMap::new()
        .put(&kib, 5)
        .record_to(&vm, &TagMap::new());
    assert_eq!(vm.stats().rejected_values, 1);
    assert!(vm.retrieve_data("size_sum")?.rows.is_empty());
    Ok(())
}

#[test]
fn unregister_stops_collection_and_drops_rows() -> Result<(), Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(sum_view("v", &m))?;
    MeasurementMap::new()
        .put(&m, 4)
        .record_to(&vm, &TagMap::new());
    vm.unregister_view("v")?;
    assert_eq!(
        vm.retrieve_data("v").unwrap_err(),
        Error::UnknownView { name: "v".into() }
    );
    MeasurementMap::new()
        .put(&m, 4)
        .record_to(&vm, &TagMap::new());
    // Registered again, the view starts empty.
    vm.register_view(sum_view("v", &m))?;
    assert!(vm.retrieve_data("v")?.rows.is_empty());
    assert_eq!(
        vm.unregister_view("nope").unwrap_err(),
        Error::UnknownView {
            name: "nope".into()
        }
    );
    Ok(())
}

#[test]
fn retrieving_an_unknown_view_is_an_error_naming_it() {
    let vm = ViewManager::new();
    let err = vm.retrieve_data("missing/view").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no view named \"missing/view\" is registered"
    );
}

#[test]
fn registering_after_shutdown_is_refused() -> Result<(), Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let vm = ViewManager::new();
    vm.shutdown();
    assert_eq!(
        vm.register_view(sum_view("v", &m)).unwrap_err(),
        Error::ShutDown
    );
    Ok(())
}
