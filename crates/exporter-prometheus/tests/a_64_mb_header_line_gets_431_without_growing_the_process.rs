//! A client streaming a 64 MB header line gets `431` once the request line
//! and headers pass the cap, and the process grows by less than 16 MB
//! (issue 18: tiny_http buffered the whole line; 512 MB grew the process by
//! 513 MB).

mod support;

use std::io::Write;
use std::thread;

use census_exporter_prometheus::PrometheusExporter;
use census_testkit::FakeProducer;
use support::process::resident_bytes;
use support::raw_client::{exchange, RawConnection};
use support::{every_aggregation, TestResult};

const LINE: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

#[test]
fn an_endless_header_is_refused_with_431_in_bounded_memory() -> TestResult {
    let exporter = PrometheusExporter::builder().build()?;
    FakeProducer::attach(&exporter, every_aggregation());
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let addr = endpoint.local_addr();
    // One ordinary scrape first, so the endpoint's own steady allocations
    // are made before the baseline.
    let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: census.test\r\n\r\n")?;
    assert_eq!(ok.status, 200);
    let before = resident_bytes();

    let mut connection = RawConnection::open(addr)?;
    connection.send(b"GET /metrics HTTP/1.1\r\nHost: census.test\r\nX-Long: ")?;
    let mut writer = connection.try_clone_stream()?;
    // The line is streamed from one reused chunk; the writer stops at the
    // first error, if the endpoint closes before the end.
    let streaming = thread::spawn(move || -> usize {
        let chunk = vec![b'a'; CHUNK];
        let mut sent = 0;
        while sent < LINE && writer.write_all(&chunk).is_ok() {
            sent += CHUNK;
        }
        sent
    });
    // The endpoint reads (and after its answer discards) the whole line.
    let sent = streaming.join().map_err(|_| "the writer panicked")?;
    let grown = resident_bytes().saturating_sub(before);
    assert!(
        grown < 16 << 20,
        "the process grew by {} MB while a client sent {} MB of header",
        grown >> 20,
        sent >> 20
    );
    let answer = connection.answer(false)?;
    assert_eq!(answer.status, 431, "{}", answer.text());
    assert_eq!(answer.header("connection"), Some("close"));
    endpoint.stop();
    Ok(())
}
