//! The record path against a plain model (issue #11): several threads
//! record random values under random tags, with tag maps built per call,
//! kept, cloned, rebuilt through `with_value` and dropped, or with the
//! tags given as borrowed pairs (`record_tags_to`, a key sometimes given
//! twice, the last value counting), while the main
//! thread registers and unregisters other views of the same measure. A
//! `HashMap` from tag values to totals, kept by each thread on the side,
//! must equal every view's rows exactly: Sum, Count and Distribution views
//! registered throughout, and a view registered for one phase only, which
//! must hold exactly that phase's values.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use census_core::{
    Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, TagValue, View, ViewData,
};
use census_stats::{MeasurementMap, ViewManager};

const THREADS: usize = 4;
const PHASES: usize = 6;
const RECORDS_PER_PHASE: usize = 3_000;

/// xorshift64*: a fixed sequence per seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The values a record used: `None` where its map had no value for a key.
type Values = [Option<String>; 3];

/// Totals per projection of the values onto a view's keys.
#[derive(Default, Debug, PartialEq)]
struct Model {
    sum_ab: HashMap<(Option<String>, Option<String>), i64>,
    count_ac: HashMap<(Option<String>, Option<String>), u64>,
    dist_b: HashMap<Option<String>, (u64, i64)>,
}

/// What one phase put into the view registered for that phase only.
type Phase = HashMap<(Option<String>, Option<String>), i64>;

impl Model {
    fn add(&mut self, v: &Values, value: i64) {
        let [a, b, _] = v.clone();
        *self.sum_ab.entry((a.clone(), b.clone())).or_default() += value;
        *self.count_ac.entry((a, v[2].clone())).or_default() += 1;
        let d = self.dist_b.entry(b).or_default();
        d.0 += 1;
        d.1 += value;
    }

    fn merge(&mut self, other: Model) {
        for (k, v) in other.sum_ab {
            *self.sum_ab.entry(k).or_default() += v;
        }
        for (k, v) in other.count_ac {
            *self.count_ac.entry(k).or_default() += v;
        }
        for (k, (n, s)) in other.dist_b {
            let d = self.dist_b.entry(k).or_default();
            d.0 += n;
            d.1 += s;
        }
    }
}

fn text(v: &Option<TagValue>) -> Option<String> {
    v.as_ref().map(|v| v.as_str().to_owned())
}

fn pairs(data: &ViewData) -> Vec<(Option<String>, Option<String>, AggregationData)> {
    data.rows
        .iter()
        .map(|r| {
            (
                text(&r.tags[0]),
                r.tags.get(1).and_then(text),
                r.data.clone(),
            )
        })
        .collect()
}

fn int_sum(data: &AggregationData) -> i64 {
    match data {
        AggregationData::Sum(Number::Int(v)) => *v,
        other => panic!("not an int sum: {other:?}"),
    }
}

/// A tag map for one record and the values it holds: a kept map or a
/// clone of one (sometimes dropped from the kept ones), or one built per
/// call, keys in a random order, each key present or not.
fn map_and_values(
    rng: &mut Rng,
    kept: &mut Vec<(TagMap, Values)>,
    keys: &[TagKey; 3],
    pool: &[String],
) -> Result<(TagMap, Values), census_core::Error> {
    if !kept.is_empty() && rng.below(3) == 0 {
        let i = rng.below(kept.len());
        let (map, values) = (kept[i].0.clone(), kept[i].1.clone());
        if rng.below(8) == 0 {
            kept.swap_remove(i); // dropped
        }
        return Ok((map, values));
    }
    let mut values: Values = [None, None, None];
    let mut map = TagMap::new();
    let first = rng.below(3);
    for k in 0..3 {
        let k = (first + k) % 3;
        if rng.below(4) == 0 {
            continue;
        }
        let v = &pool[rng.below(pool.len())];
        map = if rng.below(2) == 0 {
            map.with(&keys[k], v.as_str())?
        } else {
            map.with_value(&keys[k], TagValue::new_lossy(v))
        };
        values[k] = Some(v.clone());
    }
    if rng.below(8) == 0 && kept.len() < 50 {
        kept.push((map.clone(), values.clone()));
    }
    Ok((map, values))
}

#[test]
fn every_view_equals_the_model_whatever_maps_and_registrations_do() -> Result<(), census_core::Error>
{
    let m = MeasureI64::new("model/m", "", "1")?;
    let keys = [TagKey::new("a")?, TagKey::new("b")?, TagKey::new("c")?];
    let [a, b, c] = keys.clone();
    let vm = ViewManager::new();
    let view = |name: &str, keys: Vec<TagKey>, agg: Aggregation| {
        View::builder(name, &m)
            .tag_keys(keys)
            .aggregation(agg)
            .build()
    };
    vm.register_view(view(
        "sum_ab",
        vec![a.clone(), b.clone()],
        Aggregation::Sum,
    )?)?;
    // Keys listed against the map's order: projection must not care.
    vm.register_view(view(
        "count_ac",
        vec![c.clone(), a.clone()],
        Aggregation::Count,
    )?)?;
    vm.register_view(view(
        "dist_b",
        vec![b.clone()],
        Aggregation::distribution([0.0, 50.0])?,
    )?)?;
    // Values of each key, some longer than fit inline, one empty.
    let pool: Vec<String> = (0..6)
        .map(|i| match i {
            0 => String::new(),
            5 => format!("a-value-longer-than-twenty-three-bytes-{i}"),
            _ => format!("v{i}"),
        })
        .collect();
    // Phases start by message and end by message, never by barrier: a
    // thread that fails leaves the main thread a timeout, not a hang, and
    // dropping the start senders lets every thread finish.
    let (done, done_in) = mpsc::channel::<Phase>();
    let model = std::thread::scope(|s| -> Result<Model, census_core::Error> {
        let mut starts = Vec::new();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (vm, m, keys, pool) = (&vm, &m, &keys, &pool);
                let done = done.clone();
                let (start, start_in) = mpsc::channel::<usize>();
                starts.push(start);
                s.spawn(move || -> Result<Model, census_core::Error> {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                    let mut model = Model::default();
                    let mut kept: Vec<(TagMap, Values)> = Vec::new();
                    for phase in start_in.iter() {
                        let mut this_phase = Phase::new();
                        for _ in 0..RECORDS_PER_PHASE {
                            let value = rng.below(100) as i64 - 20;
                            let values = if rng.below(4) == 0 {
                                // Borrowed pairs, keys in a random order,
                                // some absent, some given twice.
                                let mut values: Values = [None, None, None];
                                let mut pairs: Vec<(&TagKey, &str)> = Vec::new();
                                for _ in 0..rng.below(5) {
                                    let k = rng.below(3);
                                    let v = &pool[rng.below(pool.len())];
                                    pairs.push((&keys[k], v.as_str()));
                                    values[k] = Some(v.clone());
                                }
                                MeasurementMap::new()
                                    .put(m, value)
                                    .record_tags_to(vm, &pairs);
                                values
                            } else {
                                let (tags, values) =
                                    map_and_values(&mut rng, &mut kept, keys, pool)?;
                                MeasurementMap::new().put(m, value).record_to(vm, &tags);
                                values
                            };
                            model.add(&values, value);
                            let [_, b, c] = values;
                            *this_phase.entry((b, c)).or_default() += value;
                        }
                        // The phase view is registered during odd phases.
                        if phase % 2 == 0 {
                            this_phase.clear();
                        }
                        if done.send(this_phase).is_err() {
                            break;
                        }
                    }
                    Ok(model)
                })
            })
            .collect();
        let mut churn = Rng(42);
        for phase in 0..PHASES {
            if phase % 2 == 1 {
                vm.register_view(view(
                    "phase_bc",
                    vec![b.clone(), c.clone()],
                    Aggregation::Sum,
                )?)?;
            }
            for start in &starts {
                start.send(phase).expect("a recording thread stopped");
            }
            // Views come and go while the threads record: routing tables
            // and every thread's indexes are rebuilt under them.
            for i in 0..20 {
                let name = format!("churn{}", churn.below(4));
                if vm.views().iter().any(|v| v.name() == name) {
                    vm.unregister_view(&name)?;
                } else {
                    let keys = keys[..1 + i % 3].to_vec();
                    vm.register_view(view(&name, keys, Aggregation::Sum)?)?;
                }
                std::thread::yield_now();
            }
            let mut expected = Phase::new();
            for _ in 0..THREADS {
                let part = done_in
                    .recv_timeout(Duration::from_secs(30))
                    .expect("a recording thread stopped before the phase's end");
                for (k, v) in part {
                    *expected.entry(k).or_default() += v;
                }
            }
            if phase % 2 == 1 {
                // Registered before this phase's first record and read after
                // its last: exactly this phase's values, nothing from the
                // phase before (the view was unregistered since).
                let got: Phase = pairs(&vm.retrieve_data("phase_bc")?)
                    .into_iter()
                    .map(|(b, c, data)| ((b, c), int_sum(&data)))
                    .collect();
                assert_eq!(got, expected, "phase {phase}");
                vm.unregister_view("phase_bc")?;
            }
        }
        drop(starts);
        let mut total = Model::default();
        for h in handles {
            total.merge(h.join().expect("recording thread panicked")?);
        }
        Ok(total)
    })?;

    let mut seen = Model::default();
    for (x, y, data) in pairs(&vm.retrieve_data("sum_ab")?) {
        seen.sum_ab.insert((x, y), int_sum(&data));
    }
    for (c_value, a_value, data) in pairs(&vm.retrieve_data("count_ac")?) {
        let AggregationData::Count(n) = data else {
            panic!("not a count: {data:?}");
        };
        seen.count_ac.insert((a_value, c_value), n);
    }
    for (x, _, data) in pairs(&vm.retrieve_data("dist_b")?) {
        let AggregationData::Distribution(d) = data else {
            panic!("not a distribution: {data:?}");
        };
        assert_eq!(d.bucket_counts.iter().sum::<u64>(), d.count);
        seen.dist_b.insert(x, (d.count, d.sum as i64));
    }
    assert_eq!(seen.sum_ab, model.sum_ab, "sum_ab");
    assert_eq!(seen.count_ac, model.count_ac, "count_ac");
    assert_eq!(seen.dist_b, model.dist_b, "dist_b");
    Ok(())
}
