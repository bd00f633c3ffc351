//! Callback views share the registry with recorded views: one namespace,
//! the same measure and exporter checks, `views()`, `unregister_view`, the
//! row limit with its overflow row; and what a callback view cannot be is
//! refused with a typed error (issue #12).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, Error, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::{find_view, rows_of, CapturingExporter};

fn gauge(name: &str, measure: &MeasureI64) -> Result<View, Error> {
    View::builder(name, measure)
        .aggregation(Aggregation::LastValue)
        .build()
}

#[test]
fn callback_views_live_in_the_same_registry() -> Result<(), Error> {
    let depth = MeasureI64::new("q/depth", "jobs waiting", "1")?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    let (capture, captured) = CapturingExporter::new();
    let capture = capture.refusing("q/refused");
    vm.register_exporter(capture)?;
    vm.register_view(gauge("q/recorded", &depth)?)?;
    vm.register_callback(gauge("q/depth", &depth)?, |out| {
        out.observe(&TagMap::new(), 4)
    })?;

    let conflict = |r: Result<(), Error>, name: &str| match r {
        Err(Error::ViewConflict { name: n }) if n == name => {}
        other => panic!("{name}: want ViewConflict, got {other:?}"),
    };
    // One namespace, both ways; and a callback cannot be registered twice.
    conflict(vm.register_view(gauge("q/depth", &depth)?), "q/depth");
    conflict(
        vm.register_callback(gauge("q/recorded", &depth)?, |_| {}),
        "q/recorded",
    );
    conflict(
        vm.register_callback(gauge("q/depth", &depth)?, |_| {}),
        "q/depth",
    );
    // The measure rules hold across both kinds.
    let float = MeasureF64::new("q/depth", "jobs waiting", "1")?;
    let err = vm
        .register_callback(
            View::builder("q/float", &float)
                .aggregation(Aggregation::LastValue)
                .build()?,
            |_| {},
        )
        .unwrap_err();
    assert!(matches!(err, Error::MeasureConflict { .. }), "{err:?}");
    // Exporters are asked about callback views too.
    let err = vm
        .register_callback(gauge("q/refused", &depth)?, |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::ViewRejected { .. }), "{err:?}");
    // What a callback cannot feed is refused, naming the view.
    let dist = View::builder("q/dist", &depth)
        .aggregation(Aggregation::distribution([1.0])?)
        .build()?;
    let err = vm.register_callback(dist, |_| {}).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedCallbackView { view, .. } if view == "q/dist"),
        "{err:?}"
    );
    assert!(err.to_string().contains("q/dist"), "{err}");

    let names: Vec<String> = vm.views().iter().map(|v| v.name().to_owned()).collect();
    assert_eq!(names, ["q/recorded", "q/depth"]);
    // Values recorded into the measure reach the recorded view only.
    MeasurementMap::new()
        .put(&depth, 9)
        .record_to(&vm, &TagMap::new());
    assert_eq!(
        rows_of(&vm.retrieve_data("q/depth")?),
        vec![(vec![], Some(4))]
    );
    assert_eq!(
        rows_of(&vm.retrieve_data("q/recorded")?),
        vec![(vec![], Some(9))]
    );
    let pulled = captured.pull();
    assert_eq!(
        find_view(&pulled, "q/depth").map(rows_of),
        Some(vec![(vec![], Some(4))])
    );

    vm.unregister_view("q/depth")?;
    assert!(matches!(
        vm.retrieve_data("q/depth"),
        Err(Error::UnknownView { .. })
    ));
    assert!(find_view(&captured.pull(), "q/depth").is_none());
    assert!(matches!(
        vm.unregister_view("q/depth"),
        Err(Error::UnknownView { .. })
    ));
    // The name is free again.
    vm.register_callback(gauge("q/depth", &depth)?, |out| {
        out.observe(&TagMap::new(), 5)
    })?;
    assert_eq!(
        rows_of(&vm.retrieve_data("q/depth")?),
        vec![(vec![], Some(5))]
    );

    vm.shutdown();
    assert!(matches!(
        vm.register_callback(gauge("q/late", &depth)?, |_| {}),
        Err(Error::ShutDown)
    ));
    Ok(())
}

#[test]
fn unregistering_stops_the_calls() -> Result<(), Error> {
    let depth = MeasureI64::new("q/depth", "jobs waiting", "1")?;
    let vm = ViewManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    vm.register_callback(gauge("q/depth", &depth)?, move |_| {
        counted.fetch_add(1, Relaxed);
    })?;
    vm.retrieve_data("q/depth")?;
    assert_eq!(calls.load(Relaxed), 1);
    vm.unregister_view("q/depth")?;
    let (capture, captured) = CapturingExporter::new();
    vm.register_exporter(capture)?;
    let _ = captured.pull();
    vm.shutdown();
    assert_eq!(calls.load(Relaxed), 1, "called after unregister_view");
    Ok(())
}

#[test]
fn the_row_limit_folds_a_callbacks_extra_rows_into_the_overflow_row() -> Result<(), Error> {
    let open = MeasureI64::new("conn/open", "open connections", "1")?;
    let peer = TagKey::new("peer")?;
    let vm = ViewManager::new();
    let maps: Vec<TagMap> = (0..5)
        .map(|i| TagMap::new().with(&peer, format!("p{i}")))
        .collect::<Result<_, _>>()?;
    vm.register_callback(
        View::builder("conn/open", &open)
            .tag_keys([peer.clone()])
            .aggregation(Aggregation::UpDownSum)
            .row_limit(3)
            .build()?,
        move |out| {
            for (i, tags) in maps.iter().enumerate() {
                out.observe(tags, i as i64 * 10 - 15);
            }
            // Values that do not fit an i64 measure are counted, not kept.
            out.observe(&maps[0], f64::NAN);
            out.observe(&maps[0], 0.5);
        },
    )?;
    let data = vm.retrieve_data("conn/open")?;
    assert_eq!(data.folded, 2);
    assert_eq!(
        rows_of(&data),
        vec![
            (vec!["overflow".to_owned()], Some(15 + 25)),
            (vec!["p0".to_owned()], Some(-15)),
            (vec!["p1".to_owned()], Some(-5)),
            (vec!["p2".to_owned()], Some(5)),
        ]
    );
    assert_eq!(vm.stats().rejected_values, 2);
    Ok(())
}
