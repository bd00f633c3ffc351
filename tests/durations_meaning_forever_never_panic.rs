//! "Forever" written as `Duration::MAX` (or `u64::MAX` seconds) is a
//! duration like any other (issue #16, finding 7): the worker used to
//! panic on `Instant + Duration` overflow, so the exporter got no final
//! export and no shutdown call while the report said complete, and a
//! manager without exporters panicked in the caller's thread.

use std::time::Duration;

use census::ViewManager;
use census_testkit::{record, sum_of, sum_view, CapturingExporter};

#[test]
fn an_endless_shutdown_timeout_still_drains() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    vm.set_shutdown_timeout(Duration::MAX);
    record(&vm, &m, 7);
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(captured.shutdowns(), 1);
    let last = captured.last_export().expect("a final export");
    assert_eq!(sum_of(&last, "v"), 7);
    Ok(())
}

#[test]
fn an_endless_reporting_period_exports_at_shutdown() -> Result<(), census::Error> {
    for period in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        let vm = ViewManager::new();
        let m = sum_view(&vm);
        let (exporter, captured) = CapturingExporter::new();
        vm.register_exporter(exporter)?;
        vm.set_reporting_period(period);
        record(&vm, &m, 3);
        // Changing it again reaches the same worker, which must be alive.
        vm.set_reporting_period(period);
        let report = vm.shutdown();
        assert!(report.is_complete(), "{period:?}: {report:?}");
        assert_eq!(captured.shutdowns(), 1, "{period:?}");
        let last = captured.last_export().expect("a final export");
        assert_eq!(sum_of(&last, "v"), 3, "{period:?}");
    }
    Ok(())
}

#[test]
fn shutdown_without_exporters_is_a_no_op_report() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    vm.set_shutdown_timeout(Duration::MAX);
    record(&vm, &m, 1);
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    assert!(report.unfinished.is_empty() && report.failed.is_empty());
    Ok(())
}

#[test]
fn rows_that_expire_after_forever_never_expire() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = census::MeasureI64::new("m", "", "1")?;
    vm.register_view(
        census::View::builder("v", &m)
            .aggregation(census::Aggregation::Sum)
            .expire_after(Duration::MAX)
            .build()?,
    )?;
    record(&vm, &m, 2);
    for _ in 0..3 {
        assert_eq!(sum_of(&[vm.retrieve_data("v")?], "v"), 2);
    }
    Ok(())
}

#[test]
fn an_endless_callback_budget_is_a_day() -> Result<(), census::Error> {
    let vm = ViewManager::new();
    let m = census::MeasureI64::new("gauge", "", "1")?;
    vm.register_callback(
        census::View::builder("gauge", &m)
            .aggregation(census::Aggregation::LastValue)
            .build()?,
        |out| out.observe(&census::TagMap::new(), 5),
    )?;
    vm.set_callback_budget(Duration::MAX);
    assert_eq!(vm.callback_budget(), Duration::from_secs(24 * 60 * 60));
    let data = vm.retrieve_data("gauge")?;
    assert_eq!(
        data.rows[0].data,
        census::AggregationData::LastValue(census::Number::Int(5))
    );
    Ok(())
}
