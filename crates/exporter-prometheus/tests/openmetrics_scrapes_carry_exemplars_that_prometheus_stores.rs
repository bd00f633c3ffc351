//! Values recorded with a trace id reach an OpenMetrics scrape as the
//! exemplar of the right `le` bucket (and stay out of the text format),
//! and a real Prometheus server started with exemplar storage returns
//! them from `/api/v1/query_exemplars`. The test starts and kills the
//! server itself (issue #13).

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use census_core::{Aggregation, MeasureF64, TagKey, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::{get, parse, PrometheusServer, TestResult};

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
const SLOW_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const FAST_TRACE: &str = "00f067aa0ba902b7a3ce929d0e0e4736";

#[test]
fn openmetrics_scrapes_carry_exemplars_that_prometheus_stores() -> TestResult {
    let started = Instant::now();
    let vm = ViewManager::new();
    let method = TagKey::new("method")?;
    let latency = MeasureF64::new("ex/latency", "request latency in ms", "ms")?;
    vm.register_view(
        View::builder("ex/latency", &latency)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([10.0, 100.0])?)
            .build()?,
    )?;
    let exporter = PrometheusExporter::builder().namespace("census").build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let get_tags = TagMap::new().with(&method, "GET")?;
    let record = |v: f64, trace: Option<&str>| {
        let map = MeasurementMap::new().put(&latency, v);
        match trace {
            Some(id) => map.attach("trace_id", id).record_to(&vm, &get_tags),
            None => map.record_to(&vm, &get_tags),
        }
    };
    record(3.0, None);
    record(7.0, Some(FAST_TRACE));
    record(42.0, Some(SLOW_TRACE));
    record(50.0, None);

    // The scrape: each exemplar on its own bucket's line, none elsewhere.
    let url = endpoint.url();
    let om = get(&url, Some(OPENMETRICS))?;
    assert!(om.content_type.starts_with("application/openmetrics-text"));
    let parsed = parse(&om.body, true)?;
    let bucket = |le: &str| {
        parsed
            .find_sample("census_ex_latency_bucket", &[("method", "GET"), ("le", le)])
            .unwrap_or_else(|| panic!("no bucket le={le} in {}", om.body))
    };
    let trace_of = |le: &str| {
        bucket(le)
            .exemplar
            .as_ref()
            .map(|(labels, value, _)| (labels["trace_id"].clone(), *value))
    };
    assert_eq!(trace_of("10.0"), Some((FAST_TRACE.to_owned(), 7.0)));
    assert_eq!(trace_of("100.0"), Some((SLOW_TRACE.to_owned(), 42.0)));
    assert_eq!(trace_of("+Inf"), None, "{}", om.body);
    let (_, _, at) = bucket("100.0").exemplar.clone().unwrap_or_default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    assert!((now - at).abs() < 60.0, "exemplar time {at}, now {now}");
    let text = get(&url, Some("text/plain"))?;
    assert!(!text.body.contains(SLOW_TRACE), "{}", text.body);
    parse(&text.body, false)?;

    // A real Prometheus keeps it and answers for it.
    let target = endpoint.local_addr().to_string();
    let Some(mut prometheus) =
        PrometheusServer::start_with(&target, &["--enable-feature=exemplar-storage"])?
    else {
        return Ok(());
    };
    let deadline = started + Duration::from_secs(45);
    let count = prometheus.wait_for("census_ex_latency_bucket{le=\"100.0\"}", deadline, |v| {
        v == 4.0
    })?;
    assert_eq!(count, 4.0);
    let (start, end) = ((now - 3600.0).to_string(), (now + 3600.0).to_string());
    let mut last = String::new();
    let found = loop {
        prometheus.check_alive()?;
        let data = prometheus.api_get(
            "query_exemplars",
            &[
                ("query", "census_ex_latency_bucket"),
                ("start", &start),
                ("end", &end),
            ],
        )?;
        let exemplars: Vec<(String, String, String)> = data
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| {
                let le = series["seriesLabels"]["le"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                series["exemplars"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |e| {
                        (
                            le.clone(),
                            e["labels"]["trace_id"].as_str().unwrap_or("").to_owned(),
                            e["value"].as_str().unwrap_or("").to_owned(),
                        )
                    })
            })
            .collect();
        if exemplars.iter().any(|e| e.1 == SLOW_TRACE) {
            break exemplars;
        }
        last = data.to_string();
        assert!(
            Instant::now() < deadline,
            "no exemplar came back; last answer: {last}\n{}",
            prometheus.log()
        );
        // Prometheus has no notification of a stored scrape: poll.
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        found.contains(&("100.0".to_owned(), SLOW_TRACE.to_owned(), "42".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("10.0".to_owned(), FAST_TRACE.to_owned(), "7".to_owned())),
        "{found:?}"
    );
    assert!(found.iter().all(|e| e.0 != "+Inf"), "{found:?} {last}");

    drop(prometheus);
    vm.shutdown();
    endpoint.stop();
    assert!(started.elapsed() < Duration::from_secs(60));
    Ok(())
}
