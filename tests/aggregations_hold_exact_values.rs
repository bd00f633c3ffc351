//! Each aggregation's exact value after a known sequence, for i64 and f64
//! measures, recorded through the public API.

use census::{
    Aggregation, AggregationData, MeasureF64, MeasureI64, MeasurementMap, Number, TagMap, View,
    ViewManager,
};

fn data(vm: &ViewManager, name: &str) -> AggregationData {
    let d = vm.retrieve_data(name).expect("view is registered");
    assert_eq!(d.rows.len(), 1, "{name}");
    d.rows[0].data.clone()
}

#[test]
fn int_measure_aggregations() -> Result<(), census::Error> {
    let m = MeasureI64::new("bytes", "bytes sent", "By")?;
    let vm = ViewManager::new();
    for (name, agg) in [
        ("count", Aggregation::Count),
        ("sum", Aggregation::Sum),
        ("last", Aggregation::LastValue),
        ("dist", Aggregation::distribution([-10.0, 0.0, 10.0])?),
    ] {
        vm.register_view(View::builder(name, &m).aggregation(agg).build()?)?;
    }
    let values = [5, -20, 10, 0, i64::MAX / 4, -10, 11, 7];
    for v in values {
        MeasurementMap::new()
            .put(&m, v)
            .record_to(&vm, &TagMap::new());
    }
    assert_eq!(data(&vm, "count"), AggregationData::Count(8));
    // Exact: an f64 sum could not hold i64::MAX / 4 + 3 exactly.
    assert_eq!(
        data(&vm, "sum"),
        AggregationData::Sum(Number::Int(i64::MAX / 4 + 3))
    );
    assert_eq!(
        data(&vm, "last"),
        AggregationData::LastValue(Number::Int(7))
    );
    let AggregationData::Distribution(d) = data(&vm, "dist") else {
        panic!("not a distribution");
    };
    // <= -10: -20, -10 | (-10, 0]: 0 | (0, 10]: 5, 10, 7 | > 10: big, 11
    assert_eq!(d.bucket_counts, vec![2, 1, 3, 2]);
    assert_eq!(d.count, 8);
    assert_eq!(d.min, -20.0);
    assert_eq!(d.max, (i64::MAX / 4) as f64);
    Ok(())
}

#[test]
fn float_measure_aggregations() -> Result<(), census::Error> {
    let m = MeasureF64::new("latency", "latency", "ms")?;
    let vm = ViewManager::new();
    for (name, agg) in [
        ("count", Aggregation::Count),
        ("sum", Aggregation::Sum),
        ("last", Aggregation::LastValue),
        ("dist", Aggregation::distribution([1.0, 2.5, 5.0])?),
    ] {
        vm.register_view(View::builder(name, &m).aggregation(agg).build()?)?;
    }
    let values = [0.5, 1.0, 1.0000001, 2.5, 2.75, 5.0, 5.5, -3.25];
    for v in values {
        MeasurementMap::new()
            .put(&m, v)
            .record_to(&vm, &TagMap::new());
    }
    assert_eq!(data(&vm, "count"), AggregationData::Count(8));
    let sum: f64 = values.iter().sum();
    match data(&vm, "sum") {
        AggregationData::Sum(Number::Float(s)) => assert!((s - sum).abs() < 1e-12, "{s} vs {sum}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        data(&vm, "last"),
        AggregationData::LastValue(Number::Float(-3.25))
    );
    let AggregationData::Distribution(d) = data(&vm, "dist") else {
        panic!("not a distribution");
    };
    // Boundary values land in the bucket whose bound equals them.
    // <= 1: 0.5, 1.0, -3.25 | (1, 2.5]: 1.0000001, 2.5 | (2.5, 5]: 2.75, 5.0 | > 5: 5.5
    assert_eq!(d.bucket_counts, vec![3, 2, 2, 1]);
    assert_eq!(&*d.bounds, &[1.0, 2.5, 5.0]);
    let n = values.len() as f64;
    let mean = sum / n;
    let ssd: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    assert_eq!(d.count, 8);
    assert!((d.sum - sum).abs() < 1e-12);
    assert!((d.mean - mean).abs() < 1e-12);
    assert!(
        (d.sum_of_squared_deviation - ssd).abs() < 1e-9,
        "{} vs {ssd}",
        d.sum_of_squared_deviation
    );
    assert_eq!((d.min, d.max), (-3.25, 5.5));
    Ok(())
}

#[test]
fn values_go_to_every_view_of_their_measure_only() -> Result<(), census::Error> {
    let a = MeasureI64::new("a", "", "1")?;
    let b = MeasureI64::new("b", "", "1")?;
    let unused = MeasureI64::new("unused", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("a_sum", &a)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("a_count", &a)
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("b_sum", &b)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    MeasurementMap::new()
        .put(&a, 2)
        .put(&b, 30)
        .put(&a, 5)
        .put(&unused, 1000)
        .record_to(&vm, &TagMap::new());
    assert_eq!(data(&vm, "a_sum"), AggregationData::Sum(Number::Int(7)));
    assert_eq!(data(&vm, "a_count"), AggregationData::Count(2));
    assert_eq!(data(&vm, "b_sum"), AggregationData::Sum(Number::Int(30)));
    Ok(())
}
