//! `ConstTags::conflicts` and `Rename::conflicts` count once per view per
//! period. Pulls pass through the chain too, and must not count again: a
//! review found 20 conflicts after one export and 20 scrapes.

use std::sync::Arc;

use census_exporter_prometheus::PrometheusExporter;
use census_pipeline::{ConstTags, Pipeline, Rename};
use census_stats::ViewManager;

#[test]
fn scrapes_add_no_conflicts() -> Result<(), Box<dyn std::error::Error>> {
    let vm = ViewManager::new();
    let prometheus = PrometheusExporter::builder().build()?;
    // `format` is a key of the exporter's own scrape counter, whose views
    // registration never checks through the chain: a conflict each period.
    let tags = Arc::new(ConstTags::new([("format", "x")])?);
    // Its own views' names grow past 255 bytes and are refused: another
    // conflict each period.
    let rename = Arc::new(Rename::prefix("x".repeat(240))?);
    vm.register_exporter(
        Pipeline::new(prometheus.clone())
            .with(Arc::clone(&tags))
            .with(Arc::clone(&rename)),
    )?;
    // The final export has run the chain once it returns.
    vm.shutdown();
    let counted = || (tags.conflicts(), rename.conflicts());
    let after_one_period = counted();
    assert!(
        after_one_period.0 >= 1 && after_one_period.1 >= 1,
        "{after_one_period:?}"
    );
    for _ in 0..20 {
        let (_, text) = prometheus.render();
        assert!(text.contains("census_prometheus_scrapes_total"), "{text}");
    }
    assert_eq!(counted(), after_one_period);
    Ok(())
}
