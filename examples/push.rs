//! A service that pushes its stats to an HTTP endpoint every second: two
//! threads record request latency and counts by method, the HTTP exporter
//! queues each batch and POSTs it, and shutdown delivers the last one.
//! At the end it prints the exporter's delivery counters.
//!
//! Start `examples/receiver.rs` first, then run
//! `cargo run --features http --example push`. Options:
//! `--url http://127.0.0.1:4318/v1/metrics`,
//! `--format json|otlp|otlp-protobuf`,
//! `--gzip`, `--seconds 5`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use census::exporters::{HttpExporter, HttpFormat};
use census::{Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View};

struct Options {
    url: String,
    format: HttpFormat,
    gzip: bool,
    seconds: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let latency = MeasureF64::new("push/latency", "time to serve a request", "ms")?;
    let requests = MeasureI64::new("push/requests", "requests served", "1")?;
    let method = TagKey::new("method")?;

    let vm = census::view_manager();
    vm.register_view(
        View::builder("push/latency", &latency)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([1.0, 5.0, 25.0, 100.0])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("push/requests", &requests)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;

    let http = HttpExporter::builder(&options.url)
        .format(options.format)
        .gzip(options.gzip)
        .service_name("push-example")
        .timeout(Duration::from_secs(2))
        .shutdown_deadline(Duration::from_secs(3))
        .self_metrics(true)
        .build()?;
    vm.set_reporting_period(Duration::from_secs(1));
    vm.register_exporter(http.clone())?;
    println!(
        "pushing {:?} to {} for {} s",
        options.format, options.url, options.seconds
    );

    let stats = Arc::new((latency, requests, method));
    let end = Instant::now() + Duration::from_secs(options.seconds);
    let workers: Vec<_> = ["GET", "POST"]
        .into_iter()
        .enumerate()
        .map(|(i, verb)| {
            let stats = Arc::clone(&stats);
            thread::spawn(move || -> Result<u64, census::Error> {
                let (latency, requests, method) = &*stats;
                let tags = TagMap::new().with(method, verb)?;
                let mut served = 0u64;
                while Instant::now() < end {
                    // A made-up latency spread over the buckets.
                    let ms = ((served * 7 + i as u64 * 13) % 120) as f64 + 0.5;
                    MeasurementMap::new()
                        .put(latency, ms)
                        .put(requests, 1)
                        .record(&tags);
                    served += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Ok(served)
            })
        })
        .collect();
    let mut served = 0;
    for worker in workers {
        served += worker.join().map_err(|_| "a worker panicked")??;
    }

    println!("served {served} requests; shutting down");
    census::shutdown();
    let m = http.metrics();
    println!(
        "batches: {} sent, {} retried, {} failed, {} dropped, {} abandoned; statuses {:?}",
        m.sent, m.retried, m.failed, m.dropped, m.abandoned, m.status_codes
    );
    if let Some(err) = m.last_error {
        println!("last error: {err}");
    }
    Ok(())
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:4318/v1/metrics".into(),
        format: HttpFormat::Json,
        gzip: false,
        seconds: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => options.url = value()?,
            "--format" => {
                options.format = match value()?.as_str() {
                    "json" => HttpFormat::Json,
                    "otlp" => HttpFormat::OtlpJson,
                    "otlp-protobuf" => HttpFormat::OtlpProtobuf,
                    other => {
                        return Err(format!("--format {other}: use json, otlp or otlp-protobuf"))
                    }
                }
            }
            "--gzip" => options.gzip = true,
            "--seconds" => {
                options.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            other => {
                return Err(format!(
                    "unknown option {other}; see the top of examples/push.rs"
                ))
            }
        }
    }
    Ok(options)
}
