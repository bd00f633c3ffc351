//! Fakes shared by the facade's integration tests: exporters that capture,
//! fail, and panic, and helpers to read rows.
#![allow(dead_code)] // each test file uses a different part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use census::{AggregationData, ExportError, Exporter, Number, Row, ViewData};
use crossbeam_channel::{Receiver, Sender};

/// Sends a copy of every batch it receives down a channel, and counts its
/// shutdown calls.
pub struct CapturingExporter {
    batches: Sender<Vec<ViewData>>,
    pub shutdowns: Arc<AtomicUsize>,
}

pub fn capturing() -> (CapturingExporter, Receiver<Vec<ViewData>>, Arc<AtomicUsize>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let shutdowns = Arc::new(AtomicUsize::new(0));
    (
        CapturingExporter {
            batches: tx,
            shutdowns: Arc::clone(&shutdowns),
        },
        rx,
        shutdowns,
    )
}

impl Exporter for CapturingExporter {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        self.batches
            .send(batch.to_vec())
            .map_err(|_| ExportError::from("test receiver gone"))
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Fails every export.
pub struct FailingExporter;

impl Exporter for FailingExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Err(ExportError::from("backend down"))
    }
}

/// Panics on every export and on shutdown.
pub struct PanickingExporter;

impl Exporter for PanickingExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        panic!("exporter bug (expected by the test)")
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        panic!("exporter bug at shutdown (expected by the test)")
    }
}

/// The view named `name` in a batch.
pub fn view<'a>(batch: &'a [ViewData], name: &str) -> &'a ViewData {
    batch
        .iter()
        .find(|d| d.view.name() == name)
        .unwrap_or_else(|| panic!("no view {name} in the batch"))
}

/// The row whose tags read as `tags` (`None` = absent).
pub fn row<'a>(data: &'a ViewData, tags: &[Option<&str>]) -> Option<&'a Row> {
    data.rows.iter().find(|r| {
        !r.overflow
            && r.tags.len() == tags.len()
            && r.tags
                .iter()
                .zip(tags)
                .all(|(have, want)| have.as_ref().map(|v| v.as_str()) == *want)
    })
}

pub fn int_sum(data: &AggregationData) -> i64 {
    match data {
        AggregationData::Sum(Number::Int(v)) => *v,
        other => panic!("not an integer sum: {other:?}"),
    }
}

pub fn count(data: &AggregationData) -> u64 {
    match data {
        AggregationData::Count(v) => *v,
        other => panic!("not a count: {other:?}"),
    }
}

/// Blocks in `export` until the test drops the returned sender.
pub struct HangingExporter {
    release: Receiver<()>,
}

pub fn hanging() -> (HangingExporter, Sender<()>) {
    let (tx, rx) = crossbeam_channel::bounded(0);
    (HangingExporter { release: rx }, tx)
}

impl Exporter for HangingExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        // Returns only once the test lets go, so the thread ends with it.
        let _ = self.release.recv();
        Ok(())
    }

    fn name(&self) -> &str {
        "hanging"
    }
}

/// Takes `delay` per export and counts the batches it saw.
pub struct SlowExporter {
    pub delay: std::time::Duration,
    pub exports: Arc<AtomicUsize>,
}

impl Exporter for SlowExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        // Simulated work, not synchronisation: the test measures how the
        // manager copes with an exporter this slow.
        std::thread::sleep(self.delay);
        self.exports.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Registers the measure `m` and an untagged Sum view `v` over it: the
/// setup most behaviour tests need, and nothing more.
pub fn sum_view(vm: &census::ViewManager) -> Result<census::MeasureI64, census::Error> {
    let m = census::MeasureI64::new("m", "", "1")?;
    vm.register_view(
        census::View::builder("v", &m)
            .aggregation(census::Aggregation::Sum)
            .build()?,
    )?;
    Ok(m)
}

/// Records `value` of `m` with no tags.
pub fn record(vm: &census::ViewManager, m: &census::MeasureI64, value: i64) {
    census::MeasurementMap::new()
        .put(m, value)
        .record_to(vm, &census::TagMap::new());
}

/// The sum in view `v`'s only row.
pub fn sum_of_v(batch: &[ViewData]) -> i64 {
    int_sum(&view(batch, "v").rows[0].data)
}

/// Receives batches until one shows `expected` in view `v`; panics after
/// ten seconds without one.
pub fn wait_for_v(batches: &Receiver<Vec<ViewData>>, expected: i64) {
    loop {
        let batch = batches
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the exporter kept receiving");
        if sum_of_v(&batch) == expected {
            return;
        }
    }
}
