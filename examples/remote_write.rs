//! A service that pushes its stats to Prometheus through remote write:
//! a request counter, an in-flight gauge and a latency histogram, pushed
//! every second to the URL given on the command line, named as the
//! Prometheus exporter would name them, with `job="remote-write-example"`.
//! At the end it prints the exporter's delivery counters.
//!
//! Any remote write receiver works: Prometheus started with
//! `--web.enable-remote-write-receiver` (URL `http://127.0.0.1:9090/api/v1/write`),
//! Mimir, Cortex, Thanos Receive or VictoriaMetrics. Run
//! `cargo run --features http --example remote_write -- http://127.0.0.1:9090/api/v1/write`
//! and query `remote_write_requests_total` or
//! `histogram_quantile(0.9, rate(remote_write_latency_bucket[1m]))`.
//! Options after the URL: `--seconds 10`.

use std::thread;
use std::time::{Duration, Instant};

use census::exporters::{HttpExporter, HttpFormat};
use census::{Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, seconds) = options()?;
    let latency = MeasureF64::new("remote_write/latency", "time to serve a request", "ms")?;
    let requests = MeasureI64::new("remote_write/requests", "requests served", "1")?;
    let in_flight = MeasureI64::new("remote_write/in_flight", "requests in flight", "1")?;
    let method = TagKey::new("method")?;

    let vm = census::view_manager();
    vm.register_view(
        View::builder("remote_write/latency", &latency)
            .description("time to serve a request, in milliseconds")
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([5.0, 10.0, 25.0, 50.0, 100.0])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("remote_write/requests", &requests)
            .description("requests served")
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("remote_write/in_flight", &in_flight)
            .description("requests being served")
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;

    let http = HttpExporter::builder(&url)
        .format(HttpFormat::PrometheusRemoteWrite)
        .service_name("remote-write-example")
        .timeout(Duration::from_secs(2))
        .shutdown_deadline(Duration::from_secs(3))
        .build()?;
    vm.set_reporting_period(Duration::from_secs(1));
    vm.register_exporter(http.clone())?;
    println!("pushing to {url} for {seconds} s");

    let get = TagMap::new().with(&method, "GET")?;
    let post = TagMap::new().with(&method, "POST")?;
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut served = 0u64;
    while Instant::now() < end {
        let tags = if served % 3 == 0 { &post } else { &get };
        // A made-up latency spread over the buckets, and a load that rises
        // and falls.
        let ms = ((served * 7) % 90) as f64 + 0.5;
        MeasurementMap::new()
            .put(&latency, ms)
            .put(&requests, 1)
            .put(&in_flight, (served % 8) as i64)
            .record(tags);
        served += 1;
        thread::sleep(Duration::from_millis(10));
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

fn options() -> Result<(String, u64), String> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("give the receiver's URL, such as http://127.0.0.1:9090/api/v1/write".to_owned())?;
    let mut seconds = 10;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .ok_or("--seconds needs a value")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            other => {
                return Err(format!(
                    "unknown option {other}; see the top of examples/remote_write.rs"
                ))
            }
        }
    }
    Ok((url, seconds))
}
