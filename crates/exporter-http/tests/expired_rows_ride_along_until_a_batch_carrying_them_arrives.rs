//! A row of a view with `expire_after` is in no batch once it expires, so
//! when the batches that held its last value are dropped from a full queue
//! or fail, no later batch carried it and the value never arrived (a QA
//! pass: "drops lose resolution, not totals" did not hold for such rows).
//! The exporter now carries such a row's last value in each later batch
//! until one is delivered.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use census_core::{
    Aggregation, AggregationData, Exporter, MeasureI64, Number, TagKey, View, ViewData,
};
use census_exporter_http::HttpExporter;
use census_testkit::row;
use support::{closed_port, wait_until, Received, Reply, TestServer};

fn expiring_view() -> Result<View, census_core::Error> {
    expiring_view_of(10_000)
}

fn expiring_view_of(row_limit: usize) -> Result<View, census_core::Error> {
    View::builder(
        "jobs/done",
        &MeasureI64::new("jobs/done", "jobs done", "1")?,
    )
    .tag_keys([TagKey::new("queue")?])
    .aggregation(Aggregation::Sum)
    .expire_after(Duration::from_secs(15))
    .row_limit(row_limit)
    .build()
}

/// A cumulative batch of `view` with one row per `(queue, total)`.
fn batch(view: &View, start: SystemTime, rows: &[(&str, i64)]) -> Vec<ViewData> {
    let rows = rows
        .iter()
        .map(|(queue, total)| {
            row(
                &[Some(queue)],
                AggregationData::Sum(Number::Int(*total)),
                start,
            )
        })
        .collect();
    vec![ViewData::new(view.clone(), start, SystemTime::now(), rows)]
}

/// The rows of `jobs/done` in a census.v1 body, as `(queue, total)`.
fn rows(request: &Received) -> Vec<(String, String)> {
    let body = request.json();
    let mut rows: Vec<(String, String)> = body["views"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["name"] == "jobs/done")
        .flat_map(|v| v["rows"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["tags"]["queue"].as_str().unwrap_or_default().to_owned(),
                r["sum"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(q, n)| (q.to_string(), n.to_string()))
        .collect()
}

#[test]
fn a_row_whose_batch_was_dropped_arrives_with_the_next() -> Result<(), Box<dyn std::error::Error>> {
    let view = expiring_view()?;
    let start = SystemTime::now();
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .queue_capacity(1)
        .backoff_base(Duration::from_millis(10))
        .backoff_cap(Duration::from_millis(20))
        .max_attempts(u32::MAX)
        .build()?;
    // Batch 0 goes in flight and keeps failing; batch 1, the only one
    // holding `mail`, waits; batch 2 (`mail` expired) makes it drop.
    http.export(&batch(&view, start, &[("jobs", 1)]))?;
    wait_until(Duration::from_secs(10), "batch 0 in flight", || {
        http.metrics().errors >= 1
    });
    http.export(&batch(&view, start, &[("jobs", 2), ("mail", 5)]))?;
    http.export(&batch(&view, start, &[("jobs", 3)]))?;
    assert_eq!(http.metrics().dropped, 1);

    let server = TestServer::start_on(addr, |_| Reply::Status(200));
    let requests = server.take(2, Duration::from_secs(10));
    assert_eq!(requests.len(), 2);
    assert_eq!(rows(&requests[0]), pairs(&[("jobs", "1")]));
    assert_eq!(rows(&requests[1]), pairs(&[("jobs", "3"), ("mail", "5")]));

    // Delivered: the next batch no longer carries it.
    wait_until(Duration::from_secs(10), "both confirmed", || {
        http.metrics().sent >= 2
    });
    http.export(&batch(&view, start, &[("jobs", 4)]))?;
    let next = server.take(1, Duration::from_secs(10));
    assert_eq!(rows(&next[0]), pairs(&[("jobs", "4")]));
    let _ = http.shutdown();
    Ok(())
}

#[test]
fn a_row_whose_batches_failed_rides_along_until_one_arrives(
) -> Result<(), Box<dyn std::error::Error>> {
    let view = expiring_view()?;
    let start = SystemTime::now();
    // The first three requests are refused for good (a 400 is not
    // retried): batches 0 and 1 hold `mail`, batch 2 carries it.
    let answered = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&answered);
    let server = TestServer::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < 3 {
            Reply::Status(400)
        } else {
            Reply::Status(200)
        }
    });
    let http = HttpExporter::builder(server.url()).build()?;
    let failed = |n| {
        wait_until(Duration::from_secs(10), "a failed batch", || {
            http.metrics().failed >= n
        })
    };
    http.export(&batch(&view, start, &[("jobs", 1), ("mail", 5)]))?;
    failed(1);
    http.export(&batch(&view, start, &[("jobs", 2), ("mail", 5)]))?;
    failed(2);
    http.export(&batch(&view, start, &[("jobs", 3)]))?;
    failed(3);
    http.export(&batch(&view, start, &[("jobs", 4)]))?;
    wait_until(Duration::from_secs(10), "a delivered batch", || {
        http.metrics().sent >= 1
    });
    http.export(&batch(&view, start, &[("jobs", 5)]))?;
    let requests = server.take(5, Duration::from_secs(10));
    let bodies: Vec<Vec<(String, String)>> = requests.iter().map(rows).collect();
    assert_eq!(
        bodies,
        [
            pairs(&[("jobs", "1"), ("mail", "5")]),
            pairs(&[("jobs", "2"), ("mail", "5")]),
            pairs(&[("jobs", "3"), ("mail", "5")]),
            pairs(&[("jobs", "4"), ("mail", "5")]),
            // Batch 3 arrived with it.
            pairs(&[("jobs", "5")]),
        ]
    );
    let _ = http.shutdown();
    Ok(())
}

#[test]
fn rows_past_the_views_row_limit_are_given_up_and_counted() -> Result<(), Box<dyn std::error::Error>>
{
    let view = expiring_view_of(2)?;
    let start = SystemTime::now();
    // Refused for good: nothing carried is ever delivered.
    let server = TestServer::start(|_| Reply::Status(400));
    let http = HttpExporter::builder(server.url()).build()?;
    http.export(&batch(&view, start, &[("a", 1), ("b", 1), ("c", 1)]))?;
    // All three expired: two ride along, the oldest past the limit goes.
    http.export(&batch(&view, start, &[]))?;
    let m = http.metrics();
    assert_eq!((m.expired_rows_lost, m.lost_rows), (1, 0), "{m:?}");
    let _ = http.shutdown();
    Ok(())
}
