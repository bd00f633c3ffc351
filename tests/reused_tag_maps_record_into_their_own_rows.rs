//! A tag map recorded with again and again goes through the thread's memo
//! (its identity, not its contents); every value must still land in the
//! row of the map's contents, whatever happens to the map, its clones and
//! the views around it.

use census::{
    Aggregation, AggregationData, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager,
};

use census_testkit::{count, int_sum, row_in};

fn view(name: &str, m: &MeasureI64, k: &TagKey, aggregation: Aggregation) -> View {
    View::builder(name, m)
        .tag_keys([k.clone()])
        .aggregation(aggregation)
        .build()
        .expect("valid view")
}

fn sum_of(vm: &ViewManager, name: &str, value: &str) -> i64 {
    let data = vm.retrieve_data(name).expect("registered");
    row_in(&data, &[Some(value)]).map_or(0, |r| int_sum(&r.data))
}

#[test]
fn maps_dropped_and_replaced_never_inherit_a_remembered_row() -> Result<(), census::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("k")?;
    let vm = ViewManager::new();
    vm.register_view(view("sum", &m, &k, Aggregation::Sum))?;
    // Rounds of maps made, used three times each (remembered from the
    // second), and dropped: the allocator reuses their memory for the next
    // round, so a memo keyed by a bare address would send values to the
    // previous round's rows.
    for round in 0..50 {
        let maps: Vec<TagMap> = (0..20)
            .map(|i| TagMap::new().with(&k, format!("{}", (round * 7 + i) % 30)))
            .collect::<Result<_, _>>()?;
        for map in &maps {
            for _ in 0..3 {
                MeasurementMap::new().put(&m, 1).record_to(&vm, map);
            }
        }
    }
    let mut expected = [0i64; 30];
    for round in 0..50 {
        for i in 0..20 {
            expected[(round * 7 + i) % 30] += 3;
        }
    }
    for (value, want) in expected.iter().enumerate() {
        assert_eq!(
            sum_of(&vm, "sum", &value.to_string()),
            *want,
            "value {value}"
        );
    }
    Ok(())
}

#[test]
fn a_changed_map_records_under_its_new_contents() -> Result<(), census::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("k")?;
    let vm = ViewManager::new();
    vm.register_view(view("sum", &m, &k, Aggregation::Sum))?;
    let mut map = TagMap::new().with(&k, "a")?;
    for step in 0..6 {
        // Remembered after the first two records, then changed: in place
        // when nothing shares it, copied when the memo holds a clone.
        for _ in 0..3 {
            MeasurementMap::new().put(&m, 1).record_to(&vm, &map);
        }
        map = map.with(&k, if step % 2 == 0 { "b" } else { "a" })?;
    }
    assert_eq!(sum_of(&vm, "sum", "a"), 9);
    assert_eq!(sum_of(&vm, "sum", "b"), 9);
    Ok(())
}

#[test]
fn views_that_know_a_map_and_views_that_do_not_both_count_it() -> Result<(), census::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("k")?;
    let vm = ViewManager::new();
    let map = TagMap::new().with(&k, "x")?;
    vm.register_view(view("count", &m, &k, Aggregation::Count))?;
    for _ in 0..4 {
        MeasurementMap::new().put(&m, 2).record_to(&vm, &map);
    }
    // Same keys: the new views share the first one's projection, which the
    // record path only makes when a view misses its memo.
    vm.register_view(view("sum", &m, &k, Aggregation::Sum))?;
    vm.register_view(view("dist", &m, &k, Aggregation::distribution([1.0, 5.0])?))?;
    for _ in 0..3 {
        MeasurementMap::new().put(&m, 5).record_to(&vm, &map);
    }
    vm.unregister_view("count")?;
    vm.register_view(view("count", &m, &k, Aggregation::Count))?;
    MeasurementMap::new().put(&m, 7).record_to(&vm, &map);
    let counted = vm.retrieve_data("count")?;
    let fresh = row_in(&counted, &[Some("x")]).map(|r| count(&r.data));
    assert_eq!(fresh, Some(1), "a re-registered view starts empty");
    assert_eq!(sum_of(&vm, "sum", "x"), 22);
    let dist = vm.retrieve_data("dist")?;
    match row_in(&dist, &[Some("x")]).map(|r| &r.data) {
        Some(AggregationData::Distribution(d)) => {
            assert_eq!((d.count, d.sum), (4, 22.0));
            assert_eq!(d.bucket_counts, vec![0, 3, 1]);
        }
        other => panic!("no distribution row: {other:?}"),
    }
    Ok(())
}

#[test]
fn threads_sharing_one_map_each_remember_their_own_share() -> Result<(), census::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let k = TagKey::new("k")?;
    let vm = ViewManager::new();
    vm.register_view(view("sum", &m, &k, Aggregation::Sum))?;
    let maps: Vec<TagMap> = ["a", "b", "c"]
        .iter()
        .map(|v| TagMap::new().with(&k, *v))
        .collect::<Result<_, _>>()?;
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let (vm, m, maps) = (&vm, &m, &maps);
            s.spawn(move || {
                for i in 0..30_000usize {
                    MeasurementMap::new()
                        .put(m, t + 1)
                        .record_to(vm, &maps[i % 3]);
                }
            });
        }
    });
    // Each thread put 10,000 values of t + 1 into each row.
    for v in ["a", "b", "c"] {
        assert_eq!(sum_of(&vm, "sum", v), 10_000 * (1 + 2 + 3 + 4), "row {v}");
    }
    Ok(())
}
