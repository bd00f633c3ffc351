//! 8 threads x 100,000 records into shared rows give exact totals.

use std::sync::{Arc, Barrier};
use std::thread;

use census::{
    Aggregation, AggregationData, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View,
    ViewManager,
};

use census_testkit::{count, int_sum, row_in};

const THREADS: usize = 8;
const RECORDS: usize = 100_000;

#[test]
fn eight_threads_record_exactly() -> Result<(), census::Error> {
    let n = MeasureI64::new("n", "", "1")?;
    let x = MeasureF64::new("x", "", "1")?;
    let key = TagKey::new("parity")?;
    let vm = Arc::new(ViewManager::new());
    vm.register_view(
        View::builder("sum", &n)
            .tag_keys([key.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("count", &n)
            .tag_keys([key.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("dist", &x)
            .tag_keys([key.clone()])
            .aggregation(Aggregation::distribution([0.5, 1.5])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("fsum", &x)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let even = TagMap::new().with(&key, "even")?;
    let odd = TagMap::new().with(&key, "odd")?;
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (vm, n, x, even, odd, start) = (
                Arc::clone(&vm),
                n.clone(),
                x.clone(),
                even.clone(),
                odd.clone(),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                start.wait();
                for i in 0..RECORDS {
                    let tags = if (t + i) % 2 == 0 { &even } else { &odd };
                    // Values 1.0 and 2.0 add exactly in f64, so the float
                    // sum must be exact too.
                    MeasurementMap::new()
                        .put(&n, 3)
                        .put(&x, (i % 2 + 1) as f64)
                        .record_to(&vm, tags);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("recording thread panicked");
    }
    let per_tag = (THREADS * RECORDS / 2) as u64;
    let sum = vm.retrieve_data("sum")?;
    let cnt = vm.retrieve_data("count")?;
    for tag in ["even", "odd"] {
        assert_eq!(
            int_sum(&row_in(&sum, &[Some(tag)]).expect("sum row").data),
            3 * per_tag as i64
        );
        assert_eq!(
            count(&row_in(&cnt, &[Some(tag)]).expect("count row").data),
            per_tag
        );
    }
    let dist = vm.retrieve_data("dist")?;
    let total: u64 = dist
        .rows
        .iter()
        .map(|r| match &r.data {
            AggregationData::Distribution(d) => {
                assert_eq!(d.bucket_counts.iter().sum::<u64>(), d.count);
                d.count
            }
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(total, (THREADS * RECORDS) as u64);
    let fsum = vm.retrieve_data("fsum")?;
    assert_eq!(
        fsum.rows[0].data,
        AggregationData::Sum(census::Number::Float(1.5 * (THREADS * RECORDS) as f64))
    );
    Ok(())
}
