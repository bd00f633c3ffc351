//! census beside the Rust crates a user would pick instead, on the same
//! inputs in one run: one table of medians and census/peer ratios, plus
//! memory per series.
//!
//! `cargo run --release --manifest-path benches/peers/Cargo.toml`
//! (add `-- quick` for fewer samples).
//!
//! Timing: every case runs its operation in a loop of `OPS` calls per
//! sample, `SAMPLES` samples after a warm-up; the table shows the median
//! time per operation. Inputs are built before timing: 3 tag keys with 10
//! values each (1,000 series), every series recorded once beforehand, and
//! a precomputed pseudo-random visiting order. Memory per series is
//! measured in a fresh child process per library: live heap bytes (a
//! counting allocator) and resident-set growth (/proc/self/statm) after
//! recording 100,000 series of a counter/Sum with 3 tags.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, TagValue, View};
use census_stats::{MeasurementMap, ViewManager};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;

/// Tracks live heap bytes, for memory per series.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the
// byte counter is a plain atomic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic read on the measuring thread after joins.
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SEQ: usize = 4096;
const BOUNDS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
const KEYS: [&str; 3] = ["method", "route", "status"];

struct Timing {
    samples: usize,
    ops: usize,
}

impl Timing {
    /// Median nanoseconds per call of `f` over `samples` samples.
    fn median(&self, mut f: impl FnMut(usize)) -> f64 {
        for i in 0..self.ops {
            f(i);
        }
        let mut per_op: Vec<f64> = (0..self.samples)
            .map(|s| {
                let base = s * 7919;
                let start = Instant::now();
                for i in 0..self.ops {
                    f(base + i);
                }
                start.elapsed().as_nanos() as f64 / self.ops as f64
            })
            .collect();
        per_op.sort_by(f64::total_cmp);
        per_op[per_op.len() / 2]
    }

    /// Median wall and CPU nanoseconds per call per thread with `threads`
    /// threads each calling `f` at once. CPU time comes from
    /// /proc/thread-self/schedstat: on a machine whose cores other work
    /// also uses, wall time cannot show scaling, but CPU time per call
    /// still shows contention (a bouncing cache line stalls the core and
    /// counts as CPU time).
    fn median_threads(&self, threads: usize, f: &(dyn Fn(usize) + Sync)) -> (f64, f64) {
        let ops = self.ops * 4;
        let mut wall: Vec<f64> = Vec::new();
        let mut cpu: Vec<f64> = Vec::new();
        for _ in 0..self.samples.min(15) {
            let go = Barrier::new(threads + 1);
            let (w, c) = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let go = &go;
                        s.spawn(move || {
                            for i in 0..SEQ {
                                f(i);
                            }
                            go.wait();
                            let before = thread_cpu_ns();
                            for i in 0..ops {
                                f(i + t * 1000);
                            }
                            let spent = thread_cpu_ns() - before;
                            go.wait();
                            spent
                        })
                    })
                    .collect();
                go.wait();
                let start = Instant::now();
                go.wait();
                let w = start.elapsed().as_nanos() as f64 / ops as f64;
                let c: f64 = handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(0.0))
                    .sum::<f64>()
                    / (threads * ops) as f64;
                (w, c)
            });
            wall.push(w);
            cpu.push(c);
        }
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        (wall[wall.len() / 2], cpu[cpu.len() / 2])
    }
}

/// Nanoseconds this thread has run on a CPU (first field of schedstat).
fn thread_cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0)
}

/// The shared inputs, as each library wants them.
struct Inputs {
    order: Vec<usize>,
    values: Vec<[String; 3]>,
    census_keys: [TagKey; 3],
    census_maps: Vec<TagMap>,
    otel_attrs: Vec<[KeyValue; 3]>,
    metrics_labels: Vec<Vec<metrics::Label>>,
    pc_labels: Vec<Vec<(String, String)>>,
}

fn label_values(a: usize, b: usize, c: usize) -> [String; 3] {
    [format!("m{a}"), format!("/r{b}"), format!("{}", 200 + c)]
}

impl Inputs {
    fn new() -> Inputs {
        let mut values = Vec::new();
        for a in 0..10 {
            for b in 0..10 {
                for c in 0..10 {
                    values.push(label_values(a, b, c));
                }
            }
        }
        let census_keys = KEYS.map(|k| TagKey::new(k).expect("key"));
        let census_maps = values
            .iter()
            .map(|v| {
                let mut m = TagMap::new();
                for (k, v) in census_keys.iter().zip(v) {
                    m = m.with(k, v.as_str()).expect("tag");
                }
                m
            })
            .collect();
        let otel_attrs = values
            .iter()
            .map(|v| [0, 1, 2].map(|i| KeyValue::new(KEYS[i], v[i].clone())))
            .collect();
        let metrics_labels = values
            .iter()
            .map(|v| {
                (0..3)
                    .map(|i| metrics::Label::new(KEYS[i], v[i].clone()))
                    .collect()
            })
            .collect();
        let pc_labels = values
            .iter()
            .map(|v| (0..3).map(|i| (KEYS[i].to_owned(), v[i].clone())).collect())
            .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let order = (0..SEQ)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1000) as usize
            })
            .collect();
        Inputs {
            order,
            values,
            census_keys,
            census_maps,
            otel_attrs,
            metrics_labels,
            pc_labels,
        }
    }

    fn at(&self, i: usize) -> usize {
        self.order[i % SEQ]
    }

    fn strs(&self, i: usize) -> [&str; 3] {
        let v = &self.values[self.at(i)];
        [v[0].as_str(), v[1].as_str(), v[2].as_str()]
    }
}

fn census_manager(inp: &Inputs, m: &MeasureF64, aggs: &[Aggregation]) -> ViewManager {
    let vm = ViewManager::new();
    for (i, agg) in aggs.iter().enumerate() {
        vm.register_view(
            View::builder(format!("bench/v{i}"), m)
                .tag_keys(inp.census_keys.iter().cloned())
                .aggregation(agg.clone())
                .build()
                .expect("view"),
        )
        .expect("register");
    }
    for map in &inp.census_maps {
        MeasurementMap::new().put(m, 1.0).record_to(&vm, map);
    }
    vm
}

fn distribution() -> Aggregation {
    Aggregation::distribution(BOUNDS).expect("bounds")
}

struct Table {
    rows: Vec<(String, String, f64, String, f64, String)>,
}

impl Table {
    fn row(&mut self, case: &str, census: (&str, f64), peer: (&str, f64), target: &str) {
        println!(
            "{case:<3} {:<34} {:>9.1} ns | {:<44} {:>9.1} ns | ratio {:>5.2} (target {target})",
            census.0,
            census.1,
            peer.0,
            peer.1,
            census.1 / peer.1
        );
        self.rows.push((
            case.to_owned(),
            census.0.to_owned(),
            census.1,
            peer.0.to_owned(),
            peer.1,
            target.to_owned(),
        ));
    }

    fn markdown(&self) {
        println!();
        println!("| case | census | median | peer | median | census/peer | target |");
        println!("|---|---|---:|---|---:|---:|---|");
        for (case, c, cv, p, pv, t) in &self.rows {
            println!(
                "| {case} | {c} | {cv:.1} ns | {p} | {pv:.1} ns | {:.2} | {t} |",
                cv / pv
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("memory") {
        return memory_child(args.get(2).map(String::as_str).unwrap_or(""));
    }
    let quick = args.iter().any(|a| a == "quick");
    let t = Timing {
        samples: if quick { 11 } else { 51 },
        ops: if quick { 20_000 } else { 100_000 },
    };
    let inp = Inputs::new();
    let mut table = Table { rows: Vec::new() };
    let m = MeasureF64::new("bench/latency", "latency", "ms").expect("measure");
    let counter_m = MeasureI64::new("bench/requests", "requests", "1").expect("measure");

    // Peers, built once.
    let prom_counter =
        prometheus::IntCounterVec::new(prometheus::Opts::new("requests", "requests"), &KEYS)
            .expect("prometheus counter");
    let prom_hist = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("latency", "latency").buckets(BOUNDS.to_vec()),
        &KEYS,
    )
    .expect("prometheus histogram");
    let prom_single = prometheus::IntCounter::new("single", "single").expect("counter");
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
        .build();
    let meter = provider.meter("bench");
    let otel_counter = meter.u64_counter("requests").build();
    let otel_hist = meter
        .f64_histogram("latency")
        .with_boundaries(BOUNDS.to_vec())
        .build();
    let pc_counter = prometheus_client::metrics::family::Family::<
        Vec<(String, String)>,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let pc_hist = prometheus_client::metrics::family::Family::<
        Vec<(String, String)>,
        prometheus_client::metrics::histogram::Histogram,
    >::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(BOUNDS.iter().copied())
    });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    for i in 0..1000 {
        let v = &inp.values[i];
        let l = [v[0].as_str(), v[1].as_str(), v[2].as_str()];
        prom_counter.with_label_values(&l).inc();
        prom_hist.with_label_values(&l).observe(1.0);
        otel_counter.add(1, &inp.otel_attrs[i]);
        otel_hist.record(1.0, &inp.otel_attrs[i]);
        pc_counter.get_or_create(&inp.pc_labels[i]).inc();
        pc_hist.get_or_create(&inp.pc_labels[i]).observe(1.0);
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("requests", inp.metrics_labels[i].iter()).increment(1);
            metrics::histogram!("latency", inp.metrics_labels[i].iter()).record(1.0);
        });
    }

    // A: 1 Sum view, 3 tags.
    let vm_a = census_manager(&inp, &m, &[Aggregation::Sum]);
    let census_a = t.median(|i| {
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_to(&vm_a, black_box(&inp.census_maps[inp.at(i)]))
    });
    let prom_a = t.median(|i| {
        prom_counter
            .with_label_values(black_box(&inp.strs(i)))
            .inc()
    });
    table.row(
        "A",
        ("1 Sum view, 3 tags", census_a),
        ("prometheus IntCounterVec", prom_a),
        "<= 0.5",
    );
    let pc_a = t.median(|i| {
        pc_counter
            .get_or_create(black_box(&inp.pc_labels[inp.at(i)]))
            .inc();
    });
    table.row(
        "A",
        ("1 Sum view, 3 tags", census_a),
        ("prometheus-client Family<Counter>", pc_a),
        "-",
    );
    let metrics_a = metrics::with_local_recorder(&recorder, || {
        t.median(|i| {
            metrics::counter!("requests", black_box(inp.metrics_labels[inp.at(i)].iter()))
                .increment(1)
        })
    });
    table.row(
        "A",
        ("1 Sum view, 3 tags", census_a),
        ("metrics counter! (prometheus recorder)", metrics_a),
        "-",
    );
    let otel_a = t.median(|i| otel_counter.add(1, black_box(&inp.otel_attrs[inp.at(i)])));
    table.row(
        "A",
        ("1 Sum view, 3 tags", census_a),
        ("opentelemetry_sdk Counter::add", otel_a),
        "-",
    );
    // Key order: the view lists its keys reversed against the sorted map.
    // Both managers are built side by side so their rows interleave in
    // memory and neither gets a tidier heap than the other.
    let [vm_fwd, vm_rev] = [false, true].map(|rev| {
        let vm = ViewManager::new();
        let keys: Vec<TagKey> = if rev {
            inp.census_keys.iter().rev().cloned().collect()
        } else {
            inp.census_keys.to_vec()
        };
        vm.register_view(
            View::builder("bench/order", &m)
                .tag_keys(keys)
                .aggregation(Aggregation::Sum)
                .build()
                .expect("view"),
        )
        .expect("register");
        vm
    });
    for map in &inp.census_maps {
        for vm in [&vm_fwd, &vm_rev] {
            MeasurementMap::new().put(&m, 1.0).record_to(vm, map);
        }
    }
    let census_fwd = t.median(|i| {
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_to(&vm_fwd, black_box(&inp.census_maps[inp.at(i)]))
    });
    let census_rev = t.median(|i| {
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_to(&vm_rev, black_box(&inp.census_maps[inp.at(i)]))
    });
    table.row(
        "A'",
        ("view keys in reverse order", census_rev),
        ("the same, keys in map order", census_fwd),
        "<= 1.2",
    );

    // B: 1 Distribution view, 10 bounds.
    let vm_b = census_manager(&inp, &m, &[distribution()]);
    let census_b = t.median(|i| {
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_to(&vm_b, black_box(&inp.census_maps[inp.at(i)]))
    });
    let prom_b = t.median(|i| {
        prom_hist
            .with_label_values(black_box(&inp.strs(i)))
            .observe(12.5)
    });
    table.row(
        "B",
        ("1 Distribution view", census_b),
        ("prometheus HistogramVec", prom_b),
        "<= 0.5",
    );
    let pc_b = t.median(|i| {
        pc_hist
            .get_or_create(black_box(&inp.pc_labels[inp.at(i)]))
            .observe(12.5)
    });
    table.row(
        "B",
        ("1 Distribution view", census_b),
        ("prometheus-client Family<Histogram>", pc_b),
        "-",
    );
    let metrics_b = metrics::with_local_recorder(&recorder, || {
        t.median(|i| {
            metrics::histogram!("latency", black_box(inp.metrics_labels[inp.at(i)].iter()))
                .record(12.5)
        })
    });
    table.row(
        "B",
        ("1 Distribution view", census_b),
        ("metrics histogram! (prometheus recorder)", metrics_b),
        "-",
    );
    let otel_b = t.median(|i| otel_hist.record(12.5, black_box(&inp.otel_attrs[inp.at(i)])));
    table.row(
        "B",
        ("1 Distribution view", census_b),
        ("opentelemetry_sdk Histogram::record", otel_b),
        "-",
    );

    // C: 3 views (Count, Sum, Distribution) vs a counter add + a histogram
    // record, the way a peer user records the same three aggregations.
    let vm_c = census_manager(
        &inp,
        &m,
        &[Aggregation::Count, Aggregation::Sum, distribution()],
    );
    let census_c = t.median(|i| {
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_to(&vm_c, black_box(&inp.census_maps[inp.at(i)]))
    });
    let otel_c = t.median(|i| {
        let attrs = black_box(&inp.otel_attrs[inp.at(i)]);
        otel_counter.add(1, attrs);
        otel_hist.record(12.5, attrs);
    });
    table.row(
        "C",
        ("3 views: Count, Sum, Distribution", census_c),
        ("opentelemetry_sdk add + record", otel_c),
        "<= 0.25",
    );
    let prom_c = t.median(|i| {
        let l = black_box(inp.strs(i));
        prom_counter.with_label_values(&l).inc();
        prom_hist.with_label_values(&l).observe(12.5);
    });
    table.row(
        "C",
        ("3 views: Count, Sum, Distribution", census_c),
        ("prometheus counter + histogram", prom_c),
        "-",
    );

    // D: pre-bound.
    let vm_d = census_manager(&inp, &m, &[Aggregation::Sum]);
    let vm_di = ViewManager::new();
    vm_di
        .register_view(
            View::builder("bench/d", &counter_m)
                .tag_keys(inp.census_keys.iter().cloned())
                .aggregation(Aggregation::Sum)
                .build()
                .expect("view"),
        )
        .expect("register");
    let bound = vm_di.bind(&counter_m, &inp.census_maps[0]);
    let census_d = t.median(|_| bound.record(black_box(1)));
    let prom_d = t.median(|_| black_box(&prom_single).inc());
    table.row(
        "D",
        ("bound handle, 1 Sum view", census_d),
        ("prometheus IntCounter::inc", prom_d),
        "<= 1.0",
    );
    let bound_f = vm_d.bind(&m, &inp.census_maps[0]);
    let census_df = t.median(|_| bound_f.record(black_box(12.5)));
    table.row(
        "D",
        ("bound handle, f64 Sum view", census_df),
        ("prometheus IntCounter::inc", prom_d),
        "-",
    );
    let metrics_handle = metrics::with_local_recorder(&recorder, || {
        metrics::counter!("requests", inp.metrics_labels[0].iter())
    });
    let metrics_d = t.median(|_| black_box(&metrics_handle).increment(1));
    table.row(
        "D",
        ("bound handle, 1 Sum view", census_d),
        ("metrics Counter handle", metrics_d),
        "-",
    );

    // E: case A on two threads, as wall time per record per thread; the
    // throughput ratio is 2 x one-thread time / two-thread time.
    let rec_a = |i: usize| {
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_to(&vm_a, black_box(&inp.census_maps[inp.at(i)]))
    };
    let (one, one_cpu) = t.median_threads(1, &rec_a);
    let (two, two_cpu) = t.median_threads(2, &rec_a);
    println!(
        "E   census case A: 1 thread {one:.1} ns wall / {one_cpu:.1} ns CPU per record; \
         2 threads {two:.1} ns wall / {two_cpu:.1} ns CPU per record per thread"
    );
    println!(
        "E   census throughput x{:.2} by wall time, x{:.2} by CPU time (target >= 1.7)",
        2.0 * one / two,
        2.0 * one_cpu / two_cpu
    );
    let prom_rec = |i: usize| prom_counter.with_label_values(&inp.strs(i)).inc();
    let (p1, p1_cpu) = t.median_threads(1, &prom_rec);
    let (p2, p2_cpu) = t.median_threads(2, &prom_rec);
    println!(
        "E   prometheus IntCounterVec: 1 thread {p1:.1} / {p1_cpu:.1} ns, 2 threads {p2:.1} / {p2_cpu:.1} ns; \
         throughput x{:.2} by wall time, x{:.2} by CPU time",
        2.0 * p1 / p2,
        2.0 * p1_cpu / p2_cpu
    );
    table.row(
        "E",
        ("case A, 2 threads, CPU ns/record", two_cpu),
        ("census case A, 1 thread, CPU ns/record", one_cpu),
        "<= 1.18 (= x1.7 throughput on 2 free cores)",
    );
    table.row(
        "E",
        ("case A, 2 threads, wall ns/record/thread", two),
        ("census case A, 1 thread, wall", one),
        "<= 1.18 (needs 2 idle cores)",
    );
    table.row(
        "E",
        ("prometheus 2 threads, CPU ns", p2_cpu),
        ("prometheus 1 thread, CPU ns", p1_cpu),
        "-",
    );

    // F: retrieve_data of 10,000 rows, alone and with a recording thread.
    snapshot_case(&m, &inp, &mut table);

    table.markdown();
    memory_table();
}

fn snapshot_case(m: &MeasureF64, inp: &Inputs, table: &mut Table) {
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("bench/big", m)
            .tag_keys(inp.census_keys.iter().cloned())
            .aggregation(Aggregation::Sum)
            .build()
            .expect("view"),
    )
    .expect("register");
    let big: Vec<TagMap> = (0..10_000)
        .map(|i| {
            let v = label_values(i % 10, i / 10, 0);
            let mut t = TagMap::new();
            for (k, v) in inp.census_keys.iter().zip(&v) {
                t = t.with(k, v.as_str()).expect("tag");
            }
            t
        })
        .collect();
    for t in &big {
        MeasurementMap::new().put(m, 1.0).record_to(&vm, t);
    }
    let time = |n: usize| {
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                let start = Instant::now();
                let d = vm.retrieve_data("bench/big").expect("data");
                assert_eq!(d.rows.len(), 10_000);
                start.elapsed().as_nanos() as f64
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let alone = time(31);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (busy, recorded) = std::thread::scope(|s| {
        let rec = s.spawn(|| {
            let mut n = 0u64;
            // Relaxed: a stop flag; the join orders everything else.
            while !stop.load(Ordering::Relaxed) {
                MeasurementMap::new()
                    .put(m, 1.0)
                    .record_to(&vm, &big[(n as usize * 7) % big.len()]);
                n += 1;
            }
            n
        });
        let busy = time(31);
        stop.store(true, Ordering::Relaxed);
        (busy, rec.join().unwrap_or(0))
    });
    println!(
        "F   retrieve_data 10,000 rows: alone {:.3} ms, with a recording thread {:.3} ms ({recorded} records meanwhile)",
        alone / 1e6,
        busy / 1e6
    );
    table.row(
        "F",
        ("retrieve_data 10k rows, recording", busy),
        ("2 ms budget", 2e6),
        "< 1.0",
    );
    let _ = inp;
}

/// Runs each memory case in a fresh process so no library reuses
/// another's freed pages.
fn memory_table() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    println!();
    println!("G   memory per series, 100,000 series of a counter/Sum with 3 tags");
    println!("| library | live heap bytes / series | RSS growth bytes / series |");
    println!("|---|---:|---:|");
    for lib in [
        "census",
        "prometheus",
        "opentelemetry_sdk",
        "prometheus-client",
        "metrics",
    ] {
        match std::process::Command::new(&exe)
            .args(["memory", lib])
            .output()
        {
            Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
            Err(err) => println!("| {lib} | failed: {err} | |"),
        }
    }
}

fn rss_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_child(lib: &str) {
    const N: usize = 100_000;
    // Series i has tags (a, b, c) = (i % 100, i / 100 % 100, i / 10_000):
    // 100 x 100 x 10 values. Each library gets its input the cheapest way
    // it takes it; input buffers are dropped before the second reading.
    let parts = |i: usize| label_values(i % 100, i / 100 % 100, i / 10_000);
    let keep: Box<dyn std::any::Any>;
    let heap0 = LIVE.load(Ordering::Relaxed);
    let rss0 = rss_bytes();
    match lib {
        "census" => {
            let m = MeasureI64::new("requests", "", "1").expect("measure");
            let keys = KEYS.map(|k| TagKey::new(k).expect("key"));
            let vm = ViewManager::new();
            vm.register_view(
                View::builder("requests", &m)
                    .tag_keys(keys.iter().cloned())
                    .aggregation(Aggregation::Sum)
                    .row_limit(N)
                    .build()
                    .expect("view"),
            )
            .expect("register");
            for i in 0..N {
                let v = parts(i);
                let mut t = TagMap::new();
                for (k, v) in keys.iter().zip(&v) {
                    t = t.with_value(k, TagValue::new(v.as_str()).expect("value"));
                }
                MeasurementMap::new().put(&m, 1).record_to(&vm, &t);
            }
            keep = Box::new((vm, m));
        }
        "prometheus" => {
            let c = prometheus::IntCounterVec::new(prometheus::Opts::new("r", "r"), &KEYS)
                .expect("counter");
            for i in 0..N {
                let v = parts(i);
                c.with_label_values(&[v[0].as_str(), v[1].as_str(), v[2].as_str()])
                    .inc();
            }
            keep = Box::new(c);
        }
        "opentelemetry_sdk" => {
            let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
                .with_view(|i: &opentelemetry_sdk::metrics::Instrument| {
                    opentelemetry_sdk::metrics::Stream::builder()
                        .with_name(i.name().to_owned())
                        .with_cardinality_limit(N + 10)
                        .build()
                        .ok()
                })
                .build();
            let c = provider.meter("m").u64_counter("r").build();
            for i in 0..N {
                let v = parts(i);
                let [a, b, cc] = v;
                c.add(
                    1,
                    &[
                        KeyValue::new(KEYS[0], a),
                        KeyValue::new(KEYS[1], b),
                        KeyValue::new(KEYS[2], cc),
                    ],
                );
            }
            keep = Box::new((provider, c));
        }
        "prometheus-client" => {
            let f = prometheus_client::metrics::family::Family::<
                Vec<(String, String)>,
                prometheus_client::metrics::counter::Counter,
            >::default();
            for i in 0..N {
                let v = parts(i);
                let l: Vec<(String, String)> = KEYS
                    .iter()
                    .zip(v)
                    .map(|(k, v)| ((*k).to_owned(), v))
                    .collect();
                f.get_or_create(&l).inc();
            }
            keep = Box::new(f);
        }
        "metrics" => {
            let recorder =
                Arc::new(metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder());
            metrics::with_local_recorder(&*recorder, || {
                for i in 0..N {
                    let v = parts(i);
                    let [a, b, c] = v;
                    metrics::counter!("r", KEYS[0] => a, KEYS[1] => b, KEYS[2] => c).increment(1);
                }
            });
            keep = Box::new(recorder);
        }
        _ => return,
    }
    let heap = LIVE.load(Ordering::Relaxed) - heap0;
    let rss = rss_bytes() - rss0;
    println!("| {lib} | {} | {} |", heap / N as i64, rss / N as i64);
    drop(keep);
}
