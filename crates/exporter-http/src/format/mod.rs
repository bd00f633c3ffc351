//! Body formats: census's own JSON schema, OTLP/HTTP (JSON or protobuf) and
//! Prometheus remote write.

mod census_json;
mod json_number;
mod otlp_json;
mod otlp_mapping;
mod otlp_messages;
mod otlp_proto;
mod remote_write;
mod remote_write_messages;

use std::sync::atomic::{AtomicI64, Ordering};

use census_core::{ExportError, ViewData};

pub(crate) use otlp_mapping::OVERFLOW_ATTRIBUTE;
#[cfg(test)]
pub(crate) use otlp_messages::ExportMetricsPartialSuccess;
pub(crate) use otlp_messages::ExportMetricsServiceResponse;

/// The body format an [`HttpExporter`](crate::HttpExporter) POSTs.
///
/// The JSON formats write 64-bit integers (counts, integer sums, times in
/// Unix nanoseconds) as JSON strings, so that every JSON parser reads them
/// exactly, and non-finite floats as the strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"`. `docs/http-exporter.md` has an example body of each
/// format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HttpFormat {
    /// census's own versioned schema:
    /// `{"schema":"census.v1","resource":{...},"views":[...]}`, one entry
    /// per view with every row, its tags by key, and its value.
    /// `Content-Type: application/json`.
    #[default]
    Json,
    /// An OTLP/HTTP JSON `ExportMetricsServiceRequest`, as an OpenTelemetry
    /// Collector's OTLP/HTTP receiver accepts at `/v1/metrics`: Count and
    /// Sum become cumulative monotonic sums, UpDownSum a cumulative
    /// non-monotonic sum, LastValue a gauge, and Distribution a cumulative
    /// histogram. The overflow row carries the attribute
    /// `otel.metric.overflow=true`. `Content-Type: application/json`.
    OtlpJson,
    /// The same `ExportMetricsServiceRequest` as [`OtlpJson`](Self::OtlpJson),
    /// as protobuf: `Content-Type: application/x-protobuf`, the default of
    /// OpenTelemetry Collectors and most vendors' OTLP endpoints.
    OtlpProtobuf,
    /// Prometheus remote write 1.0: a protobuf `WriteRequest`, snappy
    /// block compressed (`Content-Encoding: snappy`,
    /// `X-Prometheus-Remote-Write-Version: 0.1.0`), for Prometheus's
    /// remote write receiver, Cortex, Mimir, Thanos Receive or
    /// VictoriaMetrics. Views are named as the Prometheus exporter names
    /// them (`_total`, `_bucket`/`le`, `_sum`, `_count`, the overflow
    /// label; an UpDownSum is a gauge, without `_total`), each series gets
    /// one sample at the export time, and `job`
    /// (and `instance`, from `service.instance.id`) label every series.
    /// Delta views are left out (counted in
    /// [`HttpExporterMetrics::omitted_views`](crate::HttpExporterMetrics::omitted_views)):
    /// Prometheus holds cumulative counters. Only 429 and 5xx are retried.
    PrometheusRemoteWrite,
}

impl HttpFormat {
    /// The `Content-Type` of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            HttpFormat::Json | HttpFormat::OtlpJson => "application/json",
            HttpFormat::OtlpProtobuf | HttpFormat::PrometheusRemoteWrite => {
                "application/x-protobuf"
            }
        }
    }

    /// Whether the receiver answers with an OTLP `ExportMetricsServiceResponse`
    /// that may report a partial success.
    pub(crate) fn is_otlp(self) -> bool {
        matches!(self, HttpFormat::OtlpJson | HttpFormat::OtlpProtobuf)
    }
}

/// What an encoding left out, so the exporter can log and count it.
#[derive(Debug, Default)]
pub(crate) struct Omissions {
    /// Views left out whole, with the reason.
    pub(crate) views: Vec<(String, String)>,
    /// Rows left out: their data does not fit their view, or they are one
    /// series with another row and cannot be added (gauges).
    pub(crate) rows: u64,
}

/// Serialises batches in one format, with the resource attributes fixed at
/// build time.
#[derive(Debug)]
pub(crate) struct Encoder {
    format: HttpFormat,
    resource: Vec<(String, String)>,
    /// Remote write's `job` and `instance`, sorted by name.
    const_labels: Vec<(String, String)>,
    /// Remote write: the earliest timestamp (ms) the next batch's samples
    /// may carry, one past the latest sent, so no two batches put values
    /// of a series at one timestamp (which receivers refuse).
    next_timestamp_ms: AtomicI64,
}

impl Encoder {
    pub(crate) fn new(format: HttpFormat, resource: Vec<(String, String)>) -> Encoder {
        Encoder {
            format,
            const_labels: remote_write::const_labels(&resource),
            resource,
            next_timestamp_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The labels remote write puts on every series (`job`, `instance`).
    pub(crate) fn const_labels(&self) -> &[(String, String)] {
        &self.const_labels
    }

    /// The body for one batch to be sent (before compression), and what it
    /// left out. Remote write samples come after the previous batch's.
    pub(crate) fn encode(&self, batch: &[ViewData]) -> Result<(Vec<u8>, Omissions), ExportError> {
        self.encode_with(batch, true)
    }

    /// The body `encode` would give now, without moving remote write's
    /// timestamps on: for looking at, not sending.
    pub(crate) fn preview(&self, batch: &[ViewData]) -> Result<Vec<u8>, ExportError> {
        self.encode_with(batch, false).map(|(body, _)| body)
    }

    fn encode_with(
        &self,
        batch: &[ViewData],
        sending: bool,
    ) -> Result<(Vec<u8>, Omissions), ExportError> {
        let mut omitted = Omissions::default();
        // Measured body sizes per row (tags, times, value) are about 190
        // bytes for census.v1 and 250 for OTLP JSON; reserving that up front
        // saves the doubling copies of a multi-megabyte buffer. The
        // protobuf encoders size their buffer exactly.
        let per_row = match self.format {
            HttpFormat::Json => 200,
            HttpFormat::OtlpJson => 260,
            HttpFormat::OtlpProtobuf | HttpFormat::PrometheusRemoteWrite => 0,
        };
        let rows: usize = batch.iter().map(|v| v.rows.len() + 1).sum();
        let mut out = Vec::with_capacity(512 + rows * per_row);
        let result = match self.format {
            HttpFormat::Json => serde_json::to_writer(
                &mut out,
                &census_json::Body {
                    resource: &self.resource,
                    views: batch,
                },
            ),
            HttpFormat::OtlpJson => serde_json::to_writer(
                &mut out,
                &otlp_json::Request {
                    resource: &self.resource,
                    views: batch,
                },
            ),
            HttpFormat::OtlpProtobuf => {
                otlp_proto::encode(&self.resource, batch, &mut out);
                Ok(())
            }
            HttpFormat::PrometheusRemoteWrite => {
                // Relaxed: batches are encoded one at a time by the
                // manager's delivery thread; exports racing from several
                // threads have no order for the receiver anyway.
                let earliest = self.next_timestamp_ms.load(Ordering::Relaxed);
                let latest = remote_write::encode(
                    &self.const_labels,
                    batch,
                    earliest,
                    &mut out,
                    &mut omitted,
                );
                if let (true, Some(latest)) = (sending, latest) {
                    self.next_timestamp_ms
                        .fetch_max(latest.saturating_add(1), Ordering::Relaxed);
                }
                Ok(())
            }
        };
        result.map_err(|e| ExportError::new(format!("could not serialise the batch: {e}")))?;
        Ok((out, omitted))
    }
}
