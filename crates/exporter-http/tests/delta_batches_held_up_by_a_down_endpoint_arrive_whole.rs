//! Delta data through the HTTP exporter loses nothing (issue #16, finding
//! 1). `Delta` moves its state on as soon as a batch passes the pipeline;
//! the exporter only enqueues it. With the endpoint down for five periods
//! and a queue of one batch, the queue used to drop the oldest batches,
//! and with them their deltas, for good. Now a batch of delta data is
//! retried until it arrives, and a full queue folds its oldest batch into
//! the next instead of dropping it: the deltas the receiver gets add up
//! exactly to what was recorded.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_pipeline::{Delta, Pipeline};
use census_stats::{MeasurementMap, ViewManager};
use support::{closed_port, wait_until, Reply, TestServer};

/// Per view and route: the sum (Sum view) or count (Count view) recorded
/// or received.
type Totals = BTreeMap<(String, String), i64>;

fn received(bodies: &[serde_json::Value]) -> Totals {
    let mut totals = Totals::new();
    for body in bodies {
        for view in body["views"].as_array().into_iter().flatten() {
            let name = view["name"].as_str().unwrap_or_default().to_owned();
            assert_eq!(view["temporality"], "delta", "{view}");
            for row in view["rows"].as_array().into_iter().flatten() {
                let route = row["tags"]["route"].as_str().unwrap_or_default().to_owned();
                let value = row
                    .get("sum")
                    .or_else(|| row.get("count"))
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or_else(|| panic!("no integer value in {row}"));
                *totals.entry((name.clone(), route)).or_default() += value;
            }
        }
    }
    totals
}

#[test]
fn deltas_queued_while_the_endpoint_was_down_add_up_exactly(
) -> Result<(), Box<dyn std::error::Error>> {
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .format(HttpFormat::Json)
        .queue_capacity(1)
        .max_attempts(2)
        .backoff_base(Duration::from_millis(5))
        .backoff_cap(Duration::from_millis(20))
        .build()?;
    let m = MeasureI64::new("requests", "", "1")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
    for (name, aggregation) in [
        ("requests_sum", Aggregation::Sum),
        ("requests_count", Aggregation::Count),
    ] {
        vm.register_view(
            View::builder(name, &m)
                .tag_keys([route.clone()])
                .aggregation(aggregation)
                .build()?,
        )?;
    }
    vm.register_exporter(Pipeline::new(http.clone()).with(Delta::new()))?;
    vm.set_reporting_period(Duration::from_millis(30));

    let mut recorded = Totals::new();
    let mut period = |n: i64| -> Result<(), Box<dyn std::error::Error>> {
        for (r, value) in [("a", n + 1), ("b", 10 * n)] {
            MeasurementMap::new()
                .put(&m, value)
                .record_to(&vm, &TagMap::new().with(&route, r)?);
            *recorded
                .entry(("requests_sum".into(), r.into()))
                .or_default() += value;
            *recorded
                .entry(("requests_count".into(), r.into()))
                .or_default() += 1;
        }
        // The next export carries it.
        let exports = || vm.health().exporters[0].exports;
        let before = exports();
        wait_until(Duration::from_secs(10), "an export", || exports() > before);
        Ok(())
    };
    for n in 0..5 {
        period(n)?;
    }
    let down = http.metrics();
    assert_eq!(down.sent, 0, "{down:?}");
    assert!(down.merged >= 2, "the full queue merged: {down:?}");

    let server = TestServer::start_on(addr, |_| Reply::Status(200));
    for n in 5..8 {
        period(n)?;
    }
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    let m = http.metrics();
    assert_eq!(
        (m.dropped, m.failed, m.abandoned, m.lost_rows),
        (0, 0, 0, 0),
        "{m:?}"
    );
    let bodies: Vec<serde_json::Value> = server.drain().iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len() as u64, m.sent);
    assert_eq!(received(&bodies), recorded);
    Ok(())
}
