//! The exporter contract, stated once, and the producer handed to
//! exporters that pull.

use std::sync::Arc;

use crate::error::ExportError;
use crate::view::View;
use crate::view_data::ViewData;

/// Receives view data: every reporting period, and once more at shutdown.
///
/// # Contract
///
/// - **Thread.** A `ViewManager` calls `export` and `shutdown` from its one
///   background worker thread, never from a thread that records, and never
///   two calls to the same exporter at once. The manager calls
///   `check_view` from the thread registering a view, and `attach` from
///   the thread registering the exporter.
/// - **Batch.** `batch` holds one [`ViewData`] per registered view, taken
///   in one pass just before the call. It is read-only and only borrowed:
///   clone what must outlive the call.
/// - **Time.** `export` should return promptly. Recording never waits on
///   an exporter, but exporters run one after another on the worker, so a
///   slow one delays the others' batches. An exporter that talks to the
///   network should hand the batch to a queue of its own and return.
/// - **Errors.** An `Err` is logged (through the `log` crate, at `warn`) and
///   counted; the next period exports as usual. A panic is caught, logged
///   and counted the same way, and the exporter stays registered.
/// - **Registration.** `attach` and `self_metrics` are called once, when the
///   exporter is registered, from the registering thread.
/// - **Shutdown.** On `ViewManager::shutdown` the worker exports one final
///   batch holding every value recorded before shutdown was called, then
///   calls `shutdown` on every exporter so it can flush what it buffers.
///   Neither is called again afterwards.
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

    /// Asked before a view is registered whether this exporter can export
    /// it alongside the views already registered (`registered`). An `Err`
    /// makes the registration fail with
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
    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        None
    }

    /// A name for logs and reports. The default is the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// Snapshots every registered view on demand; handed to exporters through
/// [`Exporter::attach`].
///
/// Implemented by the stats crate's view manager, so that an exporter crate
/// depends on `census-core` alone.
pub trait Producer: Send + Sync {
    /// One [`ViewData`] per registered view, taken now. Empty once the
    /// manager has shut down.
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

    fn check_view(&self, view: &View, registered: &[View]) -> Result<(), ExportError> {
        (**self).check_view(view, registered)
    }

    fn self_metrics(&self) -> Option<Arc<dyn Producer>> {
        (**self).self_metrics()
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}
