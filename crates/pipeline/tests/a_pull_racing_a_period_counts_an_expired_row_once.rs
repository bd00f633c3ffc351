//! A pull runs while periods go on. DropTags' memory of what expired rows
//! recorded moves on with each period; a pull whose snapshot was taken
//! before a period that expired row /a, but that reaches DropTags after
//! that period moved the memory on, found /a both among its own rows and
//! in the memory (a review: the scrape's merged row counted /a twice). A
//! pull now reads the memory of the period its snapshot follows.
//!
//! A processor ahead of DropTags holds the pull between its snapshot and
//! DropTags until the period has run, to make the interleaving certain.

use std::sync::Arc;
use std::time::Duration;

use census_core::{
    Aggregation, AggregationData, ExportError, Exporter, MeasureI64, Number, Processor, Producer,
    TagKey, TagMap, View, ViewData,
};
use census_pipeline::{DropTags, Pipeline};
use census_stats::MeasurementMap;
use census_testkit::clocked_manager;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// Keeps the producer `attach` hands over; sends each export on.
struct Grab {
    producer: Arc<Mutex<Option<Arc<dyn Producer>>>>,
    exports: Sender<Vec<ViewData>>,
}

impl Exporter for Grab {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        let _ = self.exports.send(batch.to_vec());
        Ok(())
    }
    fn attach(&self, producer: Arc<dyn Producer>) {
        *self.producer.lock() = Some(producer);
    }
}

/// Passes everything on; on a pull, first says so and waits to be let go.
struct Gate {
    entered: Sender<()>,
    release: Receiver<()>,
}

impl Processor for Gate {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        batch
    }
    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        let _ = self.entered.send(());
        let _ = self.release.recv();
        batch
    }
}

fn value(batch: &[ViewData], name: &str) -> i64 {
    let data = batch.iter().find(|d| d.view.name() == name).expect(name);
    assert_eq!(data.rows.len(), 1, "{name}: {:?}", data.rows);
    match data.rows[0].data {
        AggregationData::Sum(Number::Int(n)) => n,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn a_pull_racing_a_period_counts_an_expired_row_once() -> Result<(), Box<dyn std::error::Error>> {
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let m = MeasureI64::new("demo/requests", "requests", "1")?;
    let path = TagKey::new("path")?;
    for (name, keys) in [
        ("demo/by_path", vec![path.clone()]),
        ("demo/direct", vec![]),
    ] {
        vm.register_view(
            View::builder(name, &m)
                .tag_keys(keys)
                .aggregation(Aggregation::Sum)
                .expire_after(Duration::from_secs(15))
                .build()?,
        )?;
    }
    let producer = Arc::new(Mutex::new(None));
    let (exports_tx, exports) = crossbeam_channel::unbounded();
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let (release, release_rx) = crossbeam_channel::unbounded();
    vm.register_exporter(
        Pipeline::new(Grab {
            producer: Arc::clone(&producer),
            exports: exports_tx,
        })
        .with(Gate {
            entered: entered_tx,
            release: release_rx,
        })
        .with(DropTags::new(["path"])),
    )?;
    let a = TagMap::new().with(&path, "/a")?;
    let b = TagMap::new().with(&path, "/b")?;
    MeasurementMap::new().put(&m, 5).record_to(&vm, &a);
    MeasurementMap::new().put(&m, 2).record_to(&vm, &b);

    // Period 1 (t=10): /a and /b exported.
    clock.advance(period);
    let first = exports.recv_timeout(Duration::from_secs(10))?;
    assert_eq!(value(&first, "demo/by_path"), value(&first, "demo/direct"));
    MeasurementMap::new().put(&m, 2).record_to(&vm, &b);
    // Period 2 (t=20): /a last changed at the t=10 snapshot, so it stays.
    clock.advance(period);
    let second = exports.recv_timeout(Duration::from_secs(10))?;
    assert_eq!(
        value(&second, "demo/by_path"),
        value(&second, "demo/direct")
    );
    MeasurementMap::new().put(&m, 2).record_to(&vm, &b);

    // A scrape at t=20: its snapshot still holds /a (10 s < 15 s).
    let pulled = {
        let producer = producer.lock().clone().ok_or("attached")?;
        std::thread::spawn(move || producer.produce())
    };
    entered.recv_timeout(Duration::from_secs(10))?;

    // Period 3 (t=30) while the scrape is between its snapshot and DropTags:
    // /a expires in this snapshot; DropTags remembers what it recorded.
    clock.advance(period);
    let third = exports.recv_timeout(Duration::from_secs(10))?;
    assert_eq!(value(&third, "demo/by_path"), value(&third, "demo/direct"));

    release.send(())?;
    let pulled = pulled.join().map_err(|_| "pull panicked")?;
    let (by_path, direct) = (
        value(&pulled, "demo/by_path"),
        value(&pulled, "demo/direct"),
    );
    vm.shutdown();
    assert_eq!(
        by_path, direct,
        "the merged row counts /a twice in the scrape"
    );
    Ok(())
}
