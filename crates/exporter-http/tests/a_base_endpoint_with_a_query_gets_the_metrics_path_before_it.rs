//! `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL to which the metrics path
//! is added (OpenTelemetry's "OTLP Exporter Configuration"): the path goes
//! on the URL's path, so a base URL carrying a query (a token some
//! collectors and gateways take there) keeps it after `/v1/metrics`. The
//! exporter used to append `/v1/metrics` after the query, so batches went
//! to `/` with the path inside the query, and the endpoint it reported
//! (`http://host/`) hid the mistake. One test: it sets the process
//! environment.

mod support;

use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::HttpExporter;
use support::{sample_batch, Reply, TestServer};

#[test]
fn a_base_endpoint_with_a_query_gets_the_metrics_path_before_it(
) -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    std::env::set_var(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://{}/otlp/?tenant=7&key=a%2Fb", server.addr()),
    );
    let http = HttpExporter::builder_from_env().build()?;
    assert_eq!(
        http.endpoint(),
        format!("http://{}/otlp/v1/metrics", server.addr())
    );
    http.export(&sample_batch(1))?;
    let request = server.next(Duration::from_secs(10)).ok_or("no request")?;
    http.shutdown()?;
    assert_eq!(request.path, "/otlp/v1/metrics?tenant=7&key=a%2Fb");
    Ok(())
}
