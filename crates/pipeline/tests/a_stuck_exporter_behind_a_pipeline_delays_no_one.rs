//! An exporter that hangs behind a pipeline holds up no one: the other
//! exporters get every period, and `health()` answers. Before, the
//! pipeline held its lock on refused delta data for as long as the
//! wrapped exporter's `export` ran, and its `delivery()` waited on that
//! lock; with no logger installed, the worker asks every exporter's
//! delivery report after each period (to write failures to stderr), so a
//! hung export behind a pipeline stopped every export of the manager
//! (QA of issue #7).

use std::sync::Arc;
use std::time::Duration;

use census_core::{ExportError, Exporter, ViewData};
use census_pipeline::{Delta, Pipeline};
use census_testkit::*;
use crossbeam_channel::{Receiver, Sender};

/// Says when it enters `export`, then blocks until released.
struct Stuck {
    entered: Sender<()>,
    release: Receiver<()>,
}

impl Exporter for Stuck {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        let _ = self.entered.send(());
        // Returns once the test lets go (or drops its sender).
        let _ = self.release.recv();
        Ok(())
    }
}

#[test]
fn other_exporters_and_health_go_on_while_a_piped_export_hangs() -> Result<(), census_core::Error> {
    let period = Duration::from_secs(10);
    let (vm, clock) = clocked_manager(period);
    let vm = Arc::new(vm);
    let m = sum_view(&vm);
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let (release, release_rx) = crossbeam_channel::unbounded();
    vm.register_exporter(
        Pipeline::new(Stuck {
            entered: entered_tx,
            release: release_rx,
        })
        .with(Delta::new()),
    )?;
    let (plain, plain_rx) = CapturingExporter::new();
    vm.register_exporter(plain)?;

    record(&vm, &m, 1);
    clock.advance(period);
    assert_eq!(sum_of(&plain_rx.next_export(), "v"), 1);
    entered
        .recv_timeout(PATIENCE)
        .expect("the piped exporter is called");

    // The piped export hangs from here on; the plain exporter still gets
    // each period, with what was recorded.
    for (add, total) in [(2, 3), (3, 6)] {
        record(&vm, &m, add);
        clock.advance(period);
        let batch = plain_rx
            .next_export_within(PATIENCE)
            .expect("a hung export behind a pipeline holds up no other exporter");
        assert_eq!(sum_of(&batch, "v"), total);
    }
    let (answered, answer) = crossbeam_channel::bounded(1);
    let asking = Arc::clone(&vm);
    std::thread::spawn(move || {
        let _ = answered.send(asking.health().exporters.len());
    });
    assert_eq!(
        answer.recv_timeout(PATIENCE),
        Ok(2),
        "health() answers while the piped export hangs"
    );

    drop(release);
    vm.shutdown();
    Ok(())
}
