//! Unregistering: a view's rows go at once, not when every thread that
//! recorded into it happens to record again.

use std::sync::Arc;

use super::table::RowTable;
use super::ViewState;

impl ViewState {
    /// Frees the view's rows: its row table (keys, ids, LastValue cells,
    /// ages) and every thread's share list. Called when the view is
    /// unregistered, after the routing table without it was published.
    ///
    /// What stays is what each recording thread holds itself and only it
    /// may touch without a lock: its index of the view, an entry per row
    /// it recorded into with its own share of the row (and the row's key,
    /// shared with other threads' entries). A thread drops that at its
    /// next record through the manager, which finds the routing table
    /// changed. A record racing this (a thread still on the old table)
    /// lands in a share nobody lists any more, like any record racing an
    /// unregistration, and is not exported.
    pub(crate) fn remove(&self) {
        let (table, lists) = {
            let mut t = self.table.write();
            let table = std::mem::take(&mut *t);
            t.removed = true;
            // Taken under the table lock: `admit` lists new shares under
            // it, and sees `removed` from now on.
            let lists: Vec<_> = self
                .shares
                .iter()
                .map(|list| std::mem::take(&mut *list.lock()))
                .collect();
            (table, lists)
        };
        // Freed outside the lock.
        drop((table, lists));
    }

    /// A share that takes values nobody will read, for a record that
    /// raced the view's removal.
    pub(super) fn void_share(&self) -> Arc<crate::cells::Share> {
        Arc::new(crate::cells::Share::new(&self.kind, None))
    }
}

impl RowTable {
    /// Whether the view was unregistered and its rows freed.
    pub(super) fn is_removed(&self) -> bool {
        self.removed
    }
}
