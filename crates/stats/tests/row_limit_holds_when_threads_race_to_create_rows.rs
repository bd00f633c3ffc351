//! Threads racing to create more rows than a view allows (issue #5): the
//! view never exceeds its limit, each combination is one row, and every
//! value lands in a row or the overflow row, counted.

use std::sync::Barrier;

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

#[test]
fn racing_new_rows_respect_the_limit_and_lose_nothing() -> Result<(), census_core::Error> {
    const LIMIT: usize = 50;
    const COMBINATIONS: usize = 200;
    const THREADS: usize = 4;
    let m = MeasureI64::new("test/m", "", "1")?;
    let k = TagKey::new("user")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("v", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::Sum)
            .row_limit(LIMIT)
            .build()?,
    )?;
    let maps: Vec<TagMap> = (0..COMBINATIONS)
        .map(|u| TagMap::new().with(&k, format!("u{u}")))
        .collect::<Result<_, _>>()?;
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (maps, m, vm, start) = (&maps, &m, &vm, &start);
            s.spawn(move || {
                start.wait();
                // Every thread visits every combination, in its own order.
                for i in 0..COMBINATIONS {
                    let map = &maps[(i * (t + 1) * 7) % COMBINATIONS];
                    MeasurementMap::new().put(m, 1).record_to(vm, map);
                }
            });
        }
    });
    let data = vm.retrieve_data("v")?;
    let regular: Vec<_> = data.rows.iter().filter(|r| !r.overflow).collect();
    assert_eq!(regular.len(), LIMIT);
    let mut tags: Vec<_> = regular.iter().map(|r| r.tags.clone()).collect();
    tags.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    tags.dedup();
    assert_eq!(tags.len(), LIMIT, "a combination became two rows");
    let sum = |r: &census_core::Row| match r.data {
        AggregationData::Sum(Number::Int(v)) => v,
        ref other => panic!("{other:?}"),
    };
    let total: i64 = data.rows.iter().map(sum).sum();
    assert_eq!(total, (THREADS * COMBINATIONS) as i64);
    let overflow: i64 = data.rows.iter().filter(|r| r.overflow).map(sum).sum();
    assert_eq!(data.folded, overflow as u64);
    Ok(())
}
