//! The record path: one f64 measurement with 3 tags (10 values each, 1,000
//! series) into 1, 3 and 10 views, on one and two threads, existing rows
//! (hit) and new rows (miss) apart, with tag maps kept or built per call
//! (from `&str` values, the way a request handler does) or given as
//! borrowed `&str` tags (`record_tags_to`), a pre-bound
//! handle, and tag maps whose key order differs from the view's; one kept
//! map against the same tags recorded under the current tag context;
//! Distribution records carrying a trace id (exemplars); and records into
//! a manager whose recording is turned off (`set_enabled(false)`). Before
//! timing, each hit case counts the allocations one record makes with a
//! counting global allocator, prints them and fails if a hit allocates,
//! building the map included.
//!
//! `cargo bench --bench record -- --warm-up-time 1 --measurement-time 3`
//!
//! Case letters (A to E) are those of the performance issue; the peers
//! comparison lives in `benches/peers`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use census::{tags, Aggregation, MeasureF64, MeasurementMap, TagKey, TagMap, View, ViewManager};
use criterion::{criterion_group, criterion_main, Criterion};

/// Counts every allocation, so a bench can prove a path allocates nothing.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the
// counter is a plain atomic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic read after the measured loop on this thread.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Relaxed: as above.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const VALUES_PER_TAG: usize = 10;
const SEQUENCE: usize = 4096;

/// The shared shape of every case: 3 keys, 1,000 prebuilt tag maps, and a
/// precomputed pseudo-random order to visit them in.
struct Workload {
    measure: MeasureF64,
    keys: [TagKey; 3],
    /// Each series' values, as a request carries them.
    values: Vec<[String; 3]>,
    maps: Vec<TagMap>,
    order: Vec<usize>,
}

impl Workload {
    fn new() -> Workload {
        let measure = MeasureF64::new("bench/latency", "latency", "ms").expect("measure");
        let keys = ["method", "route", "status"].map(|k| TagKey::new(k).expect("key"));
        let mut values = Vec::new();
        for a in 0..VALUES_PER_TAG {
            for b in 0..VALUES_PER_TAG {
                for c in 0..VALUES_PER_TAG {
                    values.push([format!("m{a}"), format!("/r{b}"), format!("{}", 200 + c)]);
                }
            }
        }
        let maps = values
            .iter()
            .map(|v| tags(&keys, [&v[0], &v[1], &v[2]]).expect("tags"))
            .collect::<Vec<_>>();
        // xorshift: reproducible, and not timed.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let order = (0..SEQUENCE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % maps.len() as u64) as usize
            })
            .collect();
        Workload {
            measure,
            keys,
            values,
            maps,
            order,
        }
    }

    /// A manager with `n` views over the measure, aggregations cycling
    /// Sum, Count, Distribution (so 1 view is case A's Sum view, 3 views
    /// case C's set), keys in `keys` order.
    fn manager(&self, n: usize, keys: &[TagKey], only: Option<Aggregation>) -> ViewManager {
        let vm = ViewManager::new();
        for i in 0..n {
            let agg = only.clone().unwrap_or_else(|| match i % 3 {
                0 => Aggregation::Sum,
                1 => Aggregation::Count,
                _ => distribution(),
            });
            vm.register_view(
                View::builder(format!("bench/view_{i}"), &self.measure)
                    .tag_keys(keys.iter().cloned())
                    .aggregation(agg)
                    .build()
                    .expect("view"),
            )
            .expect("register");
        }
        // Every row exists before timing: these are the hit cases.
        for map in &self.maps {
            MeasurementMap::new()
                .put(&self.measure, 1.0)
                .record_to(&vm, map);
        }
        vm
    }

    fn record_at(&self, vm: &ViewManager, i: usize) {
        let map = &self.maps[self.order[i % SEQUENCE]];
        MeasurementMap::new()
            .put(&self.measure, black_box(12.5))
            .record_to(vm, black_box(map));
    }

    /// A record with the map built for it from the series' `&str` values,
    /// as a request handler builds it.
    fn record_built_at(&self, vm: &ViewManager, i: usize) {
        let v = black_box(&self.values[self.order[i % SEQUENCE]]);
        if let Ok(map) = tags(&self.keys, [&v[0], &v[1], &v[2]]) {
            MeasurementMap::new()
                .put(&self.measure, black_box(12.5))
                .record_to(vm, &map);
        }
    }

    /// A record with the series' `&str` values given as borrowed tags
    /// (`record_tags_to`), as a request handler may record them.
    fn record_borrowed_at(&self, vm: &ViewManager, i: usize) {
        let v = black_box(&self.values[self.order[i % SEQUENCE]]);
        let [k0, k1, k2] = &self.keys;
        MeasurementMap::new()
            .put(&self.measure, black_box(12.5))
            .record_tags_to(vm, &[(k0, &v[0]), (k1, &v[1]), (k2, &v[2])]);
    }
}

/// The tag map of one request, the way the README builds it.
fn tags(keys: &[TagKey; 3], v: [&str; 3]) -> Result<TagMap, census::Error> {
    TagMap::new()
        .with(&keys[0], v[0])?
        .with(&keys[1], v[1])?
        .with(&keys[2], v[2])
}

/// Ten bounds, as case B asks.
fn distribution() -> Aggregation {
    Aggregation::distribution([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0])
        .expect("bounds")
}

/// Allocations per call of `f`, over many calls after as many warm-up
/// calls (which make this thread's shares of the rows).
fn allocations_per_op(name: &str, mut f: impl FnMut(usize)) -> f64 {
    const N: usize = 100_000;
    for i in 0..N {
        f(i);
    }
    // Relaxed: read on this thread around its own loop.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..N {
        f(i);
    }
    let per_op = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / N as f64;
    println!("allocations/op {name}: {per_op}");
    per_op
}

fn existing_rows(c: &mut Criterion) {
    let w = Workload::new();
    let mut group = c.benchmark_group("record/existing_row/3_tags");
    for (id, n, only) in [
        ("1_view", 1, None),                              // case A
        ("1_view_distribution", 1, Some(distribution())), // case B
        ("3_views", 3, None),                             // case C
        ("10_views", 10, None),
    ] {
        let vm = w.manager(n, &w.keys, only);
        let allocs = allocations_per_op(&format!("existing_row/{id}"), |i| w.record_at(&vm, i));
        assert_eq!(allocs, 0.0, "the hit path must not allocate");
        let mut i = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                i += 1;
                w.record_at(&vm, i)
            })
        });
    }
    // Cases A2, B2, C2: the map built for every record from the series'
    // `&str` values, as a request handler does. Building a map of three
    // short values allocates nothing, so neither may the whole record.
    for (id, n, only) in [
        ("1_view_map_built_per_call", 1, None),
        (
            "1_view_distribution_map_built_per_call",
            1,
            Some(distribution()),
        ),
        ("3_views_map_built_per_call", 3, None),
    ] {
        let vm = w.manager(n, &w.keys, only);
        let allocs =
            allocations_per_op(&format!("existing_row/{id}"), |i| w.record_built_at(&vm, i));
        assert_eq!(allocs, 0.0, "a map built per call must not allocate");
        let mut i = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                i += 1;
                w.record_built_at(&vm, i)
            })
        });
    }
    // The same three cases with the values given as borrowed tags
    // (`record_tags_to`): no map built, and no allocation however long.
    for (id, n, only) in [
        ("1_view_borrowed_tags", 1, None),
        ("1_view_distribution_borrowed_tags", 1, Some(distribution())),
        ("3_views_borrowed_tags", 3, None),
    ] {
        let vm = w.manager(n, &w.keys, only);
        let allocs = allocations_per_op(&format!("existing_row/{id}"), |i| {
            w.record_borrowed_at(&vm, i)
        });
        assert_eq!(allocs, 0.0, "borrowed tags must not allocate");
        let mut i = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                i += 1;
                w.record_borrowed_at(&vm, i)
            })
        });
    }
    let build = |i: usize| {
        let v = black_box(&w.values[w.order[i % SEQUENCE]]);
        tags(&w.keys, [&v[0], &v[1], &v[2]])
    };
    let allocs = allocations_per_op("build_map_only", |i| drop(black_box(build(i))));
    assert_eq!(allocs, 0.0, "three short tags must not allocate");
    let mut i = 0;
    group.bench_function("build_map_only", |b| {
        b.iter(|| {
            i += 1;
            black_box(build(i))
        })
    });
    // Many kept maps feeding few rows: one map per route, recorded into a
    // view by method only (200 maps, 3 rows).
    let by_method = ViewManager::new();
    by_method
        .register_view(
            View::builder("bench/by_method", &w.measure)
                .tag_keys([w.keys[0].clone()])
                .aggregation(Aggregation::Sum)
                .build()
                .expect("view"),
        )
        .expect("register");
    let routes: Vec<TagMap> = (0..200)
        .map(|r| {
            TagMap::new()
                .with(&w.keys[0], format!("m{}", r % 3))
                .and_then(|m| m.with(&w.keys[1], format!("/r{r}")))
                .expect("tags")
        })
        .collect();
    let per_route = |i: usize| {
        let (v, tags) = (
            black_box(12.5),
            black_box(&routes[w.order[i % SEQUENCE] % 200]),
        );
        MeasurementMap::new()
            .put(&w.measure, v)
            .record_to(&by_method, tags)
    };
    let allocs = allocations_per_op("existing_row/1_view_200_maps_3_rows", per_route);
    assert_eq!(allocs, 0.0, "kept maps must not allocate");
    let mut i = 0;
    group.bench_function("1_view_200_maps_3_rows", |b| {
        b.iter(|| {
            i += 1;
            per_route(i)
        })
    });
    // A view without keys, recorded with the empty map.
    let total = ViewManager::new();
    total
        .register_view(
            View::builder("bench/total", &w.measure)
                .aggregation(Aggregation::Sum)
                .build()
                .expect("view"),
        )
        .expect("register");
    let empty = TagMap::new();
    let untagged = |_: usize| {
        let (v, tags) = (black_box(12.5), black_box(&empty));
        MeasurementMap::new()
            .put(&w.measure, v)
            .record_to(&total, tags)
    };
    let allocs = allocations_per_op("existing_row/no_tags", untagged);
    assert_eq!(allocs, 0.0, "the empty map must not allocate");
    group.bench_function("no_tags", |b| {
        b.iter(|| {
            i += 1;
            untagged(i)
        })
    });
    // A view listing its keys in another order than the maps projects
    // through the same steps and must cost the same. Both
    // managers are built side by side, so their rows interleave in memory
    // and neither gets a tidier heap than the other.
    // Issue #13: one kept map, and the same tags entered once as the
    // current context, which each record reads (one thread-local access).
    // Same manager, same row: the difference is the context's cost.
    let vm = w.manager(1, &w.keys, None);
    let map = &w.maps[0];
    let kept = |_: usize| {
        MeasurementMap::new()
            .put(&w.measure, black_box(12.5))
            .record_to(&vm, black_box(map))
    };
    let allocs = allocations_per_op("existing_row/1_view_one_kept_map", kept);
    assert_eq!(allocs, 0.0, "a kept map must not allocate");
    group.bench_function("1_view_one_kept_map", |b| b.iter(|| kept(0)));
    let current = |_: usize| {
        MeasurementMap::new()
            .put(&w.measure, black_box(12.5))
            .record_current_to(black_box(&vm))
    };
    tags::scope(map, || {
        let allocs = allocations_per_op("existing_row/1_view_current_context", current);
        assert_eq!(allocs, 0.0, "recording under the context must not allocate");
        group.bench_function("1_view_current_context", |b| b.iter(|| current(0)));
    });
    // Case B with a trace id attached to every record: each keeps its
    // bucket's exemplar. Once every bucket holds one, no allocation.
    let vm = w.manager(1, &w.keys, Some(distribution()));
    let ids: Vec<String> = (0..SEQUENCE).map(|i| format!("{i:032x}")).collect();
    let attached = |i: usize| {
        let map = &w.maps[w.order[i % SEQUENCE]];
        MeasurementMap::new()
            .put(&w.measure, black_box(12.5))
            .attach("trace_id", &ids[i % SEQUENCE])
            .record_to(&vm, black_box(map))
    };
    let allocs = allocations_per_op("existing_row/1_view_distribution_trace_id", attached);
    assert_eq!(allocs, 0.0, "a kept exemplar slot must not allocate");
    group.bench_function("1_view_distribution_trace_id", |b| {
        b.iter(|| {
            i += 1;
            attached(i)
        })
    });
    let reversed: Vec<TagKey> = w.keys.iter().rev().cloned().collect();
    let pair = [
        ("1_view_keys_in_map_order", w.keys.to_vec()),
        ("1_view_keys_reordered", reversed),
    ]
    .map(|(id, keys)| {
        let vm = ViewManager::new();
        vm.register_view(
            View::builder("bench/order", &w.measure)
                .tag_keys(keys)
                .aggregation(Aggregation::Sum)
                .build()
                .expect("view"),
        )
        .expect("register");
        (id, vm)
    });
    for map in &w.maps {
        for (_, vm) in &pair {
            MeasurementMap::new()
                .put(&w.measure, 1.0)
                .record_to(vm, map);
        }
    }
    for (id, vm) in &pair {
        let allocs = allocations_per_op(&format!("existing_row/{id}"), |i| w.record_at(vm, i));
        assert_eq!(allocs, 0.0, "key order must not make records allocate");
        let mut i = 0;
        group.bench_function(*id, |b| {
            b.iter(|| {
                i += 1;
                w.record_at(vm, i)
            })
        });
    }
    group.finish();
}

fn bound(c: &mut Criterion) {
    // Case D: tags resolved once.
    let w = Workload::new();
    let vm = w.manager(1, &w.keys, None);
    let handle = vm.bind(&w.measure, &w.maps[0]);
    let allocs = allocations_per_op("bound/1_view", |_| handle.record(black_box(1.0)));
    assert_eq!(allocs, 0.0, "a bound record must not allocate");
    c.bench_function("record/bound/3_tags/1_view", |b| {
        b.iter(|| handle.record(black_box(1.0)))
    });
}

fn new_rows(c: &mut Criterion) {
    // The miss: every record makes a row. Rows are made ahead in batches of
    // fresh tag maps on fresh managers, outside the timed section.
    let w = Workload::new();
    const BATCH: usize = 10_000;
    let fresh: Vec<TagMap> = (0..BATCH)
        .map(|i| {
            TagMap::new()
                .with(&w.keys[0], format!("m{}", i % 10))
                .and_then(|m| m.with(&w.keys[1], format!("/new/{i}")))
                .and_then(|m| m.with(&w.keys[2], "200"))
                .expect("tags")
        })
        .collect();
    let mut group = c.benchmark_group("record/new_row/3_tags");
    for (id, n) in [("1_view", 1), ("3_views", 3)] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let vm = ViewManager::new();
                    for v in 0..n {
                        vm.register_view(
                            View::builder(format!("bench/new_{v}"), &w.measure)
                                .tag_keys(w.keys.iter().cloned())
                                .aggregation(Aggregation::Sum)
                                .row_limit(BATCH)
                                .build()
                                .expect("view"),
                        )
                        .expect("register");
                    }
                    let take = left.min(BATCH);
                    let start = Instant::now();
                    for map in &fresh[..take] {
                        MeasurementMap::new()
                            .put(&w.measure, black_box(1.0))
                            .record_to(&vm, map);
                    }
                    total += start.elapsed();
                    left -= take;
                    drop(vm);
                }
                total
            })
        });
    }
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    // Case E: the same hit workload on two threads at once; the time
    // reported is wall time per record per thread, so perfect scaling shows
    // the one-thread time and the throughput ratio is 2 x t1 / t2.
    let w = Workload::new();
    let mut group = c.benchmark_group("record/2_threads/existing_row/3_tags");
    for (id, n, built) in [
        ("1_view", 1, false),
        ("3_views", 3, false),
        ("10_views", 10, false),
        ("1_view_map_built_per_call", 1, true), // case E2
    ] {
        let vm = w.manager(n, &w.keys, None);
        let record = |i: usize| {
            if built {
                w.record_built_at(&vm, i)
            } else {
                w.record_at(&vm, i)
            }
        };
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let go = Barrier::new(3);
                std::thread::scope(|s| {
                    for t in 0..2 {
                        let (record, go) = (&record, &go);
                        s.spawn(move || {
                            // Warm this thread's index before the clock.
                            for i in 0..SEQUENCE {
                                record(i);
                            }
                            go.wait();
                            for i in 0..iters as usize {
                                record(i + t * 1_000);
                            }
                            go.wait();
                        });
                    }
                    go.wait();
                    let start = Instant::now();
                    go.wait();
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn disabled(c: &mut Criterion) {
    // Case A and case D with recording turned off: what a record costs a
    // service whose user opted out (the check, and counting the record).
    let w = Workload::new();
    let vm = w.manager(1, &w.keys, None);
    let handle = vm.bind(&w.measure, &w.maps[0]);
    vm.set_enabled(false);
    let allocs = allocations_per_op("disabled/1_view", |i| w.record_at(&vm, i));
    assert_eq!(allocs, 0.0, "a disabled record must not allocate");
    let mut group = c.benchmark_group("record/disabled/3_tags");
    let mut i = 0;
    group.bench_function("1_view", |b| {
        b.iter(|| {
            i += 1;
            w.record_at(&vm, i)
        })
    });
    group.bench_function("bound", |b| b.iter(|| handle.record(black_box(1.0))));
    group.finish();
    assert!(vm.stats().disabled_records > 0);
}

criterion_group!(
    benches,
    existing_rows,
    bound,
    new_rows,
    two_threads,
    disabled
);
criterion_main!(benches);
