//! Registration at scale (issue #16): registering 10,000 views (one per
//! measure, and all of one measure), and the
//! first record on a thread after one of 10,000 views was unregistered
//! (which is where the thread catches up with the routing table). The
//! baseline of the second is the same record with nothing unregistered.
//!
//! With the `prometheus` feature, also registering 10,000 views beside a
//! Prometheus exporter, which checks each view's names against the
//! registered views' (it planned every registered view at every
//! registration, O(n²), until it kept their names between checks).
//!
//! `cargo bench --bench registration --features prometheus -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use census::{Aggregation, MeasureI64, MeasurementMap, TagMap, View, ViewManager};
use criterion::{criterion_group, criterion_main, BatchSize, Bencher, Criterion};

const VIEWS: usize = 10_000;

fn measures() -> Vec<MeasureI64> {
    (0..VIEWS)
        .map(|i| MeasureI64::new(format!("bench/m{i}"), "", "1").expect("measure"))
        .collect()
}

fn view(i: usize, m: &MeasureI64) -> View {
    View::builder(format!("bench/v{i}"), m)
        .aggregation(Aggregation::Count)
        .build()
        .expect("view")
}

/// Times registering one view per measure into a manager from `manager`.
fn register_into(b: &mut Bencher<'_>, measures: &[MeasureI64], manager: impl Fn() -> ViewManager) {
    b.iter_batched(
        || {
            let views: Vec<View> = measures
                .iter()
                .enumerate()
                .map(|(i, m)| view(i, m))
                .collect();
            (manager(), views)
        },
        |(vm, views)| {
            for v in views {
                vm.register_view(v).expect("register");
            }
            vm
        },
        BatchSize::PerIteration,
    )
}

fn register(c: &mut Criterion) {
    let measures = measures();
    let mut group = c.benchmark_group("registration");
    group.sample_size(10);
    group.bench_function("register/10000_views", |b| {
        register_into(b, &measures, ViewManager::new)
    });
    // Every view on one measure: the measure's view list grows to 10,000.
    let one = vec![measures[0].clone(); VIEWS];
    group.bench_function("register/10000_views_of_one_measure", |b| {
        register_into(b, &one, ViewManager::new)
    });
    #[cfg(feature = "prometheus")]
    group.bench_function("register/10000_views_beside_prometheus", |b| {
        register_into(b, &measures, || {
            let vm = ViewManager::new();
            let prometheus = census::exporters::PrometheusExporter::builder()
                .build()
                .expect("prometheus exporter");
            vm.register_exporter(prometheus).expect("register exporter");
            vm
        })
    });
    group.finish();
}

fn record_after_unregister(c: &mut Criterion) {
    let measures = measures();
    let vm = ViewManager::new();
    for (i, m) in measures.iter().enumerate() {
        vm.register_view(view(i, m)).expect("register");
    }
    let tags = TagMap::new();
    let record = |m: &MeasureI64| MeasurementMap::new().put(m, 1).record_to(&vm, &tags);
    for m in &measures {
        record(m);
    }
    let (gone, other) = (&measures[VIEWS / 2], &measures[0]);
    let mut group = c.benchmark_group("registration/10000_views");
    group.bench_function("record/nothing_changed", |b| {
        b.iter(|| record(black_box(other)))
    });
    group.bench_function("record/after_an_unregister", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: put the view back and catch up with that.
                vm.register_view(view(VIEWS / 2, gone)).expect("register");
                record(gone);
                vm.unregister_view(&format!("bench/v{}", VIEWS / 2))
                    .expect("unregister");
                let started = Instant::now();
                record(black_box(other));
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, register, record_after_unregister);
criterion_main!(benches);
