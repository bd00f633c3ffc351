//! A callback view is read at each scrape: with nothing recorded, two
//! consecutive scrapes of the endpoint show the value its callback reads
//! at that moment (issue #12).

mod support;

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::ViewManager;
use support::{get, parse, TestResult};

/// What a scrape says: the gauge, the counter, and the gauge's type.
type Scraped = (Option<f64>, Option<f64>, Option<String>);

#[test]
fn two_scrapes_show_two_readings() -> TestResult {
    let vm = ViewManager::new();
    // No tick will come during the test: only scrapes call the callbacks.
    vm.set_reporting_period(Duration::from_secs(3600));
    let depth = MeasureI64::new("queue/depth", "jobs waiting", "1")?;
    let opened = MeasureI64::new("queue/jobs", "jobs queued", "1")?;
    let queue = TagKey::new("queue")?;
    let mail = TagMap::new().with(&queue, "mail")?;
    let exporter = PrometheusExporter::builder().build()?;
    vm.register_exporter(exporter.clone())?;
    let endpoint = exporter.serve("127.0.0.1:0")?;

    let level = Arc::new(AtomicI64::new(0));
    let total = Arc::new(AtomicI64::new(0));
    let (l, t) = (Arc::clone(&level), Arc::clone(&total));
    let tags = mail.clone();
    vm.register_callback(
        View::builder("queue/depth", &depth)
            .tag_keys([queue.clone()])
            .aggregation(Aggregation::LastValue)
            .build()?,
        move |out| out.observe(&tags, l.load(Relaxed)),
    )?;
    vm.register_callback(
        View::builder("queue/jobs", &opened)
            .tag_keys([queue.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
        move |out| out.observe(&mail, t.load(Relaxed)),
    )?;

    let scrape = || -> Result<Scraped, String> {
        let body = get(&endpoint.url(), None).map_err(|e| e.to_string())?.body;
        let parsed = parse(&body, false)?;
        Ok((
            parsed.find("queue_depth", &[("queue", "mail")]),
            parsed.find("queue_jobs_total", &[("queue", "mail")]),
            parsed.kind("queue_depth").map(str::to_owned),
        ))
    };
    level.store(17, Relaxed);
    total.store(100, Relaxed);
    assert_eq!(scrape()?, (Some(17.0), Some(100.0), Some("gauge".into())));
    level.store(4, Relaxed);
    total.store(130, Relaxed);
    assert_eq!(scrape()?, (Some(4.0), Some(130.0), Some("gauge".into())));
    vm.shutdown();
    Ok(())
}
