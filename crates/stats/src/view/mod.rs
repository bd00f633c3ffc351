//! One registered view's state: its rows and every thread's shares of
//! them.
//!
//! Two levels. The view's *row table* ([`table`], one lock, touched only
//! for a tag combination a thread has not recorded before) decides which
//! combinations are rows, gives each an id, and enforces the row limit.
//! Each recording thread then keeps its own [`Index`] from tag values to
//! its own [`Share`] of each row it records into. The hit path (in
//! `record.rs`) looks only at the calling thread's index and writes only
//! that thread's share, so it takes no lock, bumps no reference count and
//! writes no cache line another thread writes. A snapshot ([`snapshot`])
//! merges every thread's shares by row id. Rows of a view with
//! `expire_after` may go again ([`expiry`]).

mod expiry;
mod index;
mod removal;
mod snapshot;
mod table;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use census_core::{TagKey, TagValue, View};
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, RwLock};
use thread_local::ThreadLocal;

use crate::cells::{Kind, Share};
use crate::clock::Clock;
use crate::record::Probe;
use crate::seed::Seed;

pub(crate) use index::Index;
pub(crate) use snapshot::Audience;
use table::RowTable;

/// Views with at most this many tag keys project tags on the stack.
pub(crate) const INLINE_KEYS: usize = 8;

/// The row id of the overflow row in a share list.
const OVERFLOW: u32 = u32::MAX;

/// One thread's shares of a view with their row ids.
type ShareList = Vec<(u32, Arc<Share>)>;

/// A row's tag values in the view's key order, shared by the row table and
/// every thread's index (cloned only when a thread first meets the row).
type Key = Arc<[Option<TagValue>]>;

/// A registered view and its rows.
pub(crate) struct ViewState {
    view: View,
    slot: usize,
    id: u64,
    kind: Kind,
    start: SystemTime,
    /// The rows that exist; taken for reading when a thread meets a tag
    /// combination for the first time, for writing when the combination is
    /// new to the view, and by snapshots. Never on the hit path.
    table: RwLock<RowTable>,
    /// Each thread's shares with their row ids, for snapshots. The owner
    /// locks its list only to add a share (a new row for that thread); a
    /// snapshot locks each list while reading it.
    // CachePadded for the reason given on the manager's `routes`.
    shares: ThreadLocal<CachePadded<Mutex<ShareList>>>,
    /// Measurements folded into the overflow row.
    folded: AtomicU64,
    /// The view's `expire_after`: `None` for views whose rows stay.
    expiry: Option<Duration>,
    /// How many snapshots dropped rows, so a thread knows when to clear
    /// its index of entries for dropped rows.
    drops: AtomicU64,
    /// The manager's hash seed, secret, so hostile tag values cannot be
    /// chosen to collide in the tables.
    seed: Seed,
    /// The manager's clock, which rows' ages are measured on.
    clock: Clock,
}

impl ViewState {
    pub(crate) fn new(view: View, start: SystemTime, seed: Seed) -> ViewState {
        ViewState {
            slot: 0,
            id: 0,
            kind: Kind::new(view.aggregation(), view.measure().measure_type()),
            start,
            table: RwLock::new(RowTable::default()),
            shares: ThreadLocal::new(),
            folded: AtomicU64::new(0),
            expiry: view.expire_after(),
            drops: AtomicU64::new(0),
            view,
            seed,
            clock: Clock::System,
        }
    }

    /// The same state, registered as view `id` in routing slot `slot`.
    pub(crate) fn in_slot(mut self, slot: usize, id: u64) -> ViewState {
        self.slot = slot;
        self.id = id;
        self
    }

    /// Its place in the routing table and every thread's index vector.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// Unique among the views a manager ever registered.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The view state with its rows' ages measured on `clock`.
    pub(crate) fn with_clock(mut self, clock: Clock) -> ViewState {
        self.clock = clock;
        self
    }

    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    pub(crate) fn tag_keys(&self) -> &[TagKey] {
        self.view.tag_keys()
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }

    /// Hashes a row's values by content (rows are keyed by the full tag
    /// values, never by pointer or hash alone), seeded per manager.
    #[inline]
    pub(crate) fn hash<V: Probe + ?Sized>(&self, key: &[Option<&V>]) -> u64 {
        self.seed.hash(key.iter().copied())
    }

    /// [`hash`](ViewState::hash) of a stored key: the same value.
    pub(crate) fn hash_stored(&self, key: &Key) -> u64 {
        self.seed.hash(key.iter().map(Option::as_ref))
    }
}

/// Whether a row's stored values are the projected ones.
#[inline]
pub(crate) fn same_key<V: Probe + ?Sized>(stored: &[Option<TagValue>], key: &[Option<&V>]) -> bool {
    stored.len() == key.len()
        && stored.iter().zip(key).all(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => b.matches(a),
            (None, None) => true,
            _ => false,
        })
}

impl std::fmt::Debug for ViewState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewState")
            .field("view", &self.view.name())
            .field("rows", &self.table.read().live())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use census_core::{Aggregation, AggregationData, MeasureI64, Number, Row, TagMap};
    use std::time::Duration;

    fn view(limit: usize, keys: &[&TagKey]) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder("v", &m)
            .tag_keys(keys.iter().map(|k| (*k).clone()))
            .aggregation(Aggregation::Sum)
            .row_limit(limit)
            .build()
            .expect("valid view")
    }

    /// Records as the record path does: project, then record.
    fn record(state: &ViewState, index: &mut Index, tags: &TagMap, value: Number) {
        state.record(index, &crate::record::Projection::of(state, tags), value);
    }

    fn sum(row: &Row) -> i64 {
        match row.data {
            AggregationData::Sum(Number::Int(v)) => v,
            ref other => panic!("not an int sum: {other:?}"),
        }
    }

    // Per-thread state is padded to the line pair x86_64 cores fetch
    // together, as the comment on the manager's `routes` says.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn per_thread_state_is_padded_to_128_bytes() {
        assert_eq!(std::mem::align_of::<CachePadded<Mutex<ShareList>>>(), 128);
        assert_eq!(std::mem::size_of::<CachePadded<u8>>(), 128);
    }

    #[test]
    fn absent_and_empty_values_are_different_rows() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let state = ViewState::new(view(10, &[&k]), SystemTime::now(), Seed::default());
        let mut ix = Index::default();
        record(&state, &mut ix, &TagMap::new(), Number::Int(1));
        record(
            &state,
            &mut ix,
            &TagMap::new().with(&k, "")?,
            Number::Int(10),
        );
        record(
            &state,
            &mut ix,
            &TagMap::new().with(&k, "")?,
            Number::Int(100),
        );
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
        assert_eq!(data.rows.len(), 2);
        for row in &data.rows {
            match &row.tags[0] {
                None => assert_eq!(sum(row), 1),
                Some(v) => {
                    assert_eq!(v.as_str(), "");
                    assert_eq!(sum(row), 110);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn combinations_past_the_limit_fold_into_one_counted_row() -> Result<(), census_core::Error> {
        let k = TagKey::new("user")?;
        let state = ViewState::new(view(3, &[&k]), SystemTime::now(), Seed::default());
        let mut ix = Index::default();
        for i in 0..10 {
            record(
                &state,
                &mut ix,
                &TagMap::new().with(&k, i.to_string())?,
                Number::Int(1),
            );
        }
        // An existing row keeps recording normally at the limit.
        record(
            &state,
            &mut ix,
            &TagMap::new().with(&k, "0")?,
            Number::Int(5),
        );
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
        assert_eq!(data.rows.len(), 4);
        assert_eq!(data.folded, 7);
        let overflow: Vec<&Row> = data.rows.iter().filter(|r| r.overflow).collect();
        assert_eq!(overflow.len(), 1);
        assert_eq!(sum(overflow[0]), 7);
        assert_eq!(overflow[0].tags, vec![None]);
        let total: i64 = data.rows.iter().map(sum).sum();
        assert_eq!(total, 15);
        Ok(())
    }

    #[test]
    fn views_with_many_keys_project_without_the_inline_path() -> Result<(), census_core::Error> {
        let keys: Vec<TagKey> = (0..10)
            .map(|i| TagKey::new(format!("k{i}")))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&TagKey> = keys.iter().collect();
        let state = ViewState::new(view(10, &refs), SystemTime::now(), Seed::default());
        let mut ix = Index::default();
        let mut tags = TagMap::new();
        for k in keys.iter().step_by(2) {
            tags = tags.with(k, k.name())?;
        }
        record(&state, &mut ix, &tags, Number::Int(2));
        record(&state, &mut ix, &tags, Number::Int(3));
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
        assert_eq!(data.rows.len(), 1);
        assert_eq!(sum(&data.rows[0]), 5);
        let present: Vec<bool> = data.rows[0].tags.iter().map(Option::is_some).collect();
        assert_eq!(present, (0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn threads_keep_own_shares_that_merge_into_one_row() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let state = ViewState::new(view(10, &[&k]), SystemTime::now(), Seed::default());
        let mut ix = Index::default();
        // Distinct but equal value handles: rows are keyed by content.
        let a = TagMap::new().with(&k, "x")?;
        let b = TagMap::new().with(&k, "x")?;
        record(&state, &mut ix, &a, Number::Int(100));
        // Both threads stay alive until both recorded, so neither inherits
        // the other's thread slot.
        let both = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                record(&state, &mut Index::default(), &a, Number::Int(1));
                both.wait();
            });
            s.spawn(|| {
                record(&state, &mut Index::default(), &b, Number::Int(10));
                both.wait();
            });
        });
        let data = state.snapshot(SystemTime::now(), Audience::Reader { exporters: false });
        assert_eq!(data.rows.len(), 1);
        assert_eq!(sum(&data.rows[0]), 111);
        assert_eq!(state.shares.iter().count(), 3);
        Ok(())
    }

    fn expiring_view(limit: usize, k: &TagKey, after: Duration) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder("v", &m)
            .tag_keys([k.clone()])
            .aggregation(Aggregation::Sum)
            .row_limit(limit)
            .expire_after(after)
            .build()
            .expect("valid view")
    }

    const ALONE: Audience = Audience::Reader { exporters: false };

    // Issue #7: a view with expiry under a stream of ever new tag values
    // keeps its table, share lists and thread index bounded, and the
    // slots its expired rows free go to new rows instead of overflow.
    #[test]
    fn expiring_view_under_ever_new_tags_stays_bounded() -> Result<(), census_core::Error> {
        let k = TagKey::new("user")?;
        let limit = 8;
        let clock = ManualClock::new();
        let state = ViewState::new(
            expiring_view(limit, &k, Duration::from_millis(1)),
            SystemTime::now(),
            Seed::default(),
        )
        .with_clock(Clock::Manual(clock.clone()));
        let mut ix = Index::default();
        for round in 0..30 {
            for i in 0..20 {
                let tags = TagMap::new().with(&k, format!("{round}-{i}"))?;
                record(&state, &mut ix, &tags, Number::Int(1));
            }
            let seen = state.snapshot(SystemTime::now(), ALONE);
            let ordinary = seen.rows.iter().filter(|r| !r.overflow).count();
            // Every round's first combinations got rows of their own: the
            // rows of the round before had gone and freed their slots.
            assert_eq!(ordinary, limit, "round {round}");
            let total: i64 = seen.rows.iter().map(sum).sum();
            // The overflow row keeps counting (it never expires); the
            // ordinary rows hold this round's values only.
            assert_eq!(total, limit as i64 + 12 * (round + 1));
            clock.advance(Duration::from_millis(1));
            let after = state.snapshot(SystemTime::now(), ALONE);
            assert!(after.rows.iter().all(|r| r.overflow), "round {round}");
            let t = state.table.read();
            assert!(t.keys.len() <= limit && t.live == 0 && t.ids.is_empty());
            assert!(t.ages.len() <= limit);
            drop(t);
            let listed: usize = state.shares.iter().map(|l| l.lock().len()).sum();
            assert_eq!(listed, 1, "only the overflow share stays listed");
            // Entries of dropped rows go at the thread's next slow path.
            assert!(ix.len() <= limit, "{}", ix.len());
        }
        Ok(())
    }

    #[test]
    fn an_expired_row_comes_back_fresh() -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let after = Duration::from_millis(30);
        let clock = ManualClock::new();
        let state = ViewState::new(
            expiring_view(10, &k, after),
            SystemTime::now(),
            Seed::default(),
        )
        .with_clock(Clock::Manual(clock.clone()));
        let mut ix = Index::default();
        let a = TagMap::new().with(&k, "a")?;
        record(&state, &mut ix, &a, Number::Int(5));
        let first = state.snapshot(SystemTime::now(), ALONE);
        assert_eq!(first.rows.len(), 1);
        assert_eq!(sum(&first.rows[0]), 5);
        // Not yet: the row changed at the last snapshot.
        let again = state.snapshot(SystemTime::now(), ALONE);
        assert_eq!(again.rows.len(), 1);
        clock.advance(after);
        assert!(state.snapshot(SystemTime::now(), ALONE).rows.is_empty());
        // A reader that is not the exporters' batch leaves an unexported
        // row alone, however old; the batch shows it, the next one drops it.
        record(&state, &mut ix, &a, Number::Int(2));
        let fresh = state.snapshot(SystemTime::now(), Audience::Reader { exporters: true });
        assert_eq!(fresh.rows.len(), 1);
        assert_eq!(sum(&fresh.rows[0]), 2);
        assert!(fresh.rows[0].start > first.rows[0].start);
        clock.advance(after);
        let held = Audience::Reader { exporters: true };
        assert_eq!(state.snapshot(SystemTime::now(), held).rows.len(), 1);
        let batch = state.snapshot(SystemTime::now(), Audience::Exporters);
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(sum(&batch.rows[0]), 2);
        assert!(state.snapshot(SystemTime::now(), held).rows.is_empty());
        Ok(())
    }

    #[test]
    fn fresh_last_value_and_distribution_rows_hold_only_new_values(
    ) -> Result<(), census_core::Error> {
        let k = TagKey::new("k")?;
        let m = MeasureI64::new("m", "", "1")?;
        let after = Duration::from_millis(20);
        for aggregation in [Aggregation::LastValue, Aggregation::distribution([10.0])?] {
            let view = View::builder("v", &m)
                .tag_keys([k.clone()])
                .aggregation(aggregation)
                .expire_after(after)
                .build()?;
            let clock = ManualClock::new();
            let state = ViewState::new(view, SystemTime::now(), Seed::default())
                .with_clock(Clock::Manual(clock.clone()));
            let mut ix = Index::default();
            let a = TagMap::new().with(&k, "a")?;
            record(&state, &mut ix, &a, Number::Int(50));
            record(&state, &mut ix, &a, Number::Int(40));
            assert_eq!(state.snapshot(SystemTime::now(), ALONE).rows.len(), 1);
            clock.advance(after);
            assert!(state.snapshot(SystemTime::now(), ALONE).rows.is_empty());
            record(&state, &mut ix, &a, Number::Int(7));
            let rows = state.snapshot(SystemTime::now(), ALONE).rows;
            assert_eq!(rows.len(), 1);
            match &rows[0].data {
                AggregationData::LastValue(v) => assert_eq!(*v, Number::Int(7)),
                AggregationData::Distribution(d) => {
                    assert_eq!((d.count, d.min, d.max), (1, 7.0, 7.0));
                    assert_eq!(d.bucket_counts, vec![1, 0]);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        Ok(())
    }
}
