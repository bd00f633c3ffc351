//! The sender thread: takes batches off the queue in order and POSTs each
//! until it is delivered, fails for good, or the shutdown deadline passes.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender, TryRecvError};

use crate::builder::Config;
use crate::delivery_stats::DeliveryStats;
use crate::expired_rows::ExpiredRows;
use crate::format::{ExportMetricsServiceResponse, HttpFormat};
use crate::queue::{Batch, Queue};
use crate::retry::{parse_retry_after, status_is_retryable, Jitter};

/// The remote write protocol version header and the version census speaks.
const REMOTE_WRITE_VERSION_HEADER: &str = "x-prometheus-remote-write-version";
const REMOTE_WRITE_VERSION: &str = "0.1.0";

/// How much of an error response's body goes into logs and `last_error`.
const EXCERPT_BYTES: u64 = 512;
/// How much of a success response's body is read (and dropped) so the
/// connection can be reused; a larger body costs a new connection.
const DRAIN_BYTES: u64 = 64 * 1024;

/// What one attempt came to.
enum Outcome {
    Delivered,
    Retry {
        retry_after: Option<Duration>,
        message: String,
    },
    Permanent {
        message: String,
    },
}

/// How a delivery ended, for the counters.
#[derive(Clone, Copy)]
enum End {
    Sent,
    Failed,
    Abandoned,
}

pub(crate) struct SenderThread {
    config: Arc<Config>,
    queue: Arc<Queue>,
    stats: Arc<DeliveryStats>,
    /// Told of every batch delivered.
    expired: Arc<ExpiredRows>,
    /// Receives the shutdown deadline. Disconnected when every exporter
    /// handle was dropped without a shutdown: then the thread drains
    /// within the configured deadline and ends, like a shutdown.
    control: Receiver<Instant>,
    /// Told once the thread is about to end.
    done: Sender<()>,
    agent: ureq::Agent,
    jitter: Jitter,
    deadline: Option<Instant>,
}

impl SenderThread {
    pub(crate) fn new(
        config: Arc<Config>,
        queue: Arc<Queue>,
        stats: Arc<DeliveryStats>,
        expired: Arc<ExpiredRows>,
        control: Receiver<Instant>,
        done: Sender<()>,
    ) -> SenderThread {
        let agent_config = ureq::Agent::config_builder()
            // Statuses are ours to judge: a 503 is a response, not an error.
            .http_status_as_error(false)
            // A redirected POST is a misconfigured URL; report the 3xx
            // instead of following it with the body.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("census-exporter-http/", env!("CARGO_PKG_VERSION")))
            .timeout_global(Some(config.timeout))
            .build();
        SenderThread {
            agent: ureq::Agent::new_with_config(agent_config),
            config,
            queue,
            stats,
            expired,
            control,
            done,
            jitter: Jitter::new(),
            deadline: None,
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            if self.deadline_passed() {
                break;
            }
            if let Some(batch) = self.queue.take() {
                self.deliver(batch);
                continue;
            }
            if self.deadline.is_some() {
                // Shutting down and nothing left: done early.
                break;
            }
            self.wait_for_work();
        }
        let left = self.queue.abandon_all();
        if left > 0 {
            log::warn!(
                "census http exporter to {}: {left} batches not delivered by the shutdown deadline",
                self.config.endpoint
            );
        }
        let _ = self.done.send(());
    }

    /// Blocks until a batch is queued or a shutdown begins.
    fn wait_for_work(&mut self) {
        let mut select = Select::new();
        let rung = select.recv(self.queue.rung());
        let control = select.recv(&self.control);
        // Readiness only: the batch itself is taken under the queue's
        // lock by `take`.
        let ready = select.ready();
        if ready == rung {
            let _ = self.queue.rung().try_recv();
        } else if ready == control {
            match self.control.try_recv() {
                Ok(deadline) => self.deadline = Some(deadline),
                Err(TryRecvError::Disconnected) => self.orphaned(),
                Err(TryRecvError::Empty) => {}
            }
        }
    }

    /// Every exporter handle is gone: drain as a shutdown would.
    fn orphaned(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.config.shutdown_deadline);
        }
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn deliver(&mut self, batch: Batch) {
        let seq = batch.seq;
        let delta = batch.delta.clone();
        let end = self.attempts(batch);
        // `finish` is false when a shutdown that ran out of time already
        // counted this batch as abandoned (and its data as lost).
        if !self.queue.finish(seq) {
            return;
        }
        if matches!(end, End::Sent) {
            self.expired.delivered(seq);
        }
        let counter = match end {
            End::Sent => &self.stats.sent,
            End::Failed => &self.stats.failed,
            End::Abandoned => &self.stats.abandoned,
        };
        DeliveryStats::add(counter, 1);
        if let (End::Failed | End::Abandoned, Some(data)) = (end, delta) {
            // Delta data no later batch carries: gone for good.
            self.stats.lose(&data);
        }
    }

    fn attempts(&mut self, batch: Batch) -> End {
        let body = match compress(&self.config, batch.body) {
            Ok(body) => body,
            Err(e) => {
                let message = format!(
                    "census http exporter to {}: batch {} not sent: compression failed: {e}",
                    self.config.endpoint, batch.id
                );
                log::warn!("{message}");
                self.stats.error(message);
                return End::Failed;
            }
        };
        let max = self.config.backoff.max_attempts;
        let mut attempt = 1;
        loop {
            let timeout = match self.deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return End::Abandoned;
                    }
                    left.min(self.config.timeout)
                }
                None => self.config.timeout,
            };
            match self.attempt(&batch.id, &body, timeout) {
                Outcome::Delivered => return End::Sent,
                Outcome::Permanent { message } => {
                    log::warn!("{message}; not retried");
                    return End::Failed;
                }
                Outcome::Retry {
                    retry_after,
                    message,
                } => {
                    // An attempt cut short by the shutdown deadline says
                    // nothing about the endpoint: the batch is abandoned,
                    // not failed.
                    if self.deadline_passed() {
                        return End::Abandoned;
                    }
                    // A batch of delta data is the only copy of its
                    // values: it is retried until it arrives, the shutdown
                    // deadline passes, or the endpoint refuses it for
                    // good. The batches behind it wait, merged once the
                    // queue is full.
                    if attempt >= max && batch.delta.is_none() {
                        log::warn!("{message}; giving up after {attempt} attempts");
                        return End::Failed;
                    }
                    if attempt % max == 0 {
                        log::warn!(
                            "{message}; still retrying after {attempt} attempts: the batch \
                             holds delta data, which no later batch carries"
                        );
                    }
                    let wait = self
                        .config
                        .backoff
                        .wait(attempt, retry_after, &mut self.jitter);
                    log::debug!(
                        "census http exporter to {}: retrying batch {} in {wait:?}",
                        self.config.endpoint,
                        batch.id
                    );
                    if !self.pause(wait) {
                        return End::Abandoned;
                    }
                    attempt += 1;
                    DeliveryStats::add(&self.stats.retried, 1);
                }
            }
        }
    }

    /// Waits `wait`, cut short by the shutdown deadline. Returns false when
    /// the deadline passed.
    fn pause(&mut self, wait: Duration) -> bool {
        let mut wake = Instant::now() + wait;
        loop {
            if let Some(deadline) = self.deadline {
                wake = wake.min(deadline);
            }
            let now = Instant::now();
            if now >= wake {
                break;
            }
            match self.control.recv_timeout(wake - now) {
                Ok(deadline) => self.deadline = Some(deadline),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    self.orphaned();
                    // The channel no longer blocks; sleep out the rest.
                    if let Some(deadline) = self.deadline {
                        wake = wake.min(deadline);
                    }
                    std::thread::sleep(wake.saturating_duration_since(Instant::now()));
                    break;
                }
            }
        }
        !self.deadline_passed()
    }

    fn attempt(&mut self, id: &str, body: &[u8], timeout: Duration) -> Outcome {
        let config = &self.config;
        let mut request = self
            .agent
            .post(&config.url)
            .header("content-type", config.format.content_type())
            .header("idempotency-key", id);
        if config.format == HttpFormat::PrometheusRemoteWrite {
            request = request
                .header("content-encoding", "snappy")
                .header(REMOTE_WRITE_VERSION_HEADER, REMOTE_WRITE_VERSION);
        } else if config.gzip {
            request = request.header("content-encoding", "gzip");
        }
        for (name, value) in &config.headers {
            request = request.header(name.clone(), value.clone());
        }
        let result = request
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body);
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                let tls = is_tls_failure(&config.url, &err);
                let hint = if tls {
                    "; TLS failed: check that the server speaks https on this port (not \
                     plain HTTP) and has a certificate the Mozilla roots trust"
                } else {
                    ""
                };
                let message = format!(
                    "census http exporter to {}: batch {id}: {err}{hint}",
                    config.endpoint
                );
                let retry = !tls && transport_is_retryable(&err);
                log::debug!("{message}");
                self.stats.error(message.clone());
                return if retry {
                    Outcome::Retry {
                        retry_after: None,
                        message,
                    }
                } else {
                    Outcome::Permanent { message }
                };
            }
        };
        let status = response.status().as_u16();
        self.stats.status(status);
        if (200..300).contains(&status) {
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let mut answer = Vec::new();
            let _ = response
                .body_mut()
                .as_reader()
                .take(DRAIN_BYTES)
                .read_to_end(&mut answer);
            if config.format.is_otlp() {
                if let Some(partial) = partial_success(config.format, &content_type, &answer) {
                    self.partial(id, partial);
                }
            }
            return Outcome::Delivered;
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let excerpt = excerpt(response.body_mut());
        let message = format!(
            "census http exporter to {}: batch {id}: status {status}: {excerpt}",
            config.endpoint
        );
        log::debug!("{message}");
        self.stats.error(message.clone());
        if status_is_retryable(status, config.format) {
            Outcome::Retry {
                retry_after,
                message,
            }
        } else {
            Outcome::Permanent { message }
        }
    }
}

impl SenderThread {
    /// Counts and logs what an OTLP receiver said it rejected. The batch is
    /// delivered: OTLP says a partial success must not be retried.
    fn partial(&self, id: &str, partial: PartialSuccess) {
        if partial.rejected == 0 && partial.message.is_empty() {
            return;
        }
        let message = format!(
            "census http exporter to {}: batch {id}: the receiver rejected {} data points: {}",
            self.config.endpoint,
            partial.rejected,
            if partial.message.is_empty() {
                "(no message)"
            } else {
                partial.message.as_str()
            }
        );
        log::warn!("{message}");
        self.stats.partial(partial.rejected, message);
    }
}

/// What an OTLP receiver's `partial_success` said.
#[derive(Debug, PartialEq)]
struct PartialSuccess {
    rejected: u64,
    message: String,
}

/// Reads `partial_success` from an OTLP response body: protobuf when the
/// response says `application/x-protobuf` (or says nothing and the request
/// was protobuf), JSON otherwise. A body that does not parse, or has no
/// `partial_success`, reports nothing: the batch was accepted.
fn partial_success(format: HttpFormat, content_type: &str, body: &[u8]) -> Option<PartialSuccess> {
    if body.is_empty() {
        return None;
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let protobuf = match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => true,
        "" => format == HttpFormat::OtlpProtobuf,
        _ => false,
    };
    if protobuf {
        use prost::Message;
        let response = ExportMetricsServiceResponse::decode(body).ok()?;
        let partial = response.partial_success?;
        return Some(PartialSuccess {
            rejected: u64::try_from(partial.rejected_data_points).unwrap_or(0),
            message: partial.error_message,
        });
    }
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let partial = json
        .get("partialSuccess")
        .or_else(|| json.get("partial_success"))?;
    // proto3 JSON writes int64 as a string; accept a number too.
    let rejected = partial
        .get("rejectedDataPoints")
        .or_else(|| partial.get("rejected_data_points"))
        .and_then(|v| match v {
            serde_json::Value::String(s) => s.parse::<u64>().ok(),
            other => other.as_u64(),
        })
        .unwrap_or(0);
    let message = partial
        .get("errorMessage")
        .or_else(|| partial.get("error_message"))
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    Some(PartialSuccess { rejected, message })
}

/// The body as it goes on the wire: snappy for remote write (which
/// requires it), gzip when asked for, or as it is.
fn compress(config: &Config, body: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if config.format == HttpFormat::PrometheusRemoteWrite {
        snap::raw::Encoder::new()
            .compress_vec(&body)
            .map_err(std::io::Error::other)
    } else if config.gzip {
        gzip(&body)
    } else {
        Ok(body)
    }
}

/// Transport failures that a later attempt may not meet: the network, the
/// peer's state, a timeout. Configuration problems (TLS refused, bad URI)
/// do not get better by retrying.
fn transport_is_retryable(err: &ureq::Error) -> bool {
    matches!(
        err,
        ureq::Error::Timeout(_)
            | ureq::Error::Io(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
            | ureq::Error::ConnectProxyFailed(_)
    )
}

/// Whether a request to an `https` URL failed in TLS: rustls reports its
/// handshake and record errors (an untrusted or mismatched certificate, a
/// plain-HTTP answer to the ClientHello) as I/O errors of kind
/// `InvalidData`, which plain HTTP here never produces. Retrying does not
/// change the server's certificate or protocol.
fn is_tls_failure(url: &str, err: &ureq::Error) -> bool {
    let https = url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    https && matches!(err, ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData)
}

/// The start of a response body as one printable line.
fn excerpt(body: &mut ureq::Body) -> String {
    let mut buf = Vec::new();
    let _ = body.as_reader().take(EXCERPT_BYTES).read_to_end(&mut buf);
    let text: String = String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text.to_owned()
    }
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() -> std::io::Result<()> {
        let body = br#"{"schema":"census.v1","views":[]}"#.repeat(50);
        let packed = gzip(&body)?;
        assert!(packed.len() < body.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut out)?;
        assert_eq!(out, body);
        Ok(())
    }

    #[test]
    fn partial_success_is_read_from_json_and_protobuf() {
        use prost::Message;
        let json = br#"{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"bad unit"}}"#;
        assert_eq!(
            partial_success(HttpFormat::OtlpJson, "application/json", json),
            Some(PartialSuccess {
                rejected: 3,
                message: "bad unit".into()
            })
        );
        let snake = br#"{"partial_success":{"rejected_data_points":2}}"#;
        assert_eq!(
            partial_success(
                HttpFormat::OtlpJson,
                "application/json; charset=utf-8",
                snake
            )
            .map(|p| p.rejected),
            Some(2)
        );
        let proto = ExportMetricsServiceResponse {
            partial_success: Some(crate::format::ExportMetricsPartialSuccess {
                rejected_data_points: 5,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            partial_success(HttpFormat::OtlpProtobuf, "application/x-protobuf", &proto),
            Some(PartialSuccess {
                rejected: 5,
                message: "too old".into()
            })
        );
        // No content type: the request's encoding decides.
        assert_eq!(
            partial_success(HttpFormat::OtlpProtobuf, "", &proto).map(|p| p.rejected),
            Some(5)
        );
        assert_eq!(
            partial_success(HttpFormat::OtlpJson, "application/json", b"{}"),
            None
        );
        assert_eq!(partial_success(HttpFormat::OtlpJson, "", b""), None);
        assert_eq!(
            partial_success(HttpFormat::OtlpJson, "text/plain", b"ok"),
            None
        );
    }
}
