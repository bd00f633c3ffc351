//! The process-wide manager: one instance, `record` reaches it, and
//! `census::shutdown` drains it. Alone in its file, so alone in its process.

use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View};

use census_testkit::{int_sum, row_in, view_in, CapturingExporter};

#[test]
fn global_record_and_shutdown() -> Result<(), census::Error> {
    let vm = census::view_manager();
    assert!(std::ptr::eq(vm, census::view_manager()));
    let m = MeasureI64::new("global/requests", "", "1")?;
    let method = TagKey::new("method")?;
    vm.register_view(
        View::builder("global/requests_total", &m)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let (exporter, captured) = CapturingExporter::new();
    vm.register_exporter(exporter)?;
    let tags = TagMap::new().with(&method, "GET")?;
    MeasurementMap::new().put(&m, 2).record(&tags);
    MeasurementMap::new().put(&m, 3).record(&tags);
    census::shutdown();
    assert!(vm.is_shut_down());
    assert_eq!(captured.shutdowns(), 1);
    let final_batch = captured.last_export().expect("a final export");
    let data = view_in(&final_batch, "global/requests_total");
    assert_eq!(
        int_sum(&row_in(data, &[Some("GET")]).expect("GET row").data),
        5
    );
    Ok(())
}
