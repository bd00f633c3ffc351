//! The last values of rows that expired before a batch carrying them was
//! delivered, carried in every later batch until one is.
//!
//! A full queue drops its oldest batch of cumulative data because the next
//! batch carries everything it did. A row of a view with `expire_after`
//! breaks that: once it expires it is in no later batch, so if the batches
//! that held its last value are dropped, fail or are abandoned, that value
//! never arrives. The exporter therefore remembers the rows of such views
//! from the batch before, and a row missing from the next batch that no
//! delivered batch carried rides along in each batch until one is
//! delivered: the receiver sees its final value, as it would have had the
//! earlier batch arrived.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use census_core::{Row, TagValue, Temporality, View, ViewData};
use parking_lot::Mutex;

/// A view as one registration: a view registered anew has another start.
type ViewKey<'a> = (&'a str, SystemTime);

/// A row as one incarnation: a row that expired and came back has another
/// start.
type RowKey<'a> = (&'a [Option<TagValue>], bool, SystemTime);

/// A view's carried rows, each with the first batch that carried it.
type Carried = (View, Vec<(Row, u64)>);

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct ExpiredRows {
    /// The highest batch number delivered, plus one (0: none yet). Batches
    /// are sent in order, so a batch numbered below it either arrived or
    /// will never be sent.
    delivered: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The batch number of `latest`.
    latest_seq: u64,
    /// The views with expiry of the latest batch, as they were.
    latest: Vec<ViewData>,
    /// Rows that expired before a batch carrying them was delivered, with
    /// the number of the first batch that carried them, by view name and
    /// start.
    carried: HashMap<(String, SystemTime), Carried>,
}

impl ExpiredRows {
    /// Records that batch `seq` was delivered.
    pub(crate) fn delivered(&self, seq: u64) {
        // Relaxed: read under the state lock by the next export; a late
        // view of it only carries a row once more.
        self.delivered.fetch_max(seq + 1, Ordering::Relaxed);
    }

    /// `batch`, about to go out as batch number `seq`, with the rows it
    /// must carry added; `None` when it carries none (the usual case: no
    /// view with expiry, or nothing expired undelivered). Also how many
    /// carried rows were given up on, past a view's row limit of them:
    /// their last values will never arrive.
    pub(crate) fn carry(&self, seq: u64, batch: &[ViewData]) -> (Option<Vec<ViewData>>, u64) {
        let expiring = |d: &&ViewData| {
            d.temporality == Temporality::Cumulative && d.view.expire_after().is_some()
        };
        let mut state = self.state.lock();
        let now: Vec<&ViewData> = batch.iter().filter(expiring).collect();
        if state.latest.is_empty() && state.carried.is_empty() && now.is_empty() {
            return (None, 0);
        }
        let delivered = self.delivered.load(Ordering::Relaxed);
        let by_key: HashMap<ViewKey<'_>, &ViewData> =
            now.iter().map(|d| ((d.view.name(), d.start), *d)).collect();
        let latest_seq = state.latest_seq;
        let latest = std::mem::take(&mut state.latest);
        // Rows of the batch before that this one lacks expired in between;
        // unless that batch arrived, their last value is in no batch that
        // will. (When it did arrive, the usual case, nothing is compared.)
        if latest_seq >= delivered {
            for old in latest {
                let Some(live) = by_key.get(&(old.view.name(), old.start)) else {
                    continue;
                };
                let live: HashSet<RowKey<'_>> = live
                    .rows
                    .iter()
                    .map(|r| (&r.tags[..], r.overflow, r.start))
                    .collect();
                let gone: Vec<Row> = old
                    .rows
                    .iter()
                    .filter(|r| !live.contains(&(&r.tags[..], r.overflow, r.start)))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    let key = (old.view.name().to_owned(), old.start);
                    let entry = state
                        .carried
                        .entry(key)
                        .or_insert_with(|| (old.view.clone(), Vec::new()));
                    entry
                        .1
                        .extend(gone.into_iter().map(|row| (row, latest_seq)));
                }
            }
        }
        // A carried row stays until a batch carrying it arrives, while its
        // view is registered, and until it comes back: a new incarnation
        // has the same tags, the receiver cannot hold both, and the new
        // one wins.
        let mut cut = 0;
        state.carried.retain(|(name, start), (view, rows)| {
            let Some(live) = by_key.get(&(name.as_str(), *start)) else {
                return false;
            };
            let live: HashSet<(&[Option<TagValue>], bool)> = live
                .rows
                .iter()
                .map(|r| (&r.tags[..], r.overflow))
                .collect();
            rows.retain(|(row, first)| {
                *first >= delivered && !live.contains(&(&row.tags[..], row.overflow))
            });
            // Bounded as the view is: at most its row limit, the latest
            // (a batch holds at most twice the limit of the view's rows).
            let excess = rows.len().saturating_sub(view.row_limit());
            rows.drain(..excess);
            cut += excess as u64;
            !rows.is_empty()
        });
        state.latest = now.iter().map(|d| (*d).clone()).collect();
        state.latest_seq = seq;
        if state.carried.is_empty() {
            return (None, cut);
        }
        let mut out = batch.to_vec();
        for data in out.iter_mut().filter(|d| expiring(&&**d)) {
            let Some((_, rows)) = state
                .carried
                .get(&(data.view.name().to_owned(), data.start))
            else {
                continue;
            };
            data.rows.extend(rows.iter().map(|(row, _)| row.clone()));
            data.rekey();
        }
        (Some(out), cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagKey};
    use census_testkit::{at, row};
    use std::time::Duration;

    fn view(name: &str, row_limit: usize) -> View {
        let m = MeasureI64::new("m", "", "1").expect("measure");
        View::builder(name, &m)
            .tag_keys([TagKey::new("k").expect("key")])
            .aggregation(Aggregation::Sum)
            .expire_after(Duration::from_secs(1))
            .row_limit(row_limit)
            .build()
            .expect("view")
    }

    fn data(view: &View, rows: &[(&str, i64, u64)]) -> ViewData {
        let rows = rows
            .iter()
            .map(|(k, n, start)| {
                row(
                    &[Some(k)],
                    AggregationData::Sum(Number::Int(*n)),
                    at(*start),
                )
            })
            .collect();
        ViewData::new(view.clone(), at(0), at(100), rows)
    }

    fn tags(batch: &Option<Vec<ViewData>>) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = batch
            .iter()
            .flatten()
            .flat_map(|d| &d.rows)
            .map(|r| {
                let k = r.tags[0].as_ref().map(|v| v.as_str().to_owned());
                let start = r.start.duration_since(at(0)).map_or(0, |d| d.as_secs());
                (k.unwrap_or_default(), start)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_row_back_as_a_new_incarnation_is_not_carried_beside_it() {
        let v = view("v", 100);
        let rows = ExpiredRows::default();
        assert_eq!(
            rows.carry(0, &[data(&v, &[("a", 1, 0), ("b", 1, 0)])]),
            (None, 0)
        );
        // `a` expired; nothing delivered: carried.
        let (out, _) = rows.carry(1, &[data(&v, &[("b", 2, 0)])]);
        assert_eq!(tags(&out), [("a".to_owned(), 0), ("b".to_owned(), 0)]);
        // `a` came back with a new start: the batch goes out as it is, and
        // the old `a` is forgotten.
        assert_eq!(
            rows.carry(2, &[data(&v, &[("a", 1, 50), ("b", 3, 0)])]),
            (None, 0)
        );
        // When the new `a` expires, it alone is carried.
        let (out, _) = rows.carry(3, &[data(&v, &[("b", 4, 0)])]);
        assert_eq!(tags(&out), [("a".to_owned(), 50), ("b".to_owned(), 0)]);
    }

    #[test]
    fn carried_rows_go_with_their_view_or_past_its_row_limit() {
        let v = view("v", 2);
        let rows = ExpiredRows::default();
        let _ = rows.carry(0, &[data(&v, &[("a", 1, 0), ("b", 1, 0), ("c", 1, 0)])]);
        let (out, cut) = rows.carry(1, &[data(&v, &[])]);
        // Three expired, two kept (the view's row limit), one given up on.
        assert_eq!((tags(&out).len(), cut), (2, 1));
        // Unregistered (not in the batch): forgotten.
        let w = view("w", 2);
        assert_eq!(rows.carry(2, &[data(&w, &[])]), (None, 0));
        // A delivered batch that held the last values: nothing to carry.
        let _ = rows.carry(3, &[data(&w, &[("x", 1, 0)])]);
        rows.delivered(3);
        assert_eq!(rows.carry(4, &[data(&w, &[])]), (None, 0));
    }
}
