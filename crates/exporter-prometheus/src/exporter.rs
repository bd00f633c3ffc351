//! The exporter a service registers, and its builder.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Error, ExportError, Exporter, Producer, View, ViewData};
use census_prometheus_model::{is_label_name, label_problem, Family, NameClaims};
use parking_lot::{Mutex, RwLock};

use crate::exposition::{encode_settled, Config, Omissions};
use crate::format::PrometheusFormat;
use crate::self_metrics::SelfMetrics;
use crate::server::limits::Limits;
use crate::server::{self, PrometheusServerHandle, Server};

/// Serves census views to Prometheus: renders them in the Prometheus text
/// format (or OpenMetrics) on demand, from an embedded `/metrics` endpoint
/// or from the service's own web framework.
///
/// Register it with a view manager like any exporter; the manager hands it
/// a producer, and every scrape snapshots the views at that moment, not at
/// the last reporting tick. Cloning copies a pointer: keep one clone to
/// render or serve, give another to the manager.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_exporter_prometheus::PrometheusExporter;
///
/// let exporter = PrometheusExporter::builder()
///     .namespace("myapp")
///     .const_label("service", "checkout")?
///     .build()?;
/// // census::view_manager().register_exporter(exporter.clone());
/// let endpoint = exporter.serve("127.0.0.1:0")?;
/// println!("scrape me at {}", endpoint.url());
/// let (content_type, body) = exporter.render();
/// assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
/// assert!(body.is_empty()); // nothing attached yet
/// endpoint.stop();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusExporter {
    shared: Arc<Shared>,
    /// Dropped with the last clone, and stops the endpoints then: their
    /// threads hold `shared`, so without this an exporter nobody
    /// registered or kept would serve until the process exits.
    _owner: Arc<Owner>,
}

/// Stops the endpoints when the last clone of an exporter goes.
#[derive(Debug)]
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.stop_servers(false);
    }
}

/// What the exporter's clones and its endpoint threads share.
pub(crate) struct Shared {
    config: Config,
    limits: Limits,
    producer: RwLock<Option<Arc<dyn Producer>>>,
    self_metrics: Arc<SelfMetrics>,
    /// Whether `self_metrics` reaches the manager (and so the scrapes);
    /// counted either way.
    report_self_metrics: bool,
    /// Every endpoint started and not stopped: each serves until stopped
    /// through its handle, by the exporter's shutdown or when its last
    /// clone is dropped, whether or not its handle is kept. `None` once
    /// the exporter has shut down: no endpoint starts after.
    servers: Mutex<Option<Vec<Arc<Server>>>>,
    // Views already reported as left out, so a clash is logged once, not on
    // every scrape (it is counted on every scrape).
    warned: Mutex<HashSet<String>>,
    // Which registered views hold which Prometheus names, so that a
    // check plans only the views it has not seen.
    claims: Mutex<NameClaims>,
    // Whether exemplar attachments left off for OpenMetrics' label limit
    // were reported: once, since a service attaching long values does so
    // on every scrape.
    warned_attachments: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("attached", &self.producer.read().is_some())
            .field("servers", &self.servers.lock().as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn self_metrics(&self) -> &SelfMetrics {
        &self.self_metrics
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Keeps `server` to stop it at shutdown; stops it and refuses after
    /// the exporter has shut down.
    pub(crate) fn track(&self, server: &Arc<Server>) -> Result<(), Error> {
        let mut servers = self.servers.lock();
        let Some(running) = servers.as_mut() else {
            drop(servers);
            server.stop();
            return Err(Error::ShutDown);
        };
        running.retain(|s| !s.is_stopped());
        running.push(Arc::clone(server));
        Ok(())
    }

    /// Stops every endpoint; with `close`, for good (the exporter shut
    /// down, and `serve` refuses from now on).
    fn stop_servers(&self, close: bool) {
        let servers = {
            let mut servers = self.servers.lock();
            if close {
                servers.take()
            } else {
                servers.as_mut().map(std::mem::take)
            }
        };
        for server in servers.into_iter().flatten() {
            server.stop();
        }
    }

    pub(crate) fn render(&self, format: PrometheusFormat) -> String {
        // Cloned out so that no lock of ours is held while the manager
        // snapshots its views.
        let producer = self.producer.read().clone();
        let mut batch: Vec<ViewData> = producer.map(|p| p.produce()).unwrap_or_default();
        let mut omitted = Omissions::default();
        let self_metrics = &self.self_metrics;
        let body = encode_settled(
            &mut batch,
            &self.config,
            format,
            &mut omitted,
            |batch, omitted| {
                // The batch already holds this exporter's own metrics,
                // taken before the views left out were known: count them
                // in this scrape, not the next.
                self_metrics.omitted(omitted.views.len());
                self_metrics.restate_omitted(batch);
            },
        );
        self.self_metrics.rendered(omitted.rows);
        let new: Vec<(String, String)> = {
            let mut warned = self.warned.lock();
            omitted
                .views
                .into_iter()
                .filter(|(view, _)| warned.insert(view.clone()))
                .collect()
        };
        for (view, reason) in new {
            log::warn!("view {view:?} is left out of Prometheus scrapes: {reason}");
        }
        // Relaxed: only decides whether to log once more.
        if omitted.attachments > 0 && !self.warned_attachments.swap(true, Ordering::Relaxed) {
            log::warn!(
                "{} exemplar attachments were left out of an OpenMetrics scrape: an exemplar's \
                 label names and values may hold at most 128 characters together (attachments \
                 are kept in the order attached while they fit); attach shorter values",
                omitted.attachments
            );
        }
        if omitted.rows > 0 {
            log::warn!(
                "{} rows were left out of a Prometheus scrape: a gauge row whose labels repeat \
                 another row's (Prometheus reads an empty tag value as an absent tag, so the \
                 two are one series and only the row without the tag is served), or a row whose \
                 data does not fit its view (a bug in the producer)",
                omitted.rows
            );
        }
        body
    }
}

impl PrometheusExporter {
    /// Starts a builder with no namespace, no constant labels, and the
    /// endpoint's default limits.
    pub fn builder() -> PrometheusExporterBuilder {
        PrometheusExporterBuilder::default()
    }

    /// Renders every view in the Prometheus text format 0.0.4, as of now.
    ///
    /// Returns the `Content-Type` to send with it and the body. Before the
    /// exporter is registered with a view manager the body is empty (an
    /// empty exposition is valid). Use
    /// [`render_for_accept`](PrometheusExporter::render_for_accept) to
    /// honour a scraper's `Accept` header.
    pub fn render(&self) -> (&'static str, String) {
        self.render_as(PrometheusFormat::Text)
    }

    /// Renders every view in the format a request's `Accept` header asks
    /// for (see [`PrometheusFormat::from_accept`]): OpenMetrics 1.0 when the scraper
    /// prefers it, the text format otherwise.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// let exporter = census_exporter_prometheus::PrometheusExporter::builder().build()?;
    /// let (content_type, body) = exporter.render_for_accept(Some("application/openmetrics-text"));
    /// assert!(content_type.starts_with("application/openmetrics-text"));
    /// assert_eq!(body, "# EOF\n");
    /// # Ok(()) }
    /// ```
    pub fn render_for_accept(&self, accept: Option<&str>) -> (&'static str, String) {
        self.render_as(PrometheusFormat::from_accept(accept))
    }

    /// Renders every view in `format`, as of now; returns the
    /// `Content-Type` and the body.
    ///
    /// Each call (and each of [`render`](PrometheusExporter::render) and
    /// [`render_for_accept`](PrometheusExporter::render_for_accept)) counts
    /// as a scrape in `census/prometheus/scrapes`, as a scrape of the
    /// built-in endpoint does: serving `/metrics` from your own server
    /// shows the same counts.
    pub fn render_as(&self, format: PrometheusFormat) -> (&'static str, String) {
        let body = self.shared.render(format);
        self.shared.self_metrics.scraped(format);
        (format.content_type(), body)
    }

    /// Serves `GET /metrics` on `addr` from threads of its own, until
    /// the exporter is shut down (by its view manager's shutdown), the
    /// returned handle's [`stop`](PrometheusServerHandle::stop) is called,
    /// or the exporter's last clone is dropped (a registered exporter's
    /// manager keeps one until it shuts down). Dropping the handle leaves
    /// the endpoint serving, so `exporter.serve("127.0.0.1:9464")?;` as a
    /// statement is enough.
    ///
    /// `addr` is `host:port`; a bare port (`"9464"` or `":9464"`) listens on
    /// 127.0.0.1 only. Listening on every interface (`"0.0.0.0:9464"`) is
    /// allowed but must be asked for. Port 0 picks a free port: read it
    /// from [`PrometheusServerHandle::local_addr`].
    ///
    /// Other paths are answered 404, other methods on `/metrics` 405, a
    /// request line and headers longer than
    /// [`max_header_bytes`](PrometheusExporterBuilder::max_header_bytes) 431,
    /// HTTP versions other than 1.0 and 1.1 505. Every scrape renders fresh
    /// data, on [`render_threads`](PrometheusExporterBuilder::render_threads)
    /// threads; one more thread does all the socket I/O without ever
    /// waiting on a client, so slow or hostile clients cannot hold up
    /// other scrapes or stopping. The builder's
    /// [`max_connections`](PrometheusExporterBuilder::max_connections),
    /// [`read_timeout`](PrometheusExporterBuilder::read_timeout) and
    /// [`write_timeout`](PrometheusExporterBuilder::write_timeout) bound
    /// what each client holds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (`what` = `listen address`) when `addr`
    /// does not resolve or cannot be listened on (for example the port is
    /// taken), or the endpoint's threads cannot be started, with the
    /// system's reason; [`Error::ShutDown`] once the exporter has shut
    /// down.
    pub fn serve(&self, addr: &str) -> Result<PrometheusServerHandle, Error> {
        server::start(addr, Arc::clone(&self.shared))
    }
}

impl Exporter for PrometheusExporter {
    /// Does nothing: scrapes read fresh data through the producer given to
    /// [`attach`](Exporter::attach) instead of the periodic batch.
    fn export(&self, _batch: &[ViewData]) -> Result<(), ExportError> {
        Ok(())
    }

    /// Stops every endpoint started with [`serve`](PrometheusExporter::serve)
    /// and waits for its threads, which never wait on a client: this
    /// returns once renders in progress finish, whatever the clients do.
    fn shutdown(&self) -> Result<(), ExportError> {
        self.shared.stop_servers(true);
        Ok(())
    }

    /// The exporter's shared state: its clones are one exporter, which a
    /// manager registers once.
    fn instance(&self) -> *const () {
        Arc::as_ptr(&self.shared).cast()
    }

    /// Keeps the producer that every render asks for data. An exporter
    /// serves one manager: attaching a second replaces the first.
    fn attach(&self, producer: Arc<dyn Producer>) {
        if self.shared.producer.write().replace(producer).is_some() {
            log::warn!(
                "a Prometheus exporter was registered with a second view manager; it now \
                 serves only the latest one"
            );
        }
    }

    /// Refuses a view whose Prometheus names would clash: two tag keys that
    /// sanitise to one label, a key that becomes a reserved label (`le`,
    /// `quantile`, `census_overflow`, `__...`) or a constant label, or a
    /// metric name (or sample name, such as a histogram's `_sum`) that a
    /// registered view or the exporter's own metrics already use.
    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        let config = &self.shared.config;
        let own = self
            .shared
            .report_self_metrics
            .then(|| self.shared.self_metrics.views())
            .into_iter()
            .flatten();
        self.shared
            .claims
            .lock()
            .check(view, registered, own, |v| {
                Family::plan(v, &config.namespace, &config.const_labels)
            })
            .map_err(ExportError::from)
    }

    /// The exporter's own metrics (see
    /// [`PrometheusExporterBuilder::self_metrics`]), or `None` when they
    /// were turned off.
    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        if !self.shared.report_self_metrics {
            return None;
        }
        Some(Arc::clone(&self.shared.self_metrics) as Arc<dyn Producer>)
    }

    fn name(&self) -> &str {
        "prometheus"
    }
}

/// Builds a [`PrometheusExporter`]; see [`PrometheusExporter::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct PrometheusExporterBuilder {
    namespace: String,
    const_labels: Vec<(String, String)>,
    limits: Limits,
    self_metrics: bool,
}

impl Default for PrometheusExporterBuilder {
    fn default() -> PrometheusExporterBuilder {
        PrometheusExporterBuilder {
            namespace: String::new(),
            const_labels: Vec::new(),
            limits: Limits::default(),
            self_metrics: true,
        }
    }
}

impl PrometheusExporterBuilder {
    /// A prefix for every metric name: namespace `myapp` turns view
    /// `demo/latency` into `myapp_demo_latency`. Letters, digits and `_`,
    /// not starting with a digit; checked by
    /// [`build`](PrometheusExporterBuilder::build). Default: none.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Adds a label that every series carries, such as
    /// `service="checkout"`. The value may be any text; it is escaped on
    /// output. Default: none.
    ///
    /// Unlike other setters this one checks its input at once, so that the
    /// error names the label among several.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (`what` = `constant label name`) when the
    /// name is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, is `le`,
    /// `quantile` or `census_overflow`, or was already added.
    pub fn const_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, Error> {
        let name = name.into();
        let invalid = |name: String, reason: String| Error::InvalidConfig {
            what: "constant label name".into(),
            value: name,
            reason,
        };
        if !is_label_name(&name) {
            return Err(invalid(
                name,
                "Prometheus label names are ASCII letters, digits and '_', not starting with a \
                 digit"
                    .into(),
            ));
        }
        if let Some(problem) = label_problem(&name) {
            return Err(invalid(name, problem));
        }
        if self.const_labels.iter().any(|(n, _)| *n == name) {
            return Err(invalid(
                name,
                "this constant label was already added; add each label once".into(),
            ));
        }
        self.const_labels.push((name, value.into()));
        Ok(self)
    }

    /// The most connections the endpoint keeps open at once, idle or busy.
    /// A connection that finds it full makes room by closing the
    /// connection that has waited longest for a request (or lingered
    /// longest after its last answer), once that one has been idle for
    /// 100 ms (at once while connections that never sent a request are
    /// closed for room faster than `max_connections` per 200 ms: a flood
    /// of connections that send nothing); when every connection is being answered or
    /// new, newcomers wait for a place, each at most
    /// [`read_timeout`](Self::read_timeout). Each connection costs a file
    /// descriptor, at most [`max_header_bytes`](Self::max_header_bytes)
    /// of buffer while idle, and a rendered page while its answer is
    /// written. At least 1. Default: 64.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.limits.max_connections = connections;
        self
    }

    /// Threads that render scrapes for the endpoint, besides the one
    /// thread that does all its socket I/O. Scrapes of one format waiting
    /// for a render thread share its render. At least 1. Default: 2.
    pub fn render_threads(mut self, threads: usize) -> Self {
        self.limits.render_threads = threads;
        self
    }

    /// How long a client may take to send a whole request line and
    /// headers, counted from when its connection is accepted or its
    /// previous answer written; then the connection is closed. This is
    /// also how long an idle keep-alive connection stays open. Not zero,
    /// at most a day. Default: 5 seconds.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.read_timeout = timeout;
        self
    }

    /// How long an answer may take to be written to its client; a
    /// connection whose answer is not all sent by then is closed and the
    /// answer counted as failed. Not zero, at most a day. Default: 10
    /// seconds
    /// (Prometheus's default scrape timeout).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.limits.write_timeout = timeout;
        self
    }

    /// The cap, in bytes, on a request's line plus headers; a longer head
    /// (or one of more than 64 headers) is answered `431` and its
    /// connection closed. At least 1024. Default: 8192 (8 KiB).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_header_bytes = bytes;
        self
    }

    /// Whether the exporter contributes its own metrics
    /// (`census/prometheus/scrapes`, `refused_requests`,
    /// `closed_connections`, `failed_responses`, `omitted_views`,
    /// `omitted_rows`; see docs/exporters.md) to the manager, through
    /// [`Exporter::self_metrics`], so that they appear in scrapes and reach
    /// every exporter. When off, those names are free for your own views.
    /// Default: `true`.
    pub fn self_metrics(mut self, enabled: bool) -> Self {
        self.self_metrics = enabled;
        self
    }

    /// Checks the configuration and builds the exporter.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] with `what` = `namespace` when the
    /// namespace is not empty and not `[a-zA-Z_][a-zA-Z0-9_]*`; with
    /// `what` naming the setter when `max_connections` or `render_threads`
    /// is 0, `read_timeout` or `write_timeout` is zero or longer than a
    /// day, or `max_header_bytes` is below 1024.
    pub fn build(self) -> Result<PrometheusExporter, Error> {
        if !self.namespace.is_empty() && !is_label_name(&self.namespace) {
            return Err(Error::InvalidConfig {
                what: "namespace".into(),
                value: self.namespace,
                reason: "a Prometheus namespace is ASCII letters, digits and '_', not starting \
                         with a digit, such as \"myapp\""
                    .into(),
            });
        }
        self.limits.check()?;
        let shared = Arc::new(Shared {
            config: Config {
                namespace: self.namespace,
                const_labels: self.const_labels,
            },
            limits: self.limits,
            producer: RwLock::new(None),
            self_metrics: Arc::new(SelfMetrics::new()?),
            report_self_metrics: self.self_metrics,
            servers: Mutex::new(Some(Vec::new())),
            warned: Mutex::new(HashSet::new()),
            claims: Mutex::new(NameClaims::default()),
            warned_attachments: AtomicBool::new(false),
        });
        Ok(PrometheusExporter {
            _owner: Arc::new(Owner(Arc::clone(&shared))),
            shared,
        })
    }
}
