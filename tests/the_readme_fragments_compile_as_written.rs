//! README.md's `rust,ignore` fragments are pieces of a service, not whole
//! programs, so rustdoc cannot run them as it runs the README's first
//! example. Each one is copied here, line for line, inside just enough of
//! a service to compile with warnings denied (a fragment that drops a
//! `Result` fails the build); the test below fails when README.md holds a
//! fragment this file does not, so an edited fragment is compiled again.
//! Found missing: a `?` after `register_exporter` in the "three lines" of
//! the HTTP servers section.

#![deny(warnings)]

/// Each `fn` holds one fragment; the lines around it are the setting.
#[rustfmt::skip]
#[allow(dead_code)] // compiled to prove the fragments build, never run
mod fragments {
    use std::time::Instant;

    use axum::{routing::get, Router};
    use census::{
        Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, TagValue, View,
        ViewManager,
    };

    async fn user() -> &'static str {
        "a user"
    }

    fn exporters() -> Result<(), census::Error> {
let prometheus = census::exporters::PrometheusExporter::builder().namespace("myapp").build()?;
census::view_manager().register_exporter(prometheus.clone())?;
let _endpoint = prometheus.serve("127.0.0.1:9464")?;
        Ok(())
    }

    fn http_servers(prometheus: census::exporters::PrometheusExporter) -> Result<(), census::Error> {
let http = census::tower::HttpMetrics::register("")?;                // the standard views
census::view_manager().register_exporter(prometheus.clone())?;        // any exporter
let app = Router::new().route("/users/{id}", get(user)).layer(http); // after the routes
        let _served: Router = app;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn tags_per_request(
        method: TagKey,
        route: TagKey,
        status: TagKey,
        latency: MeasureF64,
        ms: f64,
        matched_route: &str,
        status_code: http::StatusCode,
        req: http::Request<()>,
    ) -> Result<(), census::Error> {
let tags = TagMap::new()
    .with_value(&method, TagValue::from_static("GET"))
    .with_value(&route, TagValue::new_lossy(matched_route))
    .with(&status, status_code.as_str())?;
MeasurementMap::new().put(&latency, ms).record(&tags);

MeasurementMap::new().put(&latency, ms).record_tags(&[
    (&method, req.method().as_str()),
    (&route, matched_route),
    (&status, status_code.as_str()),
]);
        Ok(())
    }

    pub struct Request;
    impl Request {
        fn route(&self) -> &str {
            "/checkout"
        }
    }
    pub struct Response;
    pub struct Db;
    pub struct Rows;
    impl Db {
        fn run(&self, _sql: &str) -> Rows {
            Rows
        }
    }
    fn checkout(_request: &Request) -> Response {
        Response
    }
    async fn checkout_async(_request: Request) {}
    fn spawn(_task: impl std::future::Future<Output = ()> + Send + 'static) {}

    fn tag_context(request: Request, request_tags: TagMap) {
use census::tags::{self, WithTags};

// The handler: the request's tags, entered once.
fn handle(request: &Request, route: &TagKey) -> Result<Response, census::Error> {
    let request_tags = TagMap::new().with(route, request.route())?;
    Ok(tags::scope(&request_tags, || checkout(request)))
}

// A library deep below: no tag map in sight.
fn query(db: &Db, sql: &str, trace_id: &str, latency: &MeasureF64) -> Rows {
    let started = Instant::now();
    let rows = db.run(sql);
    MeasurementMap::new()
        .put(latency, started.elapsed().as_secs_f64() * 1e3)
        .attach("trace_id", trace_id)
        .record_current();                  // recorded under route=...
    rows
}

// Async: every poll of the task runs inside its tags, on any executor.
spawn(async move { checkout_async(request).await }.with_tags(request_tags));
    }

    fn callback_view(
        vm: &ViewManager,
        queue: crossbeam_channel::Receiver<u64>,
    ) -> Result<(), census::Error> {
let depth = MeasureI64::new("jobs/queue_depth", "jobs waiting", "1")?;
let waiting = queue.clone();                            // e.g. a crossbeam Receiver
vm.register_callback(
    View::builder("jobs/queue_depth", &depth).aggregation(Aggregation::LastValue).build()?,
    move |out| out.observe(&TagMap::new(), waiting.len() as i64),
)?;
        Ok(())
    }

    fn up_down_sum(vm: &ViewManager, in_flight: MeasureI64) -> Result<(), census::Error> {
vm.register_view(View::builder("http/in_flight", &in_flight)
    .aggregation(Aggregation::UpDownSum).build()?)?;
let in_flight = vm.bind(&in_flight, &TagMap::new());
in_flight.record(1);   // a request starts
in_flight.record(-1);  // ...and ends
        Ok(())
    }
}

/// The lines of each ```` ```rust,ignore ```` block of `markdown`, trimmed,
/// blank lines left out.
fn ignored_fragments(markdown: &str) -> Vec<Vec<&str>> {
    let mut fragments = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        match current.as_mut() {
            None if trimmed == "```rust,ignore" => current = Some(Vec::new()),
            None => {}
            Some(_) if trimmed == "```" => fragments.extend(current.take()),
            Some(lines) if !trimmed.is_empty() => lines.push(trimmed),
            Some(_) => {}
        }
    }
    fragments
}

#[test]
fn every_ignored_readme_fragment_is_compiled_here() {
    let readme = include_str!("../README.md");
    let this_file: Vec<&str> = include_str!("the_readme_fragments_compile_as_written.rs")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let fragments = ignored_fragments(readme);
    assert!(
        fragments.len() >= 7,
        "README.md lost its rust,ignore fragments? found {}",
        fragments.len()
    );
    for fragment in fragments {
        assert!(
            this_file
                .windows(fragment.len())
                .any(|window| window == fragment.as_slice()),
            "README.md has a rust,ignore fragment that \
             tests/the_readme_fragments_compile_as_written.rs does not compile; \
             copy it into a fn of `fragments` there:\n{}",
            fragment.join("\n")
        );
    }
}
