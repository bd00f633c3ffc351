//! The pipeline: an exporter wrapped in a chain of processors.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use census_core::{
    keep_lost, merge_batches_keeping, DeliveryReport, ExportError, Exporter, Processor, Producer,
    Temporality, View, ViewData,
};
use parking_lot::Mutex;

/// An exporter behind a chain of [`Processor`]s. A pipeline is itself an
/// [`Exporter`]: register it with a view manager like any other.
///
/// Every period the manager's batch is copied once, handed to the first
/// processor, each processor's output to the next, and the last output to
/// the wrapped exporter. The chain belongs to this exporter alone: other
/// exporters of the same manager see the batch unchanged.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// # use census_core::{ExportError, Exporter, ViewData};
/// # #[derive(Debug)] struct Backend;
/// # impl Exporter for Backend {
/// #     fn export(&self, _: &[ViewData]) -> Result<(), ExportError> { Ok(()) }
/// # }
/// # let backend = Backend;
/// use census_pipeline::{ConstTags, Delta, DropTags, FilterViews, Pipeline, Rename};
///
/// let vm = census_stats::ViewManager::new();
/// vm.register_exporter(
///     Pipeline::new(backend)
///         .with(ConstTags::new([("service", "checkout"), ("region", "eu-1")])?)
///         .with(FilterViews::matching("demo/*"))
///         .with(DropTags::new(["path"]))
///         .with(Rename::prefix("shop/")?)
///         .with(Delta::new()),
/// )?;
/// # vm.shutdown();
/// # Ok(()) }
/// ```
///
/// # What is forwarded
///
/// - `export` runs the chain, then the wrapped exporter's `export` with
///   the result (also when the result is empty, so an exporter that
///   reports liveness still hears from the manager every period).
/// - `check_view` asks every processor how the view will look downstream
///   ([`Processor::map_view`]), and asks the wrapped exporter about the
///   view as it will receive it, next to the registered views as it
///   receives them. A view some processor drops is accepted without asking
///   the exporter. A view that would reach the exporter under the same
///   name as another registered view is refused.
/// - If the wrapped exporter's `export` returns an error (or panics) for
///   a batch that holds delta data (the output of a [`Delta`](crate::Delta)),
///   that data is kept and folded into the next batch
///   ([`merge_batches`](census_core::merge_batches)): the processor has
///   moved on, so no later batch would carry it otherwise. What is still
///   kept at shutdown is reported lost in `delivery`, as is, at once, kept
///   data that cannot travel with the next batch (its view was registered
///   anew in between).
/// - `attach` hands the wrapped exporter a producer whose snapshots pass
///   through the chain as pulls ([`Processor::pull`]): a pull exporter
///   (Prometheus) serves each scrape the views as `check_view` approved
///   them, renamed, filtered and enriched like the pushed batches. A pull
///   is not a period: [`Delta`](crate::Delta) passes it on cumulative and
///   keeps its previous values, and [`DropTags`](crate::DropTags) merges
///   without remembering. A processor that panics on a pull makes that
///   pull empty (logged at `error`, counted in
///   [`PipelineStats::processor_panics`]).
/// - `self_metrics`, `shutdown`, `delivery` and `name` go to the wrapped
///   exporter (`delivery` with the kept data added).
///
/// # Panics in processors
///
/// A processor that panics (in `process`) is isolated: that period's batch
/// is not passed on, the panic is logged at `error` and counted in
/// [`PipelineStats::processor_panics`], and `export` returns an error, so
/// the manager counts a failed export too. The next period runs the chain
/// again. A panic in `map_view` refuses the view being registered.
///
/// To read [`stats`](Pipeline::stats) after registering, register an
/// `Arc<Pipeline<_>>` and keep a clone.
pub struct Pipeline<E> {
    exporter: E,
    /// Shared with the producer `attach` hands out, which runs pulls
    /// through them.
    processors: Vec<Arc<dyn Processor>>,
    exported: AtomicU64,
    panics: Arc<AtomicU64>,
    /// Delta data the wrapped exporter refused (its `export` returned an
    /// error), merged, to go out with the next batch: a stateful processor
    /// such as `Delta` has already moved on, so nothing else carries it.
    carry: Mutex<Vec<ViewData>>,
    /// Carried data that could not merge into a later batch (its view was
    /// registered anew in between): lost, kept for `delivery`.
    lost: Mutex<Vec<ViewData>>,
    /// Set by `shutdown`: what is still carried then is lost.
    shut_down: AtomicBool,
    /// The registered views as the chain makes them, kept between
    /// registrations: see [`Downstream`].
    mapped: Mutex<Downstream>,
}

/// The registered views `check_view` was handed last, as the chain makes
/// them. Each registration hands a pipeline every registered view; mapping
/// each anew through the processors, and comparing every name, made
/// registering n views behind a pipeline cost n² mappings (4,000 views
/// took a minute in a debug build). The manager hands the same list with
/// one view more each time, so the list is checked against the one kept
/// (a pointer compare per view) and only new views are mapped.
#[derive(Default)]
struct Downstream {
    /// The registered views handed last, in their order.
    registered: Vec<View>,
    /// Those of them the chain passes on, as it makes them, in order.
    mapped: Vec<View>,
    /// Each name in `mapped`, with the name of the view it was made from.
    names: HashMap<String, String>,
    /// Every view mapped, by name, with what the chain makes of it
    /// (`None`: dropped or refused), for rebuilding the lists when a view
    /// left them (unregistered); pruned to the registered views.
    known: HashMap<String, (View, Option<View>)>,
}

/// What a [`Pipeline`] has counted; see [`Pipeline::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PipelineStats {
    /// Batches the chain passed on to the wrapped exporter.
    pub batches_passed: u64,
    /// Periods whose batch was not passed on because a processor panicked.
    pub processor_panics: u64,
}

impl<E: Exporter> Pipeline<E> {
    /// Wraps `exporter` in an empty chain, which passes every batch on
    /// unchanged.
    pub fn new(exporter: E) -> Pipeline<E> {
        Pipeline {
            exporter,
            processors: Vec::new(),
            exported: AtomicU64::new(0),
            panics: Arc::new(AtomicU64::new(0)),
            carry: Mutex::new(Vec::new()),
            lost: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
            mapped: Mutex::new(Downstream::default()),
        }
    }

    /// Appends `processor` to the chain: it receives what the processors
    /// added before it return.
    #[must_use = "with() returns the extended pipeline"]
    pub fn with(mut self, processor: impl Processor) -> Pipeline<E> {
        self.processors.push(Arc::new(processor));
        self
    }

    /// The wrapped exporter.
    pub fn exporter(&self) -> &E {
        &self.exporter
    }

    /// What the pipeline has counted so far.
    pub fn stats(&self) -> PipelineStats {
        // Relaxed: independent statistics, read without ordering needs.
        PipelineStats {
            batches_passed: self.exported.load(Ordering::Relaxed),
            processor_panics: self.panics.load(Ordering::Relaxed),
        }
    }

    /// How `view` reaches the wrapped exporter: `None` if a processor
    /// drops it.
    fn downstream(&self, view: &View) -> Result<Option<View>, ExportError> {
        let mut view = view.clone();
        for processor in &self.processors {
            let mapped = catch_unwind(AssertUnwindSafe(|| processor.map_view(&view)));
            match mapped {
                Ok(Ok(Some(next))) => view = next,
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(err)) => {
                    return Err(ExportError::new(format!(
                        "processor {} refused it: {err}",
                        processor.name()
                    )))
                }
                Err(_) => {
                    return Err(ExportError::new(format!(
                        "processor {} panicked while checking it",
                        processor.name()
                    )))
                }
            }
        }
        Ok(Some(view))
    }
}

/// The manager's snapshots for a pull exporter, passed through the chain.
struct Pulled {
    producer: Arc<dyn Producer>,
    processors: Vec<Arc<dyn Processor>>,
    panics: Arc<AtomicU64>,
    /// The wrapped exporter's name, for logs.
    exporter: String,
}

impl Producer for Pulled {
    fn produce(&self) -> Vec<ViewData> {
        let pulled = run_chain(
            &self.processors,
            &self.panics,
            self.producer.produce(),
            |p, b| p.pull(b),
        );
        pulled.unwrap_or_else(|processor| {
            // Empty rather than unprocessed: the exporter approved the
            // views as the chain makes them.
            log::error!(
                "census: processor {processor} panicked on a pull in the pipeline of exporter \
                 {}; the pull got no views",
                self.exporter
            );
            Vec::new()
        })
    }
}

/// Passes `batch` through `processors` in turn by `step` (a period's
/// `process` or a pull's `pull`), re-keying each output. A processor that
/// panics ends the run: counted in `panics`, and its name returned.
fn run_chain(
    processors: &[Arc<dyn Processor>],
    panics: &AtomicU64,
    mut batch: Vec<ViewData>,
    step: impl Fn(&dyn Processor, Vec<ViewData>) -> Vec<ViewData>,
) -> Result<Vec<ViewData>, String> {
    for processor in processors {
        match catch_unwind(AssertUnwindSafe(|| step(processor.as_ref(), batch))) {
            Ok(mut next) => {
                // A processor may have replaced a view and reshaped its
                // rows' tags (ConstTags and DropTags do): `Row::tag` reads
                // a row by the keys of the view it is in now.
                next.iter_mut().for_each(ViewData::rekey);
                batch = next;
            }
            Err(_) => {
                // Relaxed: a statistic.
                panics.fetch_add(1, Ordering::Relaxed);
                return Err(processor.name().to_owned());
            }
        }
    }
    Ok(batch)
}

impl<E: Exporter> Exporter for Pipeline<E> {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        if self.processors.is_empty() && self.carry.lock().is_empty() {
            self.exported.fetch_add(1, Ordering::Relaxed);
            return self.exporter.export(batch);
        }
        // The one copy of the period: processors own and reshape the batch,
        // while the manager's stays intact for the other exporters.
        let processed = run_chain(&self.processors, &self.panics, batch.to_vec(), |p, b| {
            p.process(b)
        });
        let owned = match processed {
            Ok(owned) => owned,
            Err(processor) => {
                log::error!(
                    "census: processor {processor} panicked in the pipeline of exporter {}; \
                     this period's batch was not exported",
                    self.exporter.name()
                );
                return Err(ExportError::new(format!(
                    "processor {processor} panicked; this period's batch was not exported"
                )));
            }
        };
        self.exported.fetch_add(1, Ordering::Relaxed);
        self.deliver(owned)
    }

    fn attach(&self, producer: Arc<dyn Producer>) {
        if self.processors.is_empty() {
            return self.exporter.attach(producer);
        }
        self.exporter.attach(Arc::new(Pulled {
            producer,
            processors: self.processors.clone(),
            panics: Arc::clone(&self.panics),
            exporter: self.exporter.name().to_owned(),
        }))
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        // Release: pairs with the Acquire in `delivery`, which then sees
        // the carry as it was at the final export.
        self.shut_down.store(true, Ordering::Release);
        self.exporter.shutdown()
    }

    /// The wrapped exporter's report, with the delta data this pipeline
    /// still carries counted as lost once it has shut down (and as one
    /// pending batch before).
    fn delivery(&self) -> Option<DeliveryReport> {
        let mut report = self.exporter.delivery();
        let (carry, lost) = (self.carry.lock(), self.lost.lock());
        if carry.is_empty() && lost.is_empty() {
            return report;
        }
        let report_of = report.get_or_insert_with(DeliveryReport::new);
        let mut add_lost = |data: &[ViewData]| {
            let rows = keep_lost(&mut report_of.lost, data.to_vec());
            report_of.lost_rows = report_of.lost_rows.saturating_add(rows);
        };
        add_lost(&lost);
        if self.shut_down.load(Ordering::Acquire) {
            add_lost(&carry);
        } else if !carry.is_empty() {
            report_of.pending = report_of.pending.saturating_add(1);
        }
        report
    }

    /// Refuses when a processor cannot work (one whose constructor failed
    /// went in without `?`), then asks the wrapped exporter.
    fn check_registration(&self) -> Result<(), ExportError> {
        for processor in &self.processors {
            match catch_unwind(AssertUnwindSafe(|| processor.check())) {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    return Err(ExportError::new(format!(
                        "processor {} cannot work: {err}",
                        processor.name()
                    )))
                }
                Err(_) => {
                    return Err(ExportError::new(format!(
                        "processor {} panicked while checking itself",
                        processor.name()
                    )))
                }
            }
        }
        self.exporter.check_registration()
    }

    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        let Some(mapped) = self.downstream(view)? else {
            return Ok(());
        };
        let mut downstream = self.mapped.lock();
        downstream.follow(registered, |other| self.downstream(other).ok().flatten());
        if let Some(other) = downstream.names.get(mapped.name()) {
            if other != view.name() {
                return Err(ExportError::new(format!(
                    "after the pipeline's processors it would be exported as {:?}, \
                     the name view {:?} is exported under; rename one of them",
                    mapped.name(),
                    other
                )));
            }
        }
        // The lock is held while the exporter checks: concurrent
        // registrations ask one at a time, each with its own list.
        self.exporter.check_view(&mapped, &downstream.mapped)
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        self.exporter.self_metrics()
    }

    fn name(&self) -> &str {
        self.exporter.name()
    }
}

impl<E: Exporter> Pipeline<E> {
    /// Hands the chain's output to the wrapped exporter, with any delta
    /// data it refused before folded in; keeps the delta data of a batch
    /// it refuses for the next one.
    fn deliver(&self, batch: Vec<ViewData>) -> Result<(), ExportError> {
        // The lock is never held while the wrapped exporter runs: `delivery`
        // takes it, from other threads (`health`, and the worker after
        // every period when no logger shows census's warnings), and must
        // not wait on an export that may be slow or stuck.
        let batch = {
            let mut carry = self.carry.lock();
            if carry.is_empty() {
                batch
            } else {
                let mut merged = std::mem::take(&mut *carry);
                let uncarried = merge_batches_keeping(&mut merged, batch);
                if !uncarried.is_empty() {
                    let rows = keep_lost(&mut self.lost.lock(), uncarried);
                    log::warn!(
                        "census: pipeline of exporter {}: {rows} rows of refused delta data \
                         could not be merged into the next batch and are lost (see its \
                         delivery report)",
                        self.exporter.name()
                    );
                }
                // Undelivered until the export below succeeds: meanwhile
                // `delivery` reports it from this copy (a copy made only
                // after a failed export, when data is carried).
                carry.clone_from(&merged);
                merged
            }
        };
        // A panic is a failed export too: caught here only to keep the
        // batch's deltas (the manager still sees, counts and logs it), since
        // the unwinding would otherwise drop the one batch that holds them,
        // and the carried ones folded into it, without a count.
        let result = catch_unwind(AssertUnwindSafe(|| self.exporter.export(&batch)));
        let failed = !matches!(result, Ok(Ok(())));
        let mut carry = self.carry.lock();
        if failed && batch.iter().any(|d| d.temporality == Temporality::Delta) {
            // Only this batch holds these deltas: carry them to the next.
            *carry = batch;
        } else {
            carry.clear();
        }
        drop(carry);
        result.unwrap_or_else(|panic| resume_unwind(panic))
    }
}

impl Downstream {
    /// Makes the lists those of `registered`, mapping by `map` only views
    /// not mapped before.
    fn follow(&mut self, registered: &[View], map: impl Fn(&View) -> Option<View>) {
        // Views equal to the ones kept: the same `Arc`s, as the manager
        // hands them, compare by pointer.
        let kept = self.registered.len();
        let extends =
            kept <= registered.len() && self.registered.iter().zip(registered).all(|(a, b)| a == b);
        let new = if extends {
            registered.get(kept..).unwrap_or_default()
        } else {
            // A view left (unregistered), or another list: start again
            // from what is known, forgetting views no longer registered.
            let names: HashSet<&str> = registered.iter().map(View::name).collect();
            self.known.retain(|name, _| names.contains(name.as_str()));
            self.registered.clear();
            self.mapped.clear();
            self.names.clear();
            registered
        };
        for other in new {
            let made = match self.known.get(other.name()) {
                Some((original, made)) if original == other => made.clone(),
                _ => {
                    let made = map(other);
                    self.known
                        .insert(other.name().to_owned(), (other.clone(), made.clone()));
                    made
                }
            };
            self.registered.push(other.clone());
            // A registered view a processor now refuses was registered
            // before this exporter; it is left out rather than blocking
            // unrelated registrations.
            if let Some(made) = made {
                self.names
                    .entry(made.name().to_owned())
                    .or_insert_with(|| other.name().to_owned());
                self.mapped.push(made);
            }
        }
    }
}

impl<E: Exporter> fmt::Debug for Pipeline<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.processors.iter().map(|p| p.name()).collect();
        f.debug_struct("Pipeline")
            .field("exporter", &self.exporter.name())
            .field("processors", &names)
            .field("stats", &self.stats())
            .finish()
    }
}
