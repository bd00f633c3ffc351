//! `record_current()` records into the global manager under the current
//! context (a file of its own: it touches the global manager; issue #13).

use census::{tags, Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View};
use census_testkit::{int_sum, row_in};

#[test]
fn record_current_records_into_the_global_manager() -> Result<(), census::Error> {
    let m = MeasureI64::new("global/jobs", "jobs run", "1")?;
    let route = TagKey::new("route")?;
    let vm = census::view_manager();
    vm.register_view(
        View::builder("global/jobs", &m)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    tags::scope(&TagMap::new().with(&route, "/cart")?, || {
        MeasurementMap::new().put(&m, 5).record_current();
    });
    MeasurementMap::new().put(&m, 7).record_current();
    let data = vm.retrieve_data("global/jobs")?;
    assert_eq!(
        row_in(&data, &[Some("/cart")]).map(|r| int_sum(&r.data)),
        Some(5)
    );
    assert_eq!(row_in(&data, &[None]).map(|r| int_sum(&r.data)), Some(7));
    census::shutdown();
    Ok(())
}
