//! Merging rows by dropping a tag gives what a view without that tag
//! records directly: counts, sums and buckets exactly, the distribution's
//! float statistics within rounding.

use census_core::{Aggregation, AggregationData, MeasureF64, MeasureI64, TagMap, View};
use census_core::{Processor, ViewData};
use census_pipeline::DropTags;
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::*;

#[test]
fn merged_rows_equal_the_directly_recorded_union() -> Result<(), census_core::Error> {
    let latency = MeasureF64::new("demo/latency", "latency", "ms")?;
    let bytes = MeasureI64::new("demo/bytes", "bytes", "By")?;
    let (method, path) = (key("method"), key("path"));
    let bounds = [0.0, 1.0, 10.0, 100.0, 1000.0];
    let vm = ViewManager::new();
    let both = [method.clone(), path.clone()];
    let one = [method.clone()];
    let views = [
        ("latency", Aggregation::distribution(bounds)?, true),
        ("count", Aggregation::Count, true),
        ("bytes", Aggregation::Sum, false),
    ];
    for (name, aggregation, is_latency) in &views {
        for (suffix, keys) in [("by_path", &both[..]), ("direct", &one[..])] {
            let builder = if *is_latency {
                View::builder(format!("demo/{name}_{suffix}"), &latency)
            } else {
                View::builder(format!("demo/{name}_{suffix}"), &bytes)
            };
            vm.register_view(
                builder
                    .tag_keys(keys.to_vec())
                    .aggregation(aggregation.clone())
                    .build()?,
            )?;
        }
    }

    // Deterministic, spread-out values: some huge and close together, some
    // tiny, some on bucket bounds, under three paths and two methods.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = match i % 4 {
            0 => (x % 100_000) as f64 / 100.0,
            1 => 1e6 + (x % 13) as f64,
            2 => bounds[(x % 5) as usize],
            _ => -((x % 50) as f64) / 7.0,
        };
        let b = (x % 1_000_000) as i64 - 400_000;
        let tags = TagMap::new()
            .with(&method, ["GET", "POST"][(x % 2) as usize])?
            .with(&path, ["/a", "/b", "/c"][(x % 3) as usize])?;
        MeasurementMap::new()
            .put(&latency, v)
            .put(&bytes, b)
            .record_to(&vm, &tags);
    }
    // And one row with the method absent, to merge too.
    MeasurementMap::new()
        .put(&latency, 42.0)
        .put(&bytes, 7)
        .record_to(&vm, &TagMap::new().with(&path, "/a")?);

    let drop = DropTags::new(["path"]);
    for (name, _, _) in &views {
        let by_path = vm.retrieve_data(&format!("demo/{name}_by_path"))?;
        let direct = vm.retrieve_data(&format!("demo/{name}_direct"))?;
        assert_eq!(by_path.rows.len(), 7, "{name}: rows before merging");
        let merged: Vec<ViewData> = drop.process(vec![by_path]);
        let merged = &merged[0];
        assert_eq!(merged.view.tag_keys(), &one[..]);
        assert_eq!(merged.rows.len(), direct.rows.len(), "{name}");
        assert_eq!(merged.rows.len(), 3, "{name}");
        for want in &direct.rows {
            let got = merged
                .rows
                .iter()
                .find(|r| r.tags == want.tags)
                .unwrap_or_else(|| panic!("{name}: no merged row for {:?}", want.tags));
            match (&got.data, &want.data) {
                (AggregationData::Distribution(g), AggregationData::Distribution(w)) => {
                    assert_same_distribution(g, w, name)
                }
                // Count and the i64 Sum: exactly equal.
                (g, w) => assert_eq!(g, w, "{name} {:?}", want.tags),
            }
        }
    }
    vm.shutdown();
    Ok(())
}
