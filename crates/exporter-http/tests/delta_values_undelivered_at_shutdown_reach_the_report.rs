//! What is finally lost is counted in values and reported (issue #16,
//! finding 1): the process stops with the endpoint down, so the delta
//! batches still queued or in flight at the shutdown deadline never
//! arrive, and the view manager's shutdown report carries them, merged,
//! per view and row, next to the exporter named as failed.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_pipeline::{Delta, Pipeline};
use census_stats::{MeasurementMap, ViewManager};
use support::{closed_port, wait_until};

#[test]
fn the_shutdown_report_holds_the_values_that_never_arrived(
) -> Result<(), Box<dyn std::error::Error>> {
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .format(HttpFormat::OtlpProtobuf)
        .queue_capacity(2)
        .backoff_base(Duration::from_millis(5))
        .backoff_cap(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_millis(200))
        .build()?;
    let m = MeasureI64::new("requests", "", "1")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("requests_sum", &m)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_exporter(Pipeline::new(http.clone()).with(Delta::new()))?;
    vm.set_reporting_period(Duration::from_millis(20));
    let mut recorded: BTreeMap<String, i64> = BTreeMap::new();
    for n in 0..6i64 {
        for (r, value) in [("a", n + 1), ("b", 100)] {
            MeasurementMap::new()
                .put(&m, value)
                .record_to(&vm, &TagMap::new().with(&route, r)?);
            *recorded.entry(r.to_owned()).or_default() += value;
        }
        let exports = || vm.health().exporters[0].exports;
        let before = exports();
        wait_until(Duration::from_secs(10), "an export", || exports() > before);
    }
    // Recorded after the last periodic export: the final batch holds it.
    MeasurementMap::new()
        .put(&m, 1000)
        .record_to(&vm, &TagMap::new().with(&route, "a")?);
    *recorded.entry("a".to_owned()).or_default() += 1000;

    let report = vm.shutdown();
    assert!(!report.is_complete());
    let (name, why) = report
        .failed
        .first()
        .ok_or("the exporter is named failed")?;
    assert!(name.contains("http exporter"), "{name}");
    assert!(
        why.contains("abandoned") && why.contains("rows of delta data lost"),
        "{why}"
    );
    let (_, delivery) = report
        .undelivered
        .first()
        .ok_or("the exporter's delivery report is in the shutdown report")?;
    assert_eq!(delivery.delivered, 0);
    assert!(delivery.abandoned >= 1, "{delivery:?}");
    let mut lost: BTreeMap<String, i64> = BTreeMap::new();
    for data in &delivery.lost {
        assert_eq!(data.view.name(), "requests_sum");
        for row in &data.rows {
            let AggregationData::Sum(Number::Int(n)) = row.data else {
                panic!("{row:?}");
            };
            let r = row.tags[0]
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            *lost.entry(r).or_default() += n;
        }
    }
    // Nothing arrived, so everything recorded is in the report.
    assert_eq!(lost, recorded);
    assert_eq!(delivery.lost_rows, http.metrics().lost_rows);
    Ok(())
}
