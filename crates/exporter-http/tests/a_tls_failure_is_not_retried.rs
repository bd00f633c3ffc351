//! A TLS failure is a configuration problem that trying again does not
//! mend, so it fails its batch at once, as docs/http-exporter.md says
//! ("TLS or other configuration errors: not retried"), with a message
//! that says what to check. Here the common one: an `https://` URL
//! pointing at a port that speaks plain HTTP. The handshake error reached
//! the exporter as an I/O error and was retried max_attempts times, and
//! the message was rustls's "received corrupt message of type
//! InvalidContentType".
#![cfg(feature = "tls")]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{sample_batch, wait_until};

#[test]
fn a_tls_failure_is_not_retried() -> Result<(), Box<dyn std::error::Error>> {
    // A plain HTTP server: it answers the TLS ClientHello with an HTTP 400,
    // as web servers do, and says how many connections it saw.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (connected, connections) = crossbeam_channel::unbounded();
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = connected.send(());
                let mut hello = [0u8; 512];
                let _ = stream.read(&mut hello);
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        })
    };

    let http = HttpExporter::builder(format!("https://{addr}/v1/metrics"))
        .max_attempts(4)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .timeout(Duration::from_secs(5))
        .build()?;
    http.export(&sample_batch(1))?;
    wait_until(Duration::from_secs(20), "the batch to end", || {
        let m = http.metrics();
        m.failed + m.sent == 1
    });
    let m = http.metrics();
    let _ = http.shutdown();
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr);
    let _ = server.join();

    assert_eq!(
        (m.failed, m.retried, m.errors),
        (1, 0, 1),
        "a TLS failure was retried: {m:?}"
    );
    assert_eq!(connections.try_iter().count(), 1);
    let last = m.last_error.unwrap_or_default();
    assert!(
        last.contains("TLS") && last.contains("plain HTTP"),
        "the message should say what to check: {last}"
    );
    Ok(())
}
