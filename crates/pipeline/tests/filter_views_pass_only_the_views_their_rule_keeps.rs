//! FilterViews keeps the views a glob or predicate selects, and views it
//! drops are not checked against the exporter at registration.

use census_core::{Aggregation, AggregationData, Processor, View, ViewData};
use census_pipeline::{FilterViews, Pipeline};
use census_stats::ViewManager;
use census_testkit::*;

fn batch(views: &[&View]) -> Vec<ViewData> {
    views
        .iter()
        .map(|v| {
            ViewData::new(
                (*v).clone(),
                at(1),
                at(2),
                vec![row(&[], AggregationData::Count(1), at(1))],
            )
        })
        .collect()
}

fn names(out: &[ViewData]) -> Vec<&str> {
    out.iter().map(|d| d.view.name()).collect()
}

#[test]
fn globs_and_predicates_select_views() {
    let m = int_measure("m");
    let a = view("demo/latency", &m, &[], Aggregation::Count);
    let b = view("demo/sub/requests", &m, &[], Aggregation::Sum);
    let c = view("other/demo/x", &m, &[], Aggregation::Count);
    let d = view("demo/a", &m, &[], Aggregation::Count);
    let all = [&a, &b, &c, &d];

    let out = FilterViews::matching("demo/*").process(batch(&all));
    assert_eq!(names(&out), ["demo/latency", "demo/sub/requests", "demo/a"]);
    // The data itself passes untouched.
    assert_eq!(out[0], batch(&[&a])[0]);

    let out = FilterViews::matching("demo/?").process(batch(&all));
    assert_eq!(names(&out), ["demo/a"]);

    let out = FilterViews::excluding("*demo/*").process(batch(&all));
    assert!(out.is_empty(), "{:?}", names(&out));

    let out = FilterViews::excluding("demo/*").process(batch(&all));
    assert_eq!(names(&out), ["other/demo/x"]);

    let sums = FilterViews::predicate(|v| *v.aggregation() == Aggregation::Sum);
    assert_eq!(names(&sums.process(batch(&all))), ["demo/sub/requests"]);
}

#[test]
fn views_filtered_out_are_not_checked_against_the_exporter() -> Result<(), census_core::Error> {
    let (capture, captured) = CapturingExporter::new();
    let capture = capture.refusing("other/x").refusing("demo/x");
    let vm = ViewManager::new();
    vm.register_exporter(Pipeline::new(capture).with(FilterViews::matching("demo/*")))?;
    let m = int_measure("m");
    // The exporter refuses both names, but never sees the filtered one.
    vm.register_view(view("other/x", &m, &[], Aggregation::Count))?;
    assert!(vm
        .register_view(view("demo/x", &m, &[], Aggregation::Count))
        .is_err());
    let checked: Vec<String> = captured
        .checked()
        .iter()
        .map(|(v, _)| v.name().to_owned())
        .collect();
    assert_eq!(checked, ["demo/x"]);
    vm.shutdown();
    Ok(())
}
