//! Each bucket of a Distribution row keeps the most recent value recorded
//! into it with attachments, whichever thread recorded it; values without
//! attachments (or with all of theirs dropped) leave exemplars alone; other
//! views keep none; attachments past the limits are dropped and counted
//! (issue #13).

use std::sync::mpsc;
use std::time::SystemTime;

use census_core::{Aggregation, Exemplar, MeasureF64, Row, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

fn setup() -> Result<(ViewManager, MeasureF64, TagKey), census_core::Error> {
    let latency = MeasureF64::new("t/latency", "latency", "ms")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("t/latency", &latency)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::distribution([10.0, 100.0])?)
            .row_limit(2)
            .build()?,
    )?;
    vm.register_view(
        View::builder("t/latency_sum", &latency)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    Ok((vm, latency, route))
}

fn ids(row: &Row) -> Vec<(f64, &str)> {
    row.exemplars
        .iter()
        .map(|e| (e.value, e.attachment("trace_id").unwrap_or("-")))
        .collect()
}

fn the_row<'a>(rows: &'a [Row], route: Option<&str>) -> &'a Row {
    rows.iter()
        .find(|r| !r.overflow && r.tags[0].as_ref().map(|v| v.as_str()) == route)
        .unwrap_or_else(|| panic!("no row {route:?} in {rows:?}"))
}

#[test]
fn each_bucket_keeps_its_most_recent_exemplar() -> Result<(), Box<dyn std::error::Error>> {
    let (vm, latency, route) = setup()?;
    let cart = TagMap::new().with(&route, "/cart")?;
    let record = |v: f64, id: Option<&str>| {
        let map = MeasurementMap::new().put(&latency, v);
        match id {
            Some(id) => map.attach("trace_id", id).record_to(&vm, &cart),
            None => map.record_to(&vm, &cart),
        }
    };
    let before = SystemTime::now();
    record(5.0, Some("first"));
    record(50.0, Some("middle"));
    record(500.0, Some("top"));
    // A later value in bucket 0 replaces its exemplar; one without
    // attachments does not, and a bound belongs to its own bucket.
    record(10.0, Some("later"));
    record(8.0, None);
    let after = SystemTime::now();

    let data = vm.retrieve_data("t/latency")?;
    let row = the_row(&data.rows, Some("/cart"));
    assert_eq!(
        ids(row),
        vec![(10.0, "later"), (50.0, "middle"), (500.0, "top")]
    );
    assert!(row
        .exemplars
        .iter()
        .all(|e| before <= e.time && e.time <= after));
    assert!(row.exemplars.windows(2).all(|w| w[0].value < w[1].value));
    // The Sum view of the same measure took the values and no exemplar.
    let sums = vm.retrieve_data("t/latency_sum")?;
    assert!(sums.rows.iter().all(|r| r.exemplars.is_empty()));

    // Across threads: the later record wins, whoever made it.
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(|| {
            record(2.0, Some("thread-a"));
            let _ = tx.send(());
        });
        s.spawn(move || {
            // Recorded only once thread A's record has returned.
            let _ = rx.recv();
            record(3.0, Some("thread-b"));
        });
    });
    let data = vm.retrieve_data("t/latency")?;
    let row = the_row(&data.rows, Some("/cart"));
    assert_eq!(ids(row)[0], (3.0, "thread-b"));

    // Rows that never received attachments have none.
    MeasurementMap::new()
        .put(&latency, 1.0)
        .record_to(&vm, &TagMap::new());
    let data = vm.retrieve_data("t/latency")?;
    assert!(the_row(&data.rows, None).exemplars.is_empty());

    // The view is full (row limit 2): a new combination folds into the
    // overflow row, which keeps the exemplar too.
    let other = TagMap::new().with(&route, "/other")?;
    MeasurementMap::new()
        .put(&latency, 70.0)
        .attach("trace_id", "folded")
        .record_to(&vm, &other);
    let data = vm.retrieve_data("t/latency")?;
    let overflow: Vec<&Row> = data.rows.iter().filter(|r| r.overflow).collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(ids(overflow[0]), vec![(70.0, "folded")]);
    assert_eq!(vm.stats().dropped_attachments, 0);
    vm.shutdown();
    Ok(())
}

#[test]
fn attachments_past_the_limits_are_dropped_and_counted() -> Result<(), Box<dyn std::error::Error>> {
    let (vm, latency, route) = setup()?;
    let tags = TagMap::new().with(&route, "/cart")?;
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let mut map = MeasurementMap::new().put(&latency, 1.0);
    for key in &keys {
        map = map.attach(key, "v");
    }
    map.record_to(&vm, &tags);
    assert_eq!(vm.stats().dropped_attachments, 2, "past the first 8");
    let long = "x".repeat(250);
    MeasurementMap::new()
        .put(&latency, 20.0)
        .attach("trace_id", "abc")
        .attach("note", &long)
        .attach("span_id", "def")
        .record_to(&vm, &tags);
    // The note passes 256 bytes: it and everything after it are dropped.
    assert_eq!(vm.stats().dropped_attachments, 4);
    let data = vm.retrieve_data("t/latency")?;
    let row = the_row(&data.rows, Some("/cart"));
    let kept: Vec<&Exemplar> = row.exemplars.iter().collect();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].attachments.len(), 8);
    assert_eq!(kept[0].attachments[7], ("k7".to_owned(), "v".to_owned()));
    assert_eq!(
        kept[1].attachments,
        vec![("trace_id".to_owned(), "abc".to_owned())]
    );
    // A value whose only attachment is dropped records as one without any:
    // the bucket keeps its exemplar and trace link (it used to be replaced
    // by an exemplar with no attachments).
    MeasurementMap::new()
        .put(&latency, 30.0)
        .attach("note", &"y".repeat(300))
        .record_to(&vm, &tags);
    assert_eq!(vm.stats().dropped_attachments, 5);
    let data = vm.retrieve_data("t/latency")?;
    let row = the_row(&data.rows, Some("/cart"));
    assert_eq!(ids(row), [(1.0, "-"), (20.0, "abc")]);
    vm.shutdown();
    Ok(())
}
