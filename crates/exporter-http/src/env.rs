//! The OpenTelemetry environment variables an OTLP exporter reads, as the
//! OpenTelemetry specification defines them ("OTLP Exporter
//! Configuration" and "Resource SDK"): parsed once into defaults that
//! explicit builder calls override.

use std::time::Duration;

use census_core::Error;
use percent_encoding::percent_decode_str;

use crate::builder::{check_url, invalid, LONGEST};
use crate::format::HttpFormat;

/// Where a variable's value would have gone, so that an explicit builder
/// call for the same setting can supersede a bad value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    Url,
    Format,
    Timeout,
    Gzip,
    Headers,
    Resource,
}

/// What the environment said, before explicit builder calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct FromEnv {
    /// `OTEL_EXPORTER_OTLP_(METRICS_)HEADERS`, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// `OTEL_SERVICE_NAME`, or else `service.name` from
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub(crate) service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` without `service.name`.
    pub(crate) resource: Vec<(String, String)>,
    /// Bad values, each with the setting it would have set.
    pub(crate) errors: Vec<(Setting, Error)>,
    /// The variable that turned gzip on, for an error that names it.
    pub(crate) gzip_variable: Option<String>,
}

/// The settings the environment gives values for.
#[derive(Debug, Clone)]
pub(crate) struct EnvSettings {
    pub(crate) url: String,
    pub(crate) format: HttpFormat,
    pub(crate) timeout: Option<Duration>,
    pub(crate) gzip: Option<bool>,
    pub(crate) rest: FromEnv,
}

/// The default OTLP/HTTP endpoint of the specification.
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// What the specification appends to `OTEL_EXPORTER_OTLP_ENDPOINT` for the
/// metrics signal.
const METRICS_PATH: &str = "v1/metrics";

/// Reads every variable through `var` (the process environment, or a map
/// in tests). A variable set to the empty string counts as unset, as the
/// specification says.
pub(crate) fn read(var: impl Fn(&str) -> Option<String>) -> EnvSettings {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    // The metrics-specific variable wins over the general one.
    let pick = |suffix: &str| -> Option<(String, String)> {
        let specific = format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}");
        let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
        var(&specific)
            .map(|v| (specific, v))
            .or_else(|| var(&general).map(|v| (general, v)))
    };
    let mut rest = FromEnv::default();
    let mut fail = |setting: Setting, error: Error| rest.errors.push((setting, error));

    let url = match (
        var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
        var("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        // The signal's own endpoint is used as it is.
        (Some(url), _) => checked_url("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", url, &mut fail),
        // The base endpoint gets the signal's path.
        (None, Some(base)) => checked_url(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            with_metrics_path(base.trim()),
            &mut fail,
        ),
        (None, None) => format!("{DEFAULT_ENDPOINT}/{METRICS_PATH}"),
    };

    let format = match pick("PROTOCOL") {
        None => HttpFormat::OtlpProtobuf,
        Some((name, value)) => match value.trim() {
            "http/protobuf" => HttpFormat::OtlpProtobuf,
            "http/json" => HttpFormat::OtlpJson,
            "grpc" => {
                fail(
                    Setting::Format,
                    invalid(
                        &name,
                        &value,
                        "census pushes OTLP over HTTP only; use http/protobuf or http/json \
                         (and the receiver's HTTP port, 4318 by default)",
                    ),
                );
                HttpFormat::OtlpProtobuf
            }
            _ => {
                fail(
                    Setting::Format,
                    invalid(&name, &value, "the protocol is http/protobuf or http/json"),
                );
                HttpFormat::OtlpProtobuf
            }
        },
    };

    let timeout = pick("TIMEOUT").and_then(|(name, value)| match value.trim().parse::<u64>() {
        // Checked here, not only by `build`, so that the error names the
        // variable and its text.
        Ok(ms) if ms > 0 && Duration::from_millis(ms) <= LONGEST => Some(Duration::from_millis(ms)),
        _ => {
            fail(
                Setting::Timeout,
                invalid(
                    &name,
                    &value,
                    "the timeout is a whole number of milliseconds from 1 to 86400000 (a day), \
                     such as 10000",
                ),
            );
            None
        }
    });

    let compression = pick("COMPRESSION");
    let gzip_variable = compression
        .as_ref()
        .filter(|(_, value)| value.trim() == "gzip")
        .map(|(name, _)| name.clone());
    let gzip = compression.and_then(|(name, value)| match value.trim() {
        "gzip" => Some(true),
        "none" => Some(false),
        _ => {
            fail(
                Setting::Gzip,
                invalid(&name, &value, "the compression is gzip or none"),
            );
            None
        }
    });

    if let Some((name, value)) = pick("HEADERS") {
        match pairs(&value) {
            Ok(headers) => rest.headers = headers,
            Err(reason) => rest
                .errors
                .push((Setting::Headers, invalid(&name, &value, &reason))),
        }
    }

    if let Some(value) = var("OTEL_RESOURCE_ATTRIBUTES") {
        match pairs(&value) {
            Ok(attributes) => {
                for (key, value) in attributes {
                    if key == "service.name" {
                        rest.service_name = Some(value);
                    } else {
                        rest.resource.push((key, value));
                    }
                }
            }
            Err(reason) => rest.errors.push((
                Setting::Resource,
                invalid("OTEL_RESOURCE_ATTRIBUTES", &value, &reason),
            )),
        }
    }
    rest.gzip_variable = gzip_variable;
    // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
    if let Some(name) = var("OTEL_SERVICE_NAME") {
        rest.service_name = Some(name.trim().to_owned());
    }

    EnvSettings {
        url,
        format,
        timeout,
        gzip,
        rest,
    }
}

/// The base URL with the signal's path added to its path: before a query
/// (a token some gateways take there), which stays as it was.
fn with_metrics_path(base: &str) -> String {
    let (path, query) = match base.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (base, None),
    };
    let mut url = format!("{}/{METRICS_PATH}", path.trim_end_matches('/'));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

fn checked_url(name: &str, url: String, fail: &mut impl FnMut(Setting, Error)) -> String {
    let url = url.trim().to_owned();
    if let Err(Error::InvalidConfig { reason, .. }) = check_url(&url) {
        fail(Setting::Url, invalid(name, &url, &reason));
    }
    url
}

/// Parses `key1=value1,key2=value2` as the specification writes headers
/// and resource attributes: W3C Baggage's list syntax, whitespace around
/// keys and values trimmed, keys and values percent-decoded.
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for member in text.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let Some((key, value)) = member.split_once('=') else {
            return Err(format!(
                "{member:?} has no '='; write key=value pairs separated by commas"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "{member:?} has an empty key; write key=value pairs separated by commas"
            ));
        }
        // Keys are percent-encoded like values: a ',' or '=' in either
        // must be.
        let key = decode(key).map_err(|why| format!("the key {key:?} {why}"))?;
        let value = decode(value.trim()).map_err(|why| format!("the value of {key:?} {why}"))?;
        out.push((key, value));
    }
    Ok(out)
}

/// Percent-decodes `text`. A '%' not followed by two hex digits is a
/// decoding failure, which the specification says to report rather than
/// keep: a value that reaches the endpoint changed is worse than none.
fn decode(text: &str) -> Result<String, String> {
    for (at, _) in text.match_indices('%') {
        let escape = text.get(at + 1..at + 3).unwrap_or("");
        if escape.len() != 2 || !escape.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                "has a '%' not followed by two hex digits; write a literal % as %25".to_owned(),
            );
        }
    }
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| "does not decode to UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read_from(vars: &[(&str, &str)]) -> EnvSettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read(|name| map.get(name).cloned())
    }

    fn failed(settings: &EnvSettings) -> Vec<String> {
        settings
            .rest
            .errors
            .iter()
            .map(|(_, e)| match e {
                Error::InvalidConfig { what, .. } => what.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    #[test]
    fn nothing_set_means_the_specification_defaults() {
        let s = read_from(&[]);
        assert_eq!(s.url, "http://localhost:4318/v1/metrics");
        assert_eq!(s.format, HttpFormat::OtlpProtobuf);
        assert_eq!((s.timeout, s.gzip), (None, None));
        assert!(s.rest.errors.is_empty());
    }

    #[test]
    fn the_base_endpoint_gets_the_signal_path_and_the_metrics_one_does_not() {
        let s = read_from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]);
        assert_eq!(s.url, "http://collector:4318/v1/metrics");
        let s = read_from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base")]);
        assert_eq!(s.url, "http://c:4318/base/v1/metrics");
        // The path goes before a query, which is kept.
        let s = read_from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318?key=a")]);
        assert_eq!(s.url, "http://c:4318/v1/metrics?key=a");
        let s = read_from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " http://c:4318/b/?k=1&j=2 ")]);
        assert_eq!(s.url, "http://c:4318/b/v1/metrics?k=1&j=2");
        let s = read_from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
        ]);
        assert_eq!(s.url, "http://m:9/custom");
    }

    #[test]
    fn specific_variables_win_and_empty_ones_are_unset() {
        let s = read_from(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", ""),
        ]);
        assert_eq!(s.format, HttpFormat::OtlpJson);
        assert_eq!(s.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(s.gzip, Some(true));
    }

    #[test]
    fn headers_and_attributes_are_trimmed_and_percent_decoded() {
        let s = read_from(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key = secret%20one , x-tenant=a%2Cb",
            ),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod",
            ),
        ]);
        assert_eq!(
            s.rest.headers,
            [
                ("api-key".to_owned(), "secret one".to_owned()),
                ("x-tenant".to_owned(), "a,b".to_owned())
            ]
        );
        assert_eq!(s.rest.service_name.as_deref(), Some("from-attrs"));
        assert_eq!(
            s.rest.resource,
            [("deployment.environment".to_owned(), "prod".to_owned())]
        );
        let s = read_from(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "from-name"),
        ]);
        assert_eq!(s.rest.service_name.as_deref(), Some("from-name"));
    }

    #[test]
    fn resource_keys_are_percent_decoded_too() {
        // The specification: "The , and = characters in keys and values
        // MUST be percent encoded".
        let s = read_from(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "my%2Ckey=a%3Db,host%3Dname=x,service%2Ename=svc",
        )]);
        assert!(s.rest.errors.is_empty(), "{:?}", failed(&s));
        assert_eq!(
            s.rest.resource,
            [
                ("my,key".to_owned(), "a=b".to_owned()),
                ("host=name".to_owned(), "x".to_owned())
            ]
        );
        assert_eq!(s.rest.service_name.as_deref(), Some("svc"));
    }

    #[test]
    fn an_invalid_percent_escape_is_an_error_not_kept_as_text() {
        for bad in ["service.name=%ZZ", "k=50%", "k=%4", "k%G1=v"] {
            let s = read_from(&[("OTEL_RESOURCE_ATTRIBUTES", bad)]);
            assert_eq!(failed(&s), ["OTEL_RESOURCE_ATTRIBUTES"], "{bad}");
            assert_eq!(s.rest.service_name, None, "{bad}");
        }
        let s = read_from(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=100%")]);
        assert_eq!(failed(&s), ["OTEL_EXPORTER_OTLP_HEADERS"]);
        let reason = match s.rest.errors.first() {
            Some((_, Error::InvalidConfig { reason, .. })) => reason.clone(),
            other => format!("{other:?}"),
        };
        assert!(reason.contains("%25"), "{reason}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable() {
        let s = read_from(&[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_RESOURCE_ATTRIBUTES", "=x"),
        ]);
        assert_eq!(
            failed(&s),
            [
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "OTEL_EXPORTER_OTLP_COMPRESSION",
                "OTEL_EXPORTER_OTLP_HEADERS",
                "OTEL_RESOURCE_ATTRIBUTES",
            ]
        );
        let zero = read_from(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")]);
        assert_eq!(failed(&zero), ["OTEL_EXPORTER_OTLP_TIMEOUT"]);
        // Past a day: refused naming the variable, not the builder setting.
        let long = read_from(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999")]);
        assert_eq!(failed(&long), ["OTEL_EXPORTER_OTLP_TIMEOUT"]);
        let day = read_from(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "86400000")]);
        assert_eq!(day.timeout, Some(Duration::from_secs(86_400)));
    }
}
