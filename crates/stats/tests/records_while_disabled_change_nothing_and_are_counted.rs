//! `set_enabled(false)` turns every record (maps and bound handles) into a
//! counted no-op, exports keep showing what was recorded while on, and
//! `set_enabled(true)` resumes into the same rows exactly (issue #12).

use std::time::Duration;

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::{find_view, rows_of, CapturingExporter};

#[test]
fn disabled_records_change_nothing_are_counted_and_recording_resumes_exactly(
) -> Result<(), census_core::Error> {
    let requests = MeasureI64::new("off/requests", "requests", "1")?;
    let latency = MeasureF64::new("off/latency", "latency", "ms")?;
    let method = TagKey::new("method")?;
    let get = TagMap::new().with(&method, "GET")?;
    let post = TagMap::new().with(&method, "POST")?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    for (name, agg) in [
        ("off/sum", Aggregation::Sum),
        ("off/count", Aggregation::Count),
        ("off/in_flight", Aggregation::UpDownSum),
    ] {
        vm.register_view(
            View::builder(name, &requests)
                .tag_keys([method.clone()])
                .aggregation(agg)
                .build()?,
        )?;
    }
    vm.register_view(
        View::builder("off/latency", &latency)
            .aggregation(Aggregation::distribution([10.0])?)
            .build()?,
    )?;
    let (capture, captured) = CapturingExporter::new();
    vm.register_exporter(capture)?;
    let bound = vm.bind(&requests, &post);

    assert!(vm.is_enabled());
    MeasurementMap::new().put(&requests, 5).record_to(&vm, &get);
    bound.record(2);
    let before: Vec<_> = ["off/sum", "off/count", "off/in_flight", "off/latency"]
        .iter()
        .map(|v| vm.retrieve_data(v).map(|d| (rows_of(&d), d.rows)))
        .collect::<Result<_, _>>()?;

    vm.set_enabled(false);
    assert!(!vm.is_enabled());
    MeasurementMap::new()
        .put(&requests, 100)
        .record_to(&vm, &get);
    MeasurementMap::new()
        .put(&requests, 100)
        .put(&latency, 3.0)
        .record_to(&vm, &post);
    // A new tag combination makes no row either.
    let put = TagMap::new().with(&method, "PUT")?;
    MeasurementMap::new()
        .put(&requests, 100)
        .record_to(&vm, &put);
    // Nor a map carrying an exemplar's attachments.
    MeasurementMap::new()
        .put(&latency, 7.0)
        .attach("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
        .record_to(&vm, &get);
    bound.record(100);
    bound.record(100);
    // Borrowed tags, into a row that exists, a new one, and with an
    // exemplar's attachments.
    for (text, attached) in [("GET", false), ("DELETE", false), ("GET", true)] {
        let values = MeasurementMap::new().put(&requests, 100);
        let values = if attached {
            values.attach("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
        } else {
            values
        };
        values.record_tags_to(&vm, &[(&method, text)]);
    }
    // Recording from other threads is refused and counted the same way.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..10 {
                    MeasurementMap::new()
                        .put(&requests, 100)
                        .record_to(&vm, &get);
                }
            });
        }
    });
    let after: Vec<_> = ["off/sum", "off/count", "off/in_flight", "off/latency"]
        .iter()
        .map(|v| vm.retrieve_data(v).map(|d| (rows_of(&d), d.rows)))
        .collect::<Result<_, _>>()?;
    assert_eq!(after, before, "a disabled record changed a view");
    let stats = vm.stats();
    assert_eq!(stats.disabled_records, 6 + 3 + 20);
    assert_eq!((stats.rejected_values, stats.dropped_attachments), (0, 0));
    // A pull (as a scrape takes it) shows the values recorded while on.
    let pulled = captured.pull();
    let sum = find_view(&pulled, "off/sum").map(rows_of);
    let want = vec![
        (vec!["GET".to_owned()], Some(5)),
        (vec!["POST".to_owned()], Some(2)),
    ];
    assert_eq!(sum, Some(want));

    vm.set_enabled(true);
    MeasurementMap::new().put(&requests, 7).record_to(&vm, &get);
    bound.record(-1);
    MeasurementMap::new()
        .put(&latency, 30.0)
        .record_to(&vm, &get);
    let sum = rows_of(&vm.retrieve_data("off/sum")?);
    assert_eq!(
        sum,
        vec![
            (vec!["GET".to_owned()], Some(12)),
            (vec!["POST".to_owned()], Some(1)),
        ]
    );
    let count = rows_of(&vm.retrieve_data("off/count")?);
    assert_eq!(
        count,
        vec![
            (vec!["GET".to_owned()], Some(2)),
            (vec!["POST".to_owned()], Some(2)),
        ]
    );
    assert_eq!(vm.stats().disabled_records, 29, "nothing counted while on");

    // The final batch, taken while disabled, shows the values as they were.
    vm.set_enabled(false);
    MeasurementMap::new()
        .put(&requests, 1000)
        .record_to(&vm, &get);
    vm.shutdown();
    let last = captured.last_export().unwrap_or_default();
    let sum = find_view(&last, "off/sum").map(rows_of);
    assert_eq!(
        sum,
        Some(vec![
            (vec!["GET".to_owned()], Some(12)),
            (vec!["POST".to_owned()], Some(1)),
        ])
    );
    Ok(())
}
