//! A processor that panics costs its own exporter that period's batch,
//! nothing more: the other exporters get every batch, and the next period
//! runs the chain again.

use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_pipeline::Pipeline;
use census_stats::MeasurementMap;
use census_testkit::*;

#[test]
fn other_exporters_and_later_periods_are_unaffected() -> Result<(), census_core::Error> {
    let requests = MeasureI64::new("demo/requests", "requests", "1")?;
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    vm.register_view(
        View::builder("demo/requests_total", &requests)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    MeasurementMap::new()
        .put(&requests, 3)
        .record_to(&vm, &TagMap::new());

    // Odd calls panic: periods 1, 3, 5, ... lose the piped batch.
    let (panicky, calls) = PanickingProcessor::new(|n| n % 2 == 1);
    let (piped, piped_rx) = CapturingExporter::new();
    let (plain, plain_rx) = CapturingExporter::new();
    let pipeline = Arc::new(Pipeline::new(piped).with(panicky));
    // The pipeline first, so that within a period the plain exporter is
    // called after the panic.
    vm.register_exporter(Arc::clone(&pipeline))?;
    vm.register_exporter(plain)?;

    // Four periods: two panics, two good runs.
    for want in 1..=4 {
        clock.advance(period);
        let n = calls
            .recv_timeout(PATIENCE)
            .expect("the chain keeps running");
        assert_eq!(n, want);
        let batch = plain_rx.next_export();
        assert_eq!(batch[0].view.name(), "demo/requests_total");
        if want % 2 == 0 {
            let batch = piped_rx.next_export();
            assert_eq!(batch.len(), 1);
            assert_eq!(batch[0].rows.len(), 1);
        }
    }
    vm.shutdown();

    // More periods may have run before shutdown; count them all.
    let total = 4 + calls.try_iter().count() as u64;
    let piped_calls: Vec<Call> = piped_rx.calls();
    let piped_exports = piped_calls
        .iter()
        .filter(|c| matches!(c, Call::Export(_)))
        .count() as u64;
    assert!(matches!(piped_calls.last(), Some(Call::Shutdown)));
    let plain_calls: Vec<Call> = plain_rx.calls();
    let plain_exports = plain_calls
        .iter()
        .filter(|c| matches!(c, Call::Export(_)))
        .count() as u64;
    // The plain exporter runs on its own delivery thread, so its count is
    // not tied to the pipeline's; it kept receiving up to the final export
    // and was shut down.
    assert!(
        plain_exports >= 1,
        "the final export reached the plain exporter"
    );
    assert!(matches!(plain_calls.last(), Some(Call::Shutdown)));
    // The piped one got the even calls' batches, and was still shut down.
    let panics = total.div_ceil(2);
    assert_eq!(2 + piped_exports, total - panics);
    let stats = pipeline.stats();
    assert_eq!(stats.processor_panics, panics);
    assert_eq!(stats.batches_passed, total - panics);
    // The manager counts each lost batch as a failed export, not a panic.
    let manager = vm.stats();
    assert_eq!(manager.export_errors, panics);
    assert_eq!(manager.export_panics, 0);
    Ok(())
}
