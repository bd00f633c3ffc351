//! Snapshots: a view's rows now, every thread's shares merged per row.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use census_core::{Row, ViewData};

use super::{ViewState, OVERFLOW};
use crate::cells::{Acc, DistributionAcc, Kind, RowAcc};

/// Who receives a snapshot, which decides whether an expired row may go
/// in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The batch every exporter receives (periodic and at shutdown).
    Exporters,
    /// One reader: `retrieve_data` or a pull exporter's scrape.
    /// `exporters` says whether the manager has exporters, whose batches
    /// must show a row's last value before the row may go.
    Reader {
        /// Whether the manager has exporters.
        exporters: bool,
    },
}

impl ViewState {
    /// The view's rows now: every thread's shares merged per row. In a
    /// view with expiry, also drops the rows that expired; `audience` says
    /// who sees the result, see [`Audience`].
    ///
    /// Each share is read whole, and each only grows, so a snapshot taken
    /// after another never shows less of a row; a value is in exactly one
    /// share, so nothing is counted twice.
    pub(crate) fn snapshot(&self, end: SystemTime, audience: Audience) -> ViewData {
        match self.expiry {
            None => self.snapshot_stable(end),
            Some(after) => self.snapshot_expiring(end, after, audience),
        }
    }

    fn snapshot_stable(&self, end: SystemTime) -> ViewData {
        match self.kind {
            Kind::Distribution(_) => self.merge_stable::<DistributionAcc>(end),
            _ => self.merge_stable::<Acc>(end),
        }
    }

    fn merge_stable<A: RowAcc>(&self, end: SystemTime) -> ViewData {
        // Held for reading throughout so row ids stay valid; recording into
        // existing rows never takes it, and a thread meeting a new
        // combination only waits if that combination is new to the view.
        let table = self.table.read();
        let mut accs: Vec<Option<A>> = std::iter::repeat_with(|| None)
            .take(table.keys.len())
            .collect();
        let mut overflow: Option<A> = None;
        // Rows of this view are never dropped: every key is there.
        for list in self.shares.iter() {
            let list = list.lock();
            for (id, share) in list.iter() {
                let slot = if *id == OVERFLOW {
                    &mut overflow
                } else {
                    match accs.get_mut(*id as usize) {
                        Some(slot) => slot,
                        // Ids are given out under the write lock before a
                        // share is listed, so this cannot happen.
                        None => continue,
                    }
                };
                slot.get_or_insert_with(|| A::new(&self.kind))
                    .add(share, &self.kind);
            }
        }
        let mut rows = Vec::with_capacity(accs.len() + 1);
        for (key, acc) in table.keys.iter().zip(accs) {
            // A row with no share yet is one whose first value is still on
            // its way; it appears in the next snapshot, with the value.
            if let (Some(key), Some(acc)) = (key, acc) {
                rows.push(
                    acc.finish_row(&self.kind, |data| Row::new(key.to_vec(), data, self.start)),
                );
            }
        }
        drop(table);
        self.finish(end, rows, overflow)
    }

    /// Adds the overflow row and the folded count.
    pub(super) fn finish<A: RowAcc>(
        &self,
        end: SystemTime,
        mut rows: Vec<Row>,
        overflow: Option<A>,
    ) -> ViewData {
        if let Some(acc) = overflow {
            // The overflow row never expires: it is one row per view and
            // it starts with the view.
            let keys = self.view.tag_keys().len();
            rows.push(acc.finish_row(&self.kind, |data| Row::overflow(keys, data, self.start)));
        }
        let mut data = ViewData::new(self.view.clone(), self.start, end, rows);
        // Relaxed: a statistic; see share_for.
        data.folded = self.folded.load(Ordering::Relaxed);
        data
    }
}
