//! Registering views behind a pipeline scales with the number of views: a
//! manager hands `check_view` every registered view at each registration,
//! and the pipeline used to map each of them through every processor
//! again, n² mappings in all (4,000 views took a minute in a debug build,
//! against 40 ms without the pipeline). Now each view is mapped when it is
//! registered and once more when it is first handed as registered; a view
//! unregistered is forgotten, and names still clash across the chain
//! (QA of issue #7; docs/guarantees.md, section 10).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use census_core::{Aggregation, Error, ExportError, Processor, View, ViewData};
use census_pipeline::{Pipeline, Rename};
use census_stats::ViewManager;
use census_testkit::*;

/// Passes everything on, counting the views it is asked to map.
#[derive(Debug, Default)]
struct Counting {
    mapped: AtomicU64,
}

impl Processor for Counting {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        batch
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        // Relaxed: a count read after the registrations returned.
        self.mapped.fetch_add(1, Ordering::Relaxed);
        Ok(Some(view.clone()))
    }
}

const VIEWS: usize = 300;

#[test]
fn each_view_is_mapped_a_bounded_number_of_times() -> Result<(), Error> {
    let vm = ViewManager::new();
    let counting = Arc::new(Counting::default());
    let (capture, _calls) = CapturingExporter::new();
    vm.register_exporter(
        Pipeline::new(capture)
            .with(Arc::clone(&counting))
            .with(Rename::mapping([("v7", "renamed")])?),
    )?;
    let m = int_measure("m");
    let register = |name: &str| vm.register_view(view(name, &m, &[], Aggregation::Count));
    for i in 0..VIEWS {
        register(&format!("v{i}"))?;
    }
    let mapped = counting.mapped.load(Ordering::Relaxed);
    assert!(
        mapped <= 2 * VIEWS as u64,
        "{mapped} mappings for {VIEWS} registrations (each view mapped anew at every one \
         would be {})",
        VIEWS * (VIEWS + 1) / 2
    );

    // A view unregistered leaves the lists; the others are not mapped
    // again, and a name the chain gives a registered view still clashes.
    vm.unregister_view("v100")?;
    let before = counting.mapped.load(Ordering::Relaxed);
    register("v100")?;
    assert!(counting.mapped.load(Ordering::Relaxed) <= before + 2);
    let clash = register("renamed");
    assert!(
        matches!(&clash, Err(Error::ViewRejected { reason, .. }) if reason.contains("v7")),
        "{clash:?}"
    );
    vm.unregister_view("v7")?;
    register("renamed")?;
    vm.shutdown();
    Ok(())
}
