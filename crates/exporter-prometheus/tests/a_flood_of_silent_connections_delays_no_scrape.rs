//! Clients opening connections as fast as they can and sending nothing do
//! not keep scrapers waiting: once connections are closed for room faster
//! than `max_connections` per 200 ms, idle ones are closed at once instead
//! of after their 100 ms grace. With the grace kept, one newcomer per place
//! got in per 100 ms, the flood filled the listen backlog, and scrapes
//! waited behind it for 0.1 to 2 s (their connections dropped by the
//! system and retried), some past 2 s (issue 18).

mod support;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::{every_aggregation, TestResult};

const MAX: usize = 4;
const FLOODERS: usize = 8;
/// Connections each flooder keeps open, the newest.
const HELD: usize = 16;
const SCRAPES: usize = 9;

/// One scrape on a new connection, `Connection: close`, read to its end.
fn scrape(addr: SocketAddr, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut stream =
        TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("connecting: {e}"))?;
    stream
        .set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: census.test\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("sending: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("reading after {:?}: {e}", start.elapsed()))?;
    if !answer.starts_with(b"HTTP/1.1 200 ") {
        return Err(format!("answered {:?}", String::from_utf8_lossy(&answer)));
    }
    Ok(start.elapsed())
}

#[test]
fn scrapes_are_answered_promptly_during_the_flood() -> TestResult {
    let exporter = PrometheusExporter::builder().max_connections(MAX).build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();

    let flooding = Arc::new(AtomicBool::new(true));
    let (started_tx, started) = mpsc::channel();
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let flooding = Arc::clone(&flooding);
            let started = started_tx.clone();
            std::thread::spawn(move || {
                let mut held = VecDeque::new();
                while flooding.load(Ordering::Relaxed) {
                    // A full backlog drops the connection; try again.
                    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    else {
                        continue;
                    };
                    held.push_back(stream);
                    if held.len() > HELD {
                        held.pop_front();
                    }
                    if held.len() == HELD {
                        // Only the first send matters; later ones fail
                        // once the test stopped listening.
                        let _ = started.send(());
                    }
                }
            })
        })
        .collect();
    for _ in 0..FLOODERS {
        started.recv_timeout(Duration::from_secs(30))?;
    }

    let scrapes: Vec<_> = (0..SCRAPES)
        .map(|_| scrape(addr, Duration::from_secs(5)))
        .collect();
    flooding.store(false, Ordering::Relaxed);
    for flooder in flooders {
        flooder.join().map_err(|_| "a flooder panicked")?;
    }
    endpoint.stop();

    let mut took = scrapes
        .iter()
        .cloned()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a scrape failed during the flood: {e}; all: {scrapes:?}"))?;
    took.sort();
    let median = took[SCRAPES / 2];
    assert!(
        median < Duration::from_millis(100),
        "the median scrape took {median:?} during a flood of connections that send nothing \
         (max_connections {MAX}): {scrapes:?}"
    );
    Ok(())
}
