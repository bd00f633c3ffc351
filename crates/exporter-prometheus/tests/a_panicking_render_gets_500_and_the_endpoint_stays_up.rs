//! A producer that panics costs its scrape a `500`, not a render thread:
//! the endpoint answers the next scrape.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use census_core::{Exporter, Producer, ViewData};
use census_exporter_prometheus::PrometheusExporter;
use support::raw_client::exchange;
use support::{every_aggregation, TestResult};

/// Panics on its first render, then produces every aggregation.
struct Flaky {
    armed: AtomicBool,
}

impl Producer for Flaky {
    fn produce(&self) -> Vec<ViewData> {
        // Relaxed: the flag is its own only datum.
        if self.armed.swap(false, Ordering::Relaxed) {
            panic!("a producer bug");
        }
        every_aggregation()
    }
}

#[test]
fn a_render_panic_is_one_500() -> TestResult {
    let exporter = PrometheusExporter::builder().render_threads(1).build()?;
    let flaky = Arc::new(Flaky {
        armed: AtomicBool::new(true),
    });
    exporter.attach(Arc::clone(&flaky) as Arc<dyn Producer>);
    let endpoint = exporter.serve("127.0.0.1:0")?;
    let request = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";

    let failed = exchange(endpoint.local_addr(), request)?;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.header("connection"), Some("close"));
    // The only render thread survived the panic.
    let next = exchange(endpoint.local_addr(), request)?;
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), exporter.render().1);
    endpoint.stop();
    Ok(())
}
