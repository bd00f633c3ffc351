//! Rendering a Prometheus scrape: 10,000 and 100,000 series, a quarter each
//! Count, Sum, LastValue and Distribution (8 bounds), 3 labels each.
//!
//! `prometheus/render/N` is a whole render as a scrape does it: the
//! producer hands over the batch (a clone of a prebuilt one here) and the
//! exporter encodes it. `prometheus/clone_batch/N` is the clone alone, so
//! the encoder's share is the difference.
//!
//! ```text
//! cargo bench --bench prometheus --features prometheus -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The same series set rendered by the `prometheus` crate's TextEncoder is
//! measured in benches/peers-prometheus (kept out of this workspace so the
//! `prometheus` crate stays out of the normal build).

use std::sync::Arc;
use std::time::SystemTime;

use census::exporters::PrometheusExporter;
use census::{
    Aggregation, AggregationData, DistributionData, Exporter, MeasureF64, Number, Producer, Row,
    TagKey, TagValue, View, ViewData,
};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BOUNDS: [f64; 8] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

struct Prebuilt(Vec<ViewData>);

impl Producer for Prebuilt {
    fn produce(&self) -> Vec<ViewData> {
        self.0.clone()
    }
}

/// `series` rows over four views, a quarter each, every row with three
/// distinct tag values (method x route x shard).
fn batch(series: usize) -> Vec<ViewData> {
    let measure = MeasureF64::new("bench/value", "a value", "1").expect("valid measure");
    let keys = ["method", "route", "shard"].map(|k| TagKey::new(k).expect("valid key"));
    let now = SystemTime::now();
    let aggregations = [
        ("bench/requests", Aggregation::Count),
        ("bench/bytes", Aggregation::Sum),
        ("bench/in_flight", Aggregation::LastValue),
        (
            "bench/latency",
            Aggregation::distribution(BOUNDS).expect("valid bounds"),
        ),
    ];
    let per_view = series / aggregations.len();
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let bounds: Arc<[f64]> = Arc::from(BOUNDS.to_vec());
    aggregations
        .into_iter()
        .map(|(name, aggregation)| {
            let view = View::builder(name, &measure)
                .tag_keys(keys.clone())
                .aggregation(aggregation.clone())
                .build()
                .expect("valid view");
            let rows = (0..per_view)
                .map(|i| {
                    let tags = vec![
                        Some(TagValue::new(methods[i % 5]).expect("valid value")),
                        Some(TagValue::new(format!("/api/v1/items/{}", i / 5 % 100)).expect("v")),
                        Some(TagValue::new(format!("shard-{}", i / 500)).expect("v")),
                    ];
                    let x = i as u64;
                    let data = match aggregation {
                        Aggregation::Count => AggregationData::Count(x * 3),
                        Aggregation::Sum => AggregationData::Sum(Number::Float(x as f64 * 1.25)),
                        Aggregation::LastValue => AggregationData::LastValue(Number::Int(x as i64)),
                        Aggregation::Distribution(_) => {
                            let bucket_counts: Vec<u64> = (0..9).map(|b| (x + b) % 7).collect();
                            let count = bucket_counts.iter().sum();
                            AggregationData::Distribution(DistributionData {
                                count,
                                sum: count as f64 * 42.5,
                                mean: 42.5,
                                min: 1.0,
                                max: 900.0,
                                sum_of_squared_deviation: 0.0,
                                bounds: Arc::clone(&bounds),
                                bucket_counts,
                            })
                        }
                    };
                    Row::new(tags, data, now)
                })
                .collect();
            ViewData::new(view, now, now, rows)
        })
        .collect()
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("prometheus");
    group.sample_size(20);
    for series in [10_000usize, 100_000] {
        let prebuilt = Arc::new(Prebuilt(batch(series)));
        let exporter = PrometheusExporter::builder()
            .namespace("bench")
            .build()
            .expect("valid exporter");
        exporter.attach(Arc::clone(&prebuilt) as Arc<dyn Producer>);
        group.throughput(Throughput::Elements(series as u64));
        group.bench_with_input(BenchmarkId::new("render", series), &series, |b, _| {
            b.iter(|| black_box(exporter.render().1.len()))
        });
        group.bench_with_input(BenchmarkId::new("clone_batch", series), &series, |b, _| {
            b.iter(|| black_box(prebuilt.produce().len()))
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
