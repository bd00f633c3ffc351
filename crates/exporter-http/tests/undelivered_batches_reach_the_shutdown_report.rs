//! With the endpoint down, what the exporter could not deliver by its
//! deadline reaches the caller of `ViewManager::shutdown` in the report,
//! not only a log line.

mod support;

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_exporter_http::HttpExporter;
use census_stats::{MeasurementMap, ViewManager};
use support::closed_port;

#[test]
fn undelivered_batches_reach_the_shutdown_report() -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("m", "", "1")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("v", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let http = HttpExporter::builder(format!("http://{}/v1/metrics", closed_port()))
        .backoff_base(Duration::from_millis(50))
        .backoff_cap(Duration::from_millis(100))
        .max_attempts(100)
        .shutdown_deadline(Duration::from_millis(300))
        .build()?;
    vm.register_exporter(http.clone())?;
    MeasurementMap::new()
        .put(&m, 1)
        .record_to(&vm, &TagMap::new());
    let report = vm.shutdown();
    assert!(report.unfinished.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let (name, message) = &report.failed[0];
    assert!(name.contains("http"), "{name}");
    assert!(
        message.contains("not delivered")
            || message.contains("undelivered")
            || message.contains("abandon"),
        "{message}"
    );
    assert!(http.metrics().abandoned >= 1);
    Ok(())
}
