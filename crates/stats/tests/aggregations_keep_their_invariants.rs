//! Property tests: for random sequences of values and tags, every
//! aggregation keeps its invariants. (Issue 6.)

use census_core::{
    Aggregation, AggregationData, MeasureF64, MeasureI64, Number, TagKey, TagMap, View,
};
use census_stats::{MeasurementMap, ViewManager};
use proptest::prelude::*;

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn float_distributions_keep_their_invariants(
        records in prop::collection::vec((-1e9f64..1e9, 0u8..4), 1..200),
        mut bounds in prop::collection::btree_set(-1000i32..1000, 0..10),
    ) {
        let bounds: Vec<f64> = std::mem::take(&mut bounds).into_iter().map(f64::from).collect();
        let m = MeasureF64::new("x", "", "1").map_err(fail)?;
        let key = TagKey::new("k").map_err(fail)?;
        let vm = ViewManager::new();
        vm.register_view(View::builder("d", &m).tag_keys([key.clone()])
            .aggregation(Aggregation::distribution(bounds.clone()).map_err(fail)?).build().map_err(fail)?).map_err(fail)?;
        for (v, tag) in &records {
            let tags = TagMap::new().with(&key, tag.to_string()).map_err(fail)?;
            MeasurementMap::new().put(&m, *v).record_to(&vm, &tags);
        }
        let data = vm.retrieve_data("d").map_err(fail)?;
        let mut total = 0;
        for row in &data.rows {
            let AggregationData::Distribution(d) = &row.data else { return Err(fail("not a distribution")) };
            let tag = row.tags[0].as_ref().ok_or_else(|| fail("tag missing"))?.as_str();
            let mine: Vec<f64> = records.iter().filter(|(_, t)| t.to_string() == tag).map(|(v, _)| *v).collect();
            prop_assert_eq!(d.count, mine.len() as u64);
            prop_assert_eq!(d.bucket_counts.iter().sum::<u64>(), d.count);
            prop_assert!(d.min <= d.mean + 1e-6 * d.mean.abs().max(1.0) && d.mean <= d.max + 1e-6 * d.mean.abs().max(1.0));
            let tolerance = 1e-9 * mine.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
            prop_assert!((d.sum - d.mean * d.count as f64).abs() <= tolerance * 10.0);
            // Each value is in the bucket the upper-inclusive rule picks.
            for (i, count) in d.bucket_counts.iter().enumerate() {
                let want = mine.iter().filter(|v| {
                    let above_lower = i == 0 || **v > bounds[i - 1];
                    let within_upper = i == bounds.len() || **v <= bounds[i];
                    above_lower && within_upper
                }).count() as u64;
                prop_assert_eq!(*count, want, "bucket {}", i);
            }
            let mean = mine.iter().sum::<f64>() / mine.len() as f64;
            let ssd: f64 = mine.iter().map(|v| (v - mean).powi(2)).sum();
            prop_assert!((d.sum_of_squared_deviation - ssd).abs() <= 1e-6 * ssd.max(1.0));
            prop_assert!(d.sum_of_squared_deviation >= 0.0);
            total += d.count;
        }
        prop_assert_eq!(total, records.len() as u64);
    }

    #[test]
    fn int_sums_are_exact_and_counts_add_up(values in prop::collection::vec(any::<i64>(), 1..300)) {
        let m = MeasureI64::new("n", "", "1").map_err(fail)?;
        let vm = ViewManager::new();
        vm.register_view(View::builder("sum", &m).aggregation(Aggregation::Sum).build().map_err(fail)?).map_err(fail)?;
        vm.register_view(View::builder("count", &m).aggregation(Aggregation::Count).build().map_err(fail)?).map_err(fail)?;
        vm.register_view(View::builder("last", &m).aggregation(Aggregation::LastValue).build().map_err(fail)?).map_err(fail)?;
        for v in &values {
            MeasurementMap::new().put(&m, *v).record_to(&vm, &TagMap::new());
        }
        // Exactly the two's complement sum, computed independently in i128.
        let want = values.iter().map(|v| i128::from(*v)).sum::<i128>() as i64;
        prop_assert_eq!(&vm.retrieve_data("sum").map_err(fail)?.rows[0].data, &AggregationData::Sum(Number::Int(want)));
        prop_assert_eq!(&vm.retrieve_data("count").map_err(fail)?.rows[0].data, &AggregationData::Count(values.len() as u64));
        let last = *values.last().ok_or_else(|| fail("empty"))?;
        prop_assert_eq!(&vm.retrieve_data("last").map_err(fail)?.rows[0].data, &AggregationData::LastValue(Number::Int(last)));
    }
}
