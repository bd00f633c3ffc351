//! Scrapes running while 4 threads record each parse, keep every counter
//! at or above its value in the previous scrape, keep histograms
//! consistent, and the last scrape holds exactly what was recorded.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{get, parse, Parsed, TestResult};

const RECORDERS: usize = 4;
const PER_RECORDER: usize = 20_000;
const SCRAPERS: usize = 3;

fn series_key(s: &support::Sample) -> String {
    format!("{}{:?}", s.name, s.labels)
}

/// Checks one scrape against the previous one seen by the same scraper.
fn check(parsed: &Parsed, previous: &mut HashMap<String, f64>) -> Result<(), String> {
    for s in &parsed.samples {
        let monotonic =
            s.name.ends_with("_total") || s.name.ends_with("_bucket") || s.name.ends_with("_count");
        if monotonic {
            let key = series_key(s);
            if let Some(before) = previous.insert(key.clone(), s.value) {
                if s.value < before {
                    return Err(format!("{key} went from {before} to {}", s.value));
                }
            }
        }
        if s.name == "load_latency_bucket" && s.label("le") == Some("+Inf") {
            let mut labels: Vec<(&str, &str)> = s
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "le")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.sort();
            let count = parsed.find("load_latency_count", &labels);
            if count != Some(s.value) {
                return Err(format!("+Inf bucket {} but _count {count:?}", s.value));
            }
        }
    }
    Ok(())
}

#[test]
fn concurrent_scrapes_during_recording_parse_and_never_go_backwards() -> TestResult {
    let vm = Arc::new(ViewManager::new());
    let worker = TagKey::new("worker")?;
    let requests = MeasureI64::new("load/requests", "requests", "1")?;
    let latency = MeasureF64::new("load/latency", "latency", "ms")?;
    vm.register_view(
        View::builder("load/requests", &requests)
            .tag_keys([worker.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("load/bytes", &requests)
            .tag_keys([worker.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("load/latency", &latency)
            .tag_keys([worker.clone()])
            .aggregation(Aggregation::distribution([1.0, 10.0, 100.0])?)
            .build()?,
    )?;
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let url = endpoint.url();

    let start = Arc::new(Barrier::new(RECORDERS + SCRAPERS));
    let recording = Arc::new(AtomicBool::new(true));
    let recorders: Vec<_> = (0..RECORDERS)
        .map(|w| {
            let (vm, start) = (Arc::clone(&vm), Arc::clone(&start));
            let (requests, latency) = (requests.clone(), latency.clone());
            let tags = TagMap::new().with(&worker, format!("w{w}"));
            thread::spawn(move || -> Result<(), census_core::Error> {
                let tags = tags?;
                for i in 0..PER_RECORDER {
                    // Scrapers start once every recorder is half way, so
                    // scrapes overlap the second half of the recording.
                    if i == PER_RECORDER / 2 {
                        start.wait();
                    }
                    MeasurementMap::new()
                        .put(&requests, 1)
                        .put(&latency, (i % 200) as f64)
                        .record_to(&vm, &tags);
                }
                Ok(())
            })
        })
        .collect();
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let (url, start, recording) = (url.clone(), Arc::clone(&start), Arc::clone(&recording));
            thread::spawn(move || -> Result<usize, String> {
                let mut previous = HashMap::new();
                let mut scrapes = 0;
                start.wait();
                // At least a few scrapes even if the recorders finish first.
                while recording.load(Ordering::Acquire) || scrapes < 3 {
                    let answer = get(&url, None).map_err(|e| e.to_string())?;
                    if answer.status != 200 {
                        return Err(format!("status {}", answer.status));
                    }
                    let parsed = parse(&answer.body, false)?;
                    if scrapes == 0 {
                        // Fresh data: the first half is already visible.
                        let half = (PER_RECORDER / 2) as f64;
                        for w in 0..RECORDERS {
                            let worker = format!("w{w}");
                            let seen = parsed
                                .find("load_requests_total", &[("worker", worker.as_str())])
                                .unwrap_or(0.0);
                            if seen < half {
                                return Err(format!("first scrape saw {seen} for {worker}"));
                            }
                        }
                    }
                    check(&parsed, &mut previous)?;
                    scrapes += 1;
                }
                Ok(scrapes)
            })
        })
        .collect();
    for r in recorders {
        r.join().map_err(|_| "a recorder panicked")??;
    }
    recording.store(false, Ordering::Release);
    for s in scrapers {
        let scrapes = s.join().map_err(|_| "a scraper panicked")??;
        assert!(scrapes >= 3);
    }

    let last = parse(&get(&url, None)?.body, false)?;
    for w in 0..RECORDERS {
        let labels = [("worker", format!("w{w}"))];
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            last.find("load_requests_total", &labels),
            Some(PER_RECORDER as f64)
        );
        assert_eq!(
            last.find("load_bytes_total", &labels),
            Some(PER_RECORDER as f64)
        );
        assert_eq!(
            last.find("load_latency_count", &labels),
            Some(PER_RECORDER as f64)
        );
    }
    vm.shutdown();
    endpoint.stop();
    Ok(())
}
