//! `HttpExporter::builder_from_env()` configures the exporter from the
//! OpenTelemetry variables, explicit calls win, and a bad value fails the
//! build naming the variable (issue #14). One test: it sets the process
//! environment.

mod support;

use std::time::Duration;

use census_core::{Error, Exporter};
use census_exporter_http::{HttpExporter, HttpFormat};
use serde_json::json;
use support::{sample_batch, Reply, TestServer};

fn set(vars: &[(&str, &str)]) {
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
}

#[test]
fn builder_from_env_reads_the_opentelemetry_variables() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(|_| Reply::Status(200));
    set(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &format!("http://{}", server.addr()),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=s%20cret,x-tenant=env",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored,deployment.environment=prod",
        ),
    ]);
    let http = HttpExporter::builder_from_env()
        .header("x-tenant", "explicit")
        .build()?;
    assert_eq!(http.format(), HttpFormat::OtlpJson);
    assert_eq!(
        http.endpoint(),
        format!("http://{}/v1/metrics", server.addr())
    );
    http.export(&sample_batch(1))?;
    let req = server.take(1, Duration::from_secs(10)).remove(0);
    http.shutdown()?;
    assert_eq!(req.path, "/v1/metrics");
    assert_eq!(req.header("x-api-key"), Some("s cret"));
    assert_eq!(req.header("x-tenant"), Some("explicit"));
    let attributes = &req.json()["resourceMetrics"][0]["resource"]["attributes"];
    let attribute = |key: &str| {
        attributes
            .as_array()
            .and_then(|a| a.iter().find(|kv| kv["key"] == key))
            .map(|kv| kv["value"].clone())
    };
    assert_eq!(
        attribute("service.name"),
        Some(json!({"stringValue": "checkout"}))
    );
    assert_eq!(
        attribute("deployment.environment"),
        Some(json!({"stringValue": "prod"}))
    );

    // The default protocol is protobuf; an explicit format wins over it.
    std::env::remove_var("OTEL_EXPORTER_OTLP_PROTOCOL");
    let builder = HttpExporter::builder_from_env();
    assert_eq!(builder.clone().build()?.format(), HttpFormat::OtlpProtobuf);
    assert_eq!(
        builder.format(HttpFormat::OtlpJson).build()?.format(),
        HttpFormat::OtlpJson
    );

    // A bad value is an error naming the variable.
    set(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "ten seconds")]);
    match HttpExporter::builder_from_env().build() {
        Err(Error::InvalidConfig { what, value, .. }) => {
            assert_eq!(
                (what.as_str(), value.as_str()),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten seconds")
            );
        }
        other => panic!("a bad timeout was accepted: {other:?}"),
    }
    // ...unless an explicit call sets the same thing.
    assert!(HttpExporter::builder_from_env()
        .timeout(Duration::from_secs(1))
        .build()
        .is_ok());
    Ok(())
}
