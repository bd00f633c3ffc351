//! The exporter contract, stated once, and the producer handed to
//! exporters that pull.

use std::sync::Arc;

use crate::delivery::DeliveryReport;
use crate::error::ExportError;
use crate::view::View;
use crate::view_data::ViewData;

/// Receives view data: every reporting period, and once more at shutdown.
///
/// # Contract
///
/// - **Thread.** A `ViewManager` gives each exporter a thread of its own and
///   calls `export` and `shutdown` only there: never from a thread that
///   records, never two calls at once. `attach`, `self_metrics` and
///   `check_view` are called from the thread that registers the exporter or
///   the view.
/// - **Batch.** `batch` holds one [`ViewData`] per registered view, all taken
///   in one pass. It is read-only and only borrowed: clone what must outlive
///   the call.
/// - **Time.** `export` may take as long as it needs without delaying
///   recording or any other exporter. While it runs, newer batches replace
///   the one waiting for it (batches are cumulative, so nothing is lost;
///   the manager counts the skipped ones). At shutdown the manager waits for
///   the final export and `shutdown` only up to its shutdown timeout, then
///   reports the exporter as unfinished and leaves its thread behind.
/// - **Errors.** An `Err` is logged (through the `log` crate, at `warn`) and
///   counted; the next period exports as usual. A panic is caught, logged
///   and counted the same way, and the exporter stays registered.
/// - **Shutdown.** On `ViewManager::shutdown` the exporter receives one final
///   batch holding every value recorded before shutdown was called, then
///   `shutdown` is called so it can flush what it buffers. Neither is called
///   again afterwards.
///
/// ```
/// use census_core::{ExportError, Exporter, ViewData};
///
/// struct RowCounter;
///
/// impl Exporter for RowCounter {
///     fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
///         let rows: usize = batch.iter().map(|v| v.rows.len()).sum();
///         if rows > 1_000_000 {
///             return Err(ExportError::from(format!("{rows} rows is more than we can ship")));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Exporter: Send + Sync + 'static {
    /// Exports one batch; see the contract above.
    ///
    /// # Errors
    ///
    /// Any [`ExportError`]: census logs it and counts it.
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError>;

    /// Flushes whatever the exporter buffers, after the final `export`.
    /// The default does nothing.
    ///
    /// # Errors
    ///
    /// Any [`ExportError`]: census logs it.
    fn shutdown(&self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Receives, once, at registration, a [`Producer`] that snapshots the
    /// manager's views on demand. Pull exporters (such as a Prometheus
    /// endpoint) keep it to serve data as fresh as the request. The default
    /// ignores it.
    fn attach(&self, producer: Arc<dyn Producer>) {
        let _ = producer;
    }

    /// Asked once by `register_exporter`, before any view is checked,
    /// whether this exporter can be registered at all. An `Err` makes the
    /// registration fail with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) (`what` =
    /// `exporter`) carrying its message. The default accepts; a pipeline
    /// refuses when one of its processors could not be built.
    ///
    /// # Errors
    ///
    /// An [`ExportError`] saying what keeps the exporter from working.
    fn check_registration(&self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Asked before a view is registered whether this exporter can export
    /// it alongside the views already registered (`registered`), and, when
    /// the exporter itself is registered, about every view registered
    /// before it (each beside the views registered before that one). An
    /// `Err` makes that registration fail with
    /// [`Error::ViewRejected`](crate::Error::ViewRejected) carrying its
    /// message. The default accepts every view.
    ///
    /// # Errors
    ///
    /// An [`ExportError`] saying why the view cannot be exported.
    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        let _ = (view, registered);
        Ok(())
    }

    /// View data this exporter contributes about itself (for example its
    /// delivery counters), asked for once at registration. The manager adds
    /// what the producer returns to every batch and every pull, so those
    /// stats reach every exporter like recorded ones. The default
    /// contributes nothing.
    ///
    /// The producer is called on the manager's export thread at every
    /// period, and on the thread of every pull, with no time limit (unlike
    /// a callback view's callback): it must return at once, reading
    /// counters it keeps, never waiting on I/O or on a lock held across
    /// I/O. One that blocks holds up every exporter's batches and the
    /// manager's shutdown. (A panic is caught and logged.)
    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        None
    }

    /// What this exporter has and has not delivered to its destination
    /// since it was built; see [`DeliveryReport`]. Asked by
    /// `ViewManager::health()` from any thread, and once more after the
    /// exporter's `shutdown`, for the shutdown report: keep it cheap and
    /// non-blocking.
    ///
    /// `None` (the default) says the exporter has no destination to
    /// confirm, like the stdout exporter: a batch its `export` accepted
    /// counts as delivered, and a batch it returned an error for (counted
    /// by the manager) as failed. An exporter that accepts batches before
    /// delivering them, such as one with a queue, should return its report,
    /// or the shutdown report cannot tell the truth about it.
    fn delivery(&self) -> Option<DeliveryReport> {
        None
    }

    /// A name for logs and reports. The default is the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Which exporter this is: a manager refuses to register an exporter
    /// whose instance is already registered with it
    /// ([`Error::ExporterAlreadyRegistered`](crate::Error::ExporterAlreadyRegistered)),
    /// since it would get every batch twice. Only compared, never read
    /// through.
    ///
    /// The default is the exporter's own address, and an `Arc<E>` answers
    /// with its `E`'s, so the same `Arc` registered twice is one exporter.
    /// A handle whose clones share one exporter's state (a queue, an
    /// endpoint) should return the address of that state, so that every
    /// clone counts as the same exporter.
    fn instance(&self) -> *const () {
        (self as *const Self).cast()
    }
}

/// Snapshots every registered view on demand; handed to exporters through
/// [`Exporter::attach`].
///
/// Implemented by the stats crate's view manager, so that an exporter crate
/// depends on `census-core` alone.
pub trait Producer: Send + Sync {
    /// One [`ViewData`] per registered view, taken now; while the manager
    /// shuts down too, and after it has, the batch its shutdown exported.
    fn produce(&self) -> Vec<ViewData>;
}

impl<E: Exporter> Exporter for Arc<E> {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        (**self).export(batch)
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        (**self).shutdown()
    }

    fn attach(&self, producer: Arc<dyn Producer>) {
        (**self).attach(producer)
    }

    fn check_registration(&self) -> Result<(), ExportError> {
        (**self).check_registration()
    }

    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        (**self).check_view(view, registered)
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        (**self).self_metrics()
    }

    fn delivery(&self) -> Option<DeliveryReport> {
        (**self).delivery()
    }

    fn name(&self) -> &str {
        (**self).name()
    }

    fn instance(&self) -> *const () {
        (**self).instance()
    }
}
