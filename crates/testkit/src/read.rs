//! Reading view data in assertions: a view of a batch, a row by its tag
//! values, a value of a known kind.

use census_core::{AggregationData, DistributionData, Number, Row, ViewData};

/// The view named `name` in `batch`; panics, naming it, if it is missing.
pub fn view_in<'b>(batch: &'b [ViewData], name: &str) -> &'b ViewData {
    find_view(batch, name).unwrap_or_else(|| panic!("no view {name} in the batch"))
}

/// The view named `name` in `batch`, if it is there.
pub fn find_view<'b>(batch: &'b [ViewData], name: &str) -> Option<&'b ViewData> {
    batch.iter().find(|d| d.view.name() == name)
}

/// The ordinary row whose tag values read as `tags`, in the view's key
/// order (`None` = absent); never the overflow row. See also
/// `ViewData::row`, which takes a `TagMap`.
pub fn row_in<'d>(data: &'d ViewData, tags: &[Option<&str>]) -> Option<&'d Row> {
    data.rows.iter().find(|r| {
        !r.overflow
            && r.tags.len() == tags.len()
            && r.tags
                .iter()
                .zip(tags)
                .all(|(have, want)| have.as_ref().map(|v| v.as_str()) == *want)
    })
}

/// Every row as its tag values (`-` for an absent one; the overflow row
/// as `["overflow"]`) and its value as an integer (`AggregationData::as_i64`),
/// sorted: a whole view in one comparison.
pub fn rows_of(data: &ViewData) -> Vec<(Vec<String>, Option<i64>)> {
    let mut rows: Vec<_> = data
        .rows
        .iter()
        .map(|r| {
            let tags = if r.overflow {
                vec!["overflow".to_owned()]
            } else {
                r.tags
                    .iter()
                    .map(|t| t.as_ref().map_or("-".to_owned(), |v| v.as_str().to_owned()))
                    .collect()
            };
            (tags, r.data.as_i64())
        })
        .collect();
    rows.sort();
    rows
}

/// The value of an integer Sum (or UpDownSum); panics on anything else.
pub fn int_sum(data: &AggregationData) -> i64 {
    match data {
        AggregationData::Sum(Number::Int(v)) => *v,
        other => panic!("not an integer sum: {other:?}"),
    }
}

/// The sum of every integer Sum row that a shutdown report says never
/// arrived (`undelivered`, each exporter's lost delta data); panics on
/// rows of another aggregation.
pub fn lost_int_sum(report: &census_stats::ShutdownReport) -> i64 {
    report
        .undelivered
        .iter()
        .flat_map(|(_, delivery)| &delivery.lost)
        .flat_map(|data| &data.rows)
        .map(|row| int_sum(&row.data))
        .sum()
}

/// The value of a Count; panics on anything else.
pub fn count(data: &AggregationData) -> u64 {
    match data {
        AggregationData::Count(n) => *n,
        other => panic!("not a count: {other:?}"),
    }
}

/// The distribution; panics on anything else.
pub fn as_dist(data: &AggregationData) -> &DistributionData {
    data.as_distribution()
        .unwrap_or_else(|| panic!("not a distribution: {data:?}"))
}

/// Whether two floats agree to 1e-9, relative to their size (or 1).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Asserts two distributions agree: counts, buckets, bounds, min and max
/// exactly, sum, mean and squared deviations within [`close`].
pub fn assert_same_distribution(got: &DistributionData, want: &DistributionData, what: &str) {
    assert_eq!(got.count, want.count, "{what}: count");
    assert_eq!(got.bucket_counts, want.bucket_counts, "{what}: buckets");
    assert_eq!(got.bounds[..], want.bounds[..], "{what}: bounds");
    assert_eq!(got.min, want.min, "{what}: min");
    assert_eq!(got.max, want.max, "{what}: max");
    for (name, g, w) in [
        ("sum", got.sum, want.sum),
        ("mean", got.mean, want.mean),
        (
            "squared deviations",
            got.sum_of_squared_deviation,
            want.sum_of_squared_deviation,
        ),
    ] {
        assert!(close(g, w), "{what}: {name} {g} vs {w}");
    }
}
