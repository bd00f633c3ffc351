//! A view unregistered and registered again starts over: Delta passes on
//! the new registration's cumulative values from its new start, never a
//! difference against the old registration. Rows that restart on their
//! own (a new start, a count going backwards) start over the same way.

use census_core::{
    Aggregation, AggregationData, MeasureI64, Number, Processor, TagMap, View, ViewData,
};
use census_pipeline::Delta;
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::*;

#[test]
fn a_registered_again_view_passes_its_new_values_from_its_new_start(
) -> Result<(), census_core::Error> {
    let requests = MeasureI64::new("demo/requests", "requests", "1")?;
    let build = || {
        View::builder("demo/requests_total", &requests)
            .aggregation(Aggregation::Sum)
            .build()
    };
    let vm = ViewManager::new();
    let delta = Delta::new();
    let record = |n: i64| {
        MeasurementMap::new()
            .put(&requests, n)
            .record_to(&vm, &TagMap::new())
    };
    let export = || -> Result<ViewData, census_core::Error> {
        let mut out = delta.process(vec![vm.retrieve_data("demo/requests_total")?]);
        Ok(out.remove(0))
    };

    vm.register_view(build()?)?;
    record(5);
    let first = export()?;
    assert_eq!(first.rows[0].data, AggregationData::Sum(Number::Int(5)));
    record(2);
    let second = export()?;
    assert_eq!(second.rows[0].data, AggregationData::Sum(Number::Int(2)));
    assert_eq!(second.start, first.end);

    vm.unregister_view("demo/requests_total")?;
    vm.register_view(build()?)?;
    let restarted = vm.retrieve_data("demo/requests_total")?.start;
    assert!(restarted >= second.end);
    record(1);
    let third = export()?;
    // Not 1 - 7, not omitted: the new registration's 1, from its start.
    assert_eq!(third.rows.len(), 1);
    assert_eq!(third.rows[0].data, AggregationData::Sum(Number::Int(1)));
    assert_eq!(third.rows[0].start, restarted);
    assert_eq!(third.start, restarted);
    record(3);
    let fourth = export()?;
    assert_eq!(fourth.rows[0].data, AggregationData::Sum(Number::Int(3)));
    assert_eq!(fourth.start, third.end);
    vm.shutdown();
    Ok(())
}

#[test]
fn rows_restart_on_a_new_start_or_a_count_going_backwards() {
    let m = int_measure("demo/requests");
    let v = view("demo/count", &m, &["k"], Aggregation::Count);
    let delta = Delta::new();
    let batch = |end: u64, n: u64, row_start: u64| {
        vec![ViewData::new(
            v.clone(),
            at(1),
            at(end),
            vec![row(&[Some("a")], AggregationData::Count(n), at(row_start))],
        )]
    };
    delta.process(batch(10, 8, 1));
    // The row was expired and recorded again at 15: its 2 are all new.
    let out = delta.process(batch(20, 2, 15));
    assert_eq!(
        out[0].rows,
        vec![row(&[Some("a")], AggregationData::Count(2), at(15))]
    );
    // Then it counts 3 more.
    let out = delta.process(batch(30, 5, 15));
    assert_eq!(
        out[0].rows,
        vec![row(&[Some("a")], AggregationData::Count(3), at(20))]
    );
    // Backwards under the same start: reset in between; all of it is new,
    // over the interval since the previous export.
    let out = delta.process(batch(40, 1, 15));
    assert_eq!(
        out[0].rows,
        vec![row(&[Some("a")], AggregationData::Count(1), at(30))]
    );
}
