//! Snapshots: `retrieve_data` of a view with 10,000 rows (case F of the
//! performance issue), alone and while a thread keeps recording into it,
//! beside cloning its result: the cost of the output alone, the floor any
//! snapshot that returns owned rows pays.
//! The recording thread's progress during the measurement is printed, to
//! show that a snapshot does not stop recording.
//!
//! And callback views: a snapshot of every view (as a scrape takes it) of
//! a manager with 1, 10 and 100 callback views, each reading an atomic
//! into one tagged row, beside the same reads and rows made directly on
//! the bench's thread (`direct`): the difference is the hand-over to the
//! callback thread and back, once per snapshot, plus the observer's work.
//!
//! `cargo bench --bench snapshot -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use census::{
    Aggregation, AggregationData, ExportError, Exporter, MeasureF64, MeasureI64, MeasurementMap,
    Number, Producer, Row, TagKey, TagMap, View, ViewData, ViewManager,
};
use criterion::{criterion_group, criterion_main, Criterion};

const ROWS: usize = 10_000;

struct Setup {
    vm: ViewManager,
    measure: MeasureF64,
    maps: Vec<TagMap>,
}

fn setup(aggregation: Aggregation) -> Setup {
    let measure = MeasureF64::new("bench/latency", "latency", "ms").expect("measure");
    let keys = ["method", "route", "status"].map(|k| TagKey::new(k).expect("key"));
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("bench/big", &measure)
            .tag_keys(keys.iter().cloned())
            .aggregation(aggregation)
            .build()
            .expect("view"),
    )
    .expect("register");
    let maps: Vec<TagMap> = (0..ROWS)
        .map(|i| {
            TagMap::new()
                .with(&keys[0], format!("m{}", i % 10))
                .and_then(|m| m.with(&keys[1], format!("/r{}", i / 10)))
                .and_then(|m| m.with(&keys[2], "200"))
                .expect("tags")
        })
        .collect();
    for map in &maps {
        MeasurementMap::new().put(&measure, 1.0).record_to(&vm, map);
    }
    Setup { vm, measure, maps }
}

fn retrieve(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot/retrieve_data/10000_rows");
    for (id, agg) in [
        ("sum", Aggregation::Sum),
        (
            "distribution",
            Aggregation::distribution([
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
            ])
            .expect("bounds"),
        ),
    ] {
        let s = setup(agg);
        group.bench_function(id, |b| {
            b.iter(|| {
                let data = s.vm.retrieve_data("bench/big").expect("data");
                assert_eq!(data.rows.len(), ROWS);
                black_box(data)
            })
        });
        // The floor under both: making and dropping the rows a snapshot
        // returns (each with its own tag and bucket vectors, as `Row` and
        // `DistributionData` own them), without reading any share.
        let result = s.vm.retrieve_data("bench/big").expect("data");
        group.bench_function(format!("{id}/cloning_the_result"), |b| {
            b.iter(|| black_box(result.clone()))
        });
        drop(result);
        // The same while another thread records into the view's rows.
        let stop = AtomicBool::new(false);
        let recorded = AtomicU64::new(0);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut n = 0usize;
                // Relaxed: a stop flag and a progress count; the scope's
                // join orders everything else.
                while !stop.load(Ordering::Relaxed) {
                    MeasurementMap::new()
                        .put(&s.measure, 1.0)
                        .record_to(&s.vm, &s.maps[(n * 7919) % ROWS]);
                    n += 1;
                }
                recorded.store(n as u64, Ordering::Relaxed);
            });
            group.bench_function(format!("{id}/while_recording"), |b| {
                b.iter(|| black_box(s.vm.retrieve_data("bench/big").expect("data")))
            });
            stop.store(true, Ordering::Relaxed);
        });
        println!(
            "snapshot/{id}: the recording thread made {} records during the measurement",
            recorded.load(Ordering::Relaxed)
        );
    }
    group.finish();
}

/// Keeps the producer a manager attaches, to snapshot as a scrape does.
#[derive(Default)]
struct Puller(Mutex<Option<Arc<dyn Producer>>>);

impl Exporter for Puller {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Ok(())
    }

    fn attach(&self, producer: Arc<dyn Producer>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(producer);
        }
    }
}

fn callbacks(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot/callbacks");
    let gauge = MeasureI64::new("bench/gauge", "a reading", "1").expect("measure");
    let key = TagKey::new("pool").expect("key");
    for n in [1usize, 10, 100] {
        let vm = ViewManager::new();
        let readings: Vec<Arc<AtomicI64>> =
            (0..n).map(|i| Arc::new(AtomicI64::new(i as i64))).collect();
        let views: Vec<(View, TagMap)> = (0..n)
            .map(|i| {
                let view = View::builder(format!("bench/gauge_{i}"), &gauge)
                    .tag_keys([key.clone()])
                    .aggregation(Aggregation::LastValue)
                    .build()
                    .expect("view");
                let tags = TagMap::new().with(&key, format!("p{i}")).expect("tags");
                (view, tags)
            })
            .collect();
        for ((view, tags), reading) in views.iter().zip(&readings) {
            let (tags, reading) = (tags.clone(), Arc::clone(reading));
            vm.register_callback(view.clone(), move |out| {
                out.observe(&tags, reading.load(Ordering::Relaxed))
            })
            .expect("register");
        }
        let puller = Arc::new(Puller::default());
        vm.register_exporter(Arc::clone(&puller))
            .expect("register the puller");
        vm.set_reporting_period(std::time::Duration::from_secs(3600));
        let producer = puller
            .0
            .lock()
            .ok()
            .and_then(|p| p.clone())
            .expect("producer");
        group.bench_function(format!("{n}_views/pull"), |b| {
            b.iter(|| {
                let batch = producer.produce();
                assert_eq!(batch.len(), n);
                black_box(batch)
            })
        });
        // The same reads, tag projections and rows, made here.
        let key = &key;
        let start = SystemTime::now();
        group.bench_function(format!("{n}_views/direct"), |b| {
            b.iter(|| {
                let end = SystemTime::now();
                let batch: Vec<ViewData> = views
                    .iter()
                    .zip(&readings)
                    .map(|((view, tags), reading)| {
                        let value = reading.load(Ordering::Relaxed);
                        let row = Row::new(
                            vec![tags.get(key).cloned()],
                            AggregationData::LastValue(Number::Int(value)),
                            start,
                        );
                        ViewData::new(view.clone(), start, end, vec![row])
                    })
                    .collect();
                black_box(batch)
            })
        });
        let stats = vm.stats();
        assert_eq!((stats.callback_panics, stats.callback_timeouts), (0, 0));
    }
    group.finish();
}

criterion_group!(benches, retrieve, callbacks);
criterion_main!(benches);
