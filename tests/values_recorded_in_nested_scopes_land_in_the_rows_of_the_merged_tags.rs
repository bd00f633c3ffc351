//! Values recorded with `record_current_to` inside nested `tags::scope`s
//! land in the rows of the merged tags: an inner scope adds keys and
//! overrides values, the outer context comes back on exit, and an
//! explicit map ignores the context (issue #13).

use census::{tags, Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};
use census_testkit::{int_sum, row_in, view_in};

#[test]
fn values_recorded_in_nested_scopes_land_in_the_rows_of_the_merged_tags(
) -> Result<(), census::Error> {
    let queries = MeasureI64::new("db/queries", "queries run", "1")?;
    let (route, method, db) = (
        TagKey::new("route")?,
        TagKey::new("method")?,
        TagKey::new("db")?,
    );
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("db/queries", &queries)
            .tag_keys([route.clone(), method.clone(), db.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    // What a library does: record under whatever the caller entered.
    let query = |n: i64| {
        MeasurementMap::new()
            .put(&queries, n)
            .record_current_to(&vm)
    };

    query(1);
    let request = TagMap::new().with(&route, "/cart")?.with(&method, "GET")?;
    tags::scope(&request, || -> Result<(), census::Error> {
        query(10);
        let inner = TagMap::new().with(&method, "POST")?.with(&db, "main")?;
        let returned = tags::scope(&inner, || {
            query(100);
            // An explicit map ignores the context entirely.
            MeasurementMap::new()
                .put(&queries, 1000)
                .record_to(&vm, &TagMap::new().with(&db, "replica")?);
            Ok::<_, census::Error>("inner value")
        })?;
        assert_eq!(returned, "inner value");
        // Back in the outer scope: its tags alone again.
        query(10_000);
        Ok(())
    })?;
    query(100_000);

    let data = vm.retrieve_data("db/queries")?;
    let batch = [data];
    let data = view_in(&batch, "db/queries");
    let sum = |tags: &[Option<&str>]| row_in(data, tags).map(|r| int_sum(&r.data));
    assert_eq!(sum(&[None, None, None]), Some(100_001), "outside any scope");
    assert_eq!(sum(&[Some("/cart"), Some("GET"), None]), Some(10_010));
    assert_eq!(
        sum(&[Some("/cart"), Some("POST"), Some("main")]),
        Some(100),
        "the inner scope added db and overrode method"
    );
    assert_eq!(sum(&[None, None, Some("replica")]), Some(1000));
    assert_eq!(data.rows.len(), 4, "{:?}", data.rows);
    assert!(tags::current().is_empty());
    vm.shutdown();
    Ok(())
}
