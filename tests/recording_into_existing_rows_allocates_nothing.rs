//! Recording into rows that exist allocates nothing (issue #11), with the
//! tag map built per call from `&str` values the way a request handler
//! builds it, kept maps, values made by `from_static` and `new_lossy`, and
//! Sum, Count, Distribution and LastValue views. A counting global
//! allocator sees every allocation of this process's threads; each test
//! counts its own thread's, so the tests of this file can run at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use census::{
    Aggregation, MeasureF64, MeasurementMap, TagKey, TagMap, TagValue, View, ViewManager,
};

struct Counting;

thread_local! {
    /// This thread's allocations while it counts, `None` while it does
    /// not: the test harness's own threads allocate at any time.
    static COUNTED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Adds one to this thread's count, if it is counting.
fn count() {
    let _ = COUNTED.try_with(|c| c.set(c.get().map(|n| n + 1)));
}

// SAFETY: every method forwards to the system allocator unchanged; the
// count is a const-initialised thread-local Cell on the side, which never
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNTED.with(|c| c.set(Some(0)));
    f();
    COUNTED.with(|c| c.take()).unwrap_or(0)
}

#[test]
fn records_into_existing_rows_allocate_nothing() -> Result<(), census::Error> {
    let latency = MeasureF64::new("alloc/latency", "latency", "s")?;
    let [method, route, status] = ["method", "route", "status"].map(TagKey::new);
    let (method, route, status) = (method?, route?, status?);
    let vm = ViewManager::new();
    let keys = [method.clone(), route.clone(), status.clone()];
    for (name, aggregation) in [
        ("alloc/sum", Aggregation::Sum),
        ("alloc/count", Aggregation::Count),
        ("alloc/last", Aggregation::LastValue),
        (
            "alloc/distribution",
            Aggregation::distribution([0.005, 0.01, 0.1, 1.0, 10.0])?,
        ),
    ] {
        vm.register_view(
            View::builder(name, &latency)
                .tag_keys(keys.clone())
                .aggregation(aggregation)
                .build()?,
        )?;
    }
    let requests: Vec<(String, String, u16)> = (0..50)
        .map(|i| {
            let method = ["GET", "POST", "DELETE"][i % 3].to_owned();
            // Up to 23 bytes: kept inline.
            let route = format!("/api/v1/users/{{id}}/{}", i % 5);
            (method, route, [200, 404, 500][i % 3])
        })
        .collect();
    let record = |(m, r, s): &(String, String, u16)| -> Result<(), census::Error> {
        let status_value = match s {
            200 => TagValue::from_static("200"),
            404 => TagValue::from_static("404"),
            _ => TagValue::new_lossy("500"),
        };
        let tags = TagMap::new()
            .with(&method, m.as_str())?
            .with(&route, r)?
            .with_value(&status, status_value);
        MeasurementMap::new()
            .put(&latency, 0.012)
            .record_to(&vm, &tags);
        Ok(())
    };
    // The first records make this thread's rows and shares.
    for request in &requests {
        record(request)?;
    }
    let mut result = Ok(());
    let built = allocations(|| {
        for _ in 0..20 {
            for request in &requests {
                if let Err(err) = record(request) {
                    result = Err(err);
                }
            }
        }
    });
    result?;
    assert_eq!(built, 0, "maps built per call");
    let kept: Vec<TagMap> = requests
        .iter()
        .map(|(m, r, s)| {
            TagMap::new()
                .with(&method, m)?
                .with(&route, r)?
                .with(&status, s.to_string())
        })
        .collect::<Result<_, _>>()?;
    let reused = allocations(|| {
        for _ in 0..20 {
            for tags in &kept {
                MeasurementMap::new()
                    .put(&latency, 0.5)
                    .record_to(&vm, tags);
            }
        }
    });
    assert_eq!(reused, 0, "kept maps");
    // The counter counts: a record that must make a row allocates.
    let fresh = TagMap::new().with(&route, "/a/route/never/seen")?;
    let new_row = allocations(|| {
        MeasurementMap::new()
            .put(&latency, 1.0)
            .record_to(&vm, &fresh)
    });
    assert!(new_row > 0, "a new row allocates: {new_row}");
    let data = vm.retrieve_data("alloc/count")?;
    let total: u64 = data
        .rows
        .iter()
        .map(|r| match r.data {
            census::AggregationData::Count(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 50 * 21 + 50 * 20 + 1);
    Ok(())
}

// Issue #13: recording under the current tag context, and with a trace id
// attached once the bucket holds an exemplar of the same size, allocates
// nothing either; a first exemplar does (its slots are made lazily).
#[test]
fn records_under_the_context_or_with_a_trace_id_allocate_nothing() -> Result<(), census::Error> {
    let latency = MeasureF64::new("alloc/latency", "latency", "s")?;
    let route = TagKey::new("route")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("alloc/exemplars", &latency)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::distribution([0.01, 0.1, 1.0])?)
            .build()?,
    )?;
    let tags = TagMap::new().with(&route, "/cart")?;
    let ids: Vec<String> = (0..100).map(|i| format!("{i:032x}")).collect();
    let first = allocations(|| {
        MeasurementMap::new()
            .put(&latency, 0.05)
            .record_to(&vm, &tags);
    });
    assert!(first > 0, "the row's first record makes it: {first}");
    let first_exemplar = allocations(|| {
        MeasurementMap::new()
            .put(&latency, 0.05)
            .attach("trace_id", &ids[0])
            .record_to(&vm, &tags);
    });
    assert!(first_exemplar > 0, "the first exemplar makes its slots");
    let attached = allocations(|| {
        for id in &ids {
            MeasurementMap::new()
                .put(&latency, 0.05)
                .attach("trace_id", id)
                .record_to(&vm, &tags);
        }
    });
    assert_eq!(attached, 0, "records with a trace id into a kept bucket");
    let in_context = allocations(|| {
        census::tags::scope(&tags, || {
            // Entering the scope above clones the map, inline: no heap.
            for _ in 0..100 {
                MeasurementMap::new()
                    .put(&latency, 0.5)
                    .record_current_to(&vm);
            }
        })
    });
    assert_eq!(in_context, 0, "records under the current context");
    let data = vm.retrieve_data("alloc/exemplars")?;
    assert_eq!(data.rows.len(), 1);
    let row = &data.rows[0];
    assert_eq!(row.exemplars.len(), 1);
    assert_eq!(
        row.exemplars[0].attachment("trace_id"),
        Some(ids[99].as_str())
    );
    Ok(())
}

// Borrowed tags (`record_tags_to`) find an existing row without making a
// value, so even text too long to keep inline allocates nothing; the same
// text in a map built per call makes a shared copy each time.
#[test]
fn borrowed_tags_allocate_nothing_however_long_the_text() -> Result<(), census::Error> {
    let latency = MeasureF64::new("alloc/latency", "latency", "s")?;
    let (method, route) = (TagKey::new("method")?, TagKey::new("route")?);
    let vm = ViewManager::new();
    for (name, aggregation) in [
        ("alloc/borrowed_sum", Aggregation::Sum),
        (
            "alloc/borrowed_distribution",
            Aggregation::distribution([0.01, 0.1, 1.0])?,
        ),
    ] {
        vm.register_view(
            View::builder(name, &latency)
                .tag_keys([method.clone(), route.clone()])
                .aggregation(aggregation)
                .build()?,
        )?;
    }
    let routes: Vec<String> = (0..20)
        .map(|i| match (i, i % 3) {
            (0, _) => String::new(),
            (_, 0) => format!("/r{i}"),
            (_, 1) => format!("/exactly/23/bytes/{i:05}"),
            _ => format!("/api/v1/organisations/{{org}}/projects/{{project}}/{i}"),
        })
        .collect();
    let record = |r: &String, value: f64| {
        MeasurementMap::new()
            .put(&latency, value)
            .record_tags_to(&vm, &[(&method, "GET"), (&route, r)]);
    };
    for r in &routes {
        record(r, 0.5);
    }
    let borrowed = allocations(|| {
        for _ in 0..20 {
            for r in &routes {
                record(r, 0.25);
            }
        }
    });
    assert_eq!(borrowed, 0, "borrowed tags into existing rows");
    assert_eq!(routes[1].len(), 23);
    // The counter counts: a long value in a map built per call is copied.
    let long = &routes[2];
    assert!(long.len() > 23);
    let built = allocations(|| {
        if let Ok(tags) = TagMap::new().with(&route, long) {
            MeasurementMap::new()
                .put(&latency, 1.0)
                .record_to(&vm, &tags);
        }
    });
    assert!(built > 0, "a long value in a built map allocates: {built}");
    let data = vm.retrieve_data("alloc/borrowed_sum")?;
    assert_eq!(data.rows.len(), routes.len() + 1);
    for row in &data.rows {
        if row.tags[0].is_some() {
            assert_eq!(
                row.data,
                census::AggregationData::Sum((0.5 + 20.0 * 0.25).into())
            );
        }
    }
    Ok(())
}

// A view of more than eight keys projects a record's values past the
// stack array the usual views use; up to 32 keys that is still on the
// stack, for kept maps and borrowed tags alike.
#[test]
fn views_of_many_keys_allocate_nothing_either() -> Result<(), census::Error> {
    let latency = MeasureF64::new("alloc/latency", "latency", "s")?;
    let keys: Vec<TagKey> = (0..12)
        .map(|i| TagKey::new(format!("wide_{i}")))
        .collect::<Result<_, _>>()?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("alloc/wide", &latency)
            .tag_keys(keys.clone())
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let texts: Vec<String> = (0..12).map(|i| format!("v{i}")).collect();
    let map = keys
        .iter()
        .zip(&texts)
        .try_fold(TagMap::new(), |map, (k, v)| map.with(k, v))?;
    let pairs: Vec<(&TagKey, &str)> = keys.iter().zip(texts.iter().map(String::as_str)).collect();
    MeasurementMap::new()
        .put(&latency, 1.0)
        .record_to(&vm, &map);
    let kept = allocations(|| {
        for _ in 0..100 {
            MeasurementMap::new()
                .put(&latency, 1.0)
                .record_to(&vm, &map);
        }
    });
    assert_eq!(kept, 0, "a kept map of 12 tags into a 12-key view");
    let borrowed = allocations(|| {
        for _ in 0..100 {
            MeasurementMap::new()
                .put(&latency, 1.0)
                .record_tags_to(&vm, &pairs);
        }
    });
    assert_eq!(borrowed, 0, "12 borrowed tags into a 12-key view");
    let data = vm.retrieve_data("alloc/wide")?;
    assert_eq!(data.rows.len(), 1);
    assert_eq!(
        data.rows[0].data,
        census::AggregationData::Sum(201.0.into())
    );
    Ok(())
}
