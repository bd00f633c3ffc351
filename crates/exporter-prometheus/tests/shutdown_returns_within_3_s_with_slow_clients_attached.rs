//! A view manager's `shutdown()` stops the endpoint of its Prometheus
//! exporter within 3 s and reports it complete while clients that pipeline
//! and never read, send half a request, or sit idle are still attached
//! (issue 18: with 2,000 rows and 200 pipelined scrapes, a shutdown took
//! 32 s and named the exporter unfinished).

mod support;

use std::time::{Duration, Instant};

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::raw_client::{connect, pipelining_non_reader, scrape_within, RawConnection};
use support::TestResult;

#[test]
fn shutdown_is_prompt_and_complete_whatever_the_clients_do() -> TestResult {
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    let id = TagKey::new("id")?;
    let requests = MeasureI64::new("slow/requests", "requests", "1")?;
    vm.register_view(
        View::builder("slow/requests", &requests)
            .tag_keys([id.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    for i in 0..2_000 {
        let tags = TagMap::new().with(&id, format!("row-{i:05}"))?;
        MeasurementMap::new()
            .put(&requests, 1)
            .record_to(&vm, &tags);
    }
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let non_readers = [
        pipelining_non_reader(addr, 200)?,
        pipelining_non_reader(addr, 200)?,
    ];
    let mut half = RawConnection::open(addr)?;
    half.send(b"GET /metrics HTTP/1.1\r\nHost: cen")?;
    let idle = connect(addr)?;
    // Answered only once every connection above was accepted.
    scrape_within(addr, Duration::from_secs(2))?;

    let start = Instant::now();
    let report = vm.shutdown();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert!(report.is_complete(), "{report:?}");
    assert!(
        connect(addr).is_err(),
        "the endpoint still accepts after shutdown"
    );
    drop((non_readers, half, idle, endpoint));
    Ok(())
}
