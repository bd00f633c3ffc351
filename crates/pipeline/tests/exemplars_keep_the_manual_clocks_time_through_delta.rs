//! Under a `ManualClock` the manager reads every time it uses from the
//! clock (docs/testing.md), exemplars' times included: they fall within
//! the intervals of the view data, so a `Delta`, which keeps only the
//! exemplars of each interval, passes them on. Before, exemplars were
//! stamped with real time, and a `Delta` behind a manual clock dropped
//! every exemplar after the first period (a QA pass).

use std::time::Duration;

use census_core::{Aggregation, MeasureF64, TagMap, View};
use census_pipeline::{Delta, Pipeline};
use census_stats::MeasurementMap;
use census_testkit::{clocked_manager, CapturingExporter};

#[test]
fn each_period_keeps_its_exemplar_through_delta() -> Result<(), census_core::Error> {
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let latency = MeasureF64::new("demo/latency", "latency", "ms")?;
    vm.register_view(
        View::builder("demo/latency", &latency)
            .aggregation(Aggregation::distribution([10.0, 100.0])?)
            .build()?,
    )?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(Pipeline::new(exporter).with(Delta::new()))?;
    for n in 1..=3 {
        let trace = format!("trace{n}");
        let recorded_at = clock.system_time();
        MeasurementMap::new()
            .put(&latency, 5.0)
            .attach("trace_id", &trace)
            .record_to(&vm, &TagMap::new());
        let batch = captured.export_after(&clock, period);
        let data = batch
            .iter()
            .find(|d| d.view.name() == "demo/latency")
            .ok_or(census_core::Error::ShutDown)?;
        let exemplars: Vec<(&str, std::time::SystemTime)> = data
            .rows
            .iter()
            .flat_map(|r| &r.exemplars)
            .filter_map(|e| {
                let (_, id) = e.attachments.iter().find(|(k, _)| k == "trace_id")?;
                Some((id.as_str(), e.time))
            })
            .collect();
        assert_eq!(exemplars, [(trace.as_str(), recorded_at)], "period {n}");
    }
    vm.shutdown();
    Ok(())
}
