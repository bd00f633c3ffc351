//! The router of examples/axum.rs, served on 127.0.0.1 by a real tokio
//! runtime, takes 2,001 requests from four keep-alive connections of a
//! real HTTP client (200s, 404s of a route and of unknown paths, 500s,
//! 400s, 405s, one slow request). A scrape of its own /metrics then shows
//! exactly what the clients sent, per method, route and status; the
//! latency counts equal the request counts; nothing is left in flight but
//! the scrape itself; unknown paths share one row; promtool finds nothing
//! to lint. Then the server stops gracefully and census drains.

#[allow(dead_code)] // the example's `main` is not run here, only its router
#[path = "../examples/axum.rs"]
mod example;

// The exporter's own exposition parser and promtool runner, reused.
#[path = "../crates/exporter-prometheus/tests/support/mod.rs"]
mod prometheus_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use census::exporters::PrometheusExporter;
use census::tower::HttpMetrics;
use census::ViewManager;
use prometheus_support::{parse, promtool_check, Parsed};

const THREADS: usize = 4;
const PER_THREAD: usize = 500;

/// (method, route, status) to a number of requests.
type Counts = BTreeMap<(String, String, String), u64>;

/// One request of the mix: method, path, body, and the route and status
/// the service must record it under.
struct Planned {
    method: &'static str,
    path: String,
    body: String,
    route: &'static str,
    status: u16,
}

fn plan(thread: usize, i: usize) -> Planned {
    let n = thread * PER_THREAD + i;
    let (method, path, body, route, status) = match i % 20 {
        0..=5 => ("GET", "/hello".to_owned(), String::new(), "/hello", 200),
        6..=9 => (
            "GET",
            format!("/users/{}", n % 999 + 1),
            String::new(),
            "/users/{id}",
            200,
        ),
        10 | 11 => ("POST", "/echo".to_owned(), "e".repeat(i % 97), "/echo", 200),
        // Each a path of its own, none a route.
        12 | 13 => (
            "GET",
            format!("/missing/{thread}/{i}"),
            String::new(),
            "unmatched",
            404,
        ),
        14 | 15 => (
            "GET",
            "/users/0".to_owned(),
            String::new(),
            "/users/{id}",
            500,
        ),
        16 | 17 => (
            "GET",
            format!("/users/{}", 1_000 + n),
            String::new(),
            "/users/{id}",
            404,
        ),
        18 => ("PUT", "/hello".to_owned(), String::new(), "/hello", 405),
        _ => (
            "GET",
            "/users/nobody".to_owned(),
            String::new(),
            "/users/{id}",
            400,
        ),
    };
    Planned {
        method,
        path,
        body,
        route,
        status,
    }
}

/// Sends `request` and returns the status and the body length.
fn send(agent: &ureq::Agent, base: &str, request: &Planned) -> Result<(u16, usize), ureq::Error> {
    let url = format!("{base}{}", request.path);
    let builder = ureq::http::Request::builder()
        .method(request.method)
        .uri(url);
    let mut response = agent.run(builder.body(request.body.clone())?)?;
    let body = response.body_mut().read_to_string()?;
    Ok((response.status().as_u16(), body.len()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn key(method: &str, route: &str, status: &str) -> (String, String, String) {
    (method.to_owned(), route.to_owned(), status.to_owned())
}

/// Every series of `family` as (method, route, status) to its value; the
/// status is empty for series without one.
fn series(parsed: &Parsed, family: &str) -> Counts {
    parsed
        .samples
        .iter()
        .filter(|s| s.name == family)
        .map(|s| {
            let label = |k: &str| s.label(k).unwrap_or_default().to_owned();
            let key = (
                label("http_request_method"),
                label("http_route"),
                label("http_response_status_code"),
            );
            (key, s.value as u64)
        })
        .collect()
}

/// The in-flight series: an up-down sum, so a Prometheus gauge.
fn in_flight(parsed: &Parsed) -> BTreeMap<(String, String), f64> {
    parsed
        .samples
        .iter()
        .filter(|s| s.name == "myapp_http_server_active_requests")
        .map(|s| {
            let label = |k: &str| s.label(k).unwrap_or_default().to_owned();
            ((label("http_request_method"), label("http_route")), s.value)
        })
        .collect()
}

#[test]
fn a_scrape_shows_exactly_the_requests_clients_sent() -> Result<(), Box<dyn std::error::Error>> {
    let vm = Arc::new(ViewManager::new());
    let http = HttpMetrics::builder()
        .view_manager(Arc::clone(&vm))
        .register()?;
    let prometheus = PrometheusExporter::builder().namespace("myapp").build()?;
    vm.register_exporter(prometheus.clone())?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(async move {
        axum::serve(listener, example::app(http, prometheus))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // Four connections at once, each a thread with a keep-alive agent.
    let clients: Vec<_> = (0..THREADS)
        .map(|thread| {
            let base = base.clone();
            std::thread::spawn(move || -> Result<(Counts, u64), String> {
                let agent = agent();
                let mut sent = Counts::new();
                let mut echoed = 0;
                let mut mix: Vec<Planned> = (0..PER_THREAD).map(|i| plan(thread, i)).collect();
                if thread == 0 {
                    mix.push(Planned {
                        method: "GET",
                        path: "/hello?delay_ms=300".to_owned(),
                        body: String::new(),
                        route: "/hello",
                        status: 200,
                    });
                }
                for request in &mix {
                    let (status, len) = send(&agent, &base, request).map_err(|e| e.to_string())?;
                    if status != request.status {
                        return Err(format!(
                            "{} {} answered {status}, not {}",
                            request.method, request.path, request.status
                        ));
                    }
                    if request.path == "/echo" {
                        echoed += len as u64;
                    }
                    *sent
                        .entry(key(request.method, request.route, &status.to_string()))
                        .or_default() += 1;
                }
                Ok((sent, echoed))
            })
        })
        .collect();
    let mut sent = Counts::new();
    let mut echoed = 0;
    for client in clients {
        let (counts, bytes) = client.join().map_err(|_| "a client panicked")??;
        for (k, n) in counts {
            *sent.entry(k).or_default() += n;
        }
        echoed += bytes;
    }
    let total: u64 = sent.values().sum();
    assert_eq!(total, (THREADS * PER_THREAD + 1) as u64);

    let scraper = agent();
    let first = scraper
        .get(format!("{base}/metrics"))
        .call()?
        .body_mut()
        .read_to_string()?;
    let parsed = parse(&first, false)?;

    // Every (method, route, status) exactly as sent, and nothing else: the
    // scrape itself is still being served, so it is not counted yet.
    assert_eq!(
        series(&parsed, "myapp_http_server_requests_total"),
        sent,
        "{first}"
    );
    assert_eq!(
        series(&parsed, "myapp_http_server_request_duration_count"),
        sent,
        "latency counts differ from request counts"
    );
    // Unknown paths share one row: no route label holds a path.
    assert!(
        !first.contains("/missing"),
        "a raw path became a label value"
    );
    let unmatched = sent.get(&key("GET", "unmatched", "404")).copied();
    assert_eq!(unmatched, Some((THREADS * PER_THREAD / 10) as u64));
    // In flight: nothing but this scrape.
    assert_eq!(
        parsed.kind("myapp_http_server_active_requests"),
        Some("gauge")
    );
    let flight = in_flight(&parsed);
    let busy: Vec<_> = flight.iter().filter(|(_, v)| **v != 0.0).collect();
    assert_eq!(
        busy,
        [(&("GET".to_owned(), "/metrics".to_owned()), &1.0)],
        "{flight:?}"
    );
    let mut routes: Vec<_> = sent
        .keys()
        .map(|(m, r, _)| (m.clone(), r.clone()))
        .collect();
    routes.push(("GET".to_owned(), "/metrics".to_owned()));
    routes.sort();
    routes.dedup();
    assert_eq!(
        flight.keys().cloned().collect::<Vec<_>>(),
        routes,
        "one in-flight row per method and route served"
    );
    // The slow request sits above the 0.25 s bucket of its route.
    let hello = |suffix: &str, le: Option<&str>| {
        let mut labels = vec![
            ("http_request_method", "GET"),
            ("http_route", "/hello"),
            ("http_response_status_code", "200"),
        ];
        labels.extend(le.map(|le| ("le", le)));
        parsed.find(
            &format!("myapp_http_server_request_duration{suffix}"),
            &labels,
        )
    };
    let (fast, all) = (hello("_bucket", Some("0.25")), hello("_count", None));
    assert!(
        matches!((fast, all), (Some(f), Some(a)) if a - f >= 1.0),
        "le=0.25: {fast:?}, count: {all:?}"
    );
    assert!(hello("_sum", None).is_some_and(|s| s >= 0.3));
    // Body sizes: what was posted to /echo came back, byte for byte.
    let echo = [
        ("http_request_method", "POST"),
        ("http_route", "/echo"),
        ("http_response_status_code", "200"),
    ];
    let posted = parsed.find("myapp_http_server_request_body_size_sum", &echo);
    let answered = parsed.find("myapp_http_server_response_body_size_sum", &echo);
    assert_eq!(
        (posted, answered),
        (Some(echoed as f64), Some(echoed as f64))
    );

    if let Some(lint) = promtool_check(&first) {
        assert_eq!(lint, Ok(String::new()), "promtool on:\n{first}");
    }

    // The second scrape counts the first.
    let second = scraper
        .get(format!("{base}/metrics"))
        .call()?
        .body_mut()
        .read_to_string()?;
    let counted = series(&parse(&second, false)?, "myapp_http_server_requests_total");
    assert_eq!(counted.get(&key("GET", "/metrics", "200")), Some(&1));

    // Graceful shutdown, then census drains without blocking the runtime.
    let _ = stop.send(());
    runtime.block_on(server)??;
    let report = runtime.block_on(vm.shutdown_async());
    assert!(report.is_complete(), "{report:?}");
    Ok(())
}
