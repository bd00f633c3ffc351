//! `record_tags_to` against `record_to` (issue #11): the same records, once
//! with borrowed tags and once with a `TagMap` of those tags, into two
//! managers with the same views, leave the same rows, whatever the text:
//! empty, longer than fits inline, breaking the value rule (recorded as
//! `TagValue::new_lossy` makes it), keys given twice (the last counts), keys
//! no view has, views of more than eight keys, maps of several values and
//! maps with attachments.

use census_core::{
    Aggregation, MeasureF64, MeasureI64, Row, TagKey, TagMap, TagValue, View, ViewData,
};
use census_stats::{MeasurementMap, ViewManager};

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// A row as compared: its tags and data, and its exemplars without their
/// times (the two managers record them at different instants).
type Seen = (Vec<Option<String>>, String, Vec<(String, String)>);

fn seen(data: &ViewData) -> Vec<Seen> {
    let mut rows: Vec<Seen> = data
        .rows
        .iter()
        .map(|r: &Row| {
            let tags = r
                .tags
                .iter()
                .map(|t| t.as_ref().map(|v| v.as_str().to_owned()))
                .collect();
            let exemplars = r
                .exemplars
                .iter()
                .map(|e| (format!("{}", e.value), format!("{:?}", e.attachments)))
                .collect();
            (tags, format!("{:?}", r.data), exemplars)
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn borrowed_tags_and_a_map_of_them_leave_the_same_rows() -> Result<(), census_core::Error> {
    let count = MeasureI64::new("borrowed/count", "", "1")?;
    let latency = MeasureF64::new("borrowed/latency", "", "ms")?;
    let keys: Vec<TagKey> = (0..10)
        .map(|i| TagKey::new(format!("k{i}")))
        .collect::<Result<_, _>>()?;
    // Keys the records use: k0, k1, k2, and k9, which only the wide view has.
    let used = [&keys[0], &keys[1], &keys[2], &keys[9]];
    let stray = TagKey::new("no_view_has_this")?;
    let views = |vm: &ViewManager| -> Result<(), census_core::Error> {
        let view = |name: &str, m: &census_core::Measure, keys: Vec<TagKey>, a: Aggregation| {
            View::builder(name, m).tag_keys(keys).aggregation(a).build()
        };
        let k = |i: &[usize]| i.iter().map(|&i| keys[i].clone()).collect::<Vec<_>>();
        vm.register_view(view(
            "sum",
            latency.as_ref(),
            k(&[0, 1, 2]),
            Aggregation::Sum,
        )?)?;
        vm.register_view(view(
            "reversed",
            latency.as_ref(),
            k(&[2, 1, 0]),
            Aggregation::Count,
        )?)?;
        vm.register_view(view(
            "dist",
            latency.as_ref(),
            k(&[1]),
            Aggregation::distribution([1.0, 10.0, 100.0])?,
        )?)?;
        // Ten keys: past the projection's eight on the stack.
        vm.register_view(view(
            "wide",
            count.as_ref(),
            keys.clone(),
            Aggregation::Sum,
        )?)?;
        vm.register_view(view(
            "none",
            count.as_ref(),
            Vec::new(),
            Aggregation::Count,
        )?)?;
        vm.register_view(view(
            "last",
            count.as_ref(),
            k(&[0, 9]),
            Aggregation::LastValue,
        )?)?;
        Ok(())
    };
    let (by_map, by_tags) = (ViewManager::new(), ViewManager::new());
    views(&by_map)?;
    views(&by_tags)?;
    let pool: Vec<String> = [
        "",
        "GET",
        "200",
        "exactly-twenty-three-by",
        "twenty-four-bytes-long-x",
        "/api/v1/organisations/{org}/projects/{project}",
        "caf\u{e9}",
        "tab\there",
        "\u{1F600} smile",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["x".repeat(300), format!("{}\n", "y".repeat(254))])
    .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..4_000 {
        let mut pairs: Vec<(&TagKey, &str)> = Vec::new();
        for _ in 0..rng.below(6) {
            let key = if rng.below(10) == 0 {
                &stray
            } else {
                used[rng.below(used.len())]
            };
            pairs.push((key, pool[rng.below(pool.len())].as_str()));
        }
        // The map a handler would build from the same pairs, in order.
        let map = pairs.iter().fold(TagMap::new(), |map, (k, v)| {
            map.with_value(k, TagValue::new_lossy(v))
        });
        let mut values = MeasurementMap::new().put(&latency, (i % 150) as f64);
        if rng.below(3) == 0 {
            values = values.put(&count, i as i64).put(&latency, 0.5);
        }
        if rng.below(5) == 0 {
            values = values.attach("trace_id", &pool[rng.below(4)]);
        }
        values.record_to(&by_map, &map);
        values.record_tags_to(&by_tags, &pairs);
    }
    for name in ["sum", "reversed", "dist", "wide", "none", "last"] {
        let (want, got) = (by_map.retrieve_data(name)?, by_tags.retrieve_data(name)?);
        assert!(!want.rows.is_empty(), "{name}: no rows to compare");
        assert_eq!(seen(&got), seen(&want), "{name}");
    }
    // Text that breaks the rule went where its lossy value goes.
    let rows = seen(&by_tags.retrieve_data("dist")?);
    assert!(rows.iter().any(|r| r.0 == [Some("caf_".to_owned())]));
    assert!(rows.iter().any(|r| r.0 == [Some("x".repeat(255))]));
    assert!(rows.iter().all(|r| r.0 != [Some("caf\u{e9}".to_owned())]));
    Ok(())
}
