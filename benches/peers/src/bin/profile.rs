//! Runs one case in a loop, for instruction counts with callgrind, which
//! are stable on a shared machine where timings are not:
//! `valgrind --tool=callgrind target/release/profile a 200000`, minus the
//! same with 0 iterations (setup), divided by the iterations.
//!
//! Cases: `a` 1 Sum view, `r` the same with the view's keys reversed, `b`
//! 1 Distribution view, `c` Count + Sum + Distribution; `a2`, `b2`, `c2`
//! are `a`, `b`, `c` with the tag map built per call from `&str` values,
//! as a request handler does, and `a3`, `b3`, `c3` with those values given
//! as borrowed tags (`record_tags_to`); `d` bound handle, `p` prometheus
//! IntCounterVec for comparison, `f` retrieve_data of 10,000 rows (prints
//! ms), `fd` the same with Distribution rows, `e1`/`e2` case A on 1/2
//! threads, `pe1`/`pe2` prometheus on 1/2 threads (print records per
//! second; compare user CPU time per record with `time`); `es` case A on 1
//! and 2 threads into one shared manager and into a manager per thread,
//! the four loops interleaved over 15 rounds in one process (prints the
//! median throughput ratio of each). All with 3 tags, 1,000 series, rows
//! made before the loop.
use std::hint::black_box;

use census_core::{Aggregation, MeasureF64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

/// prometheus's counter with the three labels, and the 1,000 label sets
/// census's maps hold, as the prometheus cases take them.
fn prometheus_inputs() -> (prometheus::IntCounterVec, Vec<[String; 3]>) {
    let c = prometheus::IntCounterVec::new(
        prometheus::Opts::new("r", "r"),
        &["method", "route", "status"],
    )
    .expect("counter");
    let vals = (0..1000)
        .map(|i| {
            [
                format!("m{}", i / 100),
                format!("/r{}", i / 10 % 10),
                format!("{}", 200 + i % 10),
            ]
        })
        .collect();
    (c, vals)
}

/// A manager with a view `v0`, `v1`, … of `m` per aggregation, over
/// `keys`, every series of `maps` recorded once (the rows exist).
fn manager(
    m: &MeasureF64,
    keys: &[TagKey],
    aggs: Vec<Aggregation>,
    maps: &[TagMap],
) -> ViewManager {
    let vm = ViewManager::new();
    for (i, agg) in aggs.into_iter().enumerate() {
        vm.register_view(
            View::builder(format!("v{i}"), m)
                .tag_keys(keys.to_vec())
                .aggregation(agg)
                .build()
                .expect("view"),
        )
        .expect("register");
    }
    for t in maps {
        MeasurementMap::new().put(m, 1.0).record_to(&vm, t);
    }
    vm
}

/// The tag map a request handler builds, as the peers bench builds it.
fn per_call_tags(keys: &[TagKey; 3], v: [&str; 3]) -> Result<TagMap, census_core::Error> {
    TagMap::new()
        .with(&keys[0], v[0])?
        .with(&keys[1], v[1])?
        .with(&keys[2], v[2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map(String::as_str).unwrap_or("a");
    let n: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let m = MeasureF64::new("m", "", "ms").expect("measure");
    let keys = ["method", "route", "status"].map(|k| TagKey::new(k).expect("key"));
    let mut maps = Vec::new();
    for a in 0..10 {
        for b in 0..10 {
            for c in 0..10 {
                maps.push(
                    TagMap::new()
                        .with(&keys[0], format!("m{a}"))
                        .and_then(|t| t.with(&keys[1], format!("/r{b}")))
                        .and_then(|t| t.with(&keys[2], format!("{}", 200 + c)))
                        .expect("tags"),
                );
            }
        }
    }
    if case == "pe1" || case == "pe2" {
        let threads = if case == "pe1" { 1 } else { 2 };
        let (c, vals) = prometheus_inputs();
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let (c, vals) = (&c, &vals);
                s.spawn(move || {
                    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 + t as u64;
                    for _ in 0..n {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let v = &vals[(x % 1000) as usize];
                        c.with_label_values(black_box(&[
                            v[0].as_str(),
                            v[1].as_str(),
                            v[2].as_str(),
                        ]))
                        .inc();
                    }
                });
            }
        });
        let wall = start.elapsed().as_secs_f64();
        println!(
            "prometheus {threads} thread(s): {:.1} M records/s",
            (threads * n) as f64 / wall / 1e6
        );
        return;
    }
    if case == "p" {
        let (c, vals) = prometheus_inputs();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = &vals[(x % 1000) as usize];
            c.with_label_values(black_box(&[v[0].as_str(), v[1].as_str(), v[2].as_str()]))
                .inc();
        }
        return;
    }
    let aggs = match case {
        "b" | "b2" | "b3" | "fd" => vec![Aggregation::distribution([
            1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
        ])
        .expect("b")],
        "c" | "c2" | "c3" => vec![
            Aggregation::Count,
            Aggregation::Sum,
            Aggregation::distribution([
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
            ])
            .expect("b"),
        ],
        _ => vec![Aggregation::Sum],
    };
    let view_keys: Vec<TagKey> = if case == "r" {
        keys.iter().rev().cloned().collect()
    } else {
        keys.to_vec()
    };
    let vm = manager(&m, &view_keys, aggs, &maps);
    if case == "f" || case == "fd" {
        let big: Vec<TagMap> = (0..10_000)
            .map(|i| {
                TagMap::new()
                    .with(&keys[0], format!("m{}", i % 10))
                    .and_then(|t| t.with(&keys[1], format!("/r{}", i / 10)))
                    .and_then(|t| t.with(&keys[2], "200"))
                    .expect("tags")
            })
            .collect();
        for t in &big {
            MeasurementMap::new().put(&m, 1.0).record_to(&vm, t);
        }
        let start = std::time::Instant::now();
        for _ in 0..n {
            black_box(vm.retrieve_data("v0").map(|d| d.rows.len()).ok());
        }
        println!(
            "{:.3} ms per retrieve_data",
            start.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        return;
    }
    if case == "es" {
        // Case A on 1 and 2 threads, one shared manager against a manager
        // per thread, interleaved in one process: whether sharing a
        // manager costs two threads anything, apart from the machine's
        // moments, which fall on both variants alike.
        let own: Vec<ViewManager> = (0..2)
            .map(|_| manager(&m, &keys, vec![Aggregation::Sum], &maps))
            .collect();
        use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
        let barrier = std::sync::Barrier::new(3);
        let job = AtomicUsize::new(0);
        let times = [AtomicU64::new(0), AtomicU64::new(0)];
        let (mut shared, mut apart) = (Vec::new(), Vec::new());
        std::thread::scope(|s| {
            for t in 0..2usize {
                let (barrier, job, times, maps, m, vm, own) =
                    (&barrier, &job, &times, &maps, &m, &vm, &own);
                s.spawn(move || loop {
                    barrier.wait();
                    let j = job.load(Ordering::SeqCst);
                    if j == usize::MAX {
                        break;
                    }
                    let (variant, threads) = (j / 10, j % 10);
                    if t < threads {
                        let target = if variant == 0 { vm } else { &own[t] };
                        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 + t as u64 * 77 + j as u64;
                        let start = std::time::Instant::now();
                        for _ in 0..n {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            MeasurementMap::new()
                                .put(m, black_box(12.5))
                                .record_to(target, black_box(&maps[(x % 1000) as usize]));
                        }
                        times[t].store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
                    }
                    barrier.wait();
                });
            }
            for _round in 0..15 {
                for variant in 0..2usize {
                    let mut t1 = 0.0;
                    for threads in [1usize, 2] {
                        job.store(variant * 10 + threads, Ordering::SeqCst);
                        barrier.wait();
                        barrier.wait();
                        let slowest = (0..threads)
                            .map(|t| times[t].load(Ordering::SeqCst))
                            .max()
                            .unwrap_or(0) as f64;
                        if threads == 1 {
                            t1 = slowest;
                        } else {
                            let ratio = 2.0 * t1 / slowest;
                            if variant == 0 {
                                shared.push(ratio)
                            } else {
                                apart.push(ratio)
                            }
                        }
                    }
                }
            }
            job.store(usize::MAX, Ordering::SeqCst);
            barrier.wait();
        });
        let med = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        println!(
            "shared manager x{:.2}, manager per thread x{:.2}",
            med(&mut shared),
            med(&mut apart)
        );
        return;
    }
    if case == "e1" || case == "e2" {
        let threads = if case == "e1" { 1 } else { 2 };
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let (maps, m, vm) = (&maps, &m, &vm);
                s.spawn(move || {
                    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 + t as u64;
                    for _ in 0..n {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let tags = &maps[(x % 1000) as usize];
                        MeasurementMap::new()
                            .put(m, black_box(12.5))
                            .record_to(vm, black_box(tags));
                    }
                });
            }
        });
        let wall = start.elapsed().as_secs_f64();
        println!(
            "{threads} thread(s): {:.1} M records/s",
            (threads * n) as f64 / wall / 1e6
        );
        return;
    }
    if let Some(borrowed) = match case {
        "a2" | "b2" | "c2" => Some(false),
        "a3" | "b3" | "c3" => Some(true),
        _ => None,
    } {
        let vals: Vec<[String; 3]> = maps
            .iter()
            .map(|t| {
                keys.clone()
                    .map(|k| t.get(&k).map(|v| v.as_str().to_owned()).unwrap_or_default())
            })
            .collect();
        let [k0, k1, k2] = &keys;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = black_box(&vals[(x % 1000) as usize]);
            if borrowed {
                MeasurementMap::new()
                    .put(&m, black_box(12.5))
                    .record_tags_to(&vm, &[(k0, &v[0]), (k1, &v[1]), (k2, &v[2])]);
            } else if let Ok(tags) = per_call_tags(&keys, [&v[0], &v[1], &v[2]]) {
                MeasurementMap::new()
                    .put(&m, black_box(12.5))
                    .record_to(&vm, &tags);
            }
        }
    } else if case == "d" {
        let h = vm.bind(&m, &maps[0]);
        for _ in 0..n {
            h.record(black_box(1.0));
        }
    } else {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = &maps[(x % 1000) as usize];
            MeasurementMap::new()
                .put(&m, black_box(12.5))
                .record_to(&vm, black_box(t));
        }
    }
    black_box(vm.retrieve_data("v0").map(|d| d.rows.len()).ok());
}
