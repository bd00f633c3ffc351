//! A client that pipelines requests without end and reads every answer
//! keeps its socket readable and writable at every turn. The I/O thread
//! answered it until its socket ran dry, which it never did: other scrapes
//! went unanswered and `stop()` waited for the client (a QA pass: most
//! scrapes got nothing within 2 s, `stop()` took up to 6 s). A connection
//! now gets a few answers per turn, then the others theirs.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use census_exporter_prometheus::PrometheusExporter;
use support::raw_client::{connect, scrape_within};
use support::TestResult;

#[test]
fn scrapes_and_stop_are_answered_while_a_client_pipelines_without_end() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = connect(addr)?;
    let mut reader = writer.try_clone()?;
    let (first_answer, answered) = std::sync::mpsc::sync_channel(1);
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut told = false;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if !told {
                let _ = first_answer.send(());
                told = true;
            }
        }
    });
    let flooding = Arc::clone(&stop);
    let flood = std::thread::spawn(move || {
        // Each answered 404, keep-alive: never a render, always I/O.
        let batch = b"GET / HTTP/1.1\r\n\r\n".repeat(1024);
        while !flooding.load(Ordering::Relaxed) {
            if writer.write_all(&batch).is_err() {
                return;
            }
        }
    });
    answered.recv_timeout(Duration::from_secs(10))?;

    for _ in 0..3 {
        scrape_within(addr, Duration::from_secs(2))?;
    }
    let began = Instant::now();
    endpoint.stop();
    let took = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = flood.join();
    let _ = drain.join();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    Ok(())
}
