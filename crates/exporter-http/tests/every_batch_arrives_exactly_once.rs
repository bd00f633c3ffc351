//! A healthy endpoint receives every batch exactly once, in order, with a
//! body that parses and holds the recorded values (issue #4).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use census_core::Exporter;
use census_exporter_http::{HttpExporter, HttpFormat};
use support::{census_json_batch_number, sample_batch, Reply, TestServer};

#[test]
fn every_batch_arrives_exactly_once() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    let http = HttpExporter::builder(server.url())
        .format(HttpFormat::Json)
        .header("Authorization", "Bearer test-token")
        .service_name("checkout")
        .build()?;
    const N: u64 = 20;
    for n in 0..N {
        http.export(&sample_batch(n))?;
    }
    let requests = server.take(N as usize, Duration::from_secs(10));
    http.shutdown()?;
    // The sender thread has been joined: nothing more can arrive.
    assert!(server.drain().is_empty(), "a batch arrived twice");

    let mut keys = HashSet::new();
    for (n, req) in (0..N).zip(&requests) {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/metrics");
        assert_eq!(req.header("Content-Type"), Some("application/json"));
        for once in ["Content-Type", "Idempotency-Key", "Authorization"] {
            let n = req
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(once))
                .count();
            assert_eq!(n, 1, "{once} sent {n} times: {:?}", req.headers);
        }
        assert_eq!(req.header("Authorization"), Some("Bearer test-token"));
        assert!(
            keys.insert(req.idempotency_key()),
            "key reused: {}",
            req.idempotency_key()
        );
        let body = req.json();
        assert_eq!(body["schema"], "census.v1");
        assert_eq!(body["resource"]["service.name"], "checkout");
        assert_eq!(census_json_batch_number(&body), n, "batches out of order");
        let views = body["views"].as_array().ok_or("views")?;
        assert_eq!(views.len(), 4);
        let count = &views[0];
        assert_eq!(count["aggregation"], "count");
        assert_eq!(count["rows"][1]["tags"]["method"], "POST");
        assert_eq!(count["rows"][1]["count"], (2 * n).to_string());
        assert_eq!(count["rows"][2]["overflow"], true);
        assert_eq!(count["rows"][2]["count"], "1");
        assert_eq!(views[1]["rows"][0]["sum"], (1000 + n).to_string());
        assert_eq!(views[1]["measure"]["unit"], "By");
        // An absent tag is left out, not sent as "".
        assert_eq!(views[2]["rows"][0]["tags"], serde_json::json!({}));
        assert_eq!(views[2]["rows"][0]["last_value"], n as f64 + 0.5);
        let dist = &views[3]["rows"][0]["distribution"];
        assert_eq!(views[3]["bounds"], serde_json::json!([10.0, 100.0]));
        assert_eq!(dist["count"], "3");
        assert_eq!(dist["max"], 500.0 + n as f64);
        assert_eq!(dist["bucket_counts"], serde_json::json!(["1", "1", "1"]));
    }

    let m = http.metrics();
    assert_eq!((m.enqueued, m.sent, m.pending), (N, N, 0));
    assert_eq!(
        (m.retried, m.failed, m.dropped, m.abandoned, m.errors),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(m.status_codes.get(&200), Some(&N));
    assert_eq!(m.last_error, None);
    Ok(())
}
