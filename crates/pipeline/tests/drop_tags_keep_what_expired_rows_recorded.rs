//! Issue #7's chain (`DropTags`, then `Delta`) over views with
//! `expire_after`: when one of the rows merged into another expires, the
//! merged row keeps what it recorded, as a view without the dropped key
//! does. Before, the merged Count went down (Delta took that for a restart
//! and passed the whole total again) and the merged Sum went down (Delta
//! passed a negative change on a counter). Every period is checked against
//! a view recorded without the key, cumulative and delta.

use std::time::Duration;

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey, TagMap, View};
use census_core::{AggregationData::Count, ViewData};
use census_pipeline::{Delta, DropTags, Pipeline};
use census_stats::MeasurementMap;
use census_testkit::*;

fn value(batch: &[ViewData], name: &str) -> Option<i64> {
    let data = batch.iter().find(|d| d.view.name() == name)?;
    assert!(data.rows.len() <= 1, "{name}: {:?}", data.rows);
    data.rows.first().map(|r| match r.data {
        Count(n) => n as i64,
        AggregationData::Sum(Number::Int(n)) => n,
        ref other => panic!("{name}: {other:?}"),
    })
}

fn export(call: Call) -> Vec<ViewData> {
    match call {
        Call::Export(batch) => batch,
        other => panic!("expected an export, got {other:?}"),
    }
}

#[test]
fn merged_rows_keep_what_their_expired_rows_recorded() -> Result<(), census_core::Error> {
    let period = Duration::from_secs(10);
    let after = Duration::from_secs(15);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let path = TagKey::new("path")?;
    let (vm, clock) = clocked_manager(period);
    for (name, aggregation) in [
        ("demo/count", Aggregation::Count),
        ("demo/sum", Aggregation::Sum),
    ] {
        for (suffix, keys) in [("by_path", vec![path.clone()]), ("direct", vec![])] {
            vm.register_view(
                View::builder(format!("{name}_{suffix}"), &m)
                    .tag_keys(keys)
                    .aggregation(aggregation.clone())
                    .expire_after(after)
                    .build()?,
            )?;
        }
    }
    let (deltas, delta_calls) = CapturingExporter::new();
    vm.register_exporter(
        Pipeline::new(deltas.named("deltas"))
            .with(DropTags::new(["path"]))
            .with(Delta::new()),
    )?;
    let (cumulative, cumulative_calls) = CapturingExporter::new();
    vm.register_exporter(
        Pipeline::new(cumulative.named("cumulative")).with(DropTags::new(["path"])),
    )?;

    let (a, b) = (
        TagMap::new().with(&path, "/a")?,
        TagMap::new().with(&path, "/b")?,
    );
    // /a is recorded in the first period only, and expires in the third;
    // /b once a period, with 2 each time (so the Sum is not the Count).
    for _ in 0..3 {
        MeasurementMap::new().put(&m, 5).record_to(&vm, &a);
    }
    let (mut counted, mut summed) = (0, 0);
    for period_number in 1..=6 {
        MeasurementMap::new().put(&m, 2).record_to(&vm, &b);
        clock.advance(period);
        let deltas = export(delta_calls.next_call());
        let cumulative = export(cumulative_calls.next_call());
        for name in ["demo/count", "demo/sum"] {
            // Cumulative: the merged row is what the view without the key
            // holds, period after period.
            assert_eq!(
                value(&cumulative, &format!("{name}_by_path")),
                value(&cumulative, &format!("{name}_direct")),
                "{name}, period {period_number}"
            );
        }
        let count = value(&deltas, "demo/count_by_path").unwrap_or(0);
        let sum = value(&deltas, "demo/sum_by_path").unwrap_or(0);
        assert_eq!(
            (count, sum),
            (
                value(&deltas, "demo/count_direct").unwrap_or(0),
                value(&deltas, "demo/sum_direct").unwrap_or(0)
            ),
            "deltas, period {period_number}"
        );
        assert!(sum > 0, "a negative change on a counter: {sum}");
        counted += count;
        summed += sum;
    }
    assert_eq!((counted, summed), (3 + 6, 15 + 12));

    // Nothing recorded for three periods: every row expires, the merged
    // row with them. Recorded again, it starts afresh, as the direct one.
    for _ in 0..3 {
        clock.advance(period);
        delta_calls.next_call();
        cumulative_calls.next_call();
    }
    MeasurementMap::new().put(&m, 4).record_to(&vm, &a);
    clock.advance(period);
    let deltas = export(delta_calls.next_call());
    let cumulative = export(cumulative_calls.next_call());
    for name in ["demo/count", "demo/sum"] {
        for batch in [&deltas, &cumulative] {
            let merged = batch
                .iter()
                .find(|d| d.view.name() == format!("{name}_by_path"));
            let direct = batch
                .iter()
                .find(|d| d.view.name() == format!("{name}_direct"));
            let rows = |d: Option<&ViewData>| {
                d.map(|d| {
                    d.rows
                        .iter()
                        .map(|r| (r.data.clone(), r.start))
                        .collect::<Vec<_>>()
                })
            };
            assert_eq!(rows(merged), rows(direct), "{name} after all expired");
        }
    }
    assert_eq!(value(&cumulative, "demo/count_by_path"), Some(1));
    assert_eq!(value(&cumulative, "demo/sum_by_path"), Some(4));
    Ok(())
}

// Rows also expire in reads between exports (`retrieve_data`, a scrape).
// When every row of a merged row went so, and its tags are recorded again
// before the next export, the merged row starts afresh, as the row of the
// view without the key does: it must not carry the old rows' total.
#[test]
fn a_merged_row_whose_rows_all_expired_in_a_read_starts_afresh() -> Result<(), census_core::Error> {
    let period = Duration::from_secs(10);
    let m = MeasureI64::new("demo/jobs", "jobs", "1")?;
    let path = TagKey::new("path")?;
    let (vm, clock) = clocked_manager(period);
    for (suffix, keys) in [("by_path", vec![path.clone()]), ("direct", vec![])] {
        vm.register_view(
            View::builder(format!("demo/jobs_{suffix}"), &m)
                .tag_keys(keys)
                .aggregation(Aggregation::Count)
                .expire_after(Duration::from_secs(15))
                .build()?,
        )?;
    }
    let (capture, calls) = CapturingExporter::new();
    vm.register_exporter(Pipeline::new(capture).with(DropTags::new(["path"])))?;
    let a = TagMap::new().with(&path, "/a")?;
    for _ in 0..3 {
        MeasurementMap::new().put(&m, 1).record_to(&vm, &a);
    }
    for _ in 0..2 {
        clock.advance(period);
        calls.next_call();
    }
    // 26 s after the records, exported twice since: a read expires both.
    clock.advance(Duration::from_secs(6));
    assert!(vm.retrieve_data("demo/jobs_by_path")?.rows.is_empty());
    assert!(vm.retrieve_data("demo/jobs_direct")?.rows.is_empty());
    MeasurementMap::new().put(&m, 1).record_to(&vm, &a);
    clock.advance(Duration::from_secs(4));
    let batch = export(calls.next_call());
    let row = |name: &str| {
        batch
            .iter()
            .find(|d| d.view.name() == name)
            .and_then(|d| d.rows.first())
            .map(|r| (r.data.clone(), r.start))
    };
    assert_eq!(row("demo/jobs_by_path"), row("demo/jobs_direct"));
    assert_eq!(value(&batch, "demo/jobs_by_path"), Some(1));
    Ok(())
}
