//! The aggregation state of one row: one thread's share of it, updated by
//! that thread alone, and the accumulator a snapshot merges shares into.
//!
//! A row's cells are split per recording thread so that recording never
//! writes a cache line another thread writes: each thread owns its share
//! and is its only writer, so an update is a plain load and store (no
//! locked read-modify-write), and two threads recording into the same row
//! never bounce a line between cores. A snapshot reads every share and
//! adds them up; that merge is exact for counts and integer sums and for
//! the bucket counts of a distribution. LastValue is the exception: "the
//! latest value" needs one order across threads, so its share points at one
//! cell per row that every thread stores into.

use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use census_core::{
    Aggregation, AggregationData, Bounds, DistributionData, Exemplar, MeasureType, Moments, Number,
    Row,
};
use once_cell::race::OnceBox;

use crate::clock::Clock;
use crate::exemplar::{Attachment, Exemplars};

/// What a view aggregates, fixed when it is registered, so the record
/// path matches on a small tag instead of re-reading the view.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Count,
    SumInt,
    SumFloat,
    LastInt,
    LastFloat,
    /// Shared by every share of the view, so the bounds a record searches
    /// stay in cache whichever row it lands in.
    Distribution(Arc<BucketSearch>),
}

impl Kind {
    pub(crate) fn new(aggregation: &Aggregation, measure_type: MeasureType) -> Kind {
        match (aggregation, measure_type) {
            (Aggregation::Count, _) => Kind::Count,
            // An up-down sum aggregates as a sum; only its export differs.
            (Aggregation::Sum | Aggregation::UpDownSum, MeasureType::Int64) => Kind::SumInt,
            (Aggregation::Sum | Aggregation::UpDownSum, MeasureType::Float64) => Kind::SumFloat,
            (Aggregation::LastValue, MeasureType::Int64) => Kind::LastInt,
            (Aggregation::LastValue, MeasureType::Float64) => Kind::LastFloat,
            (Aggregation::Distribution(bounds), _) => {
                Kind::Distribution(Arc::new(BucketSearch::new(bounds)))
            }
        }
    }

    pub(crate) fn is_last_value(&self) -> bool {
        matches!(self, Kind::LastInt | Kind::LastFloat)
    }

    pub(crate) fn is_distribution(&self) -> bool {
        matches!(self, Kind::Distribution(_))
    }
}

/// The one cell a LastValue row has, shared by every thread's share.
///
/// Relaxed stores and loads: the latest value is the last store in the
/// cell's modification order, which every thread agrees on; nothing else
/// is published through it.
#[derive(Debug)]
pub(crate) struct LastCell(AtomicU64);

impl LastCell {
    pub(crate) fn new() -> LastCell {
        LastCell(AtomicU64::new(0))
    }
}

/// One thread's share of one row.
///
/// Single writer: only the thread that made a share ever updates it (the
/// share is reachable for writing only through that thread's own index),
/// so an update loads and stores with Relaxed and no read-modify-write; a
/// concurrent snapshot sees the old or the new value, both correct. The
/// snapshot that finally exports a value synchronises with the writer some
/// other way (the share list's mutex when the share is new, a thread join
/// or a channel in the caller), as the old shared-atomic cells did.
#[derive(Debug)]
pub(crate) enum Share {
    Count(AtomicU64),
    SumInt(AtomicI64),
    /// f64 bits.
    SumFloat(AtomicU64),
    /// i64 or f64 bits, per the view's kind; shared by all threads.
    Last(Arc<LastCell>),
    /// Boxed: a distribution's cells fill two cache lines of their own.
    Distribution(Box<DistributionShare>),
    /// A share of a row of a view whose rows expire: the cells above plus
    /// what lets a snapshot retire the row safely. Boxed so that shares of
    /// other views stay two words.
    Expiring(Box<ExpiringShare>),
}

/// `ExpiringShare::state` while its owner is recording.
const BUSY: u64 = 1;
/// What one record adds to `ExpiringShare::state`.
const ONE_RECORD: u64 = 2;

/// One thread's share of a row that may expire.
///
/// A snapshot retires a row that has gone unrecorded for its view's
/// `expire_after`, and must then know the row's final contents: no record
/// may land in a share after the snapshot has read it for the last time,
/// or its value would leave with the row. The owner and the retiring
/// snapshot meet in a handshake (Dekker's): the owner marks itself busy,
/// then looks at `retired`; the snapshot sets `retired`, then waits while
/// the owner is busy. With all four accesses SeqCst, at least one side
/// sees the other's write, so either the owner backs off (and records
/// into a fresh row) or the snapshot waits for the record to finish (and
/// sees it, keeping the row because it changed). This costs the owner one
/// locked instruction per record, paid only by views with expiry.
#[derive(Debug)]
pub(crate) struct ExpiringShare {
    /// Records made, times two, plus `BUSY` while the owner records. Only
    /// the owner writes it.
    state: AtomicU64,
    /// Set by a snapshot that retires the row; the owner then records
    /// elsewhere. Cleared again if the snapshot keeps the row after all.
    retired: AtomicBool,
    cells: Share,
}

impl ExpiringShare {
    #[inline]
    fn record(&self, value: Number) -> bool {
        // Relaxed: this thread is the only writer of `state`.
        let state = self.state.load(Ordering::Relaxed);
        // SeqCst, with the load below and retire's store and load: see the
        // type's doc. A swap, not a store, so x86 needs no separate fence.
        self.state.swap(state | BUSY, Ordering::SeqCst);
        // SeqCst: the other half of the handshake.
        if self.retired.load(Ordering::SeqCst) {
            // Release: nothing was written; lets retire's wait end.
            self.state.store(state, Ordering::Release);
            return false;
        }
        self.cells.add(value);
        // Release: a snapshot that reads this state with Acquire (retire's
        // wait, or `records`) then sees the cells written above.
        self.state.store(state + ONE_RECORD, Ordering::Release);
        true
    }

    fn retire(&self) {
        // SeqCst: see the type's doc.
        self.retired.store(true, Ordering::SeqCst);
        let mut tries = 0u32;
        // SeqCst (so Acquire too): the record that clears BUSY published
        // its cells with Release, so once not busy they are final here.
        while self.state.load(Ordering::SeqCst) & BUSY != 0 {
            tries += 1;
            if tries % 64 == 0 {
                // The owner was descheduled mid-record; let it finish.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

impl Share {
    /// An empty share of a row that may expire; see [`ExpiringShare`].
    pub(crate) fn expiring(kind: &Kind, last: Option<&Arc<LastCell>>) -> Share {
        Share::Expiring(Box::new(ExpiringShare {
            state: AtomicU64::new(0),
            retired: AtomicBool::new(false),
            cells: Share::new(kind, last),
        }))
    }

    /// Records made into an expiring share (0 for other shares). Read
    /// before the cells: Acquire pairs with the owner's Release after its
    /// cell writes, so cells read afterwards hold at least these records.
    pub(crate) fn records(&self) -> u64 {
        match self {
            Share::Expiring(e) => e.state.load(Ordering::Acquire) / ONE_RECORD,
            _ => 0,
        }
    }

    /// Whether a snapshot retired the share's row. Outside the view's row
    /// table write lock, only shares of dropped rows are retired.
    pub(crate) fn is_retired(&self) -> bool {
        match self {
            // Relaxed: callers that act on the answer hold the row table
            // lock, which orders this after the snapshot that set or
            // cleared the flag; a stale `false` elsewhere is caught by
            // `record`, whose SeqCst load sees the flag.
            Share::Expiring(e) => e.retired.load(Ordering::Relaxed),
            _ => false,
        }
    }

    /// Stops the owner recording into the share and waits for a record in
    /// progress; the contents are final after it returns, until
    /// [`Share::unretire`]. Called with the row table write lock held.
    pub(crate) fn retire(&self) {
        if let Share::Expiring(e) = self {
            e.retire();
        }
    }

    /// Lets the owner record into a retired share again (its row stays).
    /// Called with the row table write lock held.
    pub(crate) fn unretire(&self) {
        if let Share::Expiring(e) = self {
            // Relaxed: an owner that backed off re-reads it under the row
            // table lock, which this snapshot holds; one that reads the old
            // `true` backs off and re-reads it so.
            e.retired.store(false, Ordering::Relaxed);
        }
    }
    /// An empty share; LastValue rows pass their row's one cell.
    pub(crate) fn new(kind: &Kind, last: Option<&Arc<LastCell>>) -> Share {
        match kind {
            Kind::Count => Share::Count(AtomicU64::new(0)),
            Kind::SumInt => Share::SumInt(AtomicI64::new(0)),
            Kind::SumFloat => Share::SumFloat(AtomicU64::new(0f64.to_bits())),
            Kind::LastInt | Kind::LastFloat => Share::Last(match last {
                Some(cell) => Arc::clone(cell),
                None => Arc::new(LastCell::new()),
            }),
            Kind::Distribution(search) => {
                Share::Distribution(Box::new(DistributionShare::new(search)))
            }
        }
    }

    /// Folds one value in, and says whether it did: `false` only when a
    /// snapshot retired the share's row (expiry), and the caller must find
    /// the row's successor. Must only be called by the share's owner
    /// thread. The value's type matches the measure's: the manager refuses
    /// mismatched measures before it gets here.
    #[inline]
    #[must_use]
    pub(crate) fn record(&self, value: Number) -> bool {
        match self {
            Share::Expiring(e) => e.record(value),
            _ => {
                self.add(value);
                true
            }
        }
    }

    /// Keeps `v`, recorded with `attachments`, as its bucket's exemplar
    /// (a Distribution share only). Called by the owner after a record
    /// that succeeded.
    #[inline(never)]
    pub(crate) fn keep_exemplar(&self, v: f64, attachments: &[Attachment<'_>], clock: &Clock) {
        match self {
            Share::Distribution(d) => d.keep_exemplar(v, attachments, clock),
            Share::Expiring(e) => e.cells.keep_exemplar(v, attachments, clock),
            _ => {}
        }
    }

    #[inline(always)]
    fn add(&self, value: Number) {
        match self {
            Share::Count(c) => {
                // Relaxed load+store, not fetch_add: this thread is the only
                // writer (see the type's doc).
                c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
            }
            Share::SumInt(c) => {
                // Wraps past i64::MAX like any two's complement add; the
                // documented Sum semantics say so. Relaxed: single writer.
                c.store(
                    c.load(Ordering::Relaxed).wrapping_add(int(value)),
                    Ordering::Relaxed,
                );
            }
            Share::SumFloat(c) => {
                // Relaxed: single writer. Saturated: see `saturate`.
                let sum = saturate(f64::from_bits(c.load(Ordering::Relaxed)) + value.as_f64());
                c.store(sum.to_bits(), Ordering::Relaxed);
            }
            Share::Last(cell) => {
                let bits = match value {
                    Number::Int(v) => v as u64,
                    Number::Float(v) => v.to_bits(),
                };
                // Relaxed: see LastCell.
                cell.0.store(bits, Ordering::Relaxed);
            }
            Share::Distribution(d) => d.record(value.as_f64()),
            // Never nested: an expiring share holds a plain one.
            Share::Expiring(_) => {}
        }
    }

    /// Adds this share's contents into a Distribution view's accumulator
    /// (nothing for shares of other kinds, which that view has none of).
    pub(crate) fn merge_distribution(&self, acc: &mut DistributionAcc) {
        match self {
            Share::Distribution(d) => d.merge_into(acc),
            Share::Expiring(e) => e.cells.merge_distribution(acc),
            _ => {}
        }
    }

    /// Adds this share's current contents into `acc`.
    pub(crate) fn merge_into(&self, acc: &mut Acc, kind: &Kind) {
        match (self, acc) {
            (Share::Expiring(e), acc) => e.cells.merge_into(acc, kind),
            (Share::Count(c), Acc::Count(n)) => {
                // Relaxed: a racing snapshot may see the old or new count.
                *n = n.wrapping_add(c.load(Ordering::Relaxed));
            }
            (Share::SumInt(c), Acc::SumInt(n)) => {
                // Relaxed: as above.
                *n = n.wrapping_add(c.load(Ordering::Relaxed));
            }
            (Share::SumFloat(c), Acc::SumFloat(n)) => {
                // Relaxed: as above.
                *n = saturate(*n + f64::from_bits(c.load(Ordering::Relaxed)));
            }
            (Share::Last(cell), Acc::Last(n)) => {
                // Relaxed: see LastCell.
                let bits = cell.0.load(Ordering::Relaxed);
                *n = Some(match kind {
                    Kind::LastInt => Number::Int(bits as i64),
                    _ => Number::Float(f64::from_bits(bits)),
                });
            }
            (Share::Distribution(d), Acc::Distribution(acc)) => d.merge_into(acc),
            // A share always matches its view's accumulator: both come
            // from the view's one Kind.
            _ => {}
        }
    }
}

/// Bucket counts a distribution share keeps inside itself; a view with
/// more bounds than `INLINE_BUCKETS - 1` keeps its counts in a box.
const INLINE_BUCKETS: usize = 16;

/// A view's bounds, prepared for finding a value's bucket quickly.
///
/// Short lists (most views have around ten bounds) are also kept padded
/// with `+inf` to `INLINE_BUCKETS` slots, so the search compares the value
/// with all sixteen at once and counts the bounds below it: independent
/// compares the compiler turns into vector instructions, where four
/// halving steps each waited for the one before (perf: a third of a
/// Distribution record; 12 % less time for case B with the count), and
/// `partition_point`'s loop branched. A padding slot is never below any
/// value (`+inf < v` is false even for `+inf`), so both searches count
/// exactly the bounds below the value: the upper-inclusive rule, `-0.0`
/// and `+0.0` alike as `<` treats them.
#[derive(Debug)]
pub(crate) struct BucketSearch {
    bounds: Bounds,
    padded: [f64; INLINE_BUCKETS],
}

impl BucketSearch {
    fn new(bounds: &Bounds) -> BucketSearch {
        let mut padded = [f64::INFINITY; INLINE_BUCKETS];
        for (slot, bound) in padded.iter_mut().zip(bounds.as_slice()) {
            *slot = *bound;
        }
        BucketSearch {
            bounds: bounds.clone(),
            padded,
        }
    }

    /// Whether the bounds fit the padded table, leaving its last slot
    /// `+inf`, which keeps [`Self::short_index`] at most 15.
    fn is_short(&self) -> bool {
        self.bounds.as_slice().len() < INLINE_BUCKETS
    }

    /// The number of bounds below `v`, for short lists only: at most 15,
    /// the last slot being padding.
    #[inline(always)]
    fn short_index(&self, v: f64) -> usize {
        self.padded.iter().map(|&b| usize::from(b < v)).sum()
    }
}

/// A distribution share's bucket counts: inside the share for short bound
/// lists, so a record touches one allocation, else boxed.
#[derive(Debug)]
enum Buckets {
    Inline([AtomicU64; INLINE_BUCKETS]),
    Boxed(Box<[AtomicU64]>),
}

/// A distribution share: count, sum, extremes, bucket counts, and the
/// sums of the values' differences from the share's first value and of
/// their squares, written by one thread and read whole by snapshots through
/// a sequence lock built from atomics.
///
/// The fields must be read together (count must equal the bucket total,
/// the two shifted sums move together). A mutex would do, but costs two
/// locked read-modify-writes per record; the single writer only needs to
/// bump `seq` around its plain stores, and a reader retries when `seq`
/// changed under it, which is rare: the writer's window is a few stores.
///
/// Shifted sums rather than Welford's running mean: no division per
/// record. Subtracting the first value keeps them accurate where the naive
/// sum of squares fails (large values, small spread): the differences are
/// small and, for close values, exact, where Welford rounds its running
/// mean at the values' scale on every record (the accuracy tests below
/// fail with it). The squared deviations are `dsq - dsum² / n` at read
/// time, and since the first value is itself one of the values, `dsq` is
/// at most `n + 1` times the result, so the subtraction loses at most
/// about `log2(n + 1)` bits even when that first value is the farthest
/// from the mean.
// C layout on a cache-line boundary: the fields every record writes fill
// exactly the first line, and the bucket counts follow, so a record
// touches two lines (three for the upper buckets) instead of straddling
// (callgrind's cache model: 4.7 -> 3.6 L1 misses per record in case B,
// benches/record.rs `1_view_distribution`).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct DistributionShare {
    /// Twice the count, plus one while the owner is writing: the sequence
    /// lock and the count in one word, one load and two stores per record.
    seq: AtomicU64,
    /// f64 bits, as are min, max, shift, dsum and dsq.
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    /// The first value recorded.
    shift: AtomicU64,
    /// The sum of `v - shift`.
    dsum: AtomicU64,
    /// The sum of `(v - shift)²`.
    dsq: AtomicU64,
    search: Arc<BucketSearch>,
    buckets: Buckets,
    /// Made by the first record with attachments; one pointer until then,
    /// which fits in the padding the alignment leaves anyway.
    exemplars: OnceBox<Exemplars>,
}

/// The merge of consistent readings of distribution shares: their moments
/// (merged by census-core's [`Moments::merge`], the one copy of that
/// arithmetic, which keeps each share's first value as the mean's base)
/// and their bucket counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DistributionAcc {
    moments: Moments,
    buckets: Vec<u64>,
    /// One entry per bucket once any share had an exemplar; empty before.
    exemplars: Vec<Option<Exemplar>>,
}

impl DistributionShare {
    fn new(search: &Arc<BucketSearch>) -> DistributionShare {
        let zero = || AtomicU64::new(0f64.to_bits());
        let buckets = if search.is_short() {
            Buckets::Inline(std::array::from_fn(|_| AtomicU64::new(0)))
        } else {
            Buckets::Boxed(
                (0..search.bounds.bucket_count())
                    .map(|_| AtomicU64::new(0))
                    .collect(),
            )
        };
        DistributionShare {
            seq: AtomicU64::new(0),
            sum: zero(),
            min: zero(),
            max: zero(),
            shift: zero(),
            dsum: zero(),
            dsq: zero(),
            search: Arc::clone(search),
            buckets,
            exemplars: OnceBox::new(),
        }
    }

    /// See [`Share::keep_exemplar`].
    fn keep_exemplar(&self, v: f64, attachments: &[Attachment<'_>], clock: &Clock) {
        let bucket = match &self.buckets {
            Buckets::Inline(_) => self.search.short_index(v),
            Buckets::Boxed(_) => self.search.bounds.bucket_index(v),
        };
        let buckets = self.search.bounds.bucket_count();
        self.exemplars
            .get_or_init(|| Box::new(Exemplars::new(buckets)))
            .keep(bucket, v, attachments, clock.system_time());
    }

    #[inline]
    pub(crate) fn record(&self, v: f64) {
        let f = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        let set = |a: &AtomicU64, x: f64| a.store(x.to_bits(), Ordering::Relaxed);
        // Relaxed loads of our own fields: this thread is their only writer.
        let seq = self.seq.load(Ordering::Relaxed);
        // Mark the share as being written. The Release fence after the odd
        // store keeps the field stores below from becoming visible before
        // it, so a reader that sees any new field also sees an odd seq (or
        // a later one) on its second read.
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        // Short lists index at most 15 (see BucketSearch), long ones at
        // most bounds.len(), and there is a count for each, so get always
        // finds it.
        let bucket = match &self.buckets {
            Buckets::Inline(b) => b.get(self.search.short_index(v)),
            Buckets::Boxed(b) => b.get(self.search.bounds.bucket_index(v)),
        };
        if let Some(b) = bucket {
            b.store(b.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        if seq == 0 {
            set(&self.shift, v);
            set(&self.min, v);
            set(&self.max, v);
        } else {
            // A compare and select rather than f64::min and max: values
            // here are finite (the manager rejects the rest), so their NaN
            // handling would cost instructions for nothing.
            let (min, max) = (f(&self.min), f(&self.max));
            set(&self.min, if v < min { v } else { min });
            set(&self.max, if v > max { v } else { max });
        }
        set(&self.sum, saturate(f(&self.sum) + v));
        let d = v - f(&self.shift);
        // Saturated too: a value farther from the first than f64 reaches
        // would make the mean infinite, and then NaN once merged.
        set(&self.dsum, saturate(f(&self.dsum) + d));
        set(&self.dsq, f(&self.dsq) + d * d);
        // Release: publishes the field stores to a reader that Acquires the
        // even value.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Adds a consistent reading of the share (retried while the owner
    /// writes) into `acc`. The bucket counts are read onto the stack for
    /// short bound lists: a heap vector per share read was a quarter of a
    /// Distribution row's allocations in a snapshot.
    fn merge_into(&self, acc: &mut DistributionAcc) {
        let f = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        let n = self.search.bounds.bucket_count();
        let mut short = [0u64; INLINE_BUCKETS];
        let mut long: Vec<u64> = Vec::new();
        let mut tries = 0u32;
        let moments = loop {
            // Acquire: pairs with the writer's final Release store, so the
            // fields read below are at least that write's.
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 0 {
                let (sum, min, max) = (f(&self.sum), f(&self.min), f(&self.max));
                let (shift, dsum, dsq) = (f(&self.shift), f(&self.dsum), f(&self.dsq));
                match &self.buckets {
                    Buckets::Inline(b) => {
                        for (dst, src) in short.iter_mut().zip(b.iter()) {
                            *dst = src.load(Ordering::Relaxed);
                        }
                    }
                    Buckets::Boxed(b) => {
                        long.clear();
                        long.extend(b.iter().map(|b| b.load(Ordering::Relaxed)));
                    }
                }
                // Acquire fence: the field loads above cannot move after
                // the second seq load, so an unchanged even seq proves no
                // write overlapped them (the writer's Release fence orders
                // its odd store before its field stores).
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    let count = before / 2;
                    if count == 0 {
                        return;
                    }
                    let offset = dsum / count as f64;
                    let ssd = dsq - dsum * offset;
                    // `dsum` saturated: the spread is past f64's range.
                    let beyond = dsq.is_infinite() || !ssd.is_finite();
                    // With `dsum` saturated the shifted mean is off (values
                    // on both sides of f64's range from the first one: the
                    // mean of f64::MAX and -f64::MAX read f64::MAX / 2);
                    // the plain sum, unsaturated, still gives it.
                    let (base, offset) = if dsum.abs() == f64::MAX && sum.abs() < f64::MAX {
                        (0.0, sum / count as f64)
                    } else {
                        (shift, offset)
                    };
                    break Moments {
                        count,
                        sum,
                        base,
                        offset,
                        min,
                        max,
                        // Rounding can leave a hair below zero when the
                        // spread is tiny. Squares past f64's range make
                        // `dsq` infinite and the difference NaN: the true
                        // spread is then at least that large, so infinite.
                        sum_of_squared_deviation: if beyond {
                            f64::INFINITY
                        } else if ssd < 0.0 {
                            0.0
                        } else {
                            ssd
                        },
                    };
                }
            }
            tries += 1;
            if tries % 64 == 0 {
                // The owner is descheduled mid-write; let it finish.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        };
        let buckets = match &self.buckets {
            Buckets::Inline(_) => short.get(..n).unwrap_or_default(),
            Buckets::Boxed(_) => &long,
        };
        acc.merge(&moments, buckets);
        if let Some(exemplars) = self.exemplars.get() {
            exemplars.merge_into(&mut acc.exemplars);
        }
    }
}

impl DistributionAcc {
    fn empty(buckets: usize) -> DistributionAcc {
        DistributionAcc {
            moments: Moments::default(),
            buckets: vec![0; buckets],
            exemplars: Vec::new(),
        }
    }

    /// Adds one share's reading.
    fn merge(&mut self, other: &Moments, buckets: &[u64]) {
        for (a, b) in self.buckets.iter_mut().zip(buckets) {
            *a += b;
        }
        self.moments.merge(other);
    }
}

/// The merge of every share of one row, for one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Acc {
    Count(u64),
    SumInt(i64),
    SumFloat(f64),
    Last(Option<Number>),
    /// Boxed so that the accumulators of a large Sum or Count view (one per
    /// row per snapshot) stay small.
    Distribution(Box<DistributionAcc>),
}

impl Acc {
    pub(crate) fn new(kind: &Kind) -> Acc {
        match kind {
            Kind::Count => Acc::Count(0),
            Kind::SumInt => Acc::SumInt(0),
            Kind::SumFloat => Acc::SumFloat(0.0),
            Kind::LastInt | Kind::LastFloat => Acc::Last(None),
            Kind::Distribution(s) => {
                Acc::Distribution(Box::new(DistributionAcc::empty(s.bounds.bucket_count())))
            }
        }
    }

    /// The row `row` makes of the finished value, with the exemplars the
    /// shares kept.
    pub(crate) fn finish_row(self, kind: &Kind, row: impl FnOnce(AggregationData) -> Row) -> Row {
        match self {
            Acc::Distribution(d) => d.finish_row(kind, row),
            other => row(other.finish(kind)),
        }
    }

    pub(crate) fn finish(self, kind: &Kind) -> AggregationData {
        match self {
            Acc::Count(n) => AggregationData::Count(n),
            Acc::SumInt(n) => AggregationData::Sum(Number::Int(n)),
            Acc::SumFloat(n) => AggregationData::Sum(Number::Float(n)),
            Acc::Last(n) => AggregationData::LastValue(n.unwrap_or(match kind {
                Kind::LastInt => Number::Int(0),
                _ => Number::Float(0.0),
            })),
            Acc::Distribution(d) => d.finish(kind),
        }
    }
}

/// What a snapshot merges a row's shares into: an [`Acc`] for any view, or
/// for a Distribution view its accumulator itself, unboxed, so that a row
/// costs one allocation less (a snapshot of 10,000 Distribution rows made
/// 30,000).
pub(crate) trait RowAcc: Sized {
    fn new(kind: &Kind) -> Self;
    /// Adds one share's contents.
    fn add(&mut self, share: &Share, kind: &Kind);
    /// The row `row` makes of the finished value.
    fn finish_row(self, kind: &Kind, row: impl FnOnce(AggregationData) -> Row) -> Row;
}

impl RowAcc for Acc {
    fn new(kind: &Kind) -> Acc {
        Acc::new(kind)
    }

    fn add(&mut self, share: &Share, kind: &Kind) {
        share.merge_into(self, kind);
    }

    fn finish_row(self, kind: &Kind, row: impl FnOnce(AggregationData) -> Row) -> Row {
        Acc::finish_row(self, kind, row)
    }
}

impl RowAcc for DistributionAcc {
    fn new(kind: &Kind) -> DistributionAcc {
        DistributionAcc::empty(match kind {
            Kind::Distribution(s) => s.bounds.bucket_count(),
            _ => 0,
        })
    }

    fn add(&mut self, share: &Share, _kind: &Kind) {
        share.merge_distribution(self);
    }

    fn finish_row(mut self, kind: &Kind, row: impl FnOnce(AggregationData) -> Row) -> Row {
        let exemplars = std::mem::take(&mut self.exemplars);
        let mut row = row(self.finish(kind));
        row.exemplars = exemplars.into_iter().flatten().collect();
        row
    }
}

impl DistributionAcc {
    fn finish(mut self, kind: &Kind) -> AggregationData {
        AggregationData::Distribution(DistributionData {
            count: self.moments.count,
            sum: self.moments.sum,
            mean: self.moments.mean(),
            min: self.moments.min,
            max: self.moments.max,
            sum_of_squared_deviation: self.moments.sum_of_squared_deviation,
            bounds: match kind {
                Kind::Distribution(s) => s.bounds.shared(),
                _ => Arc::from(Vec::new()),
            },
            bucket_counts: std::mem::take(&mut self.buckets),
        })
    }
}

/// A float sum past f64's range stays at `±f64::MAX` instead of becoming
/// infinite: infinities of both signs (one thread's sum overflowing up,
/// another's down) would add to NaN. Finite values in, finite sums out
/// (docs/semantics.md, "Float sums saturate").
#[inline(always)]
pub(crate) fn saturate(sum: f64) -> f64 {
    sum.clamp(-f64::MAX, f64::MAX)
}

fn int(value: Number) -> i64 {
    match value {
        Number::Int(v) => v,
        // Unreachable through the public API (measure types are checked
        // at registration); truncation keeps a bug from panicking.
        Number::Float(v) => v as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(agg: &Aggregation, t: MeasureType) -> Kind {
        Kind::new(agg, t)
    }

    fn read(kind: &Kind, shares: &[&Share]) -> AggregationData {
        let mut acc = Acc::new(kind);
        for s in shares {
            s.merge_into(&mut acc, kind);
        }
        acc.finish(kind)
    }

    fn distribution(values: &[f64], bounds: &[f64], split: usize) -> DistributionData {
        let agg = Aggregation::distribution(bounds.iter().copied()).expect("valid bounds");
        let k = kind(&agg, MeasureType::Float64);
        let (a, b) = (Share::new(&k, None), Share::new(&k, None));
        for (i, v) in values.iter().enumerate() {
            assert!(if i < split { &a } else { &b }.record(Number::Float(*v)));
        }
        match read(&k, &[&a, &b]) {
            AggregationData::Distribution(d) => d,
            other => panic!("expected a distribution, got {other:?}"),
        }
    }

    #[test]
    fn distribution_matches_a_two_pass_computation() {
        let values = [
            -5.0,
            0.0,
            0.0,
            3.5,
            10.0,
            10.000001,
            99.0,
            100.0,
            1e6 + 0.25,
            -1e-9,
        ];
        // Every split of the values over two shares merges to one answer.
        for split in 0..=values.len() {
            let d = distribution(&values, &[0.0, 10.0, 100.0], split);
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let ssd: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            assert_eq!(d.count, 10);
            assert_eq!(d.bucket_counts, vec![4, 2, 3, 1]);
            assert_eq!(d.bucket_counts.iter().sum::<u64>(), d.count);
            assert_eq!(d.min, -5.0, "split {split}");
            assert_eq!(d.max, 1e6 + 0.25);
            assert!(
                (d.mean - mean).abs() <= 1e-9 * mean.abs(),
                "split {split}: {} vs {mean}",
                d.mean
            );
            assert!(
                (d.sum_of_squared_deviation - ssd).abs() <= 1e-9 * ssd,
                "split {split}: {} vs {ssd}",
                d.sum_of_squared_deviation
            );
        }
    }

    #[test]
    fn variance_stays_accurate_for_large_close_values() {
        // Naive sum-of-squares loses every digit here; shifted sums keep them.
        let values: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 7) as f64).collect();
        let d = distribution(&values, &[], 500);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let ssd: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        assert!(
            (d.sum_of_squared_deviation - ssd).abs() < 1e-6 * ssd,
            "{} vs {ssd}",
            d.sum_of_squared_deviation
        );
    }

    #[test]
    fn int_sums_stay_exact_and_last_value_keeps_the_latest() {
        let k = kind(&Aggregation::Sum, MeasureType::Int64);
        let (a, b) = (Share::new(&k, None), Share::new(&k, None));
        for v in [i64::MAX / 2, 1] {
            assert!(a.record(Number::Int(v)));
        }
        for v in [-3, i64::MAX / 2] {
            assert!(b.record(Number::Int(v)));
        }
        assert_eq!(
            read(&k, &[&a, &b]),
            AggregationData::Sum(Number::Int(i64::MAX - 3))
        );
        let k = kind(&Aggregation::LastValue, MeasureType::Float64);
        let cell = Arc::new(LastCell::new());
        let (a, b) = (Share::new(&k, Some(&cell)), Share::new(&k, Some(&cell)));
        assert!(a.record(Number::Float(1.5)));
        assert!(b.record(Number::Float(-2.0)));
        assert!(a.record(Number::Float(7.25)));
        assert_eq!(
            read(&k, &[&a, &b]),
            AggregationData::LastValue(Number::Float(7.25))
        );
        let k = kind(&Aggregation::Count, MeasureType::Float64);
        let (a, b) = (Share::new(&k, None), Share::new(&k, None));
        for v in [1.0, 1.0] {
            assert!(a.record(Number::Float(v)));
        }
        assert!(b.record(Number::Float(-1.0)));
        assert_eq!(read(&k, &[&a, &b]), AggregationData::Count(3));
    }

    #[test]
    fn a_retired_share_refuses_values_until_unretired() {
        let k = kind(&Aggregation::Sum, MeasureType::Int64);
        let share = Share::expiring(&k, None);
        assert!(share.record(Number::Int(5)));
        assert!(share.record(Number::Int(7)));
        assert_eq!(share.records(), 2);
        share.retire();
        assert!(share.is_retired());
        assert!(!share.record(Number::Int(100)));
        assert_eq!(share.records(), 2);
        assert_eq!(read(&k, &[&share]), AggregationData::Sum(Number::Int(12)));
        share.unretire();
        assert!(share.record(Number::Int(1)));
        assert_eq!(share.records(), 3);
        assert_eq!(read(&k, &[&share]), AggregationData::Sum(Number::Int(13)));
        // Plain shares never refuse and count nothing.
        let plain = Share::new(&k, None);
        plain.retire();
        assert!(plain.record(Number::Int(1)));
        assert!(!plain.is_retired());
        assert_eq!(plain.records(), 0);
    }

    // Issue #7: once retire returns, the share holds every record its
    // owner reported as made, and no record is made after: the handshake
    // never lets a value slip in after the retiring snapshot's last read.
    #[test]
    fn retire_waits_out_a_record_in_progress() {
        let k = kind(&Aggregation::Sum, MeasureType::Int64);
        for round in 0..300 {
            let share = Share::expiring(&k, None);
            let started = std::sync::Barrier::new(2);
            let (made, seen) = std::thread::scope(|s| {
                let owner = s.spawn(|| {
                    let mut made = 0i64;
                    started.wait();
                    while share.record(Number::Int(1)) {
                        made += 1;
                    }
                    made
                });
                started.wait();
                for _ in 0..round % 50 {
                    std::hint::spin_loop();
                }
                share.retire();
                // Read at once, as a snapshot does, while the owner may
                // still be trying to record.
                let seen = read(&k, &[&share]);
                (owner.join().expect("owner panicked"), seen)
            });
            assert_eq!(
                seen,
                AggregationData::Sum(Number::Int(made)),
                "round {round}"
            );
            assert_eq!(share.records(), made as u64);
        }
    }

    // Issue #13: the exemplar pointer fits in the padding the alignment
    // leaves, so rows without attachments cost not a byte more.
    #[test]
    fn a_distribution_share_stays_four_cache_lines() {
        assert_eq!(std::mem::size_of::<DistributionShare>(), 256);
    }

    /// The floats either side of `x` (finite), without `f64::next_up`,
    /// which is newer than the crate's minimum Rust.
    fn neighbours(x: f64) -> [f64; 2] {
        let step = |x: f64, up: bool| {
            if x == 0.0 {
                let tiny = f64::from_bits(1);
                return if up { tiny } else { -tiny };
            }
            let bits = x.to_bits();
            f64::from_bits(if (x > 0.0) == up { bits + 1 } else { bits - 1 })
        };
        [step(x, false), step(x, true)]
    }

    /// The upper-inclusive rule, counted the plainest way.
    fn bucket_by_rule(bounds: &[f64], v: f64) -> usize {
        bounds.iter().filter(|b| **b < v).count()
    }

    /// The bucket a share put `v` in, read back through a snapshot.
    fn bucket_recorded(k: &Kind, v: f64) -> usize {
        let share = Share::new(k, None);
        assert!(share.record(Number::Float(v)));
        match read(k, &[&share]) {
            AggregationData::Distribution(d) => {
                assert_eq!(d.bucket_counts.len(), d.bounds.len() + 1);
                assert_eq!(d.bucket_counts.iter().sum::<u64>(), 1, "{v}");
                d.bucket_counts
                    .iter()
                    .position(|c| *c == 1)
                    .unwrap_or(usize::MAX)
            }
            other => panic!("expected a distribution, got {other:?}"),
        }
    }

    #[test]
    fn bucket_search_follows_the_upper_inclusive_rule_at_every_bound() {
        let lists: Vec<Vec<f64>> = vec![
            vec![],
            vec![0.0],
            vec![-0.0],
            vec![-1.0, 0.0, 1.0],
            vec![-1.0, -0.0, 1.0],
            (1..=7).map(f64::from).collect(),
            (1..=8).map(f64::from).collect(),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
            (0..15).map(|i| f64::from(i) * 0.1 - 0.7).collect(),
            // Long lists: the boxed counts and the binary search.
            (0..16).map(|i| f64::from(i) * 0.1 - 0.7).collect(),
            (0..40).map(|i| 1.5f64.powi(i) - 3.0).collect(),
            vec![-f64::MAX, -1e300, 1e-300, f64::MAX],
        ];
        for bounds in &lists {
            let agg = Aggregation::distribution(bounds.iter().copied()).expect("valid bounds");
            let k = kind(&agg, MeasureType::Float64);
            let Kind::Distribution(search) = &k else {
                panic!("expected a distribution kind");
            };
            assert_eq!(search.is_short(), bounds.len() < INLINE_BUCKETS);
            let mut values = vec![0.0, -0.0, 1e-9, -1e-9, f64::MAX, -f64::MAX];
            for b in bounds {
                values.push(*b);
                values.extend(neighbours(*b));
            }
            for v in values {
                let want = bucket_by_rule(bounds, v);
                assert_eq!(bucket_recorded(&k, v), want, "{v:e} in {bounds:?}");
                if search.is_short() {
                    assert_eq!(search.short_index(v), want, "{v:e} in {bounds:?}");
                }
            }
            // Values that never reach a share (the manager rejects them)
            // still get a bucket inside the table, as partition_point does.
            if search.is_short() {
                for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
                    assert_eq!(search.short_index(v), bucket_by_rule(bounds, v), "{v}");
                }
            }
        }
        // The rule spelled out where it matters most: a bound holds itself,
        // and the zeros are one value.
        let agg = Aggregation::distribution([-1.0, 0.0, 1.0]).expect("valid bounds");
        let k = kind(&agg, MeasureType::Float64);
        assert_eq!(bucket_recorded(&k, -1.0), 0);
        assert_eq!(bucket_recorded(&k, -0.0), 1);
        assert_eq!(bucket_recorded(&k, 0.0), 1);
        assert_eq!(bucket_recorded(&k, f64::from_bits(1)), 2);
        assert_eq!(bucket_recorded(&k, 1.0), 2);
        assert_eq!(bucket_recorded(&k, 1.0 + f64::EPSILON), 3);
    }

    /// Records `values` round-robin into `shares` shares of one view and
    /// merges them.
    fn spread(values: &[f64], shares: usize) -> DistributionData {
        let agg = Aggregation::distribution([0.0, 1e9 + 0.15, 1e9 + 0.25]).expect("valid bounds");
        let k = kind(&agg, MeasureType::Float64);
        let shares: Vec<Share> = (0..shares).map(|_| Share::new(&k, None)).collect();
        for (i, v) in values.iter().enumerate() {
            assert!(shares[i % shares.len()].record(Number::Float(*v)));
        }
        match read(&k, &shares.iter().collect::<Vec<_>>()) {
            AggregationData::Distribution(d) => d,
            other => panic!("expected a distribution, got {other:?}"),
        }
    }

    /// Mean and squared deviations by two passes over `values - offset`,
    /// which is exact for values within a factor of two of `offset`.
    fn two_pass(values: &[f64], offset: f64) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|v| v - offset).sum::<f64>() / n;
        let ssd = values.iter().map(|v| (v - offset - mean).powi(2)).sum();
        (offset + mean, ssd)
    }

    fn assert_close(got: f64, want: f64, what: &str) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs(),
            "{what}: {got:e} vs {want:e}"
        );
    }

    #[test]
    fn shifted_sums_stay_accurate_for_a_large_offset_and_tiny_spread() {
        let values: Vec<f64> = (0..3000)
            .map(|i| 1e9 + [0.1, 0.2, 0.3][i % 3] + (i / 3 % 2) as f64 * 0.05)
            .collect();
        let (mean, ssd) = two_pass(&values, 1e9);
        assert!(ssd > 1.0, "the spread is not degenerate: {ssd}");
        for shares in [1, 2, 3, 5] {
            let d = spread(&values, shares);
            assert_eq!(d.count, 3000);
            assert_eq!(
                d.bucket_counts,
                vec![0, 1000, 1000, 1000],
                "{shares} shares"
            );
            assert_eq!(d.min, 1e9 + 0.1);
            assert_eq!(d.max, 1e9 + 0.3 + 0.05);
            assert_close(d.mean, mean, &format!("mean over {shares} shares"));
            assert_close(
                d.sum_of_squared_deviation,
                ssd,
                &format!("ssd over {shares} shares"),
            );
        }
        // Equal values: no spread at all, not a rounding hair either side.
        let d = spread(&[1e9 + 0.1; 7], 2);
        assert_eq!(d.mean, 1e9 + 0.1);
        assert_eq!(d.sum_of_squared_deviation, 0.0);
    }

    #[test]
    fn a_spread_past_the_range_of_f64_reads_infinite_not_nan() {
        for split in [0, 1, 2] {
            let d = distribution(&[1e200, -1e200], &[0.0], split);
            assert_eq!(d.sum_of_squared_deviation, f64::INFINITY, "split {split}");
            assert_eq!((d.count, d.min, d.max), (2, -1e200, 1e200));
        }
    }

    // Values on both sides of f64's range from the first one saturate the
    // shifted sum; the mean still comes out (it read f64::MAX / 2 for the
    // mean of f64::MAX and -f64::MAX, a QA pass found).
    #[test]
    fn the_mean_of_values_spanning_f64s_range_is_right() {
        for split in [0, 1, 2] {
            let d = distribution(&[f64::MAX, -f64::MAX], &[0.0], split);
            assert_eq!((d.count, d.sum, d.mean), (2, 0.0, 0.0), "split {split}");
            assert_eq!(d.sum_of_squared_deviation, f64::INFINITY, "split {split}");
            let d = distribution(&[-f64::MAX, f64::MAX, 0.5], &[0.0], split);
            assert!(d.mean.abs() <= 1.0, "split {split}: {}", d.mean);
        }
    }

    #[test]
    fn shifted_sums_stay_accurate_when_the_first_value_is_an_outlier() {
        // Each share's first value, the shift, lies far from its mean.
        for outlier in [0.0, 2e9, 1e9 + 1e3] {
            let mut values = vec![outlier; 4];
            values.extend((0..2000).map(|i| 1e9 + f64::from(i % 10) * 1e-3));
            let (mean, ssd) = two_pass(&values, 1e9);
            for shares in [1, 4] {
                let d = spread(&values, shares);
                assert_eq!(d.count, 2004);
                assert_close(d.mean, mean, &format!("mean, outlier {outlier:e}"));
                assert_close(
                    d.sum_of_squared_deviation,
                    ssd,
                    &format!("ssd, outlier {outlier:e}, {shares} shares"),
                );
            }
        }
    }
}
