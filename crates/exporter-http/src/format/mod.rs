//! Body formats: census's own JSON schema and OTLP/HTTP JSON.

mod census_json;
mod json_number;
mod otlp_json;

use census_core::{ExportError, ViewData};

/// The body format an [`HttpExporter`](crate::HttpExporter) POSTs, always
/// with `Content-Type: application/json`.
///
/// Both formats write 64-bit integers (counts, integer sums, times in Unix
/// nanoseconds) as JSON strings, so that every JSON parser reads them
/// exactly, and non-finite floats as the strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"`. `docs/http-exporter.md` has an example body of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HttpFormat {
    /// census's own versioned schema:
    /// `{"schema":"census.v1","resource":{...},"views":[...]}`, one entry
    /// per view with every row, its tags by key, and its value.
    #[default]
    Json,
    /// An OTLP/HTTP JSON `ExportMetricsServiceRequest`, as an OpenTelemetry
    /// Collector's OTLP/HTTP receiver accepts at `/v1/metrics`: Count and
    /// Sum become cumulative monotonic sums, LastValue a gauge, and
    /// Distribution a cumulative histogram. The overflow row carries the
    /// attribute `otel.metric.overflow=true`.
    OtlpJson,
}

/// Serialises batches in one format, with the resource attributes fixed at
/// build time.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    format: HttpFormat,
    resource: Vec<(String, String)>,
}

impl Encoder {
    pub(crate) fn new(format: HttpFormat, resource: Vec<(String, String)>) -> Encoder {
        Encoder { format, resource }
    }

    /// The body for one batch.
    pub(crate) fn encode(&self, batch: &[ViewData]) -> Result<Vec<u8>, ExportError> {
        // Measured body sizes per row (tags, times, value) are about 190
        // bytes for census.v1 and 250 for OTLP; reserving that up front
        // saves the doubling copies of a multi-megabyte buffer.
        let per_row = match self.format {
            HttpFormat::Json => 200,
            HttpFormat::OtlpJson => 260,
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
        };
        result.map_err(|e| ExportError::new(format!("could not serialise the batch: {e}")))?;
        Ok(out)
    }
}
