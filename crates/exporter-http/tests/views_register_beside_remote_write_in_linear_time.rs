//! Registering views beside a remote write exporter costs each view its
//! own check, not one per registered view: issue #16 asks that 10,000
//! views register "well under a second" in a release build, and the
//! exporter's name-clash check used to plan every registered view at
//! every registration (O(n²): 4,000 views took 4.5 s in a release build,
//! against 4 ms beside an OTLP exporter). The bound below is loose (a
//! debug build on a busy machine) and far under what the quadratic check
//! took. The check still refuses a clash, whatever came between, and
//! frees a name when its view is unregistered.

use std::time::{Duration, Instant};

use census_core::{Aggregation, Error, Exporter, MeasureI64, View};
use census_exporter_http::{HttpExporter, HttpFormat};
use census_stats::ViewManager;

const VIEWS: usize = 10_000;

fn sum_view(name: &str, m: &MeasureI64) -> Result<View, Error> {
    View::builder(name, m).aggregation(Aggregation::Sum).build()
}

#[test]
fn views_register_beside_remote_write_in_linear_time() -> Result<(), Box<dyn std::error::Error>> {
    let http = HttpExporter::builder("http://127.0.0.1:9/api/v1/write")
        .format(HttpFormat::PrometheusRemoteWrite)
        .self_metrics(true)
        .max_attempts(1)
        .build()?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3_600));
    vm.register_exporter(http.clone())?;
    let m = MeasureI64::new("m", "", "1")?;

    let started = Instant::now();
    for i in 0..VIEWS {
        vm.register_view(sum_view(&format!("app/v{i}"), &m)?)?;
    }
    let took = started.elapsed();
    println!("registering {VIEWS} views beside remote write took {took:?}");
    assert!(took < Duration::from_secs(5), "registering took {took:?}");

    // Clashes are still refused: with an early view, a late one, and the
    // exporter's own views.
    for clash in ["app.v0_total", "app.v9999", "census.http_exporter.sent"] {
        let refused = vm.register_view(sum_view(clash, &m)?);
        assert!(
            matches!(&refused, Err(Error::ViewRejected { .. })),
            "{clash}: {refused:?}"
        );
    }
    let message = match vm.register_view(
        View::builder("app:v5000", &m)
            .aggregation(Aggregation::LastValue)
            .build()?,
    ) {
        Err(e) => e.to_string(),
        Ok(()) => String::from("accepted"),
    };
    assert!(
        message.contains("\"app/v5000\"") && message.contains("app_v5000"),
        "{message}"
    );
    // An unregistered view frees its names, and a view between others is
    // checked against the rest as before.
    vm.unregister_view("app/v5000")?;
    vm.register_view(sum_view("app.v5000", &m)?)?;
    assert!(vm.register_view(sum_view("app_v5000_total", &m)?).is_err());
    assert!(vm.register_view(sum_view("app/v10000", &m)?).is_ok());

    // An exporter registered after the views checks them all the same.
    let late = HttpExporter::builder("http://127.0.0.1:9/api/v1/write")
        .format(HttpFormat::PrometheusRemoteWrite)
        .max_attempts(1)
        .build()?;
    let started = Instant::now();
    vm.register_exporter(late.clone())?;
    let took = started.elapsed();
    println!("registering a remote write exporter beside {VIEWS} views took {took:?}");
    assert!(took < Duration::from_secs(5), "registering took {took:?}");

    vm.shutdown();
    let _ = http.shutdown();
    let _ = late.shutdown();
    Ok(())
}
