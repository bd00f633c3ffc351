//! Over several periods of real recording, Delta passes on exactly the
//! differences between consecutive cumulative snapshots, each starting
//! where the previous export ended, and the deltas add up to the final
//! cumulative values.

use std::collections::HashMap;

use census_core::{Aggregation, AggregationData, MeasureF64, MeasureI64, Number, TagKey};
use census_core::{Processor, TagMap, Temporality, View, ViewData};
use census_pipeline::Delta;
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::*;

const BOUNDS: [f64; 3] = [0.0, 10.0, 100.0];
const METHODS: [&str; 3] = ["GET", "POST", "PUT"];

fn register(
    vm: &ViewManager,
    latency: &MeasureF64,
    bytes: &MeasureI64,
    method: &TagKey,
) -> Result<(), census_core::Error> {
    let views = [
        View::builder("demo/count", latency).aggregation(Aggregation::Count),
        View::builder("demo/latency_sum", latency).aggregation(Aggregation::Sum),
        View::builder("demo/latency", latency).aggregation(Aggregation::distribution(BOUNDS)?),
        View::builder("demo/last", latency).aggregation(Aggregation::LastValue),
        View::builder("demo/bytes", bytes).aggregation(Aggregation::Sum),
    ];
    for v in views {
        vm.register_view(v.tag_keys([method.clone()]).build()?)?;
    }
    Ok(())
}

fn snapshot(vm: &ViewManager) -> Result<Vec<ViewData>, census_core::Error> {
    vm.views()
        .iter()
        .map(|v| vm.retrieve_data(v.name()))
        .collect()
}

fn method_of(row: &census_core::Row) -> String {
    row.tags[0]
        .as_ref()
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

#[test]
fn deltas_are_the_differences_and_add_up_to_the_cumulative() -> Result<(), census_core::Error> {
    let latency = MeasureF64::new("demo/latency", "latency", "ms")?;
    let bytes = MeasureI64::new("demo/bytes", "bytes", "By")?;
    let method = TagKey::new("method")?;
    let vm = ViewManager::new();
    register(&vm, &latency, &bytes, &method)?;
    let delta = Delta::new();

    let mut previous: HashMap<String, ViewData> = HashMap::new();
    let mut count_total: HashMap<String, u64> = HashMap::new();
    let mut bytes_total: HashMap<String, i64> = HashMap::new();
    let mut passed_rows = 0;
    let mut x: u64 = 12345;
    for period in 0..6u64 {
        // What this period records, per method, to check distributions
        // against the interval's own values.
        let mut recorded: HashMap<String, Vec<f64>> = HashMap::new();
        let mut last: HashMap<String, f64> = HashMap::new();
        for i in 0..(40 + period * 7) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // PUT only records in even periods, so its rows go unchanged.
            let m = METHODS[((x >> 33) % 3) as usize];
            if m == "PUT" && period % 2 == 1 {
                continue;
            }
            let v = ((x >> 20) % 20_000) as f64 / 100.0 - 20.0 + if i % 5 == 0 { 1e6 } else { 0.0 };
            let b = ((x >> 40) % 1000) as i64 - 300;
            let tags = TagMap::new().with(&method, m)?;
            MeasurementMap::new()
                .put(&latency, v)
                .put(&bytes, b)
                .record_to(&vm, &tags);
            recorded.entry(m.to_owned()).or_default().push(v);
            last.insert(m.to_owned(), v);
        }
        let batch = snapshot(&vm)?;
        let out = delta.process(batch.clone());
        assert_eq!(out.len(), batch.len());
        for (cum, d) in batch.iter().zip(&out) {
            let name = cum.view.name();
            assert_eq!(d.view, cum.view);
            assert_eq!(d.temporality, Temporality::Delta);
            assert_eq!(d.end, cum.end);
            let prev = previous.get(name);
            let interval_start = prev.map_or(cum.start, |p| p.end);
            assert_eq!(d.start, interval_start, "{name} period {period}");
            for row in &cum.rows {
                let m = method_of(row);
                let before = prev.and_then(|p| p.rows.iter().find(|r| r.tags == row.tags));
                let got = d.rows.iter().find(|r| r.tags == row.tags);
                let changed = recorded.contains_key(&m);
                if name != "demo/last" {
                    assert_eq!(
                        got.is_some(),
                        changed,
                        "{name} {m} period {period}: present iff recorded"
                    );
                }
                let Some(got) = got else { continue };
                assert_eq!(got.start, interval_start, "{name} {m}");
                passed_rows += 1;
                match (&row.data, before.map(|b| &b.data), &got.data) {
                    (AggregationData::Count(n), p, AggregationData::Count(g)) => {
                        let p = match p {
                            Some(AggregationData::Count(p)) => *p,
                            _ => 0,
                        };
                        assert_eq!(*g, n - p);
                        assert_eq!(*g, recorded[&m].len() as u64);
                        *count_total.entry(m.clone()).or_default() += g;
                    }
                    (
                        AggregationData::Sum(Number::Int(n)),
                        p,
                        AggregationData::Sum(Number::Int(g)),
                    ) => {
                        let p = match p {
                            Some(AggregationData::Sum(Number::Int(p))) => *p,
                            _ => 0,
                        };
                        assert_eq!(*g, n - p);
                        *bytes_total.entry(m.clone()).or_default() += g;
                    }
                    (
                        AggregationData::Sum(Number::Float(n)),
                        p,
                        AggregationData::Sum(Number::Float(g)),
                    ) => {
                        let p = match p {
                            Some(AggregationData::Sum(Number::Float(p))) => *p,
                            _ => 0.0,
                        };
                        assert_eq!(*g, n - p);
                        let direct: f64 = recorded[&m].iter().sum();
                        assert!(
                            (g - direct).abs() < 1e-6 * direct.abs().max(1.0),
                            "{g} vs {direct}"
                        );
                    }
                    (AggregationData::LastValue(n), _, AggregationData::LastValue(g)) => {
                        assert_eq!(g, n);
                        if let Some(v) = last.get(&m) {
                            assert_eq!(*g, Number::Float(*v));
                        }
                    }
                    (AggregationData::Distribution(n), _, AggregationData::Distribution(g)) => {
                        let want = distribution(&recorded[&m], &BOUNDS);
                        assert_eq!(g.count, want.count);
                        assert_eq!(g.bucket_counts, want.bucket_counts);
                        assert!(
                            close(g.sum, want.sum) || (g.sum - want.sum).abs() < 1e-6,
                            "{} vs {}",
                            g.sum,
                            want.sum
                        );
                        assert!(
                            (g.mean - want.mean).abs() < 1e-6 * want.mean.abs().max(1.0),
                            "{} vs {}",
                            g.mean,
                            want.mean
                        );
                        let rel = (g.sum_of_squared_deviation - want.sum_of_squared_deviation)
                            .abs()
                            / want.sum_of_squared_deviation.max(1.0);
                        assert!(
                            rel < 1e-6,
                            "ssd {} vs {}",
                            g.sum_of_squared_deviation,
                            want.sum_of_squared_deviation
                        );
                        // Documented: min and max stay cumulative.
                        assert_eq!((g.min, g.max), (n.min, n.max));
                    }
                    other => panic!("mismatched data {other:?}"),
                }
            }
        }
        previous = batch
            .into_iter()
            .map(|d| (d.view.name().to_owned(), d))
            .collect();
    }
    assert!(passed_rows > 40, "only {passed_rows} rows were checked");
    // The deltas add up to the final cumulative values.
    for row in &previous["demo/count"].rows {
        assert_eq!(
            row.data,
            AggregationData::Count(count_total[&method_of(row)])
        );
    }
    for row in &previous["demo/bytes"].rows {
        assert_eq!(
            row.data,
            AggregationData::Sum(Number::Int(bytes_total[&method_of(row)]))
        );
    }
    vm.shutdown();
    Ok(())
}
