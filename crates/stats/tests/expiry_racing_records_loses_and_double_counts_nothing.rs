//! Issue #7: rows expire while threads record into them, and still every
//! value is in exactly one row incarnation. A row incarnation is told
//! apart by its tags and start; its last snapshot shows its final
//! cumulative value (a row only goes once a snapshot has shown all of
//! it). So the sum, over incarnations, of the last value each showed must
//! equal what the threads recorded: a value lost with an expiring row
//! makes it smaller, a value counted in two incarnations larger.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_stats::{ManualClock, MeasurementMap, ViewManager};

const KEYS: [&str; 3] = ["a", "b", "c"];

#[test]
fn every_value_lands_in_exactly_one_row_incarnation() -> Result<(), census_core::Error> {
    let m = MeasureI64::new("demo/bytes", "bytes", "By")?;
    let k = TagKey::new("k")?;
    // Time moves only with the snapshotter, half an expiry per snapshot,
    // so rows expire as often on a loaded machine as on an idle one.
    let clock = ManualClock::new();
    let vm = ViewManager::builder().clock(clock.clone()).build();
    vm.register_view(
        View::builder("demo/bytes_by_k", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::Sum)
            // Short, so that rows expire hundreds of times and recorders
            // waking from a pause race the snapshot that retires them.
            .expire_after(Duration::from_millis(2))
            .build()?,
    )?;
    let maps: Vec<TagMap> = KEYS
        .iter()
        .map(|v| TagMap::new().with(&k, *v))
        .collect::<Result<_, _>>()?;
    let done = AtomicBool::new(false);
    let (recorded, snapshots) = std::thread::scope(|s| {
        let snapshotter = s.spawn(|| {
            let mut snaps = Vec::new();
            // Relaxed: a stop flag; the join below orders the rest.
            while !done.load(Ordering::Relaxed) {
                snaps.push(vm.retrieve_data("demo/bytes_by_k"));
                clock.advance(Duration::from_micros(1000));
                // Leaves the recorders some of a loaded machine.
                std::thread::yield_now();
            }
            snaps
        });
        let recorders: Vec<_> = (0..2u64)
            .map(|t| {
                let (vm, m, maps, clock) = (&vm, &m, &maps, &clock);
                s.spawn(move || {
                    // One thread records through measurement maps, the
                    // other through bound handles: both must follow rows
                    // that expire under them.
                    let bound: Vec<_> = maps.iter().map(|tags| vm.bind(m, tags)).collect();
                    let mut total = 0i64;
                    let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                    for burst in 0..100u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let key = ((burst + t) % 3) as usize;
                        for i in 0..(x % 10 + 1) as i64 {
                            let v = i % 5 + 1;
                            if t == 0 {
                                MeasurementMap::new().put(m, v).record_to(vm, &maps[key]);
                            } else {
                                bound[key].record(v);
                            }
                            total += v;
                        }
                        // Pauses around the expiry time are the point:
                        // the row goes (or nearly goes) while this thread
                        // is about to record into it again. Paused on the
                        // clock the snapshotter moves.
                        let until = clock.now() + Duration::from_micros(1500 + (x >> 20) % 2000);
                        while clock.now() < until {
                            std::thread::yield_now();
                        }
                    }
                    total
                })
            })
            .collect();
        let recorded: i64 = recorders
            .into_iter()
            .map(|h| h.join().expect("recorder panicked"))
            .sum();
        done.store(true, Ordering::Relaxed);
        let snaps = snapshotter.join().expect("snapshotter panicked");
        (recorded, snaps)
    });
    let mut last: HashMap<(String, SystemTime), i64> = HashMap::new();
    let mut all = snapshots;
    all.push(vm.retrieve_data("demo/bytes_by_k"));
    for snap in &all {
        let snap = snap.as_ref().map_err(Clone::clone)?;
        for row in &snap.rows {
            assert!(!row.overflow);
            let AggregationData::Sum(Number::Int(v)) = row.data else {
                panic!("not an int sum: {:?}", row.data);
            };
            let tag = row.tags[0]
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default();
            let seen = last.entry((tag, row.start)).or_insert(v);
            assert!(v >= *seen, "an incarnation went backwards");
            *seen = v;
        }
    }
    let incarnations = last.len();
    let exported: i64 = last.values().sum();
    assert!(
        incarnations > KEYS.len() * 10,
        "rows expired only {incarnations} times; the test raced nothing"
    );
    assert_eq!(exported, recorded, "over {incarnations} row incarnations");
    vm.shutdown();
    Ok(())
}
