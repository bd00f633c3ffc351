//! Fakes and fixtures shared by the pipeline's integration tests.

// Each test file compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census_core::{
    Aggregation, AggregationData, DistributionData, ExportError, Exporter, Measure, MeasureF64,
    MeasureI64, Processor, Producer, Row, TagKey, TagValue, View, ViewData,
};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// How long a test waits for something that should happen within one or
/// two short reporting periods before declaring it lost.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What a [`Capture`] exporter was asked.
#[derive(Debug)]
pub enum Call {
    Export(Vec<ViewData>),
    Shutdown,
}

/// An exporter that sends every call to a channel, records the views it
/// was asked to check, and refuses views whose name matches `refuse`.
pub struct Capture {
    calls: Sender<Call>,
    pub checked: Mutex<Vec<(View, Vec<View>)>>,
    pub attached: AtomicU64,
    refuse: Vec<String>,
    own: Option<Arc<dyn Producer>>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

impl Capture {
    pub fn new() -> (Capture, Receiver<Call>) {
        let (calls, rx) = crossbeam_channel::unbounded();
        let capture = Capture {
            calls,
            checked: Mutex::new(Vec::new()),
            attached: AtomicU64::new(0),
            refuse: Vec::new(),
            own: None,
        };
        (capture, rx)
    }

    /// Refuses to check views named `name`.
    pub fn refusing(mut self, name: &str) -> Capture {
        self.refuse.push(name.to_owned());
        self
    }

    /// Contributes `producer` as its self-metrics.
    pub fn contributing(mut self, producer: Arc<dyn Producer>) -> Capture {
        self.own = Some(producer);
        self
    }
}

impl Exporter for Capture {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        // The receiver may be gone once a test has what it needs.
        let _ = self.calls.send(Call::Export(batch.to_vec()));
        Ok(())
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        let _ = self.calls.send(Call::Shutdown);
        Ok(())
    }

    fn attach(&self, _producer: Arc<dyn Producer>) {
        self.attached.fetch_add(1, Ordering::SeqCst);
    }

    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        self.checked
            .lock()
            .push((view.clone(), registered.to_vec()));
        if self.refuse.iter().any(|r| r == view.name()) {
            return Err(ExportError::new(format!("capture refuses {}", view.name())));
        }
        Ok(())
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        self.own.clone()
    }

    fn name(&self) -> &str {
        "capture"
    }
}

/// Waits for the next export on `rx`, skipping nothing else.
pub fn next_export(rx: &Receiver<Call>) -> Vec<ViewData> {
    match rx.recv_timeout(PATIENCE) {
        Ok(Call::Export(batch)) => batch,
        Ok(Call::Shutdown) => panic!("expected an export, got shutdown"),
        Err(err) => panic!("no export within {PATIENCE:?}: {err}"),
    }
}

/// A processor that panics on the calls whose number (from 1) `panics`
/// says, and passes the batch on otherwise. Reports each call's number.
pub struct Panicky {
    calls: AtomicU64,
    panics: fn(u64) -> bool,
    seen: Sender<u64>,
}

impl Panicky {
    pub fn new(panics: fn(u64) -> bool) -> (Panicky, Receiver<u64>) {
        let (seen, rx) = crossbeam_channel::unbounded();
        let p = Panicky {
            calls: AtomicU64::new(0),
            panics,
            seen,
        };
        (p, rx)
    }
}

impl Processor for Panicky {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.seen.send(n);
        if (self.panics)(n) {
            panic!("panicky processor, call {n}");
        }
        batch
    }
}

/// A fixed time: `secs` seconds after the epoch.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn key(name: &str) -> TagKey {
    TagKey::new(name).expect("valid test key")
}

pub fn value(v: &str) -> Option<TagValue> {
    Some(TagValue::new(v).expect("valid test value"))
}

pub fn int_measure(name: &str) -> Measure {
    MeasureI64::new(name, "test measure", "1")
        .expect("valid measure")
        .measure()
        .clone()
}

pub fn float_measure(name: &str) -> Measure {
    MeasureF64::new(name, "test measure", "ms")
        .expect("valid measure")
        .measure()
        .clone()
}

pub fn view(name: &str, measure: &Measure, keys: &[&str], aggregation: Aggregation) -> View {
    View::builder(name, measure)
        .tag_keys(keys.iter().map(|k| key(k)))
        .aggregation(aggregation)
        .build()
        .expect("valid test view")
}

pub fn row(tags: &[Option<&str>], data: AggregationData, start: SystemTime) -> Row {
    let tags = tags.iter().map(|t| t.and_then(value)).collect();
    Row::new(tags, data, start)
}

/// A distribution of `values`, computed the way the recording cells do
/// (Welford), for hand-made batches.
pub fn distribution(values: &[f64], bounds: &[f64]) -> DistributionData {
    let mut d = DistributionData {
        count: 0,
        sum: 0.0,
        mean: 0.0,
        min: 0.0,
        max: 0.0,
        sum_of_squared_deviation: 0.0,
        bounds: Arc::from(bounds),
        bucket_counts: vec![0; bounds.len() + 1],
    };
    for &v in values {
        d.bucket_counts[bounds.partition_point(|b| *b < v)] += 1;
        if d.count == 0 {
            d.min = v;
            d.max = v;
        }
        d.min = d.min.min(v);
        d.max = d.max.max(v);
        d.count += 1;
        d.sum += v;
        let delta = v - d.mean;
        d.mean += delta / d.count as f64;
        d.sum_of_squared_deviation += delta * (v - d.mean);
    }
    d
}

/// Whether two floats agree to 1e-9, relative to their size (or 1).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Asserts two distributions agree: counts, buckets, min and max exactly,
/// the float statistics within [`close`].
pub fn assert_same_distribution(got: &DistributionData, want: &DistributionData, what: &str) {
    assert_eq!(got.count, want.count, "{what}: count");
    assert_eq!(got.bucket_counts, want.bucket_counts, "{what}: buckets");
    assert_eq!(got.bounds[..], want.bounds[..], "{what}: bounds");
    assert_eq!(got.min, want.min, "{what}: min");
    assert_eq!(got.max, want.max, "{what}: max");
    assert!(
        close(got.sum, want.sum),
        "{what}: sum {} vs {}",
        got.sum,
        want.sum
    );
    assert!(
        close(got.mean, want.mean),
        "{what}: mean {} vs {}",
        got.mean,
        want.mean
    );
    assert!(
        close(got.sum_of_squared_deviation, want.sum_of_squared_deviation),
        "{what}: ssd {} vs {}",
        got.sum_of_squared_deviation,
        want.sum_of_squared_deviation
    );
}

/// The row of `data` with these tag values, if any (ordinary rows only).
pub fn find<'a>(data: &'a ViewData, tags: &[Option<&str>]) -> Option<&'a Row> {
    let want: Vec<Option<TagValue>> = tags.iter().map(|t| t.and_then(value)).collect();
    data.rows.iter().find(|r| !r.overflow && r.tags == want)
}

pub fn as_dist(data: &AggregationData) -> &DistributionData {
    match data {
        AggregationData::Distribution(d) => d,
        other => panic!("expected a distribution, got {other:?}"),
    }
}
