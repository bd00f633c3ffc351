//! census beside the Rust crates a user would pick instead, on the same
//! inputs in one run: one table of medians and census/peer ratios, plus
//! memory per series.
//!
//! `cargo run --release --manifest-path benches/peers/Cargo.toml`
//! (add `-- quick` for fewer samples).
//!
//! Timing: every case runs its operation in a loop of `OPS` calls per
//! sample, `SAMPLES` samples after a warm-up; the table shows the median
//! time per operation. Case E (one thread against two) runs on two
//! threads spawned once and kept for every sample (`Workers`), each timing
//! its own loop; `census-peer-bench e-methods` compares that with the
//! method E used before. Inputs are built before timing: 3 tag keys with 10
//! values each (1,000 series), every series recorded once beforehand, and
//! a precomputed pseudo-random visiting order. Memory per series is
//! measured in a fresh child process per library: live heap bytes (a
//! counting allocator) and resident-set growth (/proc/self/statm) after
//! recording 100,000 series of a counter/Sum with 3 tags.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, TagValue, View};
use census_stats::{MeasurementMap, ViewManager};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;

/// Tracks live heap bytes, for memory per series.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
/// Allocations made, for allocations per record.
static ALLOCS: AtomicI64 = AtomicI64::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the
// byte counter is a plain atomic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic read on the measuring thread after joins.
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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
    /// Median nanoseconds per call of each case, their samples taken in
    /// turn (case 1, case 2, …, case 1, …) so that a disturbance on this
    /// shared machine hits every case of a comparison alike; a ratio from
    /// cases timed one after another depends on what else ran meanwhile.
    /// Each case runs `ops` calls per sample (see [`looped`]).
    fn medians(&self, cases: &mut [&mut dyn FnMut(usize, usize)]) -> Vec<f64> {
        for case in cases.iter_mut() {
            case(0, self.ops);
        }
        let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
        for s in 0..self.samples {
            for (case, times) in cases.iter_mut().zip(&mut per_op) {
                let start = Instant::now();
                case(s * 7919, self.ops);
                times.push(start.elapsed().as_nanos() as f64 / self.ops as f64);
            }
        }
        per_op.into_iter().map(median).collect()
    }

    /// The method E used before: new threads for every sample, a warm-up
    /// and a barrier in each, the clock read by the main thread around
    /// the barriers, CPU time from /proc/thread-self/schedstat. Kept for
    /// `e-methods`, which compares it with `Workers`; not used for the
    /// table. Returns (wall, schedstat CPU, clock CPU) ns per record per
    /// thread, medians.
    fn spawned_per_sample(
        &self,
        threads: usize,
        ops: usize,
        f: &(dyn Fn(usize) + Sync),
    ) -> (f64, f64, f64) {
        let mut wall: Vec<f64> = Vec::new();
        let mut cpu: Vec<f64> = Vec::new();
        let mut clock: Vec<f64> = Vec::new();
        for _ in 0..self.samples.min(15) {
            let go = Barrier::new(threads + 1);
            let (w, c, k) = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let go = &go;
                        s.spawn(move || {
                            for i in 0..SEQ {
                                f(i);
                            }
                            go.wait();
                            let before = schedstat_ns();
                            let before_clock = thread_cpu_ns();
                            for i in 0..ops {
                                f(i + t * 1000);
                            }
                            let spent = schedstat_ns() - before;
                            let spent_clock = thread_cpu_ns() - before_clock;
                            go.wait();
                            (spent, spent_clock)
                        })
                    })
                    .collect();
                go.wait();
                let start = Instant::now();
                go.wait();
                let w = start.elapsed().as_nanos() as f64 / ops as f64;
                let (c, k) = handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or((0.0, 0.0)))
                    .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
                let n = (threads * ops) as f64;
                (w, c / n, k / n)
            });
            wall.push(w);
            cpu.push(c);
            clock.push(k);
        }
        (median(wall), median(cpu), median(clock))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The tag map a request handler builds from the request's values, the
/// way the README shows it: inside the timed loop, from `&str`s, the same
/// values prometheus gets in `with_label_values(&[..])`.
fn per_call_tags(keys: &[TagKey; 3], v: [&str; 3]) -> Result<TagMap, census_core::Error> {
    TagMap::new()
        .with(&keys[0], v[0])?
        .with(&keys[1], v[1])?
        .with(&keys[2], v[2])
}

/// Heap allocations per call of `f` (a separate, untimed pass: the
/// counting allocator's counter is read around `n` calls on this thread).
fn allocs_per_op(n: usize, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..SEQ {
        f(i);
    }
    // Relaxed: this thread made every allocation counted here.
    let before = ALLOCS.load(Ordering::Relaxed);
    for i in 0..n {
        f(i);
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

/// A sample of `f`: `ops` calls from index `base`, as one call through a
/// `dyn` (one indirect call per sample, none per operation).
fn looped(mut f: impl FnMut(usize)) -> impl FnMut(usize, usize) {
    move |base, ops| {
        for i in base..base + ops {
            f(i);
        }
    }
}

/// [`looped`] with the `metrics` recorder installed for the sample.
fn looped_metrics<'r>(
    recorder: &'r metrics_exporter_prometheus::PrometheusRecorder,
    mut f: impl FnMut(usize) + 'r,
) -> impl FnMut(usize, usize) + 'r {
    move |base, ops| {
        metrics::with_local_recorder(recorder, || {
            for i in base..base + ops {
                f(i);
            }
        })
    }
}

/// Nanoseconds this thread has run on a CPU, from
/// /proc/thread-self/schedstat. The kernel brings that figure up to date
/// only at scheduler ticks and context switches, so it is off by up to a
/// tick at each end of a measurement; only `e-methods` reads it, to show
/// that.
fn schedstat_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0)
}

/// Nanoseconds this thread has run on a CPU, exact at the moment of the
/// call (the kernel adds the running slice in).
fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call, and CLOCK_THREAD_CPUTIME_ID is a clock every Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// CPU time (ns) every process on the machine has used, and this process,
/// from /proc/stat and /proc/self/stat (clock ticks). Their difference over
/// a measurement is what other work took from the two cores meanwhile.
fn cpu_busy_ns() -> (f64, f64) {
    let tick = 1e9 / 100.0;
    let all = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.to_owned();
            let f: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|n| n.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal: all but idle
            // and iowait are busy.
            Some(f.iter().take(8).sum::<f64>() - f.get(3)? - f.get(4)?)
        })
        .unwrap_or(0.0);
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<f64> = rest
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            // utime and stime are fields 14 and 15; 11 and 12 after ")"
            // and the state letter, which does not parse.
            Some(f.get(10)? + f.get(11)?)
        })
        .unwrap_or(0.0);
    (all * tick, own * tick)
}

/// What other processes used of the machine's cores between two
/// `cpu_busy_ns` readings, in cores (0 = none, 2 = both cores all along).
fn other_cores(before: (f64, f64), after: (f64, f64), wall_ns: f64) -> f64 {
    ((after.0 - before.0) - (after.1 - before.1)).max(0.0) / wall_ns
}

/// One thread's part of one `Workers` sample.
#[derive(Clone, Copy, Debug)]
struct Part {
    /// Wall time of this thread's own loop, ns.
    elapsed: f64,
    /// CPU time of the loop, ns (CLOCK_THREAD_CPUTIME_ID).
    cpu: f64,
    /// When the loop started, ns after the main thread opened the barrier.
    start_lag: f64,
}

/// What the main thread asks the workers to do next.
#[derive(Clone, Copy)]
struct Job {
    f: usize,
    threads: usize,
    records: usize,
    base: usize,
    released: Option<Instant>,
    stop: bool,
}

/// Recording threads spawned once and kept for every sample of case E,
/// for one thread and for two alike: no thread start, thread-local set-up
/// or warm-up falls inside a sample. A sample opens with one barrier and
/// closes with another; each worker times its own loop, so the time a
/// worker takes to wake from the barrier is not counted, and a sample's
/// throughput is all its records over the slowest worker's loop.
struct Workers<'a> {
    fns: &'a [&'a (dyn Fn(usize) + Sync)],
    job: Mutex<Job>,
    parts: Mutex<Vec<Part>>,
    start: Barrier,
    end: Barrier,
}

const WORKERS: usize = 2;

thread_local! {
    /// Which `Workers` thread this is, for cases that give each thread
    /// something of its own.
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl<'a> Workers<'a> {
    fn new(fns: &'a [&'a (dyn Fn(usize) + Sync)]) -> Workers<'a> {
        Workers {
            fns,
            job: Mutex::new(Job {
                f: 0,
                threads: 0,
                records: 0,
                base: 0,
                released: None,
                stop: false,
            }),
            parts: Mutex::new(Vec::new()),
            start: Barrier::new(WORKERS + 1),
            end: Barrier::new(WORKERS + 1),
        }
    }

    fn worker(&self, t: usize) {
        WORKER.with(|w| w.set(t));
        loop {
            self.start.wait();
            let job = *self.job.lock().unwrap_or_else(|e| e.into_inner());
            if job.stop {
                return;
            }
            if t < job.threads {
                let f = self.fns[job.f];
                let base = job.base + t * 1000;
                let cpu0 = thread_cpu_ns();
                let t0 = Instant::now();
                for i in 0..job.records {
                    f(base + i);
                }
                let elapsed = t0.elapsed().as_nanos() as f64;
                let cpu = thread_cpu_ns() - cpu0;
                let start_lag = job
                    .released
                    .map_or(0.0, |r| t0.duration_since(r).as_nanos() as f64);
                self.parts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Part {
                        elapsed,
                        cpu,
                        start_lag,
                    });
            }
            self.end.wait();
        }
    }

    /// Runs one sample: `threads` workers each call `fns[f]` `records`
    /// times. Returns each worker's part and the main thread's wall time
    /// from opening the start barrier to passing the end one.
    fn sample(&self, f: usize, threads: usize, records: usize, base: usize) -> (Vec<Part>, f64) {
        self.parts.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let released = Instant::now();
        *self.job.lock().unwrap_or_else(|e| e.into_inner()) = Job {
            f,
            threads,
            records,
            base,
            released: Some(released),
            stop: false,
        };
        self.start.wait();
        self.end.wait();
        let wall = released.elapsed().as_nanos() as f64;
        let parts = self.parts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (parts, wall)
    }

    fn stop(&self) {
        self.job.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        self.start.wait();
    }

    /// Runs `body` with the workers running, and stops them after.
    fn run<R>(fns: &'a [&'a (dyn Fn(usize) + Sync)], body: impl FnOnce(&Workers<'a>) -> R) -> R {
        let workers = Workers::new(fns);
        std::thread::scope(|s| {
            for t in 0..WORKERS {
                let w = &workers;
                s.spawn(move || w.worker(t));
            }
            let r = body(&workers);
            workers.stop();
            r
        })
    }
}

/// Case E for one function: 1-thread and 2-thread samples alternate (so a
/// change in the machine's load falls on both), after one unrecorded
/// sample of each. Per sample: ns per record per thread by the slowest
/// worker's own clock, by the main thread's clock around the barriers, and
/// CPU ns per record. Medians over every sample, and over the undisturbed
/// samples: every worker on a CPU for at least `ON_CPU` of its loop and
/// the two loops overlapping as much (the same rule for one thread and
/// two). On a shared machine a sample in which a worker waited for a core
/// measures the machine, not the code, and one in which the two loops did
/// not run at once shows no contention even where there is some.
#[derive(Debug, Default)]
struct Scaling {
    all: Figures,
    on_cpu: Figures,
    /// Samples kept by the on-CPU rule, of `samples` taken of each thread
    /// count, for 1 and 2 threads.
    kept: (usize, usize),
    samples: usize,
    /// Median over samples of the larger start lag of the two workers, ns.
    two_lag: f64,
    /// Cores other processes and the hypervisor (steal) took over the
    /// whole measurement.
    others: f64,
}

/// Medians, ns per record (per thread for two threads).
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    one_wall: f64,
    two_wall: f64,
    one_main: f64,
    two_main: f64,
    one_cpu: f64,
    two_cpu: f64,
}

impl Figures {
    fn wall_ratio(&self) -> f64 {
        Scaling::throughput(self.one_wall, self.two_wall)
    }
    fn cpu_ratio(&self) -> f64 {
        Scaling::throughput(self.one_cpu, self.two_cpu)
    }
}

/// The least share of its loop's wall time each worker must have spent on
/// a CPU for a sample to count as undisturbed.
const ON_CPU: f64 = 0.97;

/// One sample's figures: wall (slowest own clock), main clock, CPU, all per
/// record per thread, and whether every worker stayed on a CPU.
type Row = (f64, f64, f64, bool);

fn medians(one: &[Row], two: &[Row], keep: impl Fn(&Row) -> bool) -> (Figures, usize, usize) {
    let pick = |rows: &[Row], k: usize| -> Vec<f64> {
        rows.iter()
            .filter(|r| keep(r))
            .map(|r| [r.0, r.1, r.2][k])
            .collect()
    };
    let med = |v: Vec<f64>| if v.is_empty() { f64::NAN } else { median(v) };
    let n1 = one.iter().filter(|r| keep(r)).count();
    let n2 = two.iter().filter(|r| keep(r)).count();
    (
        Figures {
            one_wall: med(pick(one, 0)),
            two_wall: med(pick(two, 0)),
            one_main: med(pick(one, 1)),
            two_main: med(pick(two, 1)),
            one_cpu: med(pick(one, 2)),
            two_cpu: med(pick(two, 2)),
        },
        n1,
        n2,
    )
}

impl Scaling {
    fn throughput(one: f64, two: f64) -> f64 {
        2.0 * one / two
    }

    /// Takes samples until `samples` of each thread count were undisturbed
    /// or `3 * samples` pairs were taken, whichever comes first.
    fn measure(w: &Workers<'_>, f: usize, samples: usize, records: usize) -> Scaling {
        let busy0 = cpu_busy_ns();
        let t0 = Instant::now();
        let mut sampler = Sampler::default();
        while sampler.wants(samples) {
            sampler.pair(w, f, records);
        }
        sampler.scaling(other_cores(
            busy0,
            cpu_busy_ns(),
            t0.elapsed().as_nanos() as f64,
        ))
    }

    fn describe(&self, name: &str) -> String {
        let (x, a) = (&self.on_cpu, &self.all);
        format!(
            "E   {name}: 1 thread {:.1} ns wall / {:.1} ns CPU per record, 2 threads {:.1} / {:.1} ns per record \
             per thread: throughput x{:.2} by wall time, x{:.2} by CPU time ({} of {} 1-thread and {} of {} \
             2-thread samples undisturbed; all samples: x{:.2} wall, x{:.2} CPU; other work {:.2} cores; \
             workers started {:.0} us after the barrier opened)",
            x.one_wall,
            x.one_cpu,
            x.two_wall,
            x.two_cpu,
            x.wall_ratio(),
            x.cpu_ratio(),
            self.kept.0,
            self.samples,
            self.kept.1,
            self.samples,
            a.wall_ratio(),
            a.cpu_ratio(),
            self.others,
            self.two_lag / 1e3,
        )
    }
}

/// The samples of one loop, taken a pair (one thread, then two) at a time,
/// so that case E can interleave its loops: a disturbance that lasts a few
/// seconds then falls on all of them, not on whichever ran at the time.
#[derive(Default)]
struct Sampler {
    one: Vec<Row>,
    two: Vec<Row>,
    lag: Vec<f64>,
    /// Pairs taken, the first (a warm-up) included.
    pairs: usize,
}

impl Sampler {
    /// Whether fewer than `samples` of each thread count were undisturbed
    /// and fewer than `3 * samples` pairs were taken.
    fn wants(&self, samples: usize) -> bool {
        let kept = |rows: &[Row]| rows.iter().filter(|r| r.3).count();
        self.pairs <= 3 * samples && kept(&self.one).min(kept(&self.two)) < samples
    }

    /// Takes one sample on one thread and one on two; the first pair warms
    /// up and is not kept.
    fn pair(&mut self, w: &Workers<'_>, f: usize, records: usize) {
        let base = self.pairs * 7919;
        for threads in [1, 2] {
            let (parts, main) = w.sample(f, threads, records, base);
            if self.pairs == 0 {
                continue;
            }
            let slowest = parts.iter().map(|p| p.elapsed).fold(0.0, f64::max);
            let cpu: f64 = parts.iter().map(|p| p.cpu).sum();
            let first = parts.iter().map(|p| p.start_lag).fold(f64::MAX, f64::min);
            let last = parts.iter().map(|p| p.start_lag).fold(0.0, f64::max);
            // Undisturbed: every worker on a CPU nearly all its loop,
            // and the loops overlapping nearly all the way.
            let undisturbed = parts.iter().all(|p| p.cpu >= ON_CPU * p.elapsed)
                && last - first <= (1.0 - ON_CPU) * slowest;
            let per = records as f64;
            let row = (
                slowest / per,
                main / per,
                cpu / (threads as f64 * per),
                undisturbed,
            );
            if threads == 1 {
                self.one.push(row);
            } else {
                self.two.push(row);
                self.lag.push(last);
            }
        }
        self.pairs += 1;
    }

    /// The figures of the samples taken; `others` is the work other
    /// processes did meanwhile, in cores.
    fn scaling(&self, others: f64) -> Scaling {
        let (all, _, _) = medians(&self.one, &self.two, |_| true);
        let (on_cpu, n1, n2) = medians(&self.one, &self.two, |r| r.3);
        Scaling {
            all,
            on_cpu,
            kept: (n1, n2),
            samples: self.two.len(),
            two_lag: median(self.lag.clone()),
            others,
        }
    }
}

/// Eight independent multiply chains: a loop bound by the multiplier port,
/// with no memory traffic. Two such loops scale x2 on two cores and about
/// x1 on two hyperthreads of one core, so it tells whether the VM's two
/// vCPUs ran on separate cores during the measurement.
fn port_bound(i: usize) {
    let mut a = [i as u64; 8];
    for _ in 0..8 {
        for (k, x) in a.iter_mut().enumerate() {
            *x = x
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(k as u32 + 1)
                ^ 1;
        }
    }
    black_box(a);
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
    /// Allocations per record of a census case, by case name.
    allocs: Vec<(String, f64)>,
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
        println!(
            "| case | census | median | peer | median | census/peer | target | census allocations/record |"
        );
        println!("|---|---|---:|---|---:|---:|---|---:|");
        for (case, c, cv, p, pv, t) in &self.rows {
            let allocs = self
                .allocs
                .iter()
                .find(|(name, _)| name == case)
                .map_or("-".to_owned(), |(_, a)| format!("{a:.2}"));
            println!(
                "| {case} | {c} | {cv:.1} ns | {p} | {pv:.1} ns | {:.2} | {t} | {allocs} |",
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
    if args.get(1).map(String::as_str) == Some("e-methods") {
        return e_methods(quick);
    }
    let t = Timing {
        samples: if quick { 11 } else { 51 },
        ops: if quick { 20_000 } else { 100_000 },
    };
    let inp = Inputs::new();
    let mut table = Table {
        rows: Vec::new(),
        allocs: Vec::new(),
    };
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

    // Every closure black-boxes its inputs before the call it times, as
    // an argument: a black box evaluated between building a census
    // MeasurementMap and recording it would force the builder out of
    // registers, a cost no real call site has.
    let census = |vm: &ViewManager, i: usize| {
        let (v, tags) = (black_box(12.5), black_box(&inp.census_maps[inp.at(i)]));
        MeasurementMap::new().put(&m, v).record_to(vm, tags)
    };

    // The same with the tag map built per call, as a request handler does.
    let census_per_call = |vm: &ViewManager, i: usize| {
        if let Ok(tags) = per_call_tags(&inp.census_keys, black_box(inp.strs(i))) {
            MeasurementMap::new()
                .put(&m, black_box(12.5))
                .record_to(vm, &tags)
        }
    };

    // The same values given as borrowed tags, as prometheus gets them:
    // no map built (`record_tags_to`).
    let census_borrowed = |vm: &ViewManager, i: usize| {
        let v = black_box(inp.strs(i));
        let [k0, k1, k2] = &inp.census_keys;
        MeasurementMap::new()
            .put(&m, black_box(12.5))
            .record_tags_to(vm, &[(k0, v[0]), (k1, v[1]), (k2, v[2])])
    };

    // A: 1 Sum view, 3 tags.
    let vm_a = census_manager(&inp, &m, &[Aggregation::Sum]);
    let a = t.medians(&mut [
        &mut looped(|i| census(&vm_a, i)),
        &mut looped(|i| {
            prom_counter
                .with_label_values(black_box(&inp.strs(i)))
                .inc()
        }),
        &mut looped(|i| {
            pc_counter
                .get_or_create(black_box(&inp.pc_labels[inp.at(i)]))
                .inc();
        }),
        &mut looped_metrics(&recorder, |i| {
            metrics::counter!("requests", black_box(inp.metrics_labels[inp.at(i)].iter()))
                .increment(1)
        }),
        &mut looped(|i| otel_counter.add(1, black_box(&inp.otel_attrs[inp.at(i)]))),
    ]);
    for (peer, target, ratio) in [
        ("prometheus IntCounterVec", "<= 0.5", a[1]),
        ("prometheus-client Family<Counter>", "-", a[2]),
        ("metrics counter! (prometheus recorder)", "-", a[3]),
        ("opentelemetry_sdk Counter::add", "-", a[4]),
    ] {
        table.row("A", ("1 Sum view, 3 tags", a[0]), (peer, ratio), target);
    }
    table
        .allocs
        .push(("A".into(), allocs_per_op(t.ops, |i| census(&vm_a, i))));
    // A2: case A with the tag map built per call.
    let a2 = t.medians(&mut [
        &mut looped(|i| census_per_call(&vm_a, i)),
        &mut looped(|i| {
            prom_counter
                .with_label_values(black_box(&inp.strs(i)))
                .inc()
        }),
        &mut looped(|i| {
            let v = black_box(inp.strs(i));
            otel_counter.add(
                1,
                &[0, 1, 2].map(|k| KeyValue::new(KEYS[k], v[k].to_owned())),
            )
        }),
        &mut looped(|i| census_borrowed(&vm_a, i)),
    ]);
    let built = ("1 Sum view, tags built per call", a2[0]);
    table.row("A2", built, ("prometheus IntCounterVec", a2[1]), "<= 0.5");
    table.row(
        "A2",
        built,
        ("opentelemetry_sdk Counter::add, attrs built", a2[2]),
        "-",
    );
    table.allocs.push((
        "A2".into(),
        allocs_per_op(t.ops, |i| census_per_call(&vm_a, i)),
    ));
    // A3: A2's values as borrowed tags, timed in A2's rounds.
    table.row(
        "A3",
        ("1 Sum view, tags borrowed per call", a2[3]),
        ("prometheus IntCounterVec", a2[1]),
        "-",
    );
    table.allocs.push((
        "A3".into(),
        allocs_per_op(t.ops, |i| census_borrowed(&vm_a, i)),
    ));
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
    let order = t.medians(&mut [
        &mut looped(|i| census(&vm_rev, i)),
        &mut looped(|i| census(&vm_fwd, i)),
    ]);
    table.row(
        "A'",
        ("view keys in reverse order", order[0]),
        ("the same, keys in map order", order[1]),
        "<= 1.2",
    );

    // B: 1 Distribution view, 10 bounds.
    let vm_b = census_manager(&inp, &m, &[distribution()]);
    let b = t.medians(&mut [
        &mut looped(|i| census(&vm_b, i)),
        &mut looped(|i| {
            prom_hist
                .with_label_values(black_box(&inp.strs(i)))
                .observe(12.5)
        }),
        &mut looped(|i| {
            pc_hist
                .get_or_create(black_box(&inp.pc_labels[inp.at(i)]))
                .observe(12.5)
        }),
        &mut looped_metrics(&recorder, |i| {
            metrics::histogram!("latency", black_box(inp.metrics_labels[inp.at(i)].iter()))
                .record(12.5)
        }),
        &mut looped(|i| otel_hist.record(12.5, black_box(&inp.otel_attrs[inp.at(i)]))),
    ]);
    for (peer, target, ratio) in [
        ("prometheus HistogramVec", "<= 0.5", b[1]),
        ("prometheus-client Family<Histogram>", "-", b[2]),
        ("metrics histogram! (prometheus recorder)", "-", b[3]),
        ("opentelemetry_sdk Histogram::record", "-", b[4]),
    ] {
        table.row("B", ("1 Distribution view", b[0]), (peer, ratio), target);
    }
    table
        .allocs
        .push(("B".into(), allocs_per_op(t.ops, |i| census(&vm_b, i))));
    // B2: case B with the tag map built per call.
    let b2 = t.medians(&mut [
        &mut looped(|i| census_per_call(&vm_b, i)),
        &mut looped(|i| {
            prom_hist
                .with_label_values(black_box(&inp.strs(i)))
                .observe(12.5)
        }),
        &mut looped(|i| census_borrowed(&vm_b, i)),
    ]);
    table.row(
        "B2",
        ("1 Distribution view, tags built per call", b2[0]),
        ("prometheus HistogramVec", b2[1]),
        "<= 0.5",
    );
    table.allocs.push((
        "B2".into(),
        allocs_per_op(t.ops, |i| census_per_call(&vm_b, i)),
    ));
    table.row(
        "B3",
        ("1 Distribution view, tags borrowed per call", b2[2]),
        ("prometheus HistogramVec", b2[1]),
        "-",
    );
    table.allocs.push((
        "B3".into(),
        allocs_per_op(t.ops, |i| census_borrowed(&vm_b, i)),
    ));

    // C: 3 views (Count, Sum, Distribution) vs a counter add + a histogram
    // record, the way a peer user records the same three aggregations.
    let vm_c = census_manager(
        &inp,
        &m,
        &[Aggregation::Count, Aggregation::Sum, distribution()],
    );
    let c = t.medians(&mut [
        &mut looped(|i| census(&vm_c, i)),
        &mut looped(|i| {
            let attrs = black_box(&inp.otel_attrs[inp.at(i)]);
            otel_counter.add(1, attrs);
            otel_hist.record(12.5, attrs);
        }),
        &mut looped(|i| {
            let l = black_box(inp.strs(i));
            prom_counter.with_label_values(&l).inc();
            prom_hist.with_label_values(&l).observe(12.5);
        }),
    ]);
    let three = ("3 views: Count, Sum, Distribution", c[0]);
    table.row(
        "C",
        three,
        ("opentelemetry_sdk add + record", c[1]),
        "<= 0.25",
    );
    table.row("C", three, ("prometheus counter + histogram", c[2]), "-");
    table
        .allocs
        .push(("C".into(), allocs_per_op(t.ops, |i| census(&vm_c, i))));
    // C2: case C with the tag map built per call, and OpenTelemetry's
    // attributes built per call alike.
    let c2 = t.medians(&mut [
        &mut looped(|i| census_per_call(&vm_c, i)),
        &mut looped(|i| {
            let v = black_box(inp.strs(i));
            let attrs = [0, 1, 2].map(|k| KeyValue::new(KEYS[k], v[k].to_owned()));
            otel_counter.add(1, &attrs);
            otel_hist.record(12.5, &attrs);
        }),
        &mut looped(|i| {
            let l = black_box(inp.strs(i));
            prom_counter.with_label_values(&l).inc();
            prom_hist.with_label_values(&l).observe(12.5);
        }),
        &mut looped(|i| census_borrowed(&vm_c, i)),
    ]);
    let three2 = ("3 views, tags built per call", c2[0]);
    table.row(
        "C2",
        three2,
        ("opentelemetry_sdk add + record, attrs built", c2[1]),
        "<= 0.25",
    );
    table.row("C2", three2, ("prometheus counter + histogram", c2[2]), "-");
    table.allocs.push((
        "C2".into(),
        allocs_per_op(t.ops, |i| census_per_call(&vm_c, i)),
    ));
    let three3 = ("3 views, tags borrowed per call", c2[3]);
    table.row(
        "C3",
        three3,
        ("opentelemetry_sdk add + record, attrs built", c2[1]),
        "-",
    );
    table.row("C3", three3, ("prometheus counter + histogram", c2[2]), "-");
    table.allocs.push((
        "C3".into(),
        allocs_per_op(t.ops, |i| census_borrowed(&vm_c, i)),
    ));

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
    let bound_f = vm_d.bind(&m, &inp.census_maps[0]);
    let metrics_handle = metrics::with_local_recorder(&recorder, || {
        metrics::counter!("requests", inp.metrics_labels[0].iter())
    });
    let d = t.medians(&mut [
        &mut looped(|_| bound.record(black_box(1))),
        &mut looped(|_| bound_f.record(black_box(12.5))),
        &mut looped(|_| black_box(&prom_single).inc()),
        &mut looped(|_| black_box(&metrics_handle).increment(1)),
    ]);
    table.row(
        "D",
        ("bound handle, 1 Sum view", d[0]),
        ("prometheus IntCounter::inc", d[2]),
        "<= 1.0",
    );
    table
        .allocs
        .push(("D".into(), allocs_per_op(t.ops, |_| bound.record(1))));
    table.row(
        "D",
        ("bound handle, f64 Sum view", d[1]),
        ("prometheus IntCounter::inc", d[2]),
        "-",
    );
    table.row(
        "D",
        ("bound handle, 1 Sum view", d[0]),
        ("metrics Counter handle", d[3]),
        "-",
    );

    // E: case A on two threads against one, and prometheus the same way.
    e_case(&inp, &m, &prom_counter, quick, &mut table);

    // F: retrieve_data of 10,000 rows, alone and with a recording thread.
    snapshot_case(&m, &inp, &mut table);

    table.markdown();
    memory_table();
}

/// The loops case E runs on its workers, by index into the slice
/// `with_e_loops` passes on: census case A and prometheus's IntCounterVec
/// (the table's rows), then the same census record with less and less
/// shared between the two threads, then two loops that check the machine.
const E_LOOPS: [&str; 8] = [
    "census case A",
    "prometheus IntCounterVec",
    "census case A, a manager per thread",
    "census case A, manager and copies of the tag maps per thread",
    "census case A, inputs, measure and manager per thread",
    "machine check: multiplier-bound loop",
    "machine check: private 512 KiB, random access",
    "census case A2: tag maps built per call",
];
const E_CENSUS: usize = 0;
const E_PROMETHEUS: usize = 1;
const E_MULTIPLY: usize = 5;
const E_CENSUS_PER_CALL: usize = 7;

/// Builds the loops of `E_LOOPS` and calls `body` with them.
fn with_e_loops<R>(
    inp: &Inputs,
    m: &MeasureF64,
    prom: &prometheus::IntCounterVec,
    body: impl FnOnce(&[&(dyn Fn(usize) + Sync)]) -> R,
) -> R {
    let worker = || WORKER.with(|w| w.get());
    let vm = census_manager(inp, m, &[Aggregation::Sum]);
    let census = |i: usize| {
        MeasurementMap::new()
            .put(m, black_box(12.5))
            .record_to(&vm, black_box(&inp.census_maps[inp.at(i)]))
    };
    let prom_rec = |i: usize| prom.with_label_values(black_box(&inp.strs(i))).inc();
    // Each worker into a manager of its own; the measure and the tag maps
    // are still the same for both.
    let own_vm: [ViewManager; WORKERS] =
        std::array::from_fn(|_| census_manager(inp, m, &[Aggregation::Sum]));
    let own_manager = |i: usize| {
        MeasurementMap::new()
            .put(m, black_box(12.5))
            .record_to(&own_vm[worker()], black_box(&inp.census_maps[inp.at(i)]))
    };
    // A manager and copies of the tag maps of its own: each map's entry
    // vector is the thread's, the key and value strings are still shared.
    let own_maps: [Vec<TagMap>; WORKERS] = std::array::from_fn(|_| inp.census_maps.clone());
    let copies_vm: [ViewManager; WORKERS] =
        std::array::from_fn(|_| census_manager(inp, m, &[Aggregation::Sum]));
    let own_map_copies = |i: usize| {
        let t = worker();
        MeasurementMap::new()
            .put(m, black_box(12.5))
            .record_to(&copies_vm[t], black_box(&own_maps[t][inp.at(i)]))
    };
    // Nothing shared: inputs (tag maps and their values), measure and
    // manager built separately for each worker.
    let apart: [(Inputs, MeasureF64); WORKERS] = std::array::from_fn(|_| {
        (
            Inputs::new(),
            MeasureF64::new("bench/latency", "latency", "ms").expect("measure"),
        )
    });
    let apart_vm: [ViewManager; WORKERS] =
        std::array::from_fn(|t| census_manager(&apart[t].0, &apart[t].1, &[Aggregation::Sum]));
    let census_apart = |i: usize| {
        let t = worker();
        let (inp, m) = &apart[t];
        MeasurementMap::new()
            .put(m, black_box(12.5))
            .record_to(&apart_vm[t], black_box(&inp.census_maps[inp.at(i)]))
    };
    // Each worker reads and writes a 512 KiB buffer of its own at random:
    // no line is shared, so what this loses on two threads is lost in the
    // machine's memory system, for a working set of census's order.
    let buffers: [Vec<AtomicI64>; WORKERS] =
        std::array::from_fn(|_| (0..65_536).map(AtomicI64::new).collect());
    let private_memory = |i: usize| {
        let buf = &buffers[worker()];
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut sum = 0;
        for _ in 0..8 {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            // Relaxed: the buffer is this thread's alone.
            sum += buf[(x >> 48) as usize].load(Ordering::Relaxed);
        }
        buf[i & 0xFFFF].store(sum, Ordering::Relaxed);
    };
    let census_per_call = |i: usize| {
        if let Ok(tags) = per_call_tags(&inp.census_keys, black_box(inp.strs(i))) {
            MeasurementMap::new()
                .put(m, black_box(12.5))
                .record_to(&vm, &tags)
        }
    };
    body(&[
        &census,
        &prom_rec,
        &own_manager,
        &own_map_copies,
        &census_apart,
        &port_bound,
        &private_memory,
        &census_per_call,
    ])
}

/// Case E: case A (and prometheus's IntCounterVec for comparison) on 1 and
/// 2 threads of one `Workers`, throughput ratio = 2 x one-thread time per
/// record / two-thread time per record per thread; then the diagnostic
/// loops of `E_LOOPS`.
fn e_case(
    inp: &Inputs,
    m: &MeasureF64,
    prom: &prometheus::IntCounterVec,
    quick: bool,
    table: &mut Table,
) {
    let (samples, records) = if quick {
        (11, 500_000)
    } else {
        (21, 1_000_000)
    };
    println!(
        "E   {records} records per thread per sample, {samples} undisturbed samples wanted; {}",
        load_average()
    );
    // The loops' sample pairs are interleaved (one pair of each loop in
    // turn), so that the loops are compared over the same minutes.
    let results: Vec<Scaling> = with_e_loops(inp, m, prom, |fns| {
        Workers::run(fns, |w| {
            let busy0 = cpu_busy_ns();
            let t0 = Instant::now();
            let mut samplers: Vec<Sampler> = fns.iter().map(|_| Sampler::default()).collect();
            while samplers.iter().any(|s| s.wants(samples)) {
                for (f, sampler) in samplers.iter_mut().enumerate() {
                    if sampler.wants(samples) {
                        // The multiplier loop does 8x the work per call.
                        let n = if f == E_MULTIPLY {
                            records / 8
                        } else {
                            records
                        };
                        sampler.pair(w, f, n);
                    }
                }
            }
            let others = other_cores(busy0, cpu_busy_ns(), t0.elapsed().as_nanos() as f64);
            samplers
                .iter()
                .enumerate()
                .map(|(f, sampler)| {
                    let r = sampler.scaling(others);
                    println!("{}", r.describe(E_LOOPS[f]));
                    r
                })
                .collect()
        })
    });
    // The table takes the undisturbed samples only: NaN when there were
    // none, rather than a figure that measured the other work.
    let pick = |s: &Scaling| s.on_cpu;
    let (c, p) = (pick(&results[E_CENSUS]), pick(&results[E_PROMETHEUS]));
    table.row(
        "E",
        ("case A, 2 threads, wall ns/record/thread", c.two_wall),
        ("census case A, 1 thread, wall", c.one_wall),
        "<= 1.18 (= x1.7 throughput)",
    );
    table.row(
        "E",
        ("case A, 2 threads, CPU ns/record", c.two_cpu),
        ("census case A, 1 thread, CPU", c.one_cpu),
        "-",
    );
    let c2 = pick(&results[E_CENSUS_PER_CALL]);
    table.row(
        "E2",
        ("case A2, 2 threads, wall ns/record/thread", c2.two_wall),
        ("census case A2, 1 thread, wall", c2.one_wall),
        "<= 1.18 (= x1.7 throughput)",
    );
    table.row(
        "E",
        ("prometheus 2 threads, wall ns/record/thread", p.two_wall),
        ("prometheus 1 thread, wall", p.one_wall),
        "-",
    );
    table.row(
        "E",
        ("prometheus 2 threads, CPU ns/record", p.two_cpu),
        ("prometheus 1 thread, CPU", p.one_cpu),
        "-",
    );
}

/// `census-peer-bench e-methods`: case E measured the old way (threads
/// spawned per sample, main-thread clock, schedstat CPU) and with
/// `Workers` at several sample lengths, side by side in one process, to
/// show what each part of the old method did to the figure.
fn e_methods(quick: bool) {
    let inp = Inputs::new();
    let m = MeasureF64::new("bench/latency", "latency", "ms").expect("measure");
    let prom = prometheus::IntCounterVec::new(prometheus::Opts::new("requests", "requests"), &KEYS)
        .expect("prometheus counter");
    for v in &inp.values {
        prom.with_label_values(&[v[0].as_str(), v[1].as_str(), v[2].as_str()])
            .inc();
    }
    let rounds = if quick { 1 } else { 3 };
    let old = Timing {
        samples: 15,
        ops: 0,
    };
    with_e_loops(&inp, &m, &prom, |fns| {
        for round in 0..rounds {
            println!("round {round}, {}", load_average());
            for f in [E_MULTIPLY, E_CENSUS, E_PROMETHEUS] {
                let name = E_LOOPS[f];
                for ops in [80_000, 400_000] {
                    let busy0 = cpu_busy_ns();
                    let t0 = Instant::now();
                    let (w1, s1, c1) = old.spawned_per_sample(1, ops, fns[f]);
                    let (w2, s2, c2) = old.spawned_per_sample(2, ops, fns[f]);
                    let others = other_cores(busy0, cpu_busy_ns(), t0.elapsed().as_nanos() as f64);
                    println!(
                        "  {name}, old (spawn per sample), {ops} records: main clock {w1:.1} / {w2:.1} ns x{:.2}; \
                         CPU schedstat {s1:.1} / {s2:.1} x{:.2}; CPU clock {c1:.1} / {c2:.1} x{:.2}; other work {others:.2} cores",
                        Scaling::throughput(w1, w2),
                        Scaling::throughput(s1, s2),
                        Scaling::throughput(c1, c2),
                    );
                }
                for records in [80_000, 400_000, 1_000_000] {
                    let r = Workers::run(fns, |w| Scaling::measure(w, f, 15, records));
                    for (label, x, kept) in [
                        ("all", &r.all, (r.samples, r.samples)),
                        ("undisturbed", &r.on_cpu, r.kept),
                    ] {
                        println!(
                            "  {name}, kept workers, {records} records, {label} ({}/{}): own clocks {:.1} / {:.1} ns x{:.2}; \
                             main clock {:.1} / {:.1} x{:.2}; CPU clock {:.1} / {:.1} x{:.2}; start lag {:.0} us; other work {:.2} cores",
                            kept.0,
                            kept.1,
                            x.one_wall,
                            x.two_wall,
                            x.wall_ratio(),
                            x.one_main,
                            x.two_main,
                            Scaling::throughput(x.one_main, x.two_main),
                            x.one_cpu,
                            x.two_cpu,
                            x.cpu_ratio(),
                            r.two_lag / 1e3,
                            r.others,
                        );
                    }
                }
            }
        }
    });
}

fn load_average() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let l: Vec<&str> = l.split_whitespace().take(3).collect();
    format!("load average {}", l.join(" "))
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
