//! An exporter's checks apply whatever the registration order (issue #16,
//! finding 3). Registered after the views, as the README shows, the
//! Prometheus exporter used to accept `app/requests` beside
//! `app.requests`, and one of them was silently missing from every
//! scrape; registered first, the second view was refused. Now registering
//! the exporter checks every view already registered and refuses the
//! exporter naming the clash. What can still only be caught at a scrape
//! (another exporter's own metrics, which no registration checks) is left
//! out and counted in that very scrape's `census_prometheus_omitted_views`.

mod support;

use std::sync::Arc;

use census_core::{
    Aggregation, AggregationData, Error, ExportError, Exporter, MeasureF64, Producer, Row, TagMap,
    View, ViewData,
};
use census_exporter_prometheus::PrometheusExporter;
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::at;
use support::{parse, view, TestResult};

#[test]
fn a_clash_among_views_registered_first_refuses_the_exporter() -> TestResult {
    let vm = ViewManager::new();
    vm.register_view(view("app/requests", "", &[], Aggregation::Count))?;
    vm.register_view(view("app.requests", "", &[], Aggregation::Sum))?;
    let prometheus = PrometheusExporter::builder().build()?;
    match vm.register_exporter(prometheus.clone()) {
        Err(Error::ViewRejected { view, reason }) => {
            // The later view is the one refused, as if it had been
            // registered after the exporter.
            assert_eq!(view, "app.requests");
            assert!(reason.contains("\"app/requests\""), "{reason}");
        }
        other => panic!("the exporter was accepted: {other:?}"),
    }
    // Not registered: it was never attached.
    assert!(prometheus.render().1.is_empty());
    vm.unregister_view("app.requests")?;
    vm.register_exporter(prometheus.clone())?;
    let measure = MeasureF64::new("m/app/requests", "", "1")?;
    MeasurementMap::new()
        .put(&measure, 1.0)
        .record_to(&vm, &TagMap::new());
    let parsed = parse(&prometheus.render().1, false)?;
    assert_eq!(parsed.find("app_requests_total", &[]), Some(1.0));
    vm.shutdown();
    Ok(())
}

/// Contributes a view about itself that no registration checks.
struct OwnMetrics(Arc<dyn Producer>);

struct Clashing;

impl Producer for Clashing {
    fn produce(&self) -> Vec<ViewData> {
        let clash = view(
            "app.requests",
            "another exporter's",
            &[],
            Aggregation::Count,
        );
        let row = Row::new(vec![], AggregationData::Count(7), at(1));
        vec![ViewData::new(clash, at(1), at(2), vec![row])]
    }
}

impl Exporter for OwnMetrics {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Ok(())
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        Some(Arc::clone(&self.0))
    }
}

#[test]
fn a_view_left_out_of_a_scrape_is_counted_in_that_scrape() -> TestResult {
    let vm = ViewManager::new();
    let requests: View = view("app/requests", "", &[], Aggregation::Count);
    vm.register_view(requests)?;
    let prometheus = PrometheusExporter::builder().build()?;
    vm.register_exporter(prometheus.clone())?;
    vm.register_exporter(OwnMetrics(Arc::new(Clashing)))?;
    let measure = MeasureF64::new("m/app/requests", "", "1")?;
    MeasurementMap::new()
        .put(&measure, 1.0)
        .record_to(&vm, &TagMap::new());
    let body = prometheus.render().1;
    let parsed = parse(&body, false)?;
    // The registered view keeps the name; the other exporter's is left out.
    assert_eq!(parsed.find("app_requests_total", &[]), Some(1.0), "{body}");
    assert_eq!(
        parsed.find("census_prometheus_omitted_views", &[]),
        Some(1.0),
        "{body}"
    );
    vm.shutdown();
    Ok(())
}
