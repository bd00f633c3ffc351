//! What a pipeline costs the export thread per period, on a batch of one
//! distribution view with 1,000 rows (10 methods × 100 paths).
//!
//! `cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use census::pipeline::{ConstTags, Delta, DropTags, FilterViews, Pipeline, Processor, Rename};
use census::{
    Aggregation, AggregationData, DistributionData, ExportError, Exporter, MeasureF64, Row, TagKey,
    TagValue, View, ViewData,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

const BOUNDS: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];

fn view() -> View {
    let latency = MeasureF64::new("demo/latency", "latency", "ms").expect("valid measure");
    View::builder("demo/latency", &latency)
        .tag_keys([
            TagKey::new("method").expect("valid key"),
            TagKey::new("path").expect("valid key"),
        ])
        .aggregation(Aggregation::distribution(BOUNDS).expect("valid bounds"))
        .build()
        .expect("valid view")
}

/// The cumulative batch of period `period`: every row counted `period`
/// more values since the one before.
fn batch(view: &View, period: u64) -> Vec<ViewData> {
    let start = UNIX_EPOCH + Duration::from_secs(1_000);
    let end = start + Duration::from_secs(10 * (period + 1));
    let bounds: Arc<[f64]> = Arc::from(&BOUNDS[..]);
    let methods: Vec<TagValue> = (0..10)
        .map(|m| TagValue::new(format!("M{m}")).expect("valid value"))
        .collect();
    let mut rows = Vec::with_capacity(1000);
    for (m, method) in methods.iter().enumerate() {
        for p in 0..100u64 {
            let n = (period + 1) * (p + 1);
            let data = DistributionData {
                count: n,
                sum: n as f64 * 12.5,
                mean: 12.5,
                min: 0.5,
                max: 900.0 + m as f64,
                sum_of_squared_deviation: n as f64 * 3.0,
                bounds: Arc::clone(&bounds),
                bucket_counts: vec![n / 2, n - n / 2, 0, 0, 0, 0],
            };
            let path = TagValue::new(format!("/p{p}")).expect("valid value");
            rows.push(Row::new(
                vec![Some(method.clone()), Some(path)],
                AggregationData::Distribution(data),
                start,
            ));
        }
    }
    vec![ViewData::new(view.clone(), start, end, rows)]
}

#[derive(Debug)]
struct Discard;

impl Exporter for Discard {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        criterion::black_box(batch);
        Ok(())
    }
}

fn processors(c: &mut Criterion) {
    let view = view();
    let base = batch(&view, 0);
    let mut group = c.benchmark_group("pipeline");

    let tags = ConstTags::new([("service", "checkout"), ("region", "eu-1")]).expect("valid tags");
    group.bench_function("const_tags/1000_rows", |b| {
        b.iter_batched(
            || base.clone(),
            |batch| tags.process(batch),
            BatchSize::LargeInput,
        )
    });
    let drop = DropTags::new(["path"]);
    group.bench_function("drop_tags/1000_rows_into_10", |b| {
        b.iter_batched(
            || base.clone(),
            |batch| drop.process(batch),
            BatchSize::LargeInput,
        )
    });
    let rename = Rename::prefix("shop/").expect("valid prefix");
    group.bench_function("rename/1000_rows", |b| {
        b.iter_batched(
            || base.clone(),
            |batch| rename.process(batch),
            BatchSize::LargeInput,
        )
    });

    let delta = Delta::new();
    let mut period = 0;
    group.bench_function("delta/1000_rows_all_changed", |b| {
        b.iter_batched(
            || {
                period += 1;
                batch(&view, period)
            },
            |batch| delta.process(batch),
            BatchSize::LargeInput,
        )
    });
    let steady = Delta::new();
    steady.process(base.clone());
    group.bench_function("delta/1000_rows_unchanged", |b| {
        b.iter_batched(
            || base.clone(),
            |batch| steady.process(batch),
            BatchSize::LargeInput,
        )
    });

    // The whole chain of the issue, as the worker runs it: the batch is
    // borrowed, the pipeline copies it once.
    let pipeline = Pipeline::new(Discard)
        .with(ConstTags::new([("service", "checkout"), ("region", "eu-1")]).expect("valid tags"))
        .with(FilterViews::matching("demo/*"))
        .with(DropTags::new(["path"]))
        .with(Rename::prefix("shop/").expect("valid prefix"))
        .with(Delta::new());
    let mut period = 0;
    group.bench_function("chain/1000_rows", |b| {
        b.iter_batched(
            || {
                period += 1;
                batch(&view, period)
            },
            |batch| pipeline.export(&batch),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, processors);
criterion_main!(benches);
