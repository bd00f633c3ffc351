//! The endpoint's limits are set on the builder and checked by `build()`,
//! each refusal naming its setter.

use std::time::Duration;

use census_core::Error;
use census_exporter_prometheus::{PrometheusExporter, PrometheusExporterBuilder};

#[test]
fn unusable_limits_are_refused_by_name() {
    let cases: [(&str, PrometheusExporterBuilder); 5] = [
        (
            "max_connections",
            PrometheusExporter::builder().max_connections(0),
        ),
        (
            "render_threads",
            PrometheusExporter::builder().render_threads(0),
        ),
        (
            "read_timeout",
            PrometheusExporter::builder().read_timeout(Duration::ZERO),
        ),
        (
            "write_timeout",
            PrometheusExporter::builder().write_timeout(Duration::ZERO),
        ),
        (
            "max_header_bytes",
            PrometheusExporter::builder().max_header_bytes(512),
        ),
    ];
    for (setter, builder) in cases {
        match builder.build() {
            Err(Error::InvalidConfig { what, reason, .. }) => {
                assert_eq!(what, setter);
                assert!(reason.contains("default"), "{reason}");
            }
            other => panic!("{setter}: {other:?}"),
        }
    }
}

#[test]
fn usable_limits_build() -> Result<(), Error> {
    let exporter = PrometheusExporter::builder()
        .max_connections(1)
        .render_threads(1)
        .read_timeout(Duration::from_millis(1))
        .write_timeout(Duration::from_secs(60))
        .max_header_bytes(1024)
        .build()?;
    exporter.serve("127.0.0.1:0")?.stop();
    Ok(())
}

// Issue #16: `Duration::MAX` as "no timeout" overflowed the endpoint's
// deadline arithmetic; timeouts are at most a day, checked here.
#[test]
fn timeouts_past_a_day_are_refused_by_name() -> Result<(), Error> {
    let day = Duration::from_secs(24 * 60 * 60);
    for too_long in [Duration::MAX, day + Duration::from_nanos(1)] {
        let cases = [
            (
                "read_timeout",
                PrometheusExporter::builder().read_timeout(too_long),
            ),
            (
                "write_timeout",
                PrometheusExporter::builder().write_timeout(too_long),
            ),
        ];
        for (setter, builder) in cases {
            match builder.build() {
                Err(Error::InvalidConfig { what, reason, .. }) => {
                    assert_eq!(what, setter);
                    assert!(reason.contains("24h"), "{reason}");
                }
                other => panic!("{setter} {too_long:?}: {other:?}"),
            }
        }
    }
    let longest = PrometheusExporter::builder()
        .read_timeout(day)
        .write_timeout(day)
        .build()?;
    longest.serve("127.0.0.1:0")?.stop();
    Ok(())
}
