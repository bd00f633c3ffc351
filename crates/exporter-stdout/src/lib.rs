//! A census exporter that writes every row of every view, each period, as a
//! readable line or as JSON Lines, to stdout or any `Write`.
//!
//! ```
//! # fn main() -> Result<(), census_core::Error> {
//! use census_exporter_stdout::{StdoutExporter, StdoutFormat};
//!
//! let to_stdout = StdoutExporter::default();
//! let as_json = StdoutExporter::builder()
//!     .format(StdoutFormat::JsonLines)
//!     .writer(std::io::sink())
//!     .build();
//! # let _ = (to_stdout, as_json); Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// Runs README.md's example as a doc test: it is what crates.io shows.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod exporter;
mod format;

pub use exporter::{StdoutExporter, StdoutExporterBuilder, StdoutFormat};
