//! A small simulated service: four worker threads handle "requests" for a
//! few seconds, recording latency and request counts by method and status,
//! while the stdout exporter prints every view once a second. Shutdown
//! then prints the final, complete numbers, also when the service is
//! stopped early with Ctrl-C or SIGTERM.
//!
//! Run it with `cargo run --example service` (add `-- --seconds 10` to run
//! longer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use census::{Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View};

struct Stats {
    latency: MeasureF64,
    requests: MeasureI64,
    method: TagKey,
    status: TagKey,
}

fn main() -> Result<(), census::Error> {
    let seconds = seconds_from_args().unwrap_or(3);
    let stats = Arc::new(Stats {
        latency: MeasureF64::new("service/latency", "time to serve a request", "ms")?,
        requests: MeasureI64::new("service/requests", "requests served", "1")?,
        method: TagKey::new("method")?,
        status: TagKey::new("status")?,
    });

    let vm = census::view_manager();
    let _census = census::shutdown_guard(); // drains even if main returns early with an error
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
    vm.register_exporter(census::exporters::StdoutExporter::default());
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
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            thread::spawn(move || serve(&stats, id, deadline, &stop))
        })
        .collect();
    let mut served = 0;
    for worker in workers {
        served += worker.join().unwrap_or(Ok(0))?;
    }
    println!("served {served} requests; shutting down");
    Ok(()) // `_census` drops here and prints the final numbers
}

/// Pretends to serve requests until the deadline; returns how many.
fn serve(
    stats: &Stats,
    id: u64,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<u64, census::Error> {
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
    let mut rng = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut served = 0;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let tags = &tag_sets[(rng % tag_sets.len() as u64) as usize];
        let latency = (rng >> 40) as f64 / (1u64 << 24) as f64 * 120.0;
        MeasurementMap::new()
            .put(&stats.latency, latency)
            .put(&stats.requests, 1)
            .record(tags);
        served += 1;
        thread::sleep(Duration::from_micros(200));
    }
    Ok(served)
}

fn seconds_from_args() -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--seconds")?;
    args.get(at + 1)?.parse().ok()
}
