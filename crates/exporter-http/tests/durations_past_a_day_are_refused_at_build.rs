//! Every duration the exporter takes is at most a day, checked in
//! `build()` (issue #16, finding 7): `timeout(Duration::MAX)` used to kill
//! the sender thread on `Instant + Duration` overflow, so batches piled
//! up undelivered, and `shutdown_deadline(Duration::MAX)` did the same at
//! shutdown. The longest allowed values still deliver.

mod support;

use std::time::Duration;

use census_core::{Error, Exporter};
use census_exporter_http::{HttpExporter, HttpExporterBuilder};
use support::{sample_batch, Reply, TestServer};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn refused(builder: HttpExporterBuilder) -> String {
    match builder.build() {
        Err(Error::InvalidConfig { what, reason, .. }) => {
            assert!(
                reason.contains("24h") || reason.contains("a day"),
                "{reason}"
            );
            what
        }
        Err(other) => panic!("expected InvalidConfig, got {other:?}"),
        Ok(http) => {
            let _ = http.shutdown();
            panic!("{http:?} was built")
        }
    }
}

#[test]
fn durations_past_a_day_are_refused_naming_the_setting() {
    let b = || HttpExporter::builder("http://127.0.0.1:9/");
    for too_long in [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        DAY + Duration::from_nanos(1),
    ] {
        assert_eq!(refused(b().timeout(too_long)), "timeout");
        assert_eq!(
            refused(b().shutdown_deadline(too_long)),
            "shutdown_deadline"
        );
        assert_eq!(refused(b().backoff_cap(too_long)), "backoff_cap");
        assert_eq!(
            refused(b().backoff_base(too_long).backoff_cap(too_long)),
            "backoff_base"
        );
    }
}

#[test]
fn the_longest_allowed_durations_still_deliver() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url())
        .timeout(DAY)
        .shutdown_deadline(DAY)
        .backoff_base(DAY)
        .backoff_cap(DAY)
        .build()?;
    http.export(&sample_batch(0))?;
    let got = server.take(1, Duration::from_secs(10));
    assert_eq!(got[0].batch_number(), 0);
    http.export(&sample_batch(1))?;
    http.shutdown()?;
    let m = http.metrics();
    assert_eq!((m.sent, m.pending, m.abandoned), (2, 0, 0), "{m:?}");
    Ok(())
}
