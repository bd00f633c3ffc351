//! A pull exporter behind a pipeline serves its scrapes through the chain,
//! so a scrape holds the views `check_view` approved. Before, pulls
//! bypassed the chain: a Prometheus exporter behind `DropTags(["le"])`
//! accepted a view with tag key `le` (checked without the key) and every
//! scrape then left it out, as it did a view whose clash a `FilterViews`
//! had removed; a `Rename` or `ConstTags` in front of it changed nothing
//! a scrape showed.

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_pipeline::{ConstTags, Delta, DropTags, FilterViews, Pipeline, Rename};
use census_stats::{MeasurementMap, ViewManager};

#[test]
fn a_scrape_holds_the_views_as_the_chain_made_them() -> Result<(), Box<dyn std::error::Error>> {
    let latency = MeasureF64::new("jobs/latency", "job latency", "s")?;
    let jobs = MeasureI64::new("jobs/done", "jobs done", "1")?;
    let le = TagKey::new("le")?;
    let queue = TagKey::new("queue")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("jobs/latency", &latency)
            .tag_keys([le.clone(), queue.clone()])
            .aggregation(Aggregation::distribution([0.1, 1.0])?)
            .build()?,
    )?;
    // Their Prometheus names clash; the filter leaves the second out.
    vm.register_view(
        View::builder("jobs/a.b", &jobs)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_view(
        View::builder("jobs/a_b", &jobs)
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;
    let prometheus = PrometheusExporter::builder().build()?;
    vm.register_exporter(
        Pipeline::new(prometheus.clone())
            .with(DropTags::new(["le"]))
            .with(FilterViews::excluding("jobs/a_b"))
            .with(ConstTags::new([("service", "worker")])?)
            .with(Rename::prefix("svc/")?)
            .with(Delta::new()),
    )?;
    let tags = TagMap::new().with(&le, "x")?.with(&queue, "mail")?;
    for (value, done) in [(0.05, 1), (0.5, 2)] {
        MeasurementMap::new()
            .put(&latency, value)
            .put(&jobs, done)
            .record_to(&vm, &tags);
    }
    let (_, text) = prometheus.render();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let has = |line: &str| lines.contains(&line);
    assert!(
        has(r#"svc_jobs_latency_bucket{queue="mail",service="worker",le="0.1"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"svc_jobs_latency_count{queue="mail",service="worker"} 2"#),
        "{text}"
    );
    // Cumulative, although Delta ends the chain: a pull is not a period.
    assert!(has(r#"svc_jobs_a_b_total{service="worker"} 3"#), "{text}");
    assert!(
        !lines.iter().any(|l| l.starts_with("svc_jobs_a_b{")),
        "{text}"
    );
    // Its own metrics go through the chain too, as in pushed batches.
    assert!(
        has(r#"svc_census_prometheus_omitted_views{service="worker"} 0"#),
        "{text}"
    );
    vm.shutdown();
    Ok(())
}

/// The one row of view `name` in `batch`, as an integer.
fn value(batch: &[census_core::ViewData], name: &str) -> Option<i64> {
    let data = batch.iter().find(|d| d.view.name() == name)?;
    assert!(data.rows.len() <= 1, "{name}: {:?}", data.rows);
    data.rows.first().map(|r| match r.data {
        census_core::AggregationData::Count(n) => n as i64,
        census_core::AggregationData::Sum(census_core::Number::Int(n)) => n,
        ref other => panic!("{name}: {other:?}"),
    })
}

#[test]
fn pulls_leave_the_state_of_drop_tags_and_delta_as_the_periods_made_it(
) -> Result<(), Box<dyn std::error::Error>> {
    use census_testkit::{clocked_manager, Call, CapturingExporter};
    use std::time::Duration;

    let period = Duration::from_secs(10);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let path = TagKey::new("path")?;
    let (vm, clock) = clocked_manager(period);
    for (suffix, keys) in [("by_path", vec![path.clone()]), ("direct", vec![])] {
        vm.register_view(
            View::builder(format!("demo/sum_{suffix}"), &m)
                .tag_keys(keys)
                .aggregation(Aggregation::Sum)
                .expire_after(Duration::from_secs(15))
                .build()?,
        )?;
    }
    let (exporter, calls) = CapturingExporter::new();
    vm.register_exporter(
        Pipeline::new(exporter)
            .with(DropTags::new(["path"]))
            .with(Delta::new()),
    )?;
    let (a, b) = (
        TagMap::new().with(&path, "/a")?,
        TagMap::new().with(&path, "/b")?,
    );
    // /a in the first period only (it expires in the third), /b in each.
    MeasurementMap::new().put(&m, 5).record_to(&vm, &a);
    let mut passed = 0;
    for period_number in 1..=5 {
        MeasurementMap::new().put(&m, 2).record_to(&vm, &b);
        // Pulls between periods: cumulative, the merged row holding what
        // the expired /a recorded, as the view without the key does.
        for _ in 0..2 {
            let pulled = calls.pull();
            assert_eq!(
                value(&pulled, "demo/sum_by_path"),
                value(&pulled, "demo/sum_direct"),
                "pulled, period {period_number}: {pulled:?}"
            );
            assert_eq!(
                value(&pulled, "demo/sum_direct"),
                Some(5 + 2 * period_number)
            );
        }
        clock.advance(period);
        let Call::Export(batch) = calls.next_call() else {
            panic!("expected an export");
        };
        // Each period's delta is what that period recorded: the pulls
        // moved neither Delta's previous values nor DropTags' memory.
        let delta = value(&batch, "demo/sum_by_path").unwrap_or(0);
        assert_eq!(
            delta,
            value(&batch, "demo/sum_direct").unwrap_or(0),
            "period {period_number}"
        );
        assert_eq!(delta, if period_number == 1 { 7 } else { 2 });
        passed += delta;
    }
    assert_eq!(passed, 5 + 2 * 5);
    vm.shutdown();
    Ok(())
}
