//! Finite values never add up to NaN (issue #16, finding 9): `f64::MAX`
//! recorded twice on one thread and `-f64::MAX` twice on another used to
//! export `Sum(NaN)` and a Distribution whose sum was NaN. Float sums
//! saturate at ±`f64::MAX` (docs/semantics.md), per thread and when the
//! threads' shares are added, and a spread past f64's range reads as an
//! infinite sum of squared deviations beside a finite mean.

use census_core::{
    Aggregation, AggregationData, DistributionData, MeasureF64, Number, TagMap, View,
};
use census_stats::{MeasurementMap, ViewManager};

fn manager() -> Result<(ViewManager, MeasureF64), census_core::Error> {
    let m = MeasureF64::new("m", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("sum", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("dist", &m)
            .aggregation(Aggregation::distribution([0.0])?)
            .build()?,
    )?;
    Ok((vm, m))
}

/// Records each list on a thread of its own, all alive at once (a thread
/// that ended hands its per-thread state to the next one started).
fn record_on_threads(vm: &ViewManager, m: &MeasureF64, lists: &[&[f64]]) {
    let all_done = std::sync::Barrier::new(lists.len());
    std::thread::scope(|s| {
        for list in lists {
            let all_done = &all_done;
            s.spawn(move || {
                for v in *list {
                    MeasurementMap::new()
                        .put(m, *v)
                        .record_to(vm, &TagMap::new());
                }
                all_done.wait();
            });
        }
    });
}

fn read(vm: &ViewManager) -> Result<(f64, DistributionData), census_core::Error> {
    let sum = match &vm.retrieve_data("sum")?.rows[0].data {
        AggregationData::Sum(Number::Float(v)) => *v,
        other => panic!("{other:?}"),
    };
    let dist = match &vm.retrieve_data("dist")?.rows[0].data {
        AggregationData::Distribution(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    Ok((sum, dist))
}

fn assert_no_nan(sum: f64, d: &DistributionData, what: &str) {
    assert!(!sum.is_nan(), "{what}: sum {sum}");
    for (field, v) in [
        ("sum", d.sum),
        ("mean", d.mean),
        ("min", d.min),
        ("max", d.max),
        ("sum_of_squared_deviation", d.sum_of_squared_deviation),
    ] {
        assert!(!v.is_nan(), "{what}: distribution {field} is NaN: {d:?}");
    }
    assert!(d.mean.is_finite(), "{what}: mean {}", d.mean);
    assert!(
        d.sum.is_finite() && sum.is_finite(),
        "{what}: {sum} {}",
        d.sum
    );
}

#[test]
fn opposite_overflows_on_two_threads_read_finite() -> Result<(), census_core::Error> {
    let (vm, m) = manager()?;
    record_on_threads(&vm, &m, &[&[f64::MAX, f64::MAX], &[-f64::MAX, -f64::MAX]]);
    let (sum, d) = read(&vm)?;
    assert_no_nan(sum, &d, "two threads");
    // Each thread's share saturated at its side; the two add to zero.
    assert_eq!(sum, 0.0);
    assert_eq!(d.sum, 0.0);
    assert_eq!((d.count, d.min, d.max), (4, -f64::MAX, f64::MAX));
    assert_eq!(d.mean, 0.0);
    assert_eq!(d.sum_of_squared_deviation, f64::INFINITY);
    Ok(())
}

#[test]
fn an_overflow_on_one_thread_saturates() -> Result<(), census_core::Error> {
    let (vm, m) = manager()?;
    record_on_threads(&vm, &m, &[&[f64::MAX, f64::MAX, f64::MAX]]);
    let (sum, d) = read(&vm)?;
    assert_no_nan(sum, &d, "one thread");
    assert_eq!((sum, d.sum), (f64::MAX, f64::MAX));
    assert_eq!((d.count, d.mean), (3, f64::MAX));
    Ok(())
}

#[test]
fn extremes_spread_over_many_threads_never_read_nan() -> Result<(), census_core::Error> {
    let extremes = [f64::MAX, -f64::MAX, 1e308, -1e308, 1.0, -0.0, 8.9e307];
    // Every order of several threads' extremes, including one thread
    // holding both signs (values farther apart than f64 can express).
    for start in 0..extremes.len() {
        let (vm, m) = manager()?;
        let rotated: Vec<f64> = extremes
            .iter()
            .cycle()
            .skip(start)
            .take(extremes.len())
            .copied()
            .collect();
        let lists: Vec<&[f64]> = rotated.chunks(2).collect();
        record_on_threads(&vm, &m, &lists);
        let (sum, d) = read(&vm)?;
        assert_no_nan(sum, &d, &format!("rotation {start}"));
        assert_eq!(d.count, extremes.len() as u64);
        assert_eq!(d.bucket_counts.iter().sum::<u64>(), d.count);
    }
    Ok(())
}
