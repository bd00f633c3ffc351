//! The per-thread share scheme of the record path (issue #5): many threads
//! recording into shared rows, two waves so later threads take over the
//! thread slots of finished ones, one thread snapshotting all along. Every
//! snapshot must be internally consistent and never show less than the one
//! before; the final one must hold exactly what was recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

const ROWS: usize = 5;
const PER_THREAD: usize = 40_000;
const THREADS_PER_WAVE: usize = 4;

/// What a snapshot says about one row: count, integer sum.
type Reading = HashMap<(String, String), (u64, i64)>;

fn read(vm: &ViewManager, views: &[&str]) -> Reading {
    let mut out = Reading::new();
    for &view in views {
        let data = vm.retrieve_data(view).expect("registered view");
        for row in &data.rows {
            let tag = row.tags[0]
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            let reading = match &row.data {
                AggregationData::Count(n) => (*n, 0),
                AggregationData::Sum(Number::Int(s)) => (0, *s),
                AggregationData::Distribution(d) => {
                    // A distribution share is read whole: its count always
                    // equals its bucket total, even mid-record.
                    assert_eq!(
                        d.bucket_counts.iter().sum::<u64>(),
                        d.count,
                        "torn distribution read in {view}/{tag}"
                    );
                    (d.count, d.sum as i64)
                }
                other => panic!("unexpected data {other:?}"),
            };
            assert!(
                out.insert((view.to_owned(), tag), reading).is_none(),
                "row listed twice in {view}"
            );
        }
    }
    out
}

#[test]
fn snapshots_never_go_backwards_and_the_last_is_exact() -> Result<(), census_core::Error> {
    let m = MeasureI64::new("test/requests", "requests", "1")?;
    let k = TagKey::new("shard")?;
    let vm = ViewManager::new();
    let views = ["count", "sum", "dist"];
    for (name, agg) in [
        ("count", Aggregation::Count),
        ("sum", Aggregation::Sum),
        ("dist", Aggregation::distribution([2.0, 4.0, 6.0])?),
    ] {
        vm.register_view(
            View::builder(name, &m)
                .tag_keys([k.clone()])
                .aggregation(agg)
                .build()?,
        )?;
    }
    let maps: Vec<TagMap> = (0..ROWS)
        .map(|r| TagMap::new().with(&k, format!("r{r}")))
        .collect::<Result<_, _>>()?;
    // Half the threads record through bound handles, half through maps.
    let bound: Vec<_> = maps.iter().map(|t| vm.bind(&m, t)).collect();
    let recording = AtomicBool::new(true);
    let mut snapshots = 0u64;
    std::thread::scope(|s| {
        let checker = s.spawn(|| {
            let mut last = read(&vm, &views);
            let mut n = 0u64;
            // Relaxed: a stop flag; the scope's join orders the rest.
            while recording.load(Ordering::Relaxed) {
                let now = read(&vm, &views);
                for (row, (count, sum)) in &now {
                    let (c0, s0) = last.get(row).copied().unwrap_or((0, 0));
                    assert!(*count >= c0, "{row:?} count went back: {c0} -> {count}");
                    assert!(*sum >= s0, "{row:?} sum went back: {s0} -> {sum}");
                }
                for row in last.keys() {
                    assert!(now.contains_key(row), "{row:?} vanished");
                }
                last = now;
                n += 1;
            }
            n
        });
        for wave in 0..2 {
            let start = Barrier::new(THREADS_PER_WAVE);
            std::thread::scope(|w| {
                for t in 0..THREADS_PER_WAVE {
                    let (maps, bound, m, vm, start) = (&maps, &bound, &m, &vm, &start);
                    w.spawn(move || {
                        start.wait();
                        for i in 0..PER_THREAD {
                            let row = (t + i) % ROWS;
                            let value = (i % 7) as i64 + 1;
                            if (t + wave) % 2 == 0 {
                                bound[row].record(value);
                            } else {
                                MeasurementMap::new()
                                    .put(m, value)
                                    .record_to(vm, &maps[row]);
                            }
                        }
                    });
                }
            });
        }
        recording.store(false, Ordering::Relaxed);
        snapshots = checker.join().expect("checker thread");
    });

    // The exact totals, computed the same way.
    let mut want: HashMap<String, (u64, i64)> = HashMap::new();
    for _wave in 0..2 {
        for t in 0..THREADS_PER_WAVE {
            for i in 0..PER_THREAD {
                let e = want.entry(format!("r{}", (t + i) % ROWS)).or_default();
                e.0 += 1;
                e.1 += (i % 7) as i64 + 1;
            }
        }
    }
    let last = read(&vm, &views);
    for (tag, (count, sum)) in &want {
        assert_eq!(
            last[&("count".to_owned(), tag.clone())].0,
            *count,
            "count {tag}"
        );
        assert_eq!(last[&("sum".to_owned(), tag.clone())].1, *sum, "sum {tag}");
        assert_eq!(
            last[&("dist".to_owned(), tag.clone())],
            (*count, *sum),
            "dist {tag}"
        );
    }
    assert_eq!(last.len(), ROWS * views.len());
    assert!(snapshots > 0, "the checker never compared two snapshots");
    Ok(())
}
