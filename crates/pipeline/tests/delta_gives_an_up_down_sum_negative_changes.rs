//! Delta handles up-down sums: a decrease is a negative change, not a
//! restart, for integer and float measures alike (issue #12).

use census_core::{
    Aggregation, AggregationData, MeasureF64, MeasureI64, Number, Processor, TagMap, View, ViewData,
};
use census_pipeline::Delta;
use census_stats::{MeasurementMap, ViewManager};

#[test]
fn plus_three_then_minus_five_gives_changes_three_and_minus_five() -> Result<(), census_core::Error>
{
    let in_flight = MeasureI64::new("http/in_flight", "requests being served", "1")?;
    let level = MeasureF64::new("tank/level", "litres in the tank", "l")?;
    let vm = ViewManager::new();
    for (name, measure) in [
        ("http/in_flight", in_flight.as_ref()),
        ("tank/level", level.as_ref()),
    ] {
        vm.register_view(
            View::builder(name, measure)
                .aggregation(Aggregation::UpDownSum)
                .build()?,
        )?;
    }
    let delta = Delta::new();
    let export = || -> Result<Vec<ViewData>, census_core::Error> {
        Ok(delta.process(vec![
            vm.retrieve_data("http/in_flight")?,
            vm.retrieve_data("tank/level")?,
        ]))
    };
    let changes = |batch: &[ViewData]| -> Vec<Vec<AggregationData>> {
        batch
            .iter()
            .map(|v| v.rows.iter().map(|r| r.data.clone()).collect())
            .collect()
    };
    let record = |i: i64, f: f64| {
        MeasurementMap::new()
            .put(&in_flight, i)
            .put(&level, f)
            .record_to(&vm, &TagMap::new());
    };

    record(3, 3.5);
    let first = export()?;
    assert_eq!(
        changes(&first),
        [
            vec![AggregationData::Sum(Number::Int(3))],
            vec![AggregationData::Sum(Number::Float(3.5))]
        ]
    );
    record(-5, -5.25);
    let second = export()?;
    assert_eq!(
        changes(&second),
        [
            vec![AggregationData::Sum(Number::Int(-5))],
            vec![AggregationData::Sum(Number::Float(-5.25))]
        ]
    );
    // A change, not a restart: the interval follows the previous export.
    assert_eq!(second[0].rows[0].start, first[0].end);
    // Nothing happened: the unchanged rows are left out.
    assert_eq!(changes(&export()?), [vec![], vec![]]);
    // Back up, past zero.
    record(4, 2.0);
    assert_eq!(
        changes(&export()?),
        [
            vec![AggregationData::Sum(Number::Int(4))],
            vec![AggregationData::Sum(Number::Float(2.0))]
        ]
    );
    assert_eq!(
        vm.retrieve_data("http/in_flight")?.rows[0].data,
        AggregationData::Sum(Number::Int(2))
    );
    vm.shutdown();
    Ok(())
}
