//! Recording into rows that exist allocates nothing (issue #11), with the
//! tag map built per call from `&str` values the way a request handler
//! builds it, kept maps, values made by `from_static` and `new_lossy`, and
//! Sum, Count, Distribution and LastValue views. A counting global
//! allocator sees every allocation of this process's threads; the test
//! counts on one thread between two readings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use census::{
    Aggregation, MeasureF64, MeasurementMap, TagKey, TagMap, TagValue, View, ViewManager,
};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations count: the test harness's own
    /// threads allocate at any time.
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// SAFETY: every method forwards to the system allocator unchanged; the
// counter is a plain atomic on the side, and the thread-local read is a
// const-initialised Cell that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(|c| c.get()).unwrap_or(false) {
            // Relaxed: read on the counting thread after its own calls.
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTED.try_with(|c| c.get()).unwrap_or(false) {
            // Relaxed: as above.
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNTED.with(|c| c.set(true));
    // Relaxed: only this thread adds while it is counted.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(false));
    after - before
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
