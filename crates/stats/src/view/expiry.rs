//! Rows that expire: a view with `expire_after` drops rows nobody recorded
//! to for that long, exactly, against concurrent records.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use census_core::{Aggregation, Row, TagValue, ViewData};

use super::snapshot::Audience;
use super::table::RowTable;
use super::{Index, ViewState, OVERFLOW};
use crate::cells::{Acc, Share};
use crate::clock::Clock;

/// What a view with expiry knows about when a row last changed.
pub(super) struct Age {
    /// When the row was made: its `Row::start`.
    start: SystemTime,
    /// Records in the row when a snapshot last looked.
    records: u64,
    /// When a snapshot first saw `records` (or the row was made).
    changed: Instant,
    /// Records in the row when a batch for exporters last showed it: the
    /// row may go only once exporters have seen all of it.
    exported: u64,
}

impl Age {
    pub(super) fn new(clock: &Clock) -> Age {
        Age {
            start: clock.system_time(),
            records: 0,
            changed: clock.now(),
            exported: 0,
        }
    }
}

impl ViewState {
    /// For views whose rows expire: clears this thread's index of entries
    /// for dropped rows (once per snapshot that dropped some, so a thread
    /// meeting ever new combinations keeps a bounded index), and returns
    /// the entry for `key` if its row is still there.
    pub(super) fn tidy(
        &self,
        index: &mut Index,
        hash: u64,
        key: &[Option<&TagValue>],
    ) -> Option<Arc<Share>> {
        // Under the table lock a retired share is one of a dropped row: a
        // snapshot retires and then drops or unretires under the write lock.
        let _table = self.table.read();
        // Relaxed: the table lock orders it after the snapshot that bumped it.
        let drops = self.drops.load(Ordering::Relaxed);
        if index.swept != drops {
            index.forget_retired();
            index.swept = drops;
        }
        match index.find(hash, key) {
            Some(share) if !share.is_retired() => Some(Arc::clone(share)),
            Some(_) => {
                index.remove(hash, key);
                None
            }
            None => None,
        }
    }

    /// A snapshot of a view whose rows expire, which drops the rows that
    /// have not changed for `after`.
    ///
    /// Who expires rows: every snapshot of the view (the worker's each
    /// period and at shutdown, `retrieve_data`, a pull exporter's scrape).
    /// A row whose record count differs from the last snapshot's has
    /// changed *now*; one that has not changed for `after` goes, provided
    /// exporters have seen its last value (a batch for exporters showed
    /// this record count; in a manager without exporters, any snapshot).
    /// Going is exact against racing records: every share of the row is
    /// retired (see `ExpiringShare`), which waits out a record in
    /// progress; if the row's record count is then unchanged it is dropped
    /// (its value was already shown), otherwise a record slipped in and
    /// the row stays, unretired.
    pub(super) fn snapshot_expiring(
        &self,
        end: SystemTime,
        after: Duration,
        audience: Audience,
    ) -> ViewData {
        // The write lock: ages change and rows may go. Recording into
        // existing rows never takes it; a thread meeting a combination for
        // the first time waits until the snapshot is done.
        let mut table = self.table.write();
        let now = self.clock.now();
        let n = table.keys.len();
        let mut accs: Vec<Option<Acc>> = vec![None; n];
        let mut records: Vec<u64> = vec![0; n];
        let mut overflow: Option<Acc> = None;
        for list in self.shares.iter() {
            let list = list.lock();
            for (id, share) in list.iter() {
                if *id == OVERFLOW {
                    share.merge_into(
                        overflow.get_or_insert_with(|| Acc::new(&self.kind)),
                        &self.kind,
                    );
                    continue;
                }
                let (Some(slot), Some(count)) =
                    (accs.get_mut(*id as usize), records.get_mut(*id as usize))
                else {
                    continue;
                };
                // Records first: the cells read next hold at least these.
                *count += share.records();
                share.merge_into(slot.get_or_insert_with(|| Acc::new(&self.kind)), &self.kind);
            }
        }
        let mut doomed = vec![false; n];
        let mut any_doomed = false;
        let RowTable { keys, ages, .. } = &mut *table;
        for (id, age) in ages.iter_mut().enumerate() {
            let (Some(Some(_)), Some(&count)) = (keys.get(id), records.get(id)) else {
                continue;
            };
            if count != age.records {
                age.records = count;
                age.changed = now;
            }
            let seen = match audience {
                Audience::Reader { exporters: false } => true,
                _ => age.exported == count,
            };
            let level_held = self.holds_level(accs.get(id).and_then(Option::as_ref));
            if seen && !level_held && now.saturating_duration_since(age.changed) >= after {
                doomed[id] = true;
                any_doomed = true;
            }
        }
        let mut dropped = 0;
        if any_doomed {
            // Retire every share of the doomed rows, then count again: a
            // row whose count moved took a record that raced the decision.
            let mut final_records: Vec<u64> = vec![0; n];
            for list in self.shares.iter() {
                for (id, share) in list.lock().iter() {
                    let i = *id as usize;
                    if doomed.get(i) == Some(&true) {
                        share.retire();
                        if let Some(count) = final_records.get_mut(i) {
                            *count += share.records();
                        }
                    }
                }
            }
            let mut kept = vec![false; n];
            for (i, doom) in doomed.iter_mut().enumerate() {
                if !*doom || final_records.get(i) == records.get(i) {
                    continue;
                }
                // Changed after all: the row stays, touched now.
                *doom = false;
                kept[i] = true;
                if let (Some(age), Some(&count)) = (table.ages.get_mut(i), final_records.get(i)) {
                    age.records = count;
                    age.changed = now;
                }
            }
            for list in self.shares.iter() {
                let mut list = list.lock();
                list.retain(|(id, share)| {
                    let i = *id as usize;
                    if kept.get(i) == Some(&true) {
                        share.unretire();
                    }
                    doomed.get(i) != Some(&true)
                });
            }
            for (i, doom) in doomed.iter().enumerate() {
                if *doom {
                    self.drop_row(&mut table, i as u32);
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            // Relaxed: threads read it under the table lock; see tidy.
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        let mut rows = Vec::with_capacity(table.live + 1);
        let RowTable { keys, ages, .. } = &mut *table;
        for (id, (key, acc)) in keys.iter().zip(accs).enumerate() {
            let (Some(key), Some(acc), Some(age)) = (key, acc, ages.get_mut(id)) else {
                continue;
            };
            if audience == Audience::Exporters {
                // What this batch shows; the cells read hold at least it.
                age.exported = records.get(id).copied().unwrap_or(0);
            }
            rows.push(acc.finish_row(&self.kind, |data| Row::new(key.to_vec(), data, age.start)));
        }
        drop(table);
        self.finish(end, rows, overflow)
    }

    /// Whether a row of this view read as `acc` must stay however long it
    /// is idle: an up-down sum's row holds a level (requests in flight),
    /// and a row that went would come back counting from zero, below the
    /// level, for good. It may go once its level is back at zero, which a
    /// row made afresh starts from. A record racing the decision changes
    /// the row's record count, which keeps the row anyway.
    fn holds_level(&self, acc: Option<&Acc>) -> bool {
        if self.view.aggregation() != &Aggregation::UpDownSum {
            return false;
        }
        match acc {
            Some(Acc::SumInt(level)) => *level != 0,
            Some(Acc::SumFloat(level)) => *level != 0.0,
            _ => false,
        }
    }

    /// Removes row `id` from the table and frees its id; its shares are
    /// already retired and unlisted.
    fn drop_row(&self, t: &mut RowTable, id: u32) {
        let Some(key) = t.keys.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        let hash = self.hash_stored(&key);
        if let Ok(entry) = t.ids.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
        t.free.push(id);
        t.live -= 1;
    }
}
