//! Snapshots: `retrieve_data` of a view with 10,000 rows (case F of the
//! performance issue), alone and while a thread keeps recording into it.
//! The recording thread's progress during the measurement is printed, to
//! show that a snapshot does not stop recording.
//!
//! `cargo bench --bench snapshot -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use census::{Aggregation, MeasureF64, MeasurementMap, TagKey, TagMap, View, ViewManager};
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

criterion_group!(benches, retrieve);
criterion_main!(benches);
