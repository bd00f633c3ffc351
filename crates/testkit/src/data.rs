//! View data made by hand: keys, values, measures, views, rows and
//! distributions with known contents.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census_core::{
    Aggregation, AggregationData, DistributionData, Measure, MeasureF64, MeasureI64, Moments, Row,
    TagKey, TagValue, View,
};

/// The tag key `name`.
pub fn key(name: &str) -> TagKey {
    TagKey::new(name).expect("a valid test tag key")
}

/// The tag value `text`, present (`Some`), as rows hold values.
pub fn value(text: &str) -> Option<TagValue> {
    Some(TagValue::new(text).expect("a valid test tag value"))
}

/// A fixed time: `secs` seconds after the Unix epoch.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// An integer measure named `name`, unit `1`.
pub fn int_measure(name: &str) -> MeasureI64 {
    MeasureI64::new(name, "test measure", "1").expect("a valid test measure")
}

/// A float measure named `name`, unit `ms`.
pub fn float_measure(name: &str) -> MeasureF64 {
    MeasureF64::new(name, "test measure", "ms").expect("a valid test measure")
}

/// A view of `measure` named `name`, split by `keys`.
pub fn view(
    name: &str,
    measure: impl AsRef<Measure>,
    keys: &[&str],
    aggregation: Aggregation,
) -> View {
    View::builder(name, measure)
        .tag_keys(keys.iter().map(|k| key(k)))
        .aggregation(aggregation)
        .build()
        .expect("a valid test view")
}

/// A view named `name` of an integer measure of its own (`m/<name>`).
pub fn int_view(name: &str, keys: &[&str], aggregation: Aggregation) -> View {
    view(name, int_measure(&format!("m/{name}")), keys, aggregation)
}

/// A view named `name` of a float measure of its own (`m/<name>`).
pub fn float_view(name: &str, keys: &[&str], aggregation: Aggregation) -> View {
    view(name, float_measure(&format!("m/{name}")), keys, aggregation)
}

/// An ordinary row with these tag values (`None` = absent).
pub fn row(tags: &[Option<&str>], data: AggregationData, start: SystemTime) -> Row {
    let tags = tags.iter().map(|t| t.and_then(value)).collect();
    Row::new(tags, data, start)
}

/// The distribution of `values` over `bounds`, as a manager would hold it
/// (count, sum, mean and squared deviations by census-core's `Moments`,
/// the empty distribution's zeros as placeholders).
pub fn distribution(values: &[f64], bounds: &[f64]) -> DistributionData {
    let m = Moments::of_values(values);
    let mut bucket_counts = vec![0; bounds.len() + 1];
    for v in values {
        let bucket = bounds.partition_point(|b| b < v);
        if let Some(count) = bucket_counts.get_mut(bucket) {
            *count += 1;
        }
    }
    DistributionData {
        count: m.count,
        sum: m.sum,
        mean: m.mean(),
        min: m.min,
        max: m.max,
        sum_of_squared_deviation: m.sum_of_squared_deviation,
        bounds: Arc::from(bounds),
        bucket_counts,
    }
}

/// A Distribution value given by its bucket counts and sum alone (mean
/// from them; min, max and squared deviations zero): for encoders, which
/// write only buckets, count and sum.
pub fn histogram(bounds: &[f64], counts: &[u64], sum: f64) -> AggregationData {
    let count = counts.iter().sum();
    AggregationData::Distribution(DistributionData {
        count,
        sum,
        mean: if count == 0 { 0.0 } else { sum / count as f64 },
        min: 0.0,
        max: 0.0,
        sum_of_squared_deviation: 0.0,
        bounds: Arc::from(bounds),
        bucket_counts: counts.to_vec(),
    })
}
