//! The builder: every setting with its default, checked once in `build()`.

use std::fmt;
use std::time::Duration;

use census_core::Error;
use ureq::http::{HeaderName, HeaderValue, Uri};

use crate::env::{self, FromEnv, Setting};
use crate::exporter::HttpExporter;
use crate::format::HttpFormat;
use crate::retry::Backoff;

/// The settings a built exporter runs with; known-good once built. No
/// `Debug`: it holds header values such as credentials.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) url: String,
    /// The URL without credentials or query, safe for logs and tags.
    pub(crate) endpoint: String,
    pub(crate) format: HttpFormat,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) backoff: Backoff,
    pub(crate) shutdown_deadline: Duration,
    pub(crate) gzip: bool,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) self_metrics: bool,
}

/// The longest duration any setting takes. Deadlines are `Instant`s, which
/// cannot hold `Duration::MAX` from now, and a day is past any useful
/// request timeout, backoff or shutdown deadline.
pub(crate) const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// Headers the exporter sets itself; a user value would contradict the
/// body it sends or break duplicate detection.
const RESERVED_HEADERS: [&str; 7] = [
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "host",
    "idempotency-key",
    "x-prometheus-remote-write-version",
];

/// Builds an [`HttpExporter`]; start with [`HttpExporter::builder`].
///
/// Setters only record; every check happens once, in
/// [`build`](HttpExporterBuilder::build). Its `Debug` output leaves out
/// header values and the URL's credentials and query, which often hold
/// secrets.
#[derive(Clone)]
#[must_use = "an exporter builder does nothing until .build() is called"]
pub struct HttpExporterBuilder {
    url: String,
    format: HttpFormat,
    headers: Vec<(String, String)>,
    timeout: Duration,
    queue_capacity: usize,
    backoff_base: Duration,
    backoff_cap: Duration,
    max_attempts: u32,
    shutdown_deadline: Duration,
    gzip: bool,
    /// Set by `service_name()`; `None` until then.
    service_name: Option<String>,
    resource: Vec<(String, String)>,
    self_metrics: bool,
    /// What `builder_from_env` read; explicit calls override it.
    env: FromEnv,
}

impl HttpExporterBuilder {
    pub(crate) fn new(url: String) -> HttpExporterBuilder {
        HttpExporterBuilder {
            url,
            format: HttpFormat::Json,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            queue_capacity: 100,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(30),
            max_attempts: 5,
            shutdown_deadline: Duration::from_secs(5),
            gzip: false,
            service_name: None,
            resource: Vec::new(),
            self_metrics: false,
            env: FromEnv::default(),
        }
    }

    /// A builder filled from the OpenTelemetry environment variables; see
    /// [`HttpExporter::builder_from_env`].
    pub(crate) fn from_env() -> HttpExporterBuilder {
        HttpExporterBuilder::from_vars(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> HttpExporterBuilder {
        let settings = env::read(var);
        let mut builder = HttpExporterBuilder::new(settings.url);
        builder.format = settings.format;
        if let Some(timeout) = settings.timeout {
            builder.timeout = timeout;
        }
        if let Some(gzip) = settings.gzip {
            builder.gzip = gzip;
        }
        builder.env = settings.rest;
        builder
    }

    /// Drops a bad environment value that an explicit call has made moot.
    fn supersede(&mut self, setting: Setting) {
        self.env.errors.retain(|(s, _)| *s != setting);
    }

    /// The endpoint to POST to (`http://` or `https://`), replacing the one
    /// given to [`HttpExporter::builder`] or read by
    /// [`HttpExporter::builder_from_env`]. Default: the URL the builder was
    /// started with.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self.supersede(Setting::Url);
        self
    }

    /// The body format. Default: [`HttpFormat::Json`].
    pub fn format(mut self, format: HttpFormat) -> Self {
        self.format = format;
        self.supersede(Setting::Format);
        self
    }

    /// Adds a header to every request, such as `Authorization`. Calling it
    /// again with the same name adds a second value. The exporter sets
    /// `Content-Type`, `Content-Encoding`, `Content-Length`,
    /// `Transfer-Encoding`, `Host`, `Idempotency-Key` and
    /// `X-Prometheus-Remote-Write-Version` itself, and refuses them here. A header of the same name read from
    /// `OTEL_EXPORTER_OTLP_HEADERS` is replaced. Default: no extra headers.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The most one request may take, from connecting to reading the
    /// response; past it the attempt counts as failed and is retried. At
    /// most a day. Default: 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.supersede(Setting::Timeout);
        self
    }

    /// The most batches waiting to be sent (not counting the one being
    /// sent). When full, the oldest batch is dropped and counted, or, if it
    /// holds delta data, merged into the batch behind it (counted in
    /// `merged`). Bounds memory while the endpoint is down. Default: 100.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The first retry waits a random time up to this; each further retry
    /// doubles the ceiling, up to [`backoff_cap`](Self::backoff_cap). At
    /// most a day. Default: 100 milliseconds.
    pub fn backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// The longest wait between two attempts, whether from backoff or from
    /// a `Retry-After` header (a longer `Retry-After` is cut to this). At
    /// most a day. Default: 30 seconds.
    pub fn backoff_cap(mut self, cap: Duration) -> Self {
        self.backoff_cap = cap;
        self
    }

    /// How many times one batch is tried in all, the first attempt
    /// included, before it counts as failed. A batch holding delta data,
    /// which no later batch carries, is retried until it arrives or the
    /// shutdown deadline passes. Default: 5.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How long [`shutdown`](census_core::Exporter::shutdown) keeps
    /// delivering queued batches before it gives up on the rest and counts
    /// them as abandoned. Zero gives up on everything still queued at once.
    /// Keep it below the view manager's shutdown timeout (10 s unless set
    /// with `set_shutdown_timeout`), which bounds the final export and this
    /// shutdown together; past it the manager stops waiting and the count
    /// of undelivered batches reaches no one. At most a day. Default: 5
    /// seconds.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// Whether request bodies are gzip-compressed (with
    /// `Content-Encoding: gzip`). Compression runs on the sender thread,
    /// once per batch. Remote write bodies are always snappy-compressed,
    /// as the protocol requires, and refuse gzip. Default: `false`.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self.supersede(Setting::Gzip);
        self.env.gzip_variable = None;
        self
    }

    /// The `service.name` resource attribute sent with every batch (and
    /// remote write's `job` label). A `resource_attribute("service.name",
    /// ..)` with another value is an error at build. Default:
    /// `OTEL_SERVICE_NAME` with [`HttpExporter::builder_from_env`], else
    /// `unknown_service`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds a string resource attribute sent with every batch, such as
    /// `deployment.environment`; a key given twice keeps the last value,
    /// and replaces the same key read from `OTEL_RESOURCE_ATTRIBUTES`.
    /// `service.name` here must agree with
    /// [`service_name`](Self::service_name) if both are called. Remote
    /// write turns `service.name` (with `service.namespace`) into `job` and
    /// `service.instance.id` into `instance`. Default: only `service.name`
    /// and the `telemetry.sdk.*` attributes.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Whether the exporter contributes its delivery counters as
    /// `census/http_exporter/...` views to every batch (through
    /// [`Exporter::self_metrics`](census_core::Exporter::self_metrics)),
    /// so that they reach every registered exporter. Default: `false`.
    pub fn self_metrics(mut self, enabled: bool) -> Self {
        self.self_metrics = enabled;
        self
    }

    /// Checks the settings, starts the sender thread and returns the
    /// exporter.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the setting, when:
    /// - an OpenTelemetry variable read by
    ///   [`HttpExporter::builder_from_env`] has a bad value (`what` is the
    ///   variable's name), unless an explicit call set the same thing;
    /// - `url`: it does not parse, its scheme is not `http` or `https`, it
    ///   has no host, or it is `https` and the crate was built without its
    ///   `tls` feature;
    /// - `header`: a name is not an HTTP token, is one the exporter sets
    ///   itself, or a value holds a control character or a byte past
    ///   ASCII;
    /// - `queue_capacity`, `timeout`, `max_attempts` or `backoff_base` is
    ///   zero, or `backoff_cap` is below `backoff_base`;
    /// - `timeout`, `backoff_base`, `backoff_cap` or `shutdown_deadline` is
    ///   longer than a day (24 h), such as `Duration::MAX`;
    /// - `service_name` or a resource attribute key is empty;
    /// - `service.name`: `service_name(..)` and
    ///   `resource_attribute("service.name", ..)` give different names;
    /// - `gzip`: asked for with remote write, which is snappy-compressed
    ///   (`what` is `OTEL_EXPORTER_OTLP_(METRICS_)COMPRESSION` when that
    ///   variable asked for it);
    /// - `sender thread`: the operating system refused to start it.
    pub fn build(self) -> Result<HttpExporter, Error> {
        let config = self.check()?;
        HttpExporter::start(config)
    }

    fn check(self) -> Result<Config, Error> {
        if let Some((_, error)) = self.env.errors.into_iter().next() {
            return Err(error);
        }
        let endpoint = check_url(&self.url)?;
        if !cfg!(feature = "tls") && endpoint.starts_with("https:") {
            return Err(invalid(
                "url",
                &endpoint,
                "https needs the `tls` feature of census-exporter-http (on by default; in \
                 the census crate, feature `http` rather than `http-plain`)",
            ));
        }
        let explicit = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.trim().eq_ignore_ascii_case(name.trim()))
        };
        let mut headers = Vec::with_capacity(self.env.headers.len() + self.headers.len());
        for (name, value) in &self.env.headers {
            if !explicit(name) {
                let checked = check_header(name, value).map_err(|e| match e {
                    Error::InvalidConfig { value, reason, .. } => Error::InvalidConfig {
                        what: "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
                        value,
                        reason,
                    },
                    other => other,
                })?;
                headers.push(checked);
            }
        }
        for (name, value) in &self.headers {
            headers.push(check_header(name, value)?);
        }
        if self.gzip && self.format == HttpFormat::PrometheusRemoteWrite {
            if let Some(variable) = &self.env.gzip_variable {
                // The user never asked for gzip: say where it came from.
                return Err(invalid(
                    variable,
                    "gzip",
                    "remote write bodies are snappy-compressed, as the protocol requires, and \
                     this OTLP setting does not apply to them; unset the variable or call \
                     .gzip(false)",
                ));
            }
            return Err(invalid(
                "gzip",
                "true",
                "remote write bodies are snappy-compressed, as the protocol requires; \
                 leave gzip off",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(invalid(
                "queue_capacity",
                "0",
                "the queue must hold at least 1 batch",
            ));
        }
        if self.timeout.is_zero() {
            return Err(invalid(
                "timeout",
                "0s",
                "a request needs some time; use a few seconds",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid(
                "max_attempts",
                "0",
                "every batch needs at least 1 attempt",
            ));
        }
        if self.backoff_base.is_zero() {
            return Err(invalid(
                "backoff_base",
                "0s",
                "retries without a wait would hammer a failing endpoint; use at least 1ms",
            ));
        }
        for (what, value) in [
            ("timeout", self.timeout),
            ("backoff_base", self.backoff_base),
            ("backoff_cap", self.backoff_cap),
            ("shutdown_deadline", self.shutdown_deadline),
        ] {
            if value > LONGEST {
                return Err(invalid(
                    what,
                    &format!("{value:?}"),
                    "durations are at most 24h (a day): longer ones cannot be counted down \
                     reliably and mean \"never\", which would leave batches undelivered; \
                     use a day or less",
                ));
            }
        }
        if self.backoff_cap < self.backoff_base {
            return Err(invalid(
                "backoff_cap",
                &format!("{:?}", self.backoff_cap),
                &format!("it must be at least backoff_base ({:?})", self.backoff_base),
            ));
        }
        let attribute_name = self
            .resource
            .iter()
            .rev()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone());
        let service_name = match (self.service_name, attribute_name) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(
                    "service.name",
                    &b,
                    &format!(
                        "service_name({a:?}) and resource_attribute(\"service.name\", {b:?}) \
                         disagree; set the name once"
                    ),
                ))
            }
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => self
                .env
                .service_name
                .unwrap_or_else(|| "unknown_service".to_owned()),
        };
        if service_name.is_empty() {
            return Err(invalid(
                "service_name",
                "",
                "give the service a name; the default is unknown_service",
            ));
        }
        let mut resource = vec![
            ("service.name".to_owned(), service_name),
            ("telemetry.sdk.name".to_owned(), "census".to_owned()),
            ("telemetry.sdk.language".to_owned(), "rust".to_owned()),
            (
                "telemetry.sdk.version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ];
        let user = self
            .env
            .resource
            .into_iter()
            .chain(self.resource)
            .filter(|(k, _)| k != "service.name");
        for (key, value) in user {
            if key.is_empty() {
                return Err(invalid(
                    "resource attribute key",
                    "",
                    "attribute keys must not be empty",
                ));
            }
            match resource.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => resource.push((key, value)),
            }
        }
        Ok(Config {
            url: self.url,
            endpoint,
            format: self.format,
            headers,
            timeout: self.timeout,
            queue_capacity: self.queue_capacity,
            backoff: Backoff {
                base: self.backoff_base,
                cap: self.backoff_cap,
                max_attempts: self.max_attempts,
            },
            shutdown_deadline: self.shutdown_deadline,
            gzip: self.gzip,
            resource,
            self_metrics: self.self_metrics,
        })
    }
}

impl fmt::Debug for HttpExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = check_url(&self.url).unwrap_or_else(|_| "<not a valid url>".to_owned());
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpExporterBuilder")
            .field("url", &url)
            .field("format", &self.format)
            .field("header_names", &header_names)
            .field("timeout", &self.timeout)
            .field("queue_capacity", &self.queue_capacity)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_cap", &self.backoff_cap)
            .field("max_attempts", &self.max_attempts)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .field("gzip", &self.gzip)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .field("self_metrics", &self.self_metrics)
            .finish()
    }
}

pub(crate) fn invalid(what: &str, value: &str, reason: &str) -> Error {
    Error::InvalidConfig {
        what: what.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Checks the URL and returns it without credentials and query, for logs
/// and tags.
pub(crate) fn check_url(url: &str) -> Result<String, Error> {
    let uri: Uri = url.parse().map_err(|e: ureq::http::uri::InvalidUri| {
        invalid(
            "url",
            url,
            &format!("it does not parse ({e}); write it as http://host:port/path"),
        )
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(invalid(
                "url",
                url,
                &format!("scheme {other:?} is not supported; use http or https"),
            ))
        }
        None => {
            return Err(invalid(
                "url",
                url,
                "it has no scheme; write it as http://host:port/path",
            ))
        }
    }
    let host = uri.host().unwrap_or("");
    if host.is_empty() {
        return Err(invalid(
            "url",
            url,
            "it has no host; write it as http://host:port/path",
        ));
    }
    let scheme = uri.scheme_str().unwrap_or("http");
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}{}", uri.path()))
}

fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        invalid(
            "header",
            name,
            "a header name is 1 or more of the HTTP token characters (letters, digits and !#$%&'*+-.^_`|~)",
        )
    })?;
    if RESERVED_HEADERS.contains(&parsed.as_str()) {
        return Err(invalid(
            "header",
            name,
            "the exporter sets this header itself; leave it out",
        ));
    }
    // `HeaderValue` takes bytes past ASCII as opaque, but servers and
    // proxies disagree on them (some close the connection): refused here,
    // as the message says, rather than failing every batch later.
    let ascii = value.is_ascii().then_some(value).ok_or(());
    let value = ascii.and_then(|v| HeaderValue::from_str(v).map_err(|_| ())).map_err(|()| {
        invalid(
            "header value",
            value,
            &format!("the value for {name:?} holds a control character or non-ASCII byte; use visible ASCII and spaces"),
        )
    })?;
    Ok((parsed, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what(result: Result<Config, Error>) -> String {
        match result {
            Err(Error::InvalidConfig { what, .. }) => what,
            Err(other) => format!("another error: {other}"),
            Ok(c) => format!("not refused: {}", c.endpoint),
        }
    }

    fn b(url: &str) -> HttpExporterBuilder {
        HttpExporterBuilder::new(url.to_owned())
    }

    #[test]
    fn urls_need_http_scheme_and_host() {
        assert!(b("http://127.0.0.1:4318/v1/metrics").check().is_ok());
        for bad in [
            "",
            "127.0.0.1:4318",
            "ftp://host/x",
            "http://",
            "not a url",
            "/v1/metrics",
        ] {
            assert_eq!(what(b(bad).check()), "url", "{bad:?}");
        }
        let err = b("ftp://host/x")
            .check()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("use http or https"), "{err}");
    }

    #[test]
    fn endpoint_hides_credentials_and_query() -> Result<(), Error> {
        let c = b("http://user:secret@127.0.0.1:9/v1/metrics?token=abc").check()?;
        assert_eq!(c.endpoint, "http://127.0.0.1:9/v1/metrics");
        Ok(())
    }

    #[test]
    fn headers_are_checked() {
        assert!(b("http://h/")
            .header("Authorization", "Bearer x")
            .check()
            .is_ok());
        assert_eq!(
            what(b("http://h/").header("bad name", "x").check()),
            "header"
        );
        assert_eq!(what(b("http://h/").header("", "x").check()), "header");
        assert_eq!(
            what(b("http://h/").header("Content-Type", "text/plain").check()),
            "header"
        );
        assert_eq!(
            what(b("http://h/").header("idempotency-key", "1").check()),
            "header"
        );
        assert_eq!(
            what(b("http://h/").header("X-A", "line\nbreak").check()),
            "header value"
        );
        // Sent as raw UTF-8, some servers dropped the connection.
        assert_eq!(
            what(b("http://h/").header("X-A", "café").check()),
            "header value"
        );
    }

    #[test]
    fn zero_and_inverted_limits_are_refused() {
        assert_eq!(
            what(b("http://h/").queue_capacity(0).check()),
            "queue_capacity"
        );
        assert_eq!(
            what(b("http://h/").timeout(Duration::ZERO).check()),
            "timeout"
        );
        assert_eq!(what(b("http://h/").max_attempts(0).check()), "max_attempts");
        assert_eq!(
            what(b("http://h/").backoff_base(Duration::ZERO).check()),
            "backoff_base"
        );
        assert_eq!(
            what(
                b("http://h/")
                    .backoff_base(Duration::from_secs(2))
                    .backoff_cap(Duration::from_secs(1))
                    .check()
            ),
            "backoff_cap"
        );
        assert_eq!(
            what(b("http://h/").service_name("").check()),
            "service_name"
        );
        assert_eq!(
            what(b("http://h/").resource_attribute("", "x").check()),
            "resource attribute key"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!(
            "{:?}",
            b("http://user:pw@127.0.0.1:9/v1/metrics?token=t0k")
                .header("Authorization", "Bearer s3cret")
        );
        assert!(text.contains("Authorization"), "{text}");
        assert!(text.contains("http://127.0.0.1:9/v1/metrics"), "{text}");
        for secret in ["s3cret", "pw", "t0k"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn resource_has_service_name_and_user_attributes() -> Result<(), Error> {
        let c = b("http://h/")
            .resource_attribute("deployment.environment", "prod")
            .resource_attribute("service.name", "billing")
            .check()?;
        let get = |k: &str| {
            c.resource
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("service.name"), Some("billing"));
        assert_eq!(get("deployment.environment"), Some("prod"));
        assert_eq!(get("telemetry.sdk.name"), Some("census"));
        Ok(())
    }

    #[test]
    fn disagreeing_service_names_are_an_error_and_agreeing_ones_are_not() {
        let err = b("http://h/")
            .service_name("checkout")
            .resource_attribute("service.name", "billing")
            .check();
        assert_eq!(what(err), "service.name");
        assert!(b("http://h/")
            .service_name("checkout")
            .resource_attribute("service.name", "checkout")
            .check()
            .is_ok());
    }

    fn env_builder(vars: &[(&str, &str)]) -> HttpExporterBuilder {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HttpExporterBuilder::from_vars(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn explicit_calls_win_over_the_environment() -> Result<(), Error> {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=env,x-env=1"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_SERVICE_NAME", "env-service"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=attr,region=eu,tier=web",
            ),
        ];
        let c = env_builder(&vars).check()?;
        assert_eq!(c.url, "http://collector:4318/v1/metrics");
        assert_eq!(c.format, HttpFormat::OtlpJson);
        assert_eq!(c.timeout, Duration::from_secs(2));
        let get = |c: &Config, k: &str| {
            c.resource
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get(&c, "service.name").as_deref(), Some("env-service"));
        assert_eq!(get(&c, "region").as_deref(), Some("eu"));
        assert_eq!(c.headers.len(), 2);

        let c = env_builder(&vars)
            .url("http://other:4318/v1/metrics")
            .format(HttpFormat::OtlpProtobuf)
            .timeout(Duration::from_secs(7))
            .header("API-Key", "explicit")
            .service_name("explicit-service")
            .resource_attribute("region", "us")
            .check()?;
        assert_eq!(c.url, "http://other:4318/v1/metrics");
        assert_eq!(c.format, HttpFormat::OtlpProtobuf);
        assert_eq!(c.timeout, Duration::from_secs(7));
        assert_eq!(get(&c, "service.name").as_deref(), Some("explicit-service"));
        assert_eq!(get(&c, "region").as_deref(), Some("us"));
        assert_eq!(get(&c, "tier").as_deref(), Some("web"));
        let headers: Vec<(&str, &str)> = c
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("")))
            .collect();
        assert_eq!(headers, [("x-env", "1"), ("api-key", "explicit")]);
        Ok(())
    }

    #[test]
    fn a_bad_variable_fails_the_build_unless_an_explicit_call_replaces_it() {
        let vars = [("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")];
        assert_eq!(
            what(env_builder(&vars).check()),
            "OTEL_EXPORTER_OTLP_TIMEOUT"
        );
        assert!(env_builder(&vars)
            .timeout(Duration::from_secs(1))
            .check()
            .is_ok());
        let vars = [("OTEL_EXPORTER_OTLP_HEADERS", "x-bad=line%0Abreak")];
        assert_eq!(
            what(env_builder(&vars).check()),
            "OTEL_EXPORTER_OTLP_HEADERS"
        );
    }

    #[test]
    fn remote_write_refuses_gzip() {
        assert_eq!(
            what(
                b("http://h/api/v1/write")
                    .format(HttpFormat::PrometheusRemoteWrite)
                    .gzip(true)
                    .check()
            ),
            "gzip"
        );
    }

    #[test]
    fn remote_write_names_the_variable_that_asked_for_gzip() {
        let vars = [("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")];
        let remote_write = || {
            env_builder(&vars)
                .url("http://h/api/v1/write")
                .format(HttpFormat::PrometheusRemoteWrite)
        };
        assert_eq!(
            what(remote_write().check()),
            "OTEL_EXPORTER_OTLP_COMPRESSION"
        );
        assert!(remote_write().gzip(false).check().is_ok());
        assert_eq!(what(remote_write().gzip(true).check()), "gzip");
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let result = b("https://collector.example/v1/metrics").check();
        if cfg!(feature = "tls") {
            assert!(result.is_ok());
        } else {
            let err = result.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("`tls` feature"), "{err}");
        }
    }
}
