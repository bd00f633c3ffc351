//! Rendering a Prometheus scrape: 10,000 and 100,000 series, a quarter each
//! Count, Sum, LastValue and Distribution (8 bounds), 3 labels each.
//!
//! `prometheus/render/N` is a whole render as a scrape does it: the
//! producer hands over the batch (a clone of a prebuilt one here) and the
//! exporter encodes it. `prometheus/clone_batch/N` is the clone alone, so
//! the encoder's share is the difference.
//!
//! `prometheus/scrape_4_concurrent/10000` is the embedded endpoint under
//! load: four scrapers, each on its own keep-alive connection, scrape
//! 10,000 series at the same moment; one iteration is the time until all
//! four have their whole answer.
//!
//! ```text
//! cargo bench --bench prometheus --features prometheus -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench prometheus --features prometheus -- scrape_4_concurrent
//! ```
//!
//! The same series set rendered by the `prometheus` crate's TextEncoder is
//! measured in benches/peers-prometheus (kept out of this workspace so the
//! `prometheus` crate stays out of the normal build).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

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
                        Aggregation::Sum | Aggregation::UpDownSum => {
                            AggregationData::Sum(Number::Float(x as f64 * 1.25))
                        }
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

const SCRAPERS: usize = 4;

/// Four threads, each with its own keep-alive connection, scrape together
/// `iters` times; the time is from the release of each round to the last
/// scraper's whole answer.
fn scrape_concurrently(c: &mut Criterion) {
    let series = 10_000usize;
    let exporter = PrometheusExporter::builder()
        .namespace("bench")
        .build()
        .expect("valid exporter");
    exporter.attach(Arc::new(Prebuilt(batch(series))) as Arc<dyn Producer>);
    let endpoint = exporter.serve("127.0.0.1:0").expect("endpoint starts");
    let url = endpoint.url();
    let mut group = c.benchmark_group("prometheus");
    group.sample_size(20);
    group.throughput(Throughput::Elements((series * SCRAPERS) as u64));
    group.bench_function(BenchmarkId::new("scrape_4_concurrent", series), |b| {
        b.iter_custom(|iters| {
            // Each round: the scrapers wait at `go`, scrape once, and meet
            // at `done`; the main thread times from `go` to `done`.
            let go = Arc::new(Barrier::new(SCRAPERS + 1));
            let done = Arc::new(Barrier::new(SCRAPERS + 1));
            let scrapers: Vec<_> = (0..SCRAPERS)
                .map(|_| {
                    let (go, done, url) = (Arc::clone(&go), Arc::clone(&done), url.clone());
                    thread::spawn(move || {
                        let agent: ureq::Agent = ureq::Agent::config_builder()
                            .timeout_global(Some(Duration::from_secs(30)))
                            .build()
                            .into();
                        for _ in 0..iters {
                            go.wait();
                            let body = agent
                                .get(&url)
                                .call()
                                .expect("scrape answered")
                                .body_mut()
                                .with_config()
                                .limit(u64::MAX)
                                .read_to_string()
                                .expect("scrape body");
                            black_box(body.len());
                            done.wait();
                        }
                    })
                })
                .collect();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                go.wait();
                let start = Instant::now();
                done.wait();
                total += start.elapsed();
            }
            for scraper in scrapers {
                scraper.join().expect("scraper thread");
            }
            total
        })
    });
    group.finish();
    endpoint.stop();
}

criterion_group!(benches, render, scrape_concurrently);
criterion_main!(benches);
