//! One series set rendered by census's Prometheus exporter and by the
//! `prometheus` crate's TextEncoder: 10,000 and 100,000 series, a quarter
//! each counter (integer), counter (float), gauge and histogram (8
//! buckets), 3 labels each, with equal values on both sides.
//!
//! Both sides are timed as a scrape runs them: census's producer hands
//! over the batch (a clone of a prebuilt one) and the exporter encodes it;
//! the prometheus crate gathers its registry and encodes that.

use std::sync::Arc;
use std::time::SystemTime;

use census_core::{
    Aggregation, AggregationData, DistributionData, Exporter, MeasureF64, Number, Producer, Row,
    TagKey, TagValue, View, ViewData,
};
use census_exporter_prometheus::PrometheusExporter;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

const BOUNDS: [f64; 8] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
/// One value inside each bucket, the last past every bound.
const INSIDE: [f64; 9] = [1.0, 7.0, 20.0, 40.0, 75.0, 200.0, 400.0, 750.0, 5000.0];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fn labels(i: usize) -> [String; 3] {
    [
        METHODS[i % 5].to_owned(),
        format!("/api/v1/items/{}", i / 5 % 100),
        format!("shard-{}", i / 500),
    ]
}

fn bucket_counts(i: usize) -> Vec<u64> {
    (0..9).map(|b| (i as u64 + b) % 7).collect()
}

struct Prebuilt(Vec<ViewData>);

impl Producer for Prebuilt {
    fn produce(&self) -> Vec<ViewData> {
        self.0.clone()
    }
}

fn census_batch(series: usize) -> Vec<ViewData> {
    let measure = MeasureF64::new("bench/value", "a value", "1").expect("valid measure");
    let keys = ["method", "route", "shard"].map(|k| TagKey::new(k).expect("valid key"));
    let now = SystemTime::now();
    let bounds: Arc<[f64]> = Arc::from(BOUNDS.to_vec());
    let views = [
        ("requests", Aggregation::Count),
        ("bytes", Aggregation::Sum),
        ("in_flight", Aggregation::LastValue),
        (
            "latency",
            Aggregation::distribution(BOUNDS).expect("valid bounds"),
        ),
    ];
    views
        .into_iter()
        .map(|(name, aggregation)| {
            let view = View::builder(name, &measure)
                .description(format!("{name} help"))
                .tag_keys(keys.clone())
                .aggregation(aggregation.clone())
                .build()
                .expect("valid view");
            let rows = (0..series / 4)
                .map(|i| {
                    let tags = labels(i)
                        .into_iter()
                        .map(|v| Some(TagValue::new(v).expect("valid value")))
                        .collect();
                    let x = i as u64;
                    let data = match aggregation {
                        Aggregation::Count => AggregationData::Count(x * 3),
                        Aggregation::Sum | Aggregation::UpDownSum => {
                            AggregationData::Sum(Number::Float(x as f64 * 1.25))
                        }
                        Aggregation::LastValue => {
                            AggregationData::LastValue(Number::Float(x as f64))
                        }
                        Aggregation::Distribution(_) => {
                            let counts = bucket_counts(i);
                            let sum = counts.iter().zip(INSIDE).map(|(c, v)| *c as f64 * v).sum();
                            AggregationData::Distribution(DistributionData {
                                count: counts.iter().sum(),
                                sum,
                                mean: 0.0,
                                min: 0.0,
                                max: 0.0,
                                sum_of_squared_deviation: 0.0,
                                bounds: Arc::clone(&bounds),
                                bucket_counts: counts,
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

fn prometheus_registry(series: usize) -> Registry {
    let registry = Registry::new();
    let names = ["method", "route", "shard"];
    let requests = IntCounterVec::new(Opts::new("requests_total", "requests help"), &names)
        .expect("valid counter");
    let bytes = CounterVec::new(Opts::new("bytes_total", "bytes help"), &names).expect("valid");
    let in_flight = GaugeVec::new(Opts::new("in_flight", "in_flight help"), &names).expect("valid");
    let latency = HistogramVec::new(
        HistogramOpts::new("latency", "latency help").buckets(BOUNDS.to_vec()),
        &names,
    )
    .expect("valid histogram");
    for i in 0..series / 4 {
        let l = labels(i);
        let l = [l[0].as_str(), l[1].as_str(), l[2].as_str()];
        let x = i as u64;
        requests.with_label_values(&l).inc_by(x * 3);
        bytes.with_label_values(&l).inc_by(x as f64 * 1.25);
        in_flight.with_label_values(&l).set(x as f64);
        let h = latency.with_label_values(&l);
        for (count, value) in bucket_counts(i).into_iter().zip(INSIDE) {
            for _ in 0..count {
                h.observe(value);
            }
        }
    }
    for c in [
        Box::new(requests) as Box<dyn prometheus::core::Collector>,
        Box::new(bytes),
        Box::new(in_flight),
        Box::new(latency),
    ] {
        registry.register(c).expect("registered");
    }
    registry
}

fn peers(c: &mut Criterion) {
    let mut group = c.benchmark_group("peers");
    group.sample_size(20);
    for series in [10_000usize, 100_000] {
        group.throughput(Throughput::Elements(series as u64));

        let exporter = PrometheusExporter::builder()
            .build()
            .expect("valid exporter");
        exporter.attach(Arc::new(Prebuilt(census_batch(series))) as Arc<dyn Producer>);
        let ours = exporter.render().1;
        group.bench_with_input(
            BenchmarkId::new("census_render", series),
            &series,
            |b, _| b.iter(|| black_box(exporter.render().1.len())),
        );

        let registry = prometheus_registry(series);
        let encoder = TextEncoder::new();
        let mut buf = Vec::new();
        encoder
            .encode(&registry.gather(), &mut buf)
            .expect("encodes");
        // Same series set: the same number of sample lines on both sides.
        let lines = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(lines(&ours), lines(&String::from_utf8_lossy(&buf)));
        group.bench_with_input(
            BenchmarkId::new("prometheus_text_encoder", series),
            &series,
            |b, _| {
                b.iter(|| {
                    buf.clear();
                    encoder
                        .encode(&registry.gather(), &mut buf)
                        .expect("encodes");
                    black_box(buf.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
