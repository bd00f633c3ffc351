//! An exporter dropped without a shutdown does not lose its queue: the
//! sender thread drains it and then ends (issue #4).

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{census_json_batch_number, sample_batch, Reply, TestServer};

#[test]
fn dropping_every_handle_still_delivers_what_was_queued() -> Result<(), Box<dyn std::error::Error>>
{
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url()).build()?;
    let clone = http.clone();
    // The new thread names itself once it runs, so wait for that; a name
    // this test does not find would fail here rather than pass below.
    #[cfg(target_os = "linux")]
    support::wait_until(
        Duration::from_secs(10),
        "the sender thread to show up",
        || sender_threads() == 1,
    );
    for n in 0..3 {
        http.export(&sample_batch(n))?;
    }
    drop(http);
    clone.export(&sample_batch(3))?;
    drop(clone);
    let numbers: Vec<u64> = server
        .take(4, Duration::from_secs(10))
        .iter()
        .map(|r| census_json_batch_number(&r.json()))
        .collect();
    assert_eq!(numbers, [0, 1, 2, 3]);
    // This file holds one test, so this process has one sender thread.
    #[cfg(target_os = "linux")]
    support::wait_until(Duration::from_secs(10), "the sender thread to end", || {
        sender_threads() == 0
    });
    Ok(())
}

/// Threads named `census-http-exporter` (cut to 15 bytes by Linux).
#[cfg(target_os = "linux")]
fn sender_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .filter(|name| name.trim() == "census-http-exp")
                .count()
        })
        .unwrap_or(0)
}
