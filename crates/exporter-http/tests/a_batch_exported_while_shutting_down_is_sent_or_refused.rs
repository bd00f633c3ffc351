//! `export` and `shutdown` called at the same time from different threads
//! (a service shutting its exporter down while a manager, or its own
//! code, still exports): every batch `export` accepted is delivered or
//! counted as undelivered by the time `shutdown` returns, and the rest are
//! refused with an error. `export` used to check for shutdown before it
//! serialised the batch and queue it after: a batch queued once the
//! sender had drained and stopped sat in `pending` for good, never sent
//! and missing from shutdown's count of undelivered batches.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{sample_batch, Reply, TestServer};

#[test]
fn a_batch_exported_while_shutting_down_is_sent_or_refused(
) -> Result<(), Box<dyn std::error::Error>> {
    // Large batches make serialising slow, which widens the window between
    // the check and the enqueue; the race needs a few rounds to show.
    let big: Vec<_> = (0..60).flat_map(sample_batch).collect();
    for round in 0..30 {
        let server = TestServer::start(|_| Reply::Status(200));
        let http = HttpExporter::builder(server.url())
            .format(HttpFormat::OtlpJson)
            .queue_capacity(3)
            .shutdown_deadline(Duration::from_secs(5))
            .build()?;
        let stop = AtomicBool::new(false);
        let accepted = AtomicU64::new(0);
        let (started, exporting) = crossbeam_channel::bounded(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (http, stop, big, accepted, started) =
                    (&http, &stop, &big, &accepted, started.clone());
                s.spawn(move || {
                    let _ = started.send(());
                    while !stop.load(Ordering::Relaxed) {
                        if http.export(big).is_ok() {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            for _ in 0..4 {
                let _ = exporting.recv_timeout(Duration::from_secs(10));
            }
            let _ = http.shutdown();
            // What shutdown reported is final: nothing left to send.
            let m = http.metrics();
            stop.store(true, Ordering::Relaxed);
            assert_eq!(m.pending, 0, "round {round}: {m:?}");
        });
        let m = http.metrics();
        assert_eq!(
            m.pending, 0,
            "round {round}, after the exports ended: {m:?}"
        );
        assert_eq!(m.enqueued, accepted.load(Ordering::Relaxed), "{m:?}");
        assert_eq!(
            m.enqueued,
            m.sent + m.failed + m.dropped + m.merged + m.abandoned,
            "round {round}: {m:?}"
        );
    }
    Ok(())
}
