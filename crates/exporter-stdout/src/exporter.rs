//! The exporter and its builder.

use std::fmt;
use std::io::Write;

use census_core::{ExportError, Exporter, ViewData};
use parking_lot::Mutex;

use crate::format;

/// How [`StdoutExporter`] writes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StdoutFormat {
    /// One readable line per row:
    /// `demo/latency{method="GET"} count=2 sum=25 mean=12.5 min=5 max=20 buckets=[<=10:1 >10:1]`.
    #[default]
    Text,
    /// One JSON object per row, per line, the row written as census.v1
    /// writes rows (census-core's JSON of a row) with the view's name, the
    /// snapshot's end and, for a distribution, its bounds:
    /// `{"view":"demo/requests_total","end_unix_nano":"…","tags":{"method":"GET"},"overflow":false,"start_unix_nano":"…","sum":"1"}`.
    /// 64-bit integers and times (nanoseconds since the Unix epoch) are
    /// strings; absent tags are left out.
    JsonLines,
}

/// Writes each batch to stdout or any `Write`, one line per row.
///
/// Meant for development, debugging and log-based pipelines. In either
/// format a view's rows come sorted by their tags, the overflow row last,
/// so the same data prints the same lines. Each batch is
/// written and flushed whole; a write error fails that export (census logs
/// and counts it) and the next period tries again, on a new line: a batch
/// never continues the half line a failed write left.
pub struct StdoutExporter {
    format: StdoutFormat,
    out: Mutex<Output>,
}

/// The writer, and whether a write failed since the last that worked (it
/// may have left a line half written).
struct Output {
    writer: Box<dyn Write + Send>,
    broken: bool,
}

impl StdoutExporter {
    /// Starts a builder: text to stdout unless told otherwise.
    pub fn builder() -> StdoutExporterBuilder {
        StdoutExporterBuilder {
            format: StdoutFormat::Text,
            out: None,
        }
    }
}

impl Default for StdoutExporter {
    /// Text lines to stdout.
    fn default() -> StdoutExporter {
        StdoutExporter::builder().build()
    }
}

impl fmt::Debug for StdoutExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdoutExporter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Exporter for StdoutExporter {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        // Formatted into memory first, so one lock and one write per batch
        // keep a batch's lines together even on a shared stdout.
        let mut text = Vec::new();
        for data in batch {
            match self.format {
                StdoutFormat::Text => format::text(&mut text, data),
                StdoutFormat::JsonLines => format::json_lines(&mut text, data),
            }
            .map_err(|err| {
                ExportError::from(format!("cannot format view {}: {err}", data.view.name()))
            })?;
        }
        let mut out = self.out.lock();
        let Output { writer, broken } = &mut *out;
        if *broken {
            text.insert(0, b'\n');
        }
        *broken = true;
        writer.write_all(&text)?;
        writer.flush()?;
        *broken = false;
        Ok(())
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        self.out.lock().writer.flush()?;
        Ok(())
    }

    fn name(&self) -> &str {
        "stdout"
    }
}

/// Builds a [`StdoutExporter`].
#[must_use = "a builder does nothing until .build() is called"]
pub struct StdoutExporterBuilder {
    format: StdoutFormat,
    out: Option<Box<dyn Write + Send>>,
}

impl StdoutExporterBuilder {
    /// How rows are written. Default: [`StdoutFormat::Text`].
    pub fn format(mut self, format: StdoutFormat) -> Self {
        self.format = format;
        self
    }

    /// Where lines go: a file, a buffer, a socket. Default: stdout.
    pub fn writer(mut self, out: impl Write + Send + 'static) -> Self {
        self.out = Some(Box::new(out));
        self
    }

    /// Builds the exporter. Cannot fail.
    pub fn build(self) -> StdoutExporter {
        StdoutExporter {
            format: self.format,
            out: Mutex::new(Output {
                writer: self.out.unwrap_or_else(|| Box::new(std::io::stdout())),
                broken: false,
            }),
        }
    }
}

impl fmt::Debug for StdoutExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdoutExporterBuilder")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}
