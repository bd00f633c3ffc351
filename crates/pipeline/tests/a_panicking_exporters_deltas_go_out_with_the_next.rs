//! A wrapped exporter that panics on a batch of delta data fails that
//! export as one that returns an error does: the pipeline keeps the deltas
//! and folds them into the next batch, and the manager still counts the
//! panic. Before, the unwinding dropped the batch, and the deltas (and any
//! carried ones folded into it) went without a count (QA of issue #7).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use census_core::{Aggregation, ExportError, Exporter, ViewData};
use census_pipeline::{Delta, Pipeline};
use census_testkit::*;
use crossbeam_channel::Sender;

/// Panics in `export` while `panicking` is set; hands the test each batch
/// it is given, `None` for those it panics on.
struct Panicky {
    panicking: Arc<AtomicBool>,
    calls: Sender<Option<Vec<ViewData>>>,
}

impl Exporter for Panicky {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        if self.panicking.load(Ordering::SeqCst) {
            let _ = self.calls.send(None);
            panic!("a bug in the exporter");
        }
        let _ = self.calls.send(Some(batch.to_vec()));
        Ok(())
    }
}

#[test]
fn deltas_of_a_panicking_export_arrive_with_the_next() -> Result<(), census_core::Error> {
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let m = int_measure("m");
    vm.register_view(view("v", &m, &[], Aggregation::Sum))?;
    let panicking = Arc::new(AtomicBool::new(false));
    let (calls, received) = crossbeam_channel::unbounded();
    vm.register_exporter(
        Pipeline::new(Panicky {
            panicking: Arc::clone(&panicking),
            calls,
        })
        .with(Delta::new()),
    )?;
    let next = || {
        received
            .recv_timeout(PATIENCE)
            .expect("the exporter is called")
    };

    record(&vm, &m, 1);
    clock.advance(period);
    assert_eq!(sum_of(&next().expect("accepted"), "v"), 1);

    // The period whose export panics: its change of 4 must not vanish.
    panicking.store(true, Ordering::SeqCst);
    record(&vm, &m, 4);
    clock.advance(period);
    assert!(next().is_none(), "the export panicked");

    panicking.store(false, Ordering::SeqCst);
    record(&vm, &m, 2);
    clock.advance(period);
    assert_eq!(
        sum_of(&next().expect("accepted"), "v"),
        4 + 2,
        "the panicked period's change goes out with the next"
    );

    let report = vm.shutdown();
    assert!(
        report.undelivered.is_empty(),
        "nothing is left undelivered: {report:?}"
    );
    assert_eq!(vm.stats().export_panics, 1, "the manager counts the panic");
    Ok(())
}
