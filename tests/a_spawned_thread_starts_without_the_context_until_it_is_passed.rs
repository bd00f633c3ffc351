//! The context does not follow work onto a spawned thread by itself: the
//! new thread records untagged until it enters the context taken with
//! `tags::current()` before the spawn, as docs/semantics.md says
//! (issue #13).

use census::{tags, Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};
use census_testkit::{int_sum, row_in};

#[test]
fn a_spawned_thread_starts_without_the_context_until_it_is_passed() -> Result<(), census::Error> {
    let m = MeasureI64::new("jobs", "jobs run", "1")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("jobs", &m)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let request = TagMap::new().with(&route, "/cart")?;
    tags::scope(&request, || {
        let context = tags::current();
        std::thread::scope(|s| {
            s.spawn(|| {
                MeasurementMap::new().put(&m, 1).record_current_to(&vm);
                tags::scope(&context, || {
                    MeasurementMap::new().put(&m, 10).record_current_to(&vm);
                });
            });
        });
    });
    let data = vm.retrieve_data("jobs")?;
    let sum = |v: Option<&str>| row_in(&data, &[v]).map(|r| int_sum(&r.data));
    assert_eq!(sum(None), Some(1), "a new thread starts with no context");
    assert_eq!(
        sum(Some("/cart")),
        Some(10),
        "the context passed on by hand"
    );
    vm.shutdown();
    Ok(())
}
