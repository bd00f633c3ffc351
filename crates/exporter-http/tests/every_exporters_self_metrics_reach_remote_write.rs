//! Two HTTP exporters with self-metrics on report under the same view
//! names, each row tagged with its endpoint. The manager joins them into
//! one view per name, so a remote write body carries every endpoint's
//! counters; before, the second exporter's views clashed with the first's
//! and were left out of every body (counted in `omitted_views`), and a
//! service pushing to two places could see the health of only one.

mod support;

use std::time::Duration;

use census_exporter_http::{HttpExporter, HttpFormat};
use census_stats::ViewManager;
use support::{remote_write, wait_until, Reply, TestServer};

#[test]
fn a_remote_write_body_carries_the_counters_of_every_endpoint(
) -> Result<(), Box<dyn std::error::Error>> {
    let json_server = TestServer::start(|_| Reply::Status(200));
    let remote_server = TestServer::start(|_| Reply::Status(204));
    let json = HttpExporter::builder(json_server.url())
        .self_metrics(true)
        .build()?;
    let remote = HttpExporter::builder(remote_server.url())
        .format(HttpFormat::PrometheusRemoteWrite)
        .self_metrics(true)
        .build()?;
    let vm = ViewManager::new();
    vm.register_exporter(json.clone())?;
    vm.register_exporter(remote.clone())?;
    vm.set_reporting_period(Duration::from_millis(20));
    // Both have sent a batch before the one read below was taken.
    wait_until(Duration::from_secs(10), "two sends each", || {
        json.metrics().sent >= 2 && remote.metrics().sent >= 2
    });
    let before = remote.metrics().sent;
    wait_until(Duration::from_secs(10), "a later send", || {
        remote.metrics().sent > before
    });
    vm.shutdown();
    let bodies = remote_server.drain();
    let last = bodies.last().ok_or("remote write bodies")?;
    let series = remote_write::decode(&last.body);
    let sent: Vec<(&str, f64)> = series
        .iter()
        .filter(|s| s.label("__name__") == Some("census_http_exporter_sent_total"))
        .map(|s| (s.label("endpoint").unwrap_or_default(), s.value))
        .collect();
    let endpoints: Vec<&str> = sent.iter().map(|(e, _)| *e).collect();
    assert!(
        endpoints.contains(&json_server.url().as_str())
            && endpoints.contains(&remote_server.url().as_str()),
        "sent counters of both endpoints: {sent:?} in {:?}",
        series.iter().map(|s| s.labels.clone()).collect::<Vec<_>>()
    );
    assert!(sent.iter().all(|(_, n)| *n >= 1.0), "{sent:?}");
    assert_eq!(remote.metrics().omitted_views, 0, "{:?}", remote.metrics());
    Ok(())
}
