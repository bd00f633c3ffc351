//! The OTLP formats mark the overflow row with the attribute
//! `otel.metric.overflow`; a tag of that key (a view's own, or a constant
//! a pipeline adds) would repeat it on that point, which OTLP forbids (a
//! QA pass got a body with the key twice). Registration refuses it, naming
//! the key; census.v1 JSON, which has no such attribute, takes it.

mod support;

use census_core::{Aggregation, Error, MeasureI64, TagKey, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_pipeline::{ConstTags, Pipeline};
use census_stats::ViewManager;
use support::closed_port;

fn exporter(format: HttpFormat) -> Result<HttpExporter, Error> {
    HttpExporter::builder(format!("http://{}/v1/metrics", closed_port()))
        .format(format)
        .build()
}

#[test]
fn otlp_refuses_the_overflow_attribute_as_a_tag_key() -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("jobs", "", "1")?;
    let view = View::builder("jobs", &m)
        .tag_keys([TagKey::new("otel.metric.overflow")?])
        .aggregation(Aggregation::Sum)
        .build()?;
    for format in [HttpFormat::OtlpJson, HttpFormat::OtlpProtobuf] {
        let vm = ViewManager::new();
        vm.register_exporter(exporter(format)?)?;
        let err = vm.register_view(view.clone()).err().ok_or("refused")?;
        assert!(err.to_string().contains("otel.metric.overflow"), "{err}");
        vm.shutdown();
    }
    // A constant tag a pipeline adds, to a view registered before it.
    let plain = View::builder("jobs", &m)
        .aggregation(Aggregation::Sum)
        .build()?;
    let vm = ViewManager::new();
    vm.register_view(plain)?;
    let constant = ConstTags::new([("otel.metric.overflow", "no")])?;
    let refused =
        vm.register_exporter(Pipeline::new(exporter(HttpFormat::OtlpJson)?).with(constant));
    assert!(refused.is_err(), "{refused:?}");
    // census.v1 JSON takes the key.
    vm.register_exporter(exporter(HttpFormat::Json)?)?;
    vm.shutdown();
    let vm = ViewManager::new();
    vm.register_exporter(exporter(HttpFormat::Json)?)?;
    vm.register_view(view)?;
    vm.shutdown();
    Ok(())
}
