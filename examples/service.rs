//! A small simulated service: requests arrive on a queue, four worker
//! threads take and serve them for a few seconds, recording latency and
//! request counts by method and status, while the stdout exporter prints
//! every view once a second. It also shows the two kinds of value that go
//! up and down: the queue's depth, read only when census asks (a callback
//! view, a gauge), and the requests in flight (an up-down sum, +1 when a
//! request starts and -1 when it ends). Shutdown then prints the final,
//! complete numbers, also when the service is stopped early with Ctrl-C or
//! SIGTERM.
//!
//! Run it with `cargo run --example service` (add `-- --seconds 10` to run
//! longer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use census::{
    Aggregation, BoundMeasure, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View,
};
use crossbeam_channel::{Receiver, RecvTimeoutError};

struct Stats {
    latency: MeasureF64,
    requests: MeasureI64,
    method: TagKey,
    status: TagKey,
    /// +1 as a request starts, -1 as it ends: an up-down sum.
    in_flight: BoundMeasure<MeasureI64>,
}

fn main() -> Result<(), census::Error> {
    let seconds = match seconds_from_args() {
        Ok(seconds) => seconds.unwrap_or(3),
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let vm = census::view_manager();
    let _census = census::shutdown_guard(); // drains even if main returns early with an error
    let in_flight = MeasureI64::new("service/in_flight", "requests being served", "1")?;
    let stats = Arc::new(Stats {
        latency: MeasureF64::new("service/latency", "time to serve a request", "ms")?,
        requests: MeasureI64::new("service/requests", "requests served", "1")?,
        method: TagKey::new("method")?,
        status: TagKey::new("status")?,
        in_flight: vm.bind(&in_flight, &TagMap::new()),
    });

    let keys = [stats.method.clone(), stats.status.clone()];
    vm.register_view(
        View::builder("service/latency_distribution", &stats.latency)
            .tag_keys(keys.clone())
            .aggregation(Aggregation::distribution([1.0, 5.0, 10.0, 50.0, 100.0])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("service/requests_total", &stats.requests)
            .tag_keys(keys.clone())
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("service/last_latency", &stats.latency)
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;
    // A sum that goes down as well as up: exported as a gauge, not a
    // counter.
    vm.register_view(
        View::builder("service/in_flight", &in_flight)
            .aggregation(Aggregation::UpDownSum)
            .build()?,
    )?;

    // Requests arrive on a queue the workers drain. Its depth is nothing
    // anyone records: a callback view reads it at each export.
    let (arrivals, queue) = crossbeam_channel::bounded::<u64>(10_000);
    let depth = MeasureI64::new("service/queue_depth", "requests waiting", "1")?;
    let waiting = queue.clone();
    vm.register_callback(
        View::builder("service/queue_depth", &depth)
            .aggregation(Aggregation::LastValue)
            .build()?,
        move |out| {
            out.observe(
                &TagMap::new(),
                i64::try_from(waiting.len()).unwrap_or(i64::MAX),
            )
        },
    )?;

    vm.register_exporter(census::exporters::StdoutExporter::default())?;
    vm.set_reporting_period(Duration::from_secs(1));

    // Ctrl-C and SIGTERM end the run early; main then drains as usual.
    // (`std::process::exit` would skip the drain: never call it before
    // `census::shutdown()`.)
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    if let Err(err) = ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed)) {
        eprintln!("cannot handle Ctrl-C ({err}); stop the service with --seconds");
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..4u64)
        .map(|id| {
            let (stats, queue) = (Arc::clone(&stats), queue.clone());
            thread::spawn(move || serve(&stats, id, &queue))
        })
        .collect();
    drop(queue);
    // Arrivals come in bursts, faster than the workers serve for half a
    // second, then slower, so the queue's depth moves.
    let begun = Instant::now();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let burst = begun.elapsed().as_millis() / 500 % 2 == 0;
        for _ in 0..if burst { 30 } else { 5 } {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if arrivals.send(rng).is_err() {
                break;
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    // No more arrivals: the workers drain the queue and stop.
    drop(arrivals);
    let mut served = 0;
    for worker in workers {
        served += worker.join().unwrap_or(Ok(0))?;
    }
    println!("served {served} requests; shutting down");
    Ok(()) // `_census` drops here and prints the final numbers
}

/// Serves requests from the queue until it is closed and empty; returns
/// how many.
fn serve(stats: &Stats, id: u64, queue: &Receiver<u64>) -> Result<u64, census::Error> {
    // Tag maps are built once per distinct combination, as a service would
    // build them per route.
    let mut tag_sets = Vec::new();
    for method in ["GET", "POST"] {
        for status in ["200", "404", "500"] {
            tag_sets.push(
                TagMap::new()
                    .with(&stats.method, method)?
                    .with(&stats.status, status)?,
            );
        }
    }
    let mut served = 0;
    loop {
        let rng = match queue.recv_timeout(Duration::from_millis(100)) {
            Ok(request) => request ^ id,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(served),
        };
        stats.in_flight.record(1);
        let tags = &tag_sets[(rng % tag_sets.len() as u64) as usize];
        let latency = (rng >> 40) as f64 / (1u64 << 24) as f64 * 120.0;
        thread::sleep(Duration::from_micros(200));
        MeasurementMap::new()
            .put(&stats.latency, latency)
            .put(&stats.requests, 1)
            .record(tags);
        stats.in_flight.record(-1);
        served += 1;
    }
}

/// `--seconds N`, if given.
fn seconds_from_args() -> Result<Option<u64>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, n] if flag == "--seconds" => n
            .parse()
            .map(Some)
            .map_err(|_| format!("--seconds needs a whole number, not {n:?}")),
        _ => Err("usage: service [--seconds N]".into()),
    }
}
