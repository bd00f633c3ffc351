//! The smallest complete census program: two measures, two views, the
//! stdout exporter, one record, a snapshot, and a draining shutdown that
//! prints both views.
//!
//! Run it with `cargo run --example quickstart`.

use census::{Aggregation, MeasureF64, MeasureI64, MeasurementMap, TagKey, TagMap, View};
use std::time::Duration;

fn main() -> Result<(), census::Error> {
    let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
    let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
    let method = TagKey::new("method")?;

    let vm = census::view_manager(); // the global singleton
    vm.register_view(
        View::builder("demo/latency_distribution", &latency)
            .description("latency by method")
            .tag_keys([method.clone()])
            .aggregation(Aggregation::distribution([0.0, 10.0, 100.0, 1000.0])?)
            .build()?,
    )?;
    vm.register_view(
        View::builder("demo/requests_total", &requests)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    vm.register_exporter(census::exporters::StdoutExporter::default())?;
    vm.set_reporting_period(Duration::from_secs(10));

    let tags = TagMap::new().with(&method, "GET")?;
    MeasurementMap::new()
        .put(&latency, 12.5)
        .put(&requests, 1)
        .record(&tags);

    let data = vm.retrieve_data("demo/requests_total")?; // a ViewData snapshot, now
    assert_eq!(data.rows.len(), 1);
    census::shutdown(); // final export of everything recorded, to every exporter; returns when done
    Ok(())
}
