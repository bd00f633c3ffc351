//! The Prometheus remote write 1.0 messages, as `prost` types: `WriteRequest`
//! and what it holds, with the field numbers and types the specification
//! gives (prompb's `remote.proto` and `types.proto`, without metadata,
//! exemplars and native histograms, which 1.0 leaves out).
//!
//! Written for prost's derive rather than generated at build time, so
//! building census needs no `protoc`.

#![allow(missing_docs)]

/// The body: its only field is the repeated `timeseries`, so the encoder
/// writes each series as that field in turn (the same bytes) rather than
/// building the whole request; tests decode bodies with this type.
#[cfg(test)]
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// The encoder frames each series from encoded labels and its sample (see
/// `remote_write::SeriesWriter`); tests decode bodies with this type.
#[cfg(test)]
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    /// Sorted by name, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Label {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct Sample {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}
