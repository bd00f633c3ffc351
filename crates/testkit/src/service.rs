//! A small service's views and records with known results, for the tests
//! that read values back through a real Prometheus (scraped, or by remote
//! write): both assert the same numbers.

use census_core::{Aggregation, Error, MeasureF64, MeasureI64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

/// Registers three views in `vm` and records into them:
///
/// - `e2e/requests`, Count by `method`: GET 7, POST 1;
/// - `e2e/in_flight`, LastValue, untagged: 9 then 3, so 3;
/// - `e2e/latency`, Distribution over bounds 10, 20, 50, 100, with GET:
///   5, 12, 15, 19 and 30 ms (count 5, sum 81). Buckets le=10: 1, le=20: 4,
///   le=50: 5: the median's rank, 2.5, lies inside (10, 20], whose count
///   rises from 1 to 4, so Prometheus interpolates 10 + 10 × 1.5 / 3 = 15.
pub fn record_sample_service(vm: &ViewManager) -> Result<(), Error> {
    let method = TagKey::new("method")?;
    let requests = MeasureI64::new("e2e/requests", "requests served", "1")?;
    let in_flight = MeasureI64::new("e2e/in_flight", "requests in flight", "1")?;
    let latency = MeasureF64::new("e2e/latency", "request latency in ms", "ms")?;
    vm.register_view(
        View::builder("e2e/requests", &requests)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("e2e/in_flight", &in_flight)
            .aggregation(Aggregation::LastValue)
            .build()?,
    )?;
    vm.register_view(
        View::builder("e2e/latency", &latency)
            .aggregation(Aggregation::distribution([10.0, 20.0, 50.0, 100.0])?)
            .build()?,
    )?;
    let get = TagMap::new().with(&method, "GET")?;
    let post = TagMap::new().with(&method, "POST")?;
    for _ in 0..7 {
        MeasurementMap::new().put(&requests, 1).record_to(vm, &get);
    }
    MeasurementMap::new().put(&requests, 1).record_to(vm, &post);
    for v in [9, 3] {
        MeasurementMap::new()
            .put(&in_flight, v)
            .record_to(vm, &TagMap::new());
    }
    for v in [5.0, 12.0, 15.0, 19.0, 30.0] {
        MeasurementMap::new().put(&latency, v).record_to(vm, &get);
    }
    Ok(())
}
