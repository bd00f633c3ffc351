//! The process-wide manager: one instance, `record` reaches it, and
//! `census::shutdown` drains it. Alone in its file, so alone in its process.

use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View};

mod support;
use support::{capturing, int_sum, row, view};

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
    let (exporter, batches, shutdowns) = capturing();
    vm.register_exporter(exporter)?;
    let tags = TagMap::new().with(&method, "GET")?;
    MeasurementMap::new().put(&m, 2).record(&tags);
    MeasurementMap::new().put(&m, 3).record(&tags);
    census::shutdown();
    assert!(vm.is_shut_down());
    assert_eq!(shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    let final_batch = batches.try_iter().last().expect("a final export");
    let data = view(&final_batch, "global/requests_total");
    assert_eq!(
        int_sum(&row(data, &[Some("GET")]).expect("GET row").data),
        5
    );
    Ok(())
}
