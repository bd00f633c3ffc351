//! Views whose Prometheus names would clash are refused when they are
//! registered (through `Exporter::check_view`), with a message naming both
//! sides, and a clash that slipped in before the exporter was registered is
//! left out of scrapes, never written as a duplicate family.

mod support;

use census_core::{Aggregation, AggregationData, Exporter, Row, ViewData};
use census_exporter_prometheus::PrometheusExporter;
use census_testkit::{at, FakeProducer};
use support::{parse, view, TestResult};

fn refusal(
    exporter: &PrometheusExporter,
    new: &census_core::View,
    registered: &[census_core::View],
) -> String {
    match exporter.check_view(new, registered) {
        Ok(()) => panic!("view {:?} was accepted", new.name()),
        Err(err) => err.to_string(),
    }
}

#[test]
fn two_views_with_one_metric_name_are_refused_naming_both() -> TestResult {
    let exporter = PrometheusExporter::builder().namespace("app").build()?;
    let first = view("http.requests", "", &[], Aggregation::Count);
    let second = view("http/requests", "", &[], Aggregation::Sum);
    let msg = refusal(&exporter, &second, std::slice::from_ref(&first));
    assert!(
        msg.contains("\"http.requests\"") && msg.contains("\"http/requests\""),
        "{msg}"
    );
    assert!(msg.contains("app_http_requests"), "{msg}");
    // A histogram's sample names are taken too.
    let histogram = view("lat", "", &[], Aggregation::distribution([1.0])?);
    let gauge = view("lat_count", "", &[], Aggregation::LastValue);
    let msg = refusal(&exporter, &gauge, &[histogram]);
    assert!(
        msg.contains("\"lat\"") && msg.contains("\"lat_count\""),
        "{msg}"
    );
    // Unrelated names pass; the same view again is the manager's business.
    exporter.check_view(
        &view("other", "", &[], Aggregation::Count),
        std::slice::from_ref(&first),
    )?;
    exporter.check_view(&first, std::slice::from_ref(&first))?;
    Ok(())
}

#[test]
fn label_clashes_are_refused_naming_the_keys() -> TestResult {
    let exporter = PrometheusExporter::builder()
        .const_label("service", "checkout")?
        .build()?;
    let cases = [
        (vec!["http.method", "http-method"], "\"http_method\""),
        (vec!["le"], "\"le\""),
        (vec!["quantile"], "\"quantile\""),
        (vec!["census_overflow"], "\"census_overflow\""),
        (vec!["__name__"], "\"__name__\""),
        (vec!["service"], "constant label"),
    ];
    for (keys, expected) in cases {
        let v = view("v", "", &keys, Aggregation::Count);
        let msg = refusal(&exporter, &v, &[]);
        assert!(
            msg.contains(expected) && msg.contains("\"v\""),
            "{keys:?}: {msg}"
        );
    }
    Ok(())
}

#[test]
fn views_clashing_with_the_exporters_own_metrics_are_refused() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let v = view("census/prometheus/scrapes", "", &[], Aggregation::Sum);
    let msg = refusal(&exporter, &v, &[]);
    assert!(msg.contains("census_prometheus_scrapes"), "{msg}");
    Ok(())
}

#[test]
fn bad_configuration_is_refused_with_the_value() -> TestResult {
    for bad in ["my-app", "9app", "a b"] {
        match PrometheusExporter::builder().namespace(bad).build() {
            Err(census_core::Error::InvalidConfig { what, value, .. }) => {
                assert_eq!((what.as_str(), value.as_str()), ("namespace", bad));
            }
            other => panic!("namespace {bad:?} gave {other:?}"),
        }
    }
    for bad in ["le", "quantile", "census_overflow", "__x", "a-b", "", "1a"] {
        let err = PrometheusExporter::builder()
            .const_label(bad, "v")
            .err()
            .ok_or(format!("constant label {bad:?} was accepted"))?;
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
    let twice = PrometheusExporter::builder()
        .const_label("a", "1")?
        .const_label("a", "2");
    assert!(twice.is_err());
    Ok(())
}

#[test]
fn clashing_views_already_registered_are_left_out_of_scrapes() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let row = |n| Row::new(vec![], AggregationData::Count(n), at(1));
    let first = view("a.b", "first", &[], Aggregation::Count);
    let second = view("a/b", "second", &[], Aggregation::Count);
    let bad_labels = view("c", "bad", &["x.y", "x-y"], Aggregation::Count);
    let fine = view("d", "fine", &[], Aggregation::Count);
    FakeProducer::attach(
        &exporter,
        vec![
            ViewData::new(first, at(1), at(2), vec![row(1)]),
            ViewData::new(second, at(1), at(2), vec![row(2)]),
            ViewData::new(bad_labels, at(1), at(2), vec![row(3)]),
            ViewData::new(fine, at(1), at(2), vec![row(4)]),
        ],
    );
    let (_, body) = exporter.render();
    let parsed = parse(&body, false)?;
    assert_eq!(parsed.find("a_b_total", &[]), Some(1.0), "{body}");
    assert_eq!(parsed.find("d_total", &[]), Some(4.0), "{body}");
    assert_eq!(parsed.families.len(), 2, "{body}");
    // The omission is counted in the exporter's own metrics.
    let own = exporter
        .self_metrics()
        .ok_or("the exporter contributes metrics about itself")?
        .produce();
    let omitted = own
        .iter()
        .find(|d| d.view.name() == "census/prometheus/omitted_views")
        .ok_or("omitted_views is reported")?;
    assert_eq!(
        omitted.rows[0].data,
        AggregationData::LastValue(census_core::Number::Int(2))
    );
    Ok(())
}

#[test]
fn a_view_manager_turns_the_refusal_into_view_rejected() -> TestResult {
    let vm = census_stats::ViewManager::new();
    vm.register_exporter(PrometheusExporter::builder().build()?)?;
    vm.register_view(view("api.calls", "", &["route"], Aggregation::Count))?;
    let err = vm
        .register_view(view("api/calls", "", &[], Aggregation::Count))
        .err()
        .ok_or("the clashing view was registered")?;
    match &err {
        census_core::Error::ViewRejected { view, reason } => {
            assert_eq!(view, "api/calls");
            assert!(reason.contains("\"api.calls\""), "{reason}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let err = vm
        .register_view(view("lat", "", &["le"], Aggregation::distribution([1.0])?))
        .err()
        .ok_or("a view with an le tag key was registered")?;
    assert!(err.to_string().contains("\"le\""), "{err}");
    assert_eq!(vm.views().len(), 1);
    vm.shutdown();
    Ok(())
}
