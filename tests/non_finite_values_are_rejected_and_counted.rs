//! NaN and infinite values are not aggregated; they are counted.

use census::{
    Aggregation, AggregationData, MeasureF64, MeasurementMap, Number, TagMap, View, ViewManager,
};

#[test]
fn nan_and_infinities_are_counted_not_aggregated() -> Result<(), census::Error> {
    let m = MeasureF64::new("x", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("sum", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("last", &m)
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;
    for v in [1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0] {
        MeasurementMap::new()
            .put(&m, v)
            .record_to(&vm, &TagMap::new());
    }
    assert_eq!(vm.stats().rejected_values, 3);
    assert_eq!(
        vm.retrieve_data("sum")?.rows[0].data,
        AggregationData::Sum(Number::Float(3.5))
    );
    assert_eq!(
        vm.retrieve_data("last")?.rows[0].data,
        AggregationData::LastValue(Number::Float(2.0))
    );
    Ok(())
}
