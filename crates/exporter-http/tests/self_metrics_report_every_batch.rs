//! With self-metrics on, the exporter contributes census/http_exporter/...
//! views holding its live counters; with them off it contributes nothing
//! (issue #4).

mod support;

use std::time::Duration;

use census_core::{AggregationData, Exporter, Number, ViewData};
use census_exporter_http::HttpExporter;
use support::{sample_batch, Reply, TestServer};

fn value(data: &[ViewData], name: &str) -> Option<AggregationData> {
    data.iter()
        .find(|v| v.view.name() == name)
        .and_then(|v| v.rows.first())
        .map(|r| r.data.clone())
}

#[test]
fn self_metrics_report_every_batch() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|req| {
        if req.index == 1 {
            Reply::Status(400)
        } else {
            Reply::Status(200)
        }
    });
    let http = HttpExporter::builder(server.url())
        .self_metrics(true)
        .build()?;
    let producer = http
        .self_metrics()
        .ok_or("self-metrics asked for but not offered")?;
    for n in 0..3 {
        http.export(&sample_batch(n))?;
    }
    server.take(3, Duration::from_secs(10));
    support::shutdown_reporting(&http, "1 failed");

    let data = producer.produce();
    assert_eq!(
        value(&data, "census/http_exporter/sent"),
        Some(AggregationData::Sum(Number::Int(2)))
    );
    assert_eq!(
        value(&data, "census/http_exporter/failed"),
        Some(AggregationData::Sum(Number::Int(1)))
    );
    assert_eq!(
        value(&data, "census/http_exporter/dropped"),
        Some(AggregationData::Sum(Number::Int(0)))
    );
    assert_eq!(
        value(&data, "census/http_exporter/pending"),
        Some(AggregationData::LastValue(Number::Int(0)))
    );
    let responses = data
        .iter()
        .find(|v| v.view.name() == "census/http_exporter/responses")
        .ok_or("responses view")?;
    let mut by_status: Vec<(String, AggregationData)> = responses
        .rows
        .iter()
        .map(|r| {
            (
                r.tags[1]
                    .as_ref()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                r.data.clone(),
            )
        })
        .collect();
    by_status.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_status,
        [
            ("200".to_owned(), AggregationData::Sum(Number::Int(2))),
            ("400".to_owned(), AggregationData::Sum(Number::Int(1)))
        ]
    );
    let endpoint = data[0].rows[0].tags[0]
        .as_ref()
        .map(|t| t.as_str().to_owned());
    assert_eq!(endpoint, Some(server.url()));
    assert!(data
        .iter()
        .all(|v| v.view.name().starts_with("census/http_exporter/")));
    Ok(())
}

#[test]
fn self_metrics_are_off_by_default() -> Result<(), Box<dyn std::error::Error>> {
    let http = HttpExporter::builder("http://127.0.0.1:9/v1/metrics").build()?;
    assert!(http.self_metrics().is_none());
    http.shutdown()?;
    Ok(())
}
