//! The process-wide manager and its one-line delegates.

use once_cell::sync::Lazy;

use crate::manager::{ShutdownFuture, ShutdownGuard, ShutdownReport, ViewManager};

// Created on first use, never at load time, so a process that never
// records pays nothing.
static GLOBAL: Lazy<ViewManager> = Lazy::new(ViewManager::new);

/// The process-wide [`ViewManager`], created on first use.
///
/// ```
/// let vm = census_stats::view_manager();
/// assert!(std::ptr::eq(vm, census_stats::view_manager()));
/// ```
pub fn view_manager() -> &'static ViewManager {
    &GLOBAL
}

/// Shuts the process-wide manager down, draining every exporter; see
/// [`ViewManager::shutdown`].
pub fn shutdown() -> ShutdownReport {
    view_manager().shutdown()
}

/// Shuts the process-wide manager down without blocking the caller: the
/// future completes when the drain is done; see
/// [`ViewManager::shutdown_async`].
pub fn shutdown_async() -> ShutdownFuture {
    view_manager().shutdown_async()
}

/// A guard that shuts the process-wide manager down when dropped.
///
/// ```no_run
/// let _census = census_stats::shutdown_guard();
/// // ... run the service; when `_census` drops at the end of main, every
/// // exporter is drained.
/// ```
pub fn shutdown_guard() -> ShutdownGuard<'static> {
    view_manager().shutdown_guard()
}
