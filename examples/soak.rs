//! A soak run: a simulated service records at full speed for a given time
//! while every exporter works at once — stdout (to a sink), a Prometheus
//! endpoint scraped in a loop, and the HTTP exporter pushing to a local
//! receiver that fails now and then. At the end it prints records made and
//! exported (they must be equal), peak and final memory, and what the HTTP
//! exporter delivered, retried and dropped.
//!
//! Run it with `cargo run --release --example soak --features prometheus,http -- --seconds 600`.
//! With `--check` it exits non-zero unless records made equal records
//! exported (through census and through HTTP) and memory stayed flat after
//! warm-up; CI runs `--seconds 30 --check`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use census::exporters::{HttpExporter, PrometheusExporter, StdoutExporter};
use census::{
    Aggregation, AggregationData, ExportError, Exporter, MeasureF64, MeasureI64, MeasurementMap,
    TagKey, TagMap, View, ViewData, ViewManager,
};

const RECORDERS: usize = 2;
const REQUESTS_VIEW: &str = "soak/requests_total";

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(err) => {
            eprintln!("soak: {err}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (seconds, check) = parse_args(&args)?;
    let run_for = Duration::from_secs(seconds);
    let warm_up = (run_for / 5).max(Duration::from_secs(2));

    let requests = MeasureI64::new("soak/requests", "requests handled", "1")?;
    let latency = MeasureF64::new("soak/latency", "request latency", "ms")?;
    let inflight = MeasureI64::new("soak/inflight", "requests in flight", "1")?;
    let method = TagKey::new("method")?;
    let status = TagKey::new("status")?;

    let vm = ViewManager::new();
    vm.register_view(
        View::builder(REQUESTS_VIEW, &requests)
            .tag_keys([method.clone(), status.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("soak/latency_ms", &latency)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([1.0, 5.0, 25.0, 100.0, 500.0])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("soak/inflight", &inflight)
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;
    vm.set_reporting_period(Duration::from_millis(200));

    // Every exporter at once.
    vm.register_exporter(StdoutExporter::builder().writer(std::io::sink()).build())?;
    let tally = Arc::new(Tally::default());
    vm.register_exporter(Arc::clone(&tally))?;
    let prometheus = PrometheusExporter::builder().namespace("soak").build()?;
    vm.register_exporter(prometheus.clone())?;
    let endpoint = prometheus.serve("127.0.0.1:0")?;
    let receiver = Receiver::start()?;
    let http = HttpExporter::builder(receiver.url.clone())
        .backoff_base(Duration::from_millis(20))
        .backoff_cap(Duration::from_millis(200))
        .queue_capacity(50)
        .build()?;
    vm.register_exporter(http.clone())?;

    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let memory = Arc::new(Mutex::new(Memory::default()));

    let recorders: Vec<_> = (0..RECORDERS)
        .map(|id| {
            let (stop, made) = (Arc::clone(&stop), Arc::clone(&made));
            let (requests, latency, inflight) =
                (requests.clone(), latency.clone(), inflight.clone());
            let tag_sets = tag_sets(&method, &status);
            thread::spawn(move || -> Result<(), census::Error> {
                let tag_sets = tag_sets?;
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (id as u64 + 1);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let tags = &tag_sets[(rng % tag_sets.len() as u64) as usize];
                    MeasurementMap::new()
                        .put(&requests, 1)
                        .put(&latency, (rng >> 44) as f64 / 1024.0)
                        .put(&inflight, (rng % 64) as i64)
                        .record_to(vm_ref(), tags);
                    n += 1;
                    if n % 4096 == 0 {
                        // Leave the exporters some CPU on a small machine.
                        made.fetch_add(4096, Ordering::Relaxed);
                        thread::yield_now();
                    }
                }
                made.fetch_add(n % 4096, Ordering::Relaxed);
                Ok(())
            })
        })
        .collect();
    // The recorders reach the manager through this process-wide handle;
    // see `vm_ref`.
    MANAGER.set(vm).map_err(|_| "manager already set")?;

    let scraper = {
        let (stop, url) = (Arc::clone(&stop), endpoint.url());
        thread::spawn(move || scrape_until(&stop, &url))
    };
    let sampler = {
        let (stop, memory) = (Arc::clone(&stop), Arc::clone(&memory));
        thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let rss = rss();
                if let Ok(mut m) = memory.lock() {
                    m.peak = m.peak.max(rss);
                    if started.elapsed() >= warm_up && m.after_warm_up == 0 {
                        m.after_warm_up = rss;
                    }
                }
                thread::sleep(Duration::from_millis(250));
            }
        })
    };

    thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    for r in recorders {
        r.join().map_err(|_| "a recorder panicked")??;
    }
    let scrapes = scraper.join().map_err(|_| "the scraper panicked")??;
    let _ = sampler.join();
    let made = made.load(Ordering::Relaxed);
    let report = vm_ref().shutdown();
    endpoint.stop();
    let pushed = receiver.stop();

    let final_rss = rss();
    let memory = memory.lock().map(|m| *m).unwrap_or_default();
    let exported = tally.total.load(Ordering::SeqCst);
    let m = http.metrics();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("soak: {seconds} s, {RECORDERS} recording threads");
    println!(
        "records made {made}, exported {exported}, pushed over HTTP {}",
        pushed.total
    );
    println!(
        "rss: after warm-up {:.1} MiB, peak {:.1} MiB, final {:.1} MiB",
        mib(memory.after_warm_up),
        mib(memory.peak),
        mib(final_rss)
    );
    println!(
        "http: batches delivered {}, retried {}, dropped {}, abandoned {}, refused by the receiver on purpose {}",
        m.sent, m.retried, m.dropped, m.abandoned, pushed.refused
    );
    println!("prometheus: {scrapes} scrapes, counters never went backwards");
    println!("shutdown: {report:?}");

    if !check {
        return Ok(true);
    }
    let mut ok = true;
    let mut fail = |what: String| {
        eprintln!("soak check failed: {what}");
        ok = false;
    };
    if exported != made {
        fail(format!("{made} records made but {exported} exported"));
    }
    if pushed.total != made {
        fail(format!(
            "{made} records made but {} pushed over HTTP",
            pushed.total
        ));
    }
    // Flat: within 10% (at least 8 MiB, for allocator noise) of the value
    // after warm-up.
    let margin = (memory.after_warm_up / 10).max(8 << 20);
    if memory.after_warm_up == 0 || final_rss > memory.after_warm_up + margin {
        fail(format!(
            "memory grew from {} to {} bytes after warm-up",
            memory.after_warm_up, final_rss
        ));
    }
    if !report.is_complete() {
        fail(format!("shutdown did not complete: {report:?}"));
    }
    if ok {
        println!("soak check passed");
    }
    Ok(ok)
}

static MANAGER: std::sync::OnceLock<ViewManager> = std::sync::OnceLock::new();

/// The soak's manager. Recorders start before it is published and spin
/// until it is; a process-wide handle keeps the recording loop free of
/// reference counting, as a service using `census::view_manager()` is.
fn vm_ref() -> &'static ViewManager {
    loop {
        if let Some(vm) = MANAGER.get() {
            return vm;
        }
        thread::yield_now();
    }
}

fn tag_sets(method: &TagKey, status: &TagKey) -> Result<Vec<TagMap>, census::Error> {
    let mut sets = Vec::new();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        for s in ["200", "201", "404", "500"] {
            sets.push(TagMap::new().with(method, m)?.with(status, s)?);
        }
    }
    Ok(sets)
}

/// Keeps the total of the requests view from the latest batch: after
/// shutdown, the total census exported.
#[derive(Default)]
struct Tally {
    total: AtomicU64,
}

impl Exporter for Tally {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        self.total.store(requests_total(batch), Ordering::SeqCst);
        Ok(())
    }
}

fn requests_total(batch: &[ViewData]) -> u64 {
    batch
        .iter()
        .filter(|d| d.view.name() == REQUESTS_VIEW)
        .flat_map(|d| &d.rows)
        .map(|r| match r.data {
            AggregationData::Count(n) => n,
            _ => 0,
        })
        .sum()
}

#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    after_warm_up: u64,
    peak: u64,
}

/// Resident set size in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Scrapes until told to stop; checks every scrape's request counters
/// never go backwards. Returns the number of scrapes.
fn scrape_until(stop: &AtomicBool, url: &str) -> Result<u64, String> {
    let mut scrapes = 0;
    let mut last = 0.0;
    while !stop.load(Ordering::Relaxed) {
        let body = ureq::get(url)
            .call()
            .map_err(|e| format!("scrape failed: {e}"))?
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("scrape body: {e}"))?;
        let total: f64 = body
            .lines()
            .filter(|l| l.starts_with("soak_soak_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if total < last {
            return Err(format!("counter went backwards: {last} then {total}"));
        }
        last = total;
        scrapes += 1;
        thread::sleep(Duration::from_millis(100));
    }
    Ok(scrapes)
}

/// A local push receiver that answers 503 to every seventh request and
/// remembers the highest request total it accepted.
struct Receiver {
    url: String,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Pushed>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Pushed {
    total: u64,
    refused: u64,
}

impl Receiver {
    fn start() -> Result<Receiver, String> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or("the receiver has no IP address")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut pushed = Pushed::default();
            let mut requests = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                requests += 1;
                if requests % 7 == 0 {
                    pushed.refused += 1;
                    let _ = request.respond(tiny_http::Response::empty(503));
                    continue;
                }
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                pushed.total = pushed.total.max(pushed_total(&body));
                let _ = request.respond(tiny_http::Response::empty(200));
            }
            pushed
        });
        Ok(Receiver {
            url: format!("http://{addr}/v1/metrics"),
            stop,
            thread,
        })
    }

    fn stop(self) -> Pushed {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// The requests total in a census.v1 body (counts are JSON strings).
fn pushed_total(body: &str) -> u64 {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(body) else {
        return 0;
    };
    let views = doc["views"].as_array().cloned().unwrap_or_default();
    views
        .iter()
        .filter(|v| v["name"] == REQUESTS_VIEW)
        .flat_map(|v| v["rows"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["count"].as_str()?.parse::<u64>().ok())
        .sum()
}

/// `--seconds N` (default 30) and `--check`, in any order.
fn parse_args(args: &[String]) -> Result<(u64, bool), String> {
    let usage = "usage: soak [--seconds N] [--check]";
    let (mut seconds, mut check) = (30, false);
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--seconds" => {
                let n = rest
                    .next()
                    .ok_or(format!("--seconds needs a value; {usage}"))?;
                seconds = n
                    .parse()
                    .map_err(|_| format!("--seconds needs a whole number, not {n:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}; {usage}")),
        }
    }
    Ok((seconds, check))
}
