//! The exporter handle: serialises and enqueues on `export`, reports
//! counters, and stops the sender thread on `shutdown`.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use census_core::{
    merge_batches_keeping, DeliveryReport, Error, ExportError, Exporter, Producer, Temporality,
    View, ViewData,
};
use census_prometheus_model::{Family, NameClaims};
use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::builder::{invalid, Config, HttpExporterBuilder};
use crate::delivery_stats::{DeliveryStats, HttpExporterMetrics};
use crate::expired_rows::ExpiredRows;
use crate::format::{Encoder, HttpFormat, Omissions, OVERFLOW_ATTRIBUTE};
use crate::queue::{Batch, Queue};
use crate::retry::random_u64;
use crate::self_metrics::SelfMetrics;
use crate::sender::SenderThread;

/// Pushes view data to an HTTP endpoint from a queue of its own.
///
/// Build it with [`HttpExporter::builder`], register a clone with a view
/// manager (`vm.register_exporter(http.clone())`), and keep a handle to
/// read [`metrics`](HttpExporter::metrics). Clones share one queue, one
/// sender thread and one set of counters.
///
/// - `export` serialises the batch and enqueues it; it never waits on the
///   network. A full queue drops its oldest batch (counted).
/// - One sender thread POSTs batches in order, retrying as the crate docs
///   describe.
/// - `shutdown` keeps delivering until the queue is empty or the shutdown
///   deadline passes, then stops the thread; batches left are counted as
///   abandoned and reported in its error.
///
/// If every handle is dropped without a shutdown, the sender thread drains
/// within the shutdown deadline and ends on its own.
#[derive(Clone)]
pub struct HttpExporter {
    shared: Arc<Shared>,
}

struct Shared {
    config: Arc<Config>,
    encoder: Encoder,
    queue: Arc<Queue>,
    stats: Arc<DeliveryStats>,
    /// Rows of views with expiry whose last value no delivered batch
    /// carried yet.
    expired: Arc<ExpiredRows>,
    /// A random prefix making batch ids unique across exporters and
    /// restarts, so a receiver's duplicate check never mistakes a new
    /// batch for an old one.
    instance: String,
    next_seq: AtomicU64,
    /// Set once `shutdown` begins; `export` refuses batches afterwards.
    /// `export` holds the read side from its check until its batch is
    /// queued, and `shutdown` sets it under the write side, so a batch is
    /// either refused or queued before the sender's final drain begins;
    /// never queued behind it, where nothing would send or count it.
    closed: RwLock<bool>,
    worker: Mutex<Option<Worker>>,
    self_metrics: Option<Arc<SelfMetrics>>,
    name: String,
    /// Views already reported as left out, so a view that can never be
    /// sent is logged once, not every period (it is counted every time).
    warned: Mutex<HashSet<String>>,
    /// Remote write: which registered views hold which Prometheus names.
    name_claims: Mutex<NameClaims>,
}

struct Worker {
    control: Sender<Instant>,
    done: crossbeam_channel::Receiver<()>,
    thread: JoinHandle<()>,
}

impl HttpExporter {
    /// Starts an exporter that POSTs to `url` (`http://` or `https://`).
    /// Every setting has a default; [`HttpExporterBuilder::build`] checks
    /// them all.
    pub fn builder(url: impl Into<String>) -> HttpExporterBuilder {
        HttpExporterBuilder::new(url.into())
    }

    /// A builder configured the way OpenTelemetry SDKs are, from the
    /// environment (the variables of the OpenTelemetry specification):
    ///
    /// | variable | sets |
    /// |---|---|
    /// | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` | the URL, used as it is |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | the URL, with `/v1/metrics` added to its path, before any query (default `http://localhost:4318`) |
    /// | `OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL` | `http/protobuf` (default): [`HttpFormat::OtlpProtobuf`]; `http/json`: [`HttpFormat::OtlpJson`]; `grpc` is refused |
    /// | `OTEL_EXPORTER_OTLP_(METRICS_)HEADERS` | headers, `key=value,...`, values percent-decoded |
    /// | `OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT` | the request timeout, in milliseconds |
    /// | `OTEL_EXPORTER_OTLP_(METRICS_)COMPRESSION` | `gzip` or `none` |
    /// | `OTEL_SERVICE_NAME` | `service.name` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | resource attributes, `key=value,...`, keys and values percent-decoded; its `service.name` yields to `OTEL_SERVICE_NAME` |
    ///
    /// The `METRICS_` variable wins over the general one; an empty variable
    /// counts as unset. Calls on the returned builder win over the
    /// environment: `.url(..)`, `.format(..)`, `.timeout(..)`, `.gzip(..)`
    /// and `.service_name(..)` replace what a variable said, `.header(..)`
    /// and `.resource_attribute(..)` replace the variable's entry of the
    /// same name. A bad value fails [`build`](HttpExporterBuilder::build)
    /// with [`Error::InvalidConfig`] whose `what` names the variable, unless
    /// an explicit call set the same thing.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_exporter_http::HttpExporter;
    ///
    /// // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 OTEL_SERVICE_NAME=checkout
    /// let http = HttpExporter::builder_from_env()
    ///     .header("x-tenant", "shop") // on top of OTEL_EXPORTER_OTLP_HEADERS
    ///     .build()?;
    /// # let _ = http;
    /// # Ok(()) }
    /// ```
    pub fn builder_from_env() -> HttpExporterBuilder {
        HttpExporterBuilder::from_env()
    }

    pub(crate) fn start(config: Config) -> Result<HttpExporter, Error> {
        let config = Arc::new(config);
        let stats = Arc::new(DeliveryStats::default());
        let queue = Arc::new(Queue::new(config.queue_capacity, Arc::clone(&stats)));
        let (control_tx, control_rx) = crossbeam_channel::bounded(1);
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let expired = Arc::new(ExpiredRows::default());
        let sender = SenderThread::new(
            Arc::clone(&config),
            Arc::clone(&queue),
            Arc::clone(&stats),
            Arc::clone(&expired),
            control_rx,
            done_tx,
        );
        let thread = std::thread::Builder::new()
            .name("census-http-exporter".to_owned())
            .spawn(move || sender.run())
            .map_err(|e| {
                invalid(
                    "sender thread",
                    &config.endpoint,
                    &format!("the operating system refused a new thread: {e}"),
                )
            })?;
        let self_metrics = if config.self_metrics {
            Some(Arc::new(SelfMetrics::new(
                &config.endpoint,
                Arc::clone(&stats),
                Arc::clone(&queue),
            )?))
        } else {
            None
        };
        Ok(HttpExporter {
            shared: Arc::new(Shared {
                encoder: Encoder::new(config.format, config.resource.clone()),
                name: format!("http exporter ({})", config.endpoint),
                config,
                queue,
                stats,
                expired,
                instance: format!("{:016x}", random_u64()),
                next_seq: AtomicU64::new(0),
                closed: RwLock::new(false),
                worker: Mutex::new(Some(Worker {
                    control: control_tx,
                    done: done_rx,
                    thread,
                })),
                self_metrics,
                warned: Mutex::new(HashSet::new()),
                name_claims: Mutex::new(NameClaims::default()),
            }),
        })
    }

    /// A snapshot of the delivery counters; cheap enough to call at any
    /// time.
    pub fn metrics(&self) -> HttpExporterMetrics {
        self.shared.stats.snapshot(self.shared.queue.pending())
    }

    /// The endpoint batches go to, without credentials or query.
    pub fn endpoint(&self) -> &str {
        &self.shared.config.endpoint
    }

    /// The body format.
    pub fn format(&self) -> HttpFormat {
        self.shared.config.format
    }

    /// The body `export` would queue for `batch` (before gzip or snappy), for
    /// inspecting the format or measuring its cost. Sends nothing.
    ///
    /// # Errors
    ///
    /// An [`ExportError`] if the batch cannot be serialised, which the
    /// formats in this crate never cause.
    pub fn encode(&self, batch: &[ViewData]) -> Result<Vec<u8>, ExportError> {
        self.shared.encoder.preview(batch)
    }
}

impl Shared {
    /// Folds `older`, a queued batch of delta data the full queue must make
    /// room from, into `newer`, the batch behind it; see `Queue::push`.
    fn merge(&self, older: Batch, newer: Batch) -> Batch {
        let Some(data) = older.delta else {
            // The queue merges only batches of delta data.
            return newer;
        };
        let Some(later) = newer.delta.clone() else {
            // A batch of cumulative data cannot carry delta values; never
            // when every batch comes through the same delta processor.
            self.stats.lose(&data);
            return newer;
        };
        let mut merged = Vec::clone(&data);
        // The older batch's rows of a view registered anew in between
        // cannot travel with the newer: lost, values kept for the report.
        let uncarried = merge_batches_keeping(&mut merged, Vec::clone(&later));
        if !uncarried.is_empty() {
            self.stats.lose(&uncarried);
        }
        match self.encoder.encode(&merged) {
            Ok((body, omitted)) => {
                self.count_omissions(omitted);
                Batch {
                    body,
                    delta: Some(Arc::new(merged)),
                    ..newer
                }
            }
            Err(err) => {
                log::warn!(
                    "{}: two queued batches of delta data could not be merged ({err}); the \
                     older one is lost",
                    self.name
                );
                self.stats.lose(&data);
                newer
            }
        }
    }

    /// Counts what an encoding left out, and logs each view's reason once.
    fn count_omissions(&self, omitted: Omissions) {
        DeliveryStats::add(&self.stats.omitted_views, omitted.views.len() as u64);
        DeliveryStats::add(&self.stats.omitted_rows, omitted.rows);
        if omitted.views.is_empty() && omitted.rows == 0 {
            return;
        }
        let new: Vec<(String, String)> = {
            let mut warned = self.warned.lock();
            omitted
                .views
                .into_iter()
                .filter(|(view, _)| warned.insert(view.clone()))
                .collect()
        };
        for (view, reason) in new {
            log::warn!("{}: view {view:?} is left out: {reason}", self.name);
        }
        if omitted.rows > 0 {
            log::debug!(
                "{}: {} rows left out of a batch (see HttpExporterMetrics::omitted_rows)",
                self.name,
                omitted.rows
            );
        }
    }
}

impl fmt::Debug for HttpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpExporter")
            .field("endpoint", &self.shared.config.endpoint)
            .field("format", &self.shared.config.format)
            .field("queue_capacity", &self.shared.config.queue_capacity)
            .finish_non_exhaustive()
    }
}

impl Exporter for HttpExporter {
    /// Serialises the batch and enqueues it; never waits on the network.
    ///
    /// # Errors
    ///
    /// After [`shutdown`](Exporter::shutdown) began, or if the batch could
    /// not be serialised; the batch is not queued then. A full queue is not
    /// an error: the oldest batch is dropped and counted in
    /// [`HttpExporterMetrics::dropped`] (or, if it holds delta data, merged
    /// into the next and counted in [`HttpExporterMetrics::merged`]).
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        let shared = &self.shared;
        // Held until the batch is queued (see `Shared::closed`).
        let closed = shared.closed.read();
        if *closed {
            return Err(ExportError::new(format!(
                "{} is shut down; batch of {} views not sent",
                shared.name,
                batch.len()
            )));
        }
        // Relaxed: the counter only has to hand out distinct numbers.
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let (carried, cut) = shared.expired.carry(seq, batch);
        if cut > 0 {
            DeliveryStats::add(&shared.stats.expired_rows_lost, cut);
            log::warn!(
                "{}: {cut} rows of views with expire_after expired while no batch carrying \
                 their last values was delivered, more than a view's row limit of them; \
                 those values are lost",
                shared.name
            );
        }
        let batch: &[ViewData] = carried.as_deref().unwrap_or(batch);
        let (body, omitted) = shared.encoder.encode(batch)?;
        // Delta data the format cannot carry (remote write) never arrives:
        // lost now, values kept for the report, and not queued to be lost
        // again with its batch.
        let never = |d: &&ViewData| {
            d.temporality == Temporality::Delta
                && omitted.views.iter().any(|(name, _)| name == d.view.name())
        };
        let left_out: Vec<ViewData> = batch.iter().filter(never).cloned().collect();
        if !left_out.is_empty() {
            shared.stats.lose(&left_out);
        }
        let delta = batch
            .iter()
            .any(|d| d.temporality == Temporality::Delta && !never(&d))
            .then(|| Arc::new(batch.iter().filter(|d| !never(d)).cloned().collect()));
        shared.count_omissions(omitted);
        let batch = Batch {
            seq,
            id: format!("{}-{seq}", shared.instance),
            body,
            delta,
        };
        let dropped = shared
            .queue
            .push(batch, |older, newer| shared.merge(older, newer));
        drop(closed);
        if dropped > 0 {
            log::warn!(
                "{}: queue full ({} batches); dropped the {dropped} oldest",
                shared.name,
                shared.config.queue_capacity
            );
        }
        Ok(())
    }

    /// The exporter's shared state: its clones share one queue and one
    /// sender, so a manager takes them as one exporter and registers it
    /// once.
    fn instance(&self) -> *const () {
        Arc::as_ptr(&self.shared).cast()
    }

    /// Delivers what is queued until the queue is empty or the shutdown
    /// deadline passes, then stops the sender thread. Returns within the
    /// deadline even when the endpoint hangs. A second call does nothing.
    ///
    /// # Errors
    ///
    /// When batches were left undelivered at the deadline: the message
    /// says how many (also in [`HttpExporterMetrics::abandoned`]).
    fn shutdown(&self) -> Result<(), ExportError> {
        let shared = &self.shared;
        // From the call: waiting for racing exports counts against it.
        let deadline = Instant::now() + shared.config.shutdown_deadline;
        // Waits for exports that passed the check to queue their batches.
        *shared.closed.write() = true;
        let Some(worker) = shared.worker.lock().take() else {
            return Ok(());
        };
        // The channel holds one message and this is the only send.
        let _ = worker.control.try_send(deadline);
        let finished = match worker.done.recv_deadline(deadline) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        };
        if finished {
            let _ = worker.thread.join();
        } else {
            // The sender is stuck in a request that outlives the deadline
            // (its timeout is cut to the deadline, so not for long). Count
            // what it holds now; it ends on its own when the request
            // returns, and `finish` keeps it from counting twice.
            log::warn!(
                "{}: sender still busy at the shutdown deadline; leaving it to end on its own",
                shared.name
            );
        }
        // Left by a sender that gave up at the deadline (exports racing
        // with this shutdown queued theirs before the drain began).
        shared.queue.abandon_all();
        let m = self.metrics();
        if m.failed + m.dropped + m.abandoned > 0 || m.lost_rows > 0 {
            let mut message = format!(
                "{}: batches not delivered: {} failed, {} dropped while queued, {} abandoned \
                 at the {:?} shutdown deadline ({} sent)",
                shared.name,
                m.failed,
                m.dropped,
                m.abandoned,
                shared.config.shutdown_deadline,
                m.sent
            );
            if m.lost_rows > 0 {
                message.push_str(&format!(
                    "; {} rows of delta data lost for good",
                    m.lost_rows
                ));
            }
            return Err(ExportError::new(message));
        }
        Ok(())
    }

    /// Every counter of [`metrics`](HttpExporter::metrics), with the delta
    /// data that never arrived.
    fn delivery(&self) -> Option<DeliveryReport> {
        let m = self.metrics();
        let mut counters: Vec<(String, u64)> = vec![
            ("enqueued".to_owned(), m.enqueued),
            ("pending".to_owned(), m.pending),
            ("sent".to_owned(), m.sent),
            ("retried".to_owned(), m.retried),
            ("failed".to_owned(), m.failed),
            ("dropped".to_owned(), m.dropped),
            ("merged".to_owned(), m.merged),
            ("abandoned".to_owned(), m.abandoned),
            ("errors".to_owned(), m.errors),
            ("lost_rows".to_owned(), m.lost_rows),
            ("expired_rows_lost".to_owned(), m.expired_rows_lost),
            ("rejected_points".to_owned(), m.rejected_points),
            ("omitted_views".to_owned(), m.omitted_views),
            ("omitted_rows".to_owned(), m.omitted_rows),
        ];
        counters.extend(
            m.status_codes
                .iter()
                .map(|(status, n)| (format!("status_{status}"), *n)),
        );
        let mut report = DeliveryReport::new();
        report.delivered = m.sent;
        report.pending = m.pending;
        report.failed = m.failed;
        report.dropped = m.dropped;
        report.merged = m.merged;
        report.abandoned = m.abandoned;
        report.errors = m.errors;
        report.lost_rows = m.lost_rows;
        report.lost = self.shared.stats.lost();
        report.last_error = m.last_error;
        report.counters = counters;
        Some(report)
    }

    /// With [`HttpFormat::PrometheusRemoteWrite`], refuses a view whose
    /// Prometheus names would clash, by the Prometheus exporter's rules: two
    /// tag keys that become one label, a key that becomes a reserved label
    /// (`le`, `quantile`, `census_overflow`, `__...`) or `job`/`instance`,
    /// or a metric or sample name that a registered view or the exporter's
    /// own metrics already use.
    /// Every other format accepts every view.
    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        if matches!(
            self.shared.config.format,
            HttpFormat::OtlpJson | HttpFormat::OtlpProtobuf
        ) {
            // OTLP wants an attribute once per point; the overflow row
            // carries this one (a constant tag a pipeline adds would
            // repeat it there).
            if view
                .tag_keys()
                .iter()
                .any(|k| k.name() == OVERFLOW_ATTRIBUTE)
            {
                return Err(ExportError::from(format!(
                    "its tag key {OVERFLOW_ATTRIBUTE:?} is the attribute OTLP marks the overflow \
                     row with; rename the key"
                )));
            }
            return Ok(());
        }
        if self.shared.config.format != HttpFormat::PrometheusRemoteWrite {
            return Ok(());
        }
        let labels = self.shared.encoder.const_labels();
        let own = self.shared.self_metrics.iter().flat_map(|m| m.views());
        self.shared
            .name_claims
            .lock()
            .check(view, registered, own, |v| Family::plan(v, "", labels))
            .map_err(ExportError::from)
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        self.shared
            .self_metrics
            .as_ref()
            .map(|p| Arc::clone(p) as Arc<dyn Producer>)
    }

    fn name(&self) -> &str {
        &self.shared.name
    }
}
