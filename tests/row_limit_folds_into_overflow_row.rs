//! Past a view's row limit, new tag combinations fold into one overflow
//! row and are counted.

use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};

use census_testkit::{count, row_in};

#[test]
fn overflow_row_holds_the_rest_and_counts_them() -> Result<(), census::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let user = TagKey::new("user")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("per_user", &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Count)
            .row_limit(100)
            .build()?,
    )?;
    for i in 0..1_000 {
        let tags = TagMap::new().with(&user, format!("user-{i}"))?;
        MeasurementMap::new().put(&m, 1).record_to(&vm, &tags);
    }
    // Rows made before the limit keep counting.
    let first = TagMap::new().with(&user, "user-0")?;
    MeasurementMap::new().put(&m, 1).record_to(&vm, &first);

    let data = vm.retrieve_data("per_user")?;
    assert_eq!(data.rows.len(), 101);
    assert_eq!(data.folded, 900);
    let overflow: Vec<_> = data.rows.iter().filter(|r| r.overflow).collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(count(&overflow[0].data), 900);
    assert_eq!(overflow[0].tags, vec![None]);
    assert_eq!(
        count(&row_in(&data, &[Some("user-0")]).expect("first row").data),
        2
    );
    Ok(())
}

#[test]
fn default_limit_is_ten_thousand() -> Result<(), census::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let view = View::builder("v", &m)
        .aggregation(Aggregation::Count)
        .build()?;
    assert_eq!(view.row_limit(), census::DEFAULT_ROW_LIMIT);
    assert_eq!(census::DEFAULT_ROW_LIMIT, 10_000);
    Ok(())
}
