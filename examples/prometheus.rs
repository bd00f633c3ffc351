//! A simulated checkout service scraped by Prometheus: it records request
//! latency (a distribution by method), request counts by method and status,
//! and the number of requests in flight (a LastValue gauge), and serves
//! them at http://127.0.0.1:9464/metrics until Ctrl-C, or for `--seconds N`.
//!
//! ```text
//! cargo run --example prometheus --features prometheus
//! cargo run --example prometheus --features prometheus -- --seconds 30
//! curl http://127.0.0.1:9464/metrics
//! ```
//!
//! Point Prometheus at it with a scrape config whose target is
//! `127.0.0.1:9464`. The endpoint listens on loopback only; pass
//! `"0.0.0.0:9464"` to `serve` to expose it on every interface.

use std::time::{Duration, Instant};

use census::exporters::PrometheusExporter;
use census::{Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = seconds_from_args()?;

    let latency = MeasureF64::new("checkout/latency", "time to serve a request", "ms")?;
    let requests = MeasureI64::new("checkout/requests", "requests served", "1")?;
    let in_flight = MeasureI64::new("checkout/in_flight", "requests being served", "1")?;
    let method = TagKey::new("method")?;
    let status = TagKey::new("status")?;

    let vm = census::view_manager();
    vm.register_view(
        View::builder("checkout/latency", &latency)
            .description("request latency in milliseconds, by method")
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([
                5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("checkout/requests", &requests)
            .description("requests served, by method and status")
            .tag_keys([method.clone(), status.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("checkout/in_flight", &in_flight)
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;

    let exporter = PrometheusExporter::builder()
        .namespace("myapp")
        .const_label("service", "checkout")?
        .build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:9464")?;
    println!("serving {}", endpoint.url());

    // Ctrl-C arrives on a channel; waiting on it also paces the loop.
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    match seconds {
        Some(s) => println!("running for {s} s (Ctrl-C stops earlier)"),
        None => println!("running until Ctrl-C"),
    }

    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut busy: i64 = 0;
    let no_tags = TagMap::new();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if stop_rx.recv_timeout(Duration::from_millis(5)).is_ok() {
            break;
        }
        // A request starts or finishes; the gauge follows.
        busy = (busy + if rng.below(2) == 0 { 1 } else { -1 }).clamp(0, 20);
        MeasurementMap::new().put(&in_flight, busy).record(&no_tags);

        let verb = match rng.below(20) {
            0 => "DELETE",
            1..=5 => "POST",
            _ => "GET",
        };
        let code = match rng.below(50) {
            0 => "500",
            1..=3 => "404",
            _ => "200",
        };
        // Mostly fast, with a long tail.
        let millis = 2.0 + rng.below(40) as f64 + (rng.below(100) / 95) as f64 * 600.0;
        let tags = TagMap::new().with(&method, verb)?.with(&status, code)?;
        MeasurementMap::new()
            .put(&latency, millis)
            .put(&requests, 1)
            .record(&tags);
    }

    println!("stopping; last scrape:\n{}", exporter.render().1);
    census::shutdown();
    endpoint.stop();
    Ok(())
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
        _ => Err("usage: prometheus [--seconds N]".into()),
    }
}

/// A tiny deterministic generator: the example needs variety, not quality.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
