//! Recording keeps only a view's keys, in the view's order; a missing key
//! is an absent value, distinct from an empty one.

use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};

use census_testkit::{int_sum, row_in};

#[test]
fn extra_keys_are_ignored_missing_keys_absent_and_order_kept() -> Result<(), census::Error> {
    let m = MeasureI64::new("requests", "", "1")?;
    let (method, status, host) = (
        TagKey::new("method")?,
        TagKey::new("status")?,
        TagKey::new("host")?,
    );
    let vm = ViewManager::new();
    // Keys listed status-first on purpose: rows follow the view's order.
    vm.register_view(
        View::builder("by_status_method", &m)
            .tag_keys([status.clone(), method.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let full = TagMap::new()
        .with(&method, "GET")?
        .with(&status, "200")?
        .with(&host, "a")?;
    let other_host = full.clone().with(&host, "b")?;
    let no_status = TagMap::new().with(&method, "GET")?;
    let empty_status = no_status.clone().with(&status, "")?;
    for (tags, v) in [
        (&full, 1),
        (&other_host, 2),
        (&no_status, 10),
        (&empty_status, 100),
    ] {
        MeasurementMap::new().put(&m, v).record_to(&vm, tags);
    }
    let data = vm.retrieve_data("by_status_method")?;
    assert_eq!(data.rows.len(), 3, "{:?}", data.rows);
    // host is not a view key, so both hosts land in one row.
    let both_hosts = row_in(&data, &[Some("200"), Some("GET")]).expect("row 200/GET");
    assert_eq!(int_sum(&both_hosts.data), 3);
    let absent = row_in(&data, &[None, Some("GET")]).expect("row with status absent");
    assert_eq!(int_sum(&absent.data), 10);
    let empty = row_in(&data, &[Some(""), Some("GET")]).expect("row with empty status");
    assert_eq!(int_sum(&empty.data), 100);
    Ok(())
}

#[test]
fn tag_maps_built_in_any_order_hit_the_same_row() -> Result<(), census::Error> {
    let m = MeasureI64::new("requests", "", "1")?;
    let (a, b, c) = (TagKey::new("a")?, TagKey::new("b")?, TagKey::new("c")?);
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("v", &m)
            .tag_keys([a.clone(), b.clone(), c.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let abc = TagMap::new().with(&a, "1")?.with(&b, "2")?.with(&c, "3")?;
    let cba = TagMap::new().with(&c, "3")?.with(&b, "2")?.with(&a, "1")?;
    // Keys made separately from the same names match too.
    let fresh = TagMap::new()
        .with(&TagKey::new("b")?, "2")?
        .with(&TagKey::new("a")?, "1")?
        .with(&TagKey::new("c")?, "3")?;
    for tags in [&abc, &cba, &fresh] {
        MeasurementMap::new().put(&m, 1).record_to(&vm, tags);
    }
    let data = vm.retrieve_data("v")?;
    assert_eq!(data.rows.len(), 1);
    assert_eq!(int_sum(&data.rows[0].data), 3);
    Ok(())
}
