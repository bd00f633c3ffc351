//! The processor contract: one step of an exporter's pipeline, which may
//! change, filter or enrich view data before the exporter sees it.

use std::sync::Arc;

use crate::error::{Error, ExportError};
use crate::view::View;
use crate::view_data::ViewData;

/// One step between the views and an exporter: takes a batch of view data
/// and returns the batch to pass on, possibly changed, possibly empty.
///
/// Processors are chained in front of one exporter (the `census-pipeline`
/// crate's `Pipeline` does this); each exporter has its own chain, so one
/// service can send everything to one backend and a filtered, relabelled
/// or delta subset to another.
///
/// # Contract
///
/// - **Thread.** `process` is called from the delivery thread of the
///   exporter this processor sits in front of, as part of that exporter's
///   `export`, and never twice at once for that exporter. It is
///   called every reporting period and once more at shutdown, with the
///   final batch. `map_view` is called from the thread registering a view.
/// - **Order.** Processors run in the order they were added; each receives
///   what the one before it returned. The batch is owned: change it in
///   place, drop views, add views, and return it.
/// - **State.** A processor may keep state between batches (a delta
///   processor remembers the previous values) behind `&self` with interior
///   mutability, such as a mutex. It must keep that state bounded: forget
///   what no longer appears in batches.
/// - **Time.** `process` delays only its own exporter (while it runs,
///   newer batches replace the one waiting), but it should still be quick
///   and should not block on I/O.
/// - **Panics.** A panic is caught: the batch of that period is not passed
///   on to the exporter, the panic is logged (through the `log` crate) and
///   counted, and the next period runs the chain again from the start.
///   Other exporters are not affected.
/// - **Pulls.** A pull exporter behind the chain (a Prometheus exporter
///   serving a scrape) takes snapshots between periods; each passes
///   through the chain by [`pull`](Processor::pull), from the thread that
///   asked, perhaps while `process` runs. By default a pull is processed
///   like a period; a processor that keeps state between periods
///   overrides it, so that a pull leaves that state alone.
/// - **Views.** A processor that changes what a view looks like downstream
///   (its name, its tag keys) or drops whole views says so in
///   [`map_view`](Processor::map_view), so that a view is checked at
///   registration as the exporter will receive it. `process` must treat
///   every view the way `map_view` says.
///
/// ```
/// use census_core::{Processor, ViewData};
///
/// /// Passes on only the rows of views that have any.
/// struct SkipEmptyViews;
///
/// impl Processor for SkipEmptyViews {
///     fn process(&self, mut batch: Vec<ViewData>) -> Vec<ViewData> {
///         batch.retain(|data| !data.rows.is_empty());
///         batch
///     }
/// }
/// ```
pub trait Processor: Send + Sync + 'static {
    /// Turns one batch into the batch to pass on; see the contract above.
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData>;

    /// How `view` will look once this processor has handled it:
    /// `Ok(Some(view))` with its new definition, `Ok(None)` if the
    /// processor drops the view, or an error if it cannot handle the view
    /// as configured (the registration then fails with that message). The
    /// answer must depend on the view alone: a pipeline keeps it for the
    /// registered views it is handed again at later registrations. The
    /// default passes every view on unchanged.
    ///
    /// # Errors
    ///
    /// An [`ExportError`] saying why the processor cannot handle the view
    /// and what to change.
    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        Ok(Some(view.clone()))
    }

    /// Turns a pull's snapshot (a pull exporter serving a scrape between
    /// periods) into what the exporter serves. It must treat every view
    /// the way `map_view` says, as `process` does, and leave the state
    /// kept between periods as it was: a pull is not a period, and may run
    /// at the same time as `process`. The default calls `process`, which
    /// suits a processor without such state; a delta processor returns the
    /// snapshot's cumulative data unchanged instead.
    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        self.process(batch)
    }

    /// Whether the processor can work at all, asked when its pipeline is
    /// registered: an `Err` refuses that registration with its message.
    /// The default accepts.
    ///
    /// # Errors
    ///
    /// An [`ExportError`] saying what keeps the processor from working.
    fn check(&self) -> Result<(), ExportError> {
        Ok(())
    }

    /// A name for logs. The default is the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// Lets a caller keep a handle on a processor (to read its counters, for
/// instance) while a pipeline owns a clone.
impl<P: Processor> Processor for Arc<P> {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        (**self).process(batch)
    }

    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        (**self).pull(batch)
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        (**self).map_view(view)
    }

    fn check(&self) -> Result<(), ExportError> {
        (**self).check()
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// A processor whose constructor failed (`Rename::prefix` and
/// `ConstTags::new` return a `Result`) can be put in a pipeline as it is,
/// without `?`, as issue #7's example writes `.with(Rename::prefix("shop/"))`:
/// the error then surfaces when the pipeline is registered, which fails
/// with the constructor's message (and every view it would be asked about
/// is refused the same way); the processor passes nothing on, so no data
/// leaves a chain that could not be built. With `Ok`, it is the processor
/// inside.
///
/// ```
/// use census_core::{Error, Processor, View, ViewData};
///
/// struct Keep;
/// impl Processor for Keep {
///     fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> { batch }
/// }
///
/// # fn main() -> Result<(), Error> {
/// let m = census_core::MeasureI64::new("m", "", "1")?;
/// let view = View::builder("v", &m).aggregation(census_core::Aggregation::Count).build()?;
/// let built: Result<Keep, Error> = Ok(Keep);
/// assert!(built.map_view(&view).is_ok());
/// let failed: Result<Keep, Error> = Err(Error::ShutDown);
/// assert!(failed.map_view(&view).is_err());
/// # Ok(()) }
/// ```
impl<P: Processor> Processor for Result<P, Error> {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        match self {
            Ok(processor) => processor.process(batch),
            Err(_) => Vec::new(),
        }
    }

    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        match self {
            Ok(processor) => processor.pull(batch),
            Err(_) => Vec::new(),
        }
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        match self {
            Ok(processor) => processor.map_view(view),
            Err(err) => Err(ExportError::new(format!(
                "the processor could not be built: {err}"
            ))),
        }
    }

    fn check(&self) -> Result<(), ExportError> {
        match self {
            Ok(processor) => processor.check(),
            Err(err) => Err(ExportError::new(format!(
                "the processor could not be built: {err}"
            ))),
        }
    }

    fn name(&self) -> &str {
        match self {
            Ok(processor) => processor.name(),
            Err(_) => "(a processor that could not be built)",
        }
    }
}

impl Processor for Box<dyn Processor> {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        (**self).process(batch)
    }

    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        (**self).pull(batch)
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        (**self).map_view(view)
    }

    fn check(&self) -> Result<(), ExportError> {
        (**self).check()
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregation::Aggregation;
    use crate::measure::MeasureI64;
    use std::time::SystemTime;

    struct KeepNamed(&'static str);

    impl Processor for KeepNamed {
        fn process(&self, mut batch: Vec<ViewData>) -> Vec<ViewData> {
            batch.retain(|d| d.view.name() == self.0);
            batch
        }

        fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
            Ok((view.name() == self.0).then(|| view.clone()))
        }
    }

    fn view(name: &str) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder(name, &m)
            .aggregation(Aggregation::Count)
            .build()
            .expect("valid view")
    }

    #[test]
    fn shared_and_boxed_processors_delegate_every_method() {
        let now = SystemTime::now();
        let batch = vec![
            ViewData::new(view("a"), now, now, Vec::new()),
            ViewData::new(view("b"), now, now, Vec::new()),
        ];
        let shared = Arc::new(KeepNamed("b"));
        let boxed: Box<dyn Processor> = Box::new(Arc::clone(&shared));
        let out = boxed.process(batch);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].view.name(), "b");
        assert_eq!(boxed.map_view(&view("a")), Ok(None));
        assert_eq!(boxed.map_view(&view("b")), Ok(Some(view("b"))));
        assert!(boxed.name().ends_with("KeepNamed"), "{}", boxed.name());
    }

    #[test]
    fn the_default_map_view_passes_the_view_on() {
        struct Nothing;
        impl Processor for Nothing {
            fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
                batch
            }
        }
        assert_eq!(Nothing.map_view(&view("x")), Ok(Some(view("x"))));
    }
}
