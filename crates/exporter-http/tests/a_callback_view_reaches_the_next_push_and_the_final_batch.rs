//! A callback view is read for every batch the manager pushes: a reading
//! changed with nothing recorded reaches the next push, and the final
//! batch at shutdown carries the reading taken at shutdown (issue #12).

mod support;

use census_testkit::clocked_manager;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_exporter_http::HttpExporter;

use support::{Reply, TestServer};

/// The `last_value` of the `pool=a` row of view `pool/open` in a census.v1
/// body.
fn reading(body: &serde_json::Value) -> Option<String> {
    let view = body["views"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == "pool/open")?;
    let row = view["rows"]
        .as_array()?
        .iter()
        .find(|r| r["tags"]["pool"] == "a")?;
    row["last_value"].as_str().map(str::to_owned)
}

#[test]
fn pushes_carry_the_reading_of_their_snapshot() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url()).build()?;
    let open = MeasureI64::new("pool/open", "open connections", "1")?;
    let pool = TagKey::new("pool")?;
    let tags_a = TagMap::new().with(&pool, "a")?;
    let a = Arc::new(AtomicI64::new(0));
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let reader = Arc::clone(&a);
    vm.register_callback(
        View::builder("pool/open", &open)
            .tag_keys([pool.clone()])
            .aggregation(Aggregation::LastValue)
            .build()?,
        move |out| out.observe(&tags_a, reader.load(Relaxed)),
    )?;
    vm.register_exporter(http.clone())?;

    // Each period's push carries the reading stored before it.
    for want in [11, -23] {
        a.store(want, Relaxed);
        clock.advance(period);
        let request = server
            .next(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no push within 10 s of the period carrying {want}"));
        assert_eq!(reading(&request.json()), Some(want.to_string()));
    }

    // The final batch: the last request is the batch taken at shutdown.
    a.store(42, Relaxed);
    let report = vm.shutdown();
    assert!(report.is_complete(), "{report:?}");
    let last = server.drain().pop().expect("the final batch was pushed");
    assert_eq!(
        reading(&last.json()),
        Some("42".to_owned()),
        "{:#}",
        last.json()
    );
    let m = http.metrics();
    assert_eq!((m.pending, m.abandoned), (0, 0));
    Ok(())
}
