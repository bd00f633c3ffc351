//! Stand-ins that misbehave on purpose (exporters that fail, panic, hang
//! or dawdle, a processor that panics) and a producer whose data the test
//! sets.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use census_core::{ExportError, Exporter, Processor, Producer, ViewData};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// Fails every export, reporting each call's number (from 1) first.
#[derive(Debug)]
pub struct FailingExporter {
    calls: Sender<u64>,
    made: AtomicU64,
}

impl FailingExporter {
    /// The exporter, and where its calls are reported.
    pub fn new() -> (FailingExporter, Receiver<u64>) {
        let (calls, rx) = crossbeam_channel::unbounded();
        let made = AtomicU64::new(0);
        (FailingExporter { calls, made }, rx)
    }
}

impl Exporter for FailingExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.calls.send(n);
        Err(ExportError::from(
            "backend down (the test's failing exporter)",
        ))
    }

    fn name(&self) -> &str {
        "failing"
    }
}

/// Panics in every export and in shutdown, reporting each export call's
/// number (from 1) first.
#[derive(Debug)]
pub struct PanickingExporter {
    calls: Sender<u64>,
    made: AtomicU64,
}

impl PanickingExporter {
    /// The exporter, and where its export calls are reported.
    pub fn new() -> (PanickingExporter, Receiver<u64>) {
        let (calls, rx) = crossbeam_channel::unbounded();
        let made = AtomicU64::new(0);
        (PanickingExporter { calls, made }, rx)
    }
}

impl Exporter for PanickingExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.calls.send(n);
        panic!("exporter bug (expected by the test)")
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        panic!("exporter bug at shutdown (expected by the test)")
    }

    fn name(&self) -> &str {
        "panicking"
    }
}

/// Blocks in `export` until the test lets go: drop the [`Sender`] that
/// [`new`](HangingExporter::new) returns (or send on it) to release it.
#[derive(Debug)]
pub struct HangingExporter {
    release: Receiver<()>,
}

impl HangingExporter {
    /// The exporter, and the handle that releases it.
    pub fn new() -> (HangingExporter, Sender<()>) {
        let (tx, rx) = crossbeam_channel::bounded(0);
        (HangingExporter { release: rx }, tx)
    }
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

/// Takes `delay` per export, and counts the batches it handled.
#[derive(Debug)]
pub struct SlowExporter {
    delay: Duration,
    exports: Arc<AtomicUsize>,
}

impl SlowExporter {
    /// The exporter, and its count of handled batches.
    pub fn new(delay: Duration) -> (SlowExporter, Arc<AtomicUsize>) {
        let exports = Arc::new(AtomicUsize::new(0));
        let exporter = SlowExporter {
            delay,
            exports: Arc::clone(&exports),
        };
        (exporter, exports)
    }
}

impl Exporter for SlowExporter {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        // Simulated work, not synchronisation: the test measures how the
        // manager copes with an exporter this slow.
        std::thread::sleep(self.delay);
        self.exports.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn name(&self) -> &str {
        "slow"
    }
}

/// A processor that panics on the calls whose number (from 1) `panics`
/// picks, and passes the batch on otherwise. Reports each call's number.
#[derive(Debug)]
pub struct PanickingProcessor {
    calls: AtomicU64,
    panics: fn(u64) -> bool,
    seen: Sender<u64>,
}

impl PanickingProcessor {
    /// The processor, and where its calls are reported.
    pub fn new(panics: fn(u64) -> bool) -> (PanickingProcessor, Receiver<u64>) {
        let (seen, rx) = crossbeam_channel::unbounded();
        let p = PanickingProcessor {
            calls: AtomicU64::new(0),
            panics,
            seen,
        };
        (p, rx)
    }
}

impl Processor for PanickingProcessor {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.seen.send(n);
        if (self.panics)(n) {
            panic!("panicking processor, call {n} (expected by the test)");
        }
        batch
    }
}

/// A producer whose batch the test sets: what a pull exporter renders.
#[derive(Debug, Default)]
pub struct FakeProducer {
    batch: Mutex<Vec<ViewData>>,
}

impl FakeProducer {
    /// Attaches a producer holding `batch` to `exporter`, as a manager
    /// attaches itself, and returns it so the test can change the batch.
    pub fn attach(exporter: &impl Exporter, batch: Vec<ViewData>) -> Arc<FakeProducer> {
        let producer = Arc::new(FakeProducer::default());
        producer.set(batch);
        exporter.attach(Arc::clone(&producer) as Arc<dyn Producer>);
        producer
    }

    /// What the next `produce` returns.
    pub fn set(&self, batch: Vec<ViewData>) {
        *self.batch.lock() = batch;
    }
}

impl Producer for FakeProducer {
    fn produce(&self) -> Vec<ViewData> {
        self.batch.lock().clone()
    }
}
