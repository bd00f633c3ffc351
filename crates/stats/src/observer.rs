//! Observer: what a callback view's callback reports its rows into.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::SystemTime;

use hashbrown::HashTable;

use census_core::{
    Aggregation, AggregationData, Error, MeasureType, Number, Row, TagMap, TagValue, View,
};

use crate::cells::saturate;

/// A row's tag values in the view's key order.
type Key = Vec<Option<TagValue>>;

/// Up to this many rows, an observation finds its row by scanning: most
/// callbacks report a handful, and a table would cost them an allocation
/// and a hash each.
const SCAN: usize = 8;

/// Receives the rows of a callback view, one [`observe`](Observer::observe)
/// per row, each time the view is snapshotted; see
/// [`ViewManager::register_callback`](crate::ViewManager::register_callback).
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use std::sync::Arc;
/// use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
/// use census_stats::{Observer, ViewManager};
///
/// let depth = MeasureI64::new("demo/queue_depth", "jobs waiting", "1")?;
/// let queue = TagKey::new("queue")?;
/// let (mail, jobs) = (Arc::new(AtomicI64::new(3)), Arc::new(AtomicI64::new(0)));
/// let mail_tags = TagMap::new().with(&queue, "mail")?;
/// let job_tags = TagMap::new().with(&queue, "jobs")?;
/// let vm = ViewManager::new();
/// let view = View::builder("demo/queue_depth", &depth)
///     .tag_keys([queue.clone()])
///     .aggregation(Aggregation::LastValue)
///     .build()?;
/// let (m, j) = (Arc::clone(&mail), Arc::clone(&jobs));
/// vm.register_callback(view, move |out: &mut Observer| {
///     out.observe(&mail_tags, m.load(Ordering::Relaxed));
///     out.observe(&job_tags, j.load(Ordering::Relaxed));
/// })?;
/// assert_eq!(vm.retrieve_data("demo/queue_depth")?.rows.len(), 2);
/// # Ok(()) }
/// ```
pub struct Observer {
    shape: Arc<Shape>,
    /// The rows in the order first observed, each with its latest value;
    /// made whole as observed, so that finishing moves them out as they are.
    rows: Vec<Row>,
    /// Positions in `rows` by key, once there are more than `SCAN`.
    index: HashTable<usize>,
    hasher: foldhash::fast::RandomState,
    /// Tag combinations past the row limit, each with its latest value:
    /// they make the overflow row.
    folded: HashMap<Key, Number, foldhash::fast::RandomState>,
    /// The latest value folded, for a LastValue overflow row.
    last_folded: Option<Number>,
    rejected: u64,
}

/// What an observer needs to know of its view; one per callback view.
#[derive(Debug)]
pub(crate) struct Shape {
    view: View,
    start: SystemTime,
    reports: Reports,
    int: bool,
}

/// What a callback's numbers become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reports {
    /// A non-negative integer: the view's count.
    Count,
    /// A running total (Sum or UpDownSum).
    Sum,
    /// A gauge reading.
    Last,
}

/// One call's rows, ready to export.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) rows: Vec<Row>,
    /// Tag combinations folded into the overflow row in this call.
    pub(crate) folded: u64,
    /// Values that did not fit the view (see [`Observer::observe`]).
    pub(crate) rejected: u64,
    /// The call's number among its view's calls, in the order they
    /// began; set by the view when the call returns.
    pub(crate) call: u64,
}

impl Shape {
    /// The shape of a view a callback can feed.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedCallbackView`] for a Distribution view or a view
    /// with `expire_after`.
    pub(crate) fn new(view: View, start: SystemTime) -> Result<Shape, Error> {
        let refuse = |reason: &str| Error::UnsupportedCallbackView {
            view: view.name().to_owned(),
            reason: reason.to_owned(),
        };
        let reports = match view.aggregation() {
            Aggregation::Count => Reports::Count,
            Aggregation::Sum | Aggregation::UpDownSum => Reports::Sum,
            Aggregation::LastValue => Reports::Last,
            Aggregation::Distribution(_) => {
                return Err(refuse(
                    "a callback reports one number per row, and a Distribution needs every \
                     value; use LastValue, Sum, UpDownSum or Count, or record the values into \
                     a view registered with register_view",
                ))
            }
        };
        if view.expire_after().is_some() {
            return Err(refuse(
                "its rows are those the latest call reported, so there is nothing for \
                 expire_after to drop; leave expire_after unset",
            ));
        }
        let int = view.measure().measure_type() == MeasureType::Int64;
        Ok(Shape {
            view,
            start,
            reports,
            int,
        })
    }

    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    pub(crate) fn start(&self) -> SystemTime {
        self.start
    }

    /// Whether a failed call leaves the previous rows standing (a running
    /// total stays true) rather than none (a reading that could not be
    /// taken is absent).
    pub(crate) fn is_cumulative(&self) -> bool {
        self.reports != Reports::Last
    }

    /// `value` as the view keeps it, or `None` if it does not fit: a count
    /// must be a whole number from 0 to `i64::MAX`, an `i64` measure's
    /// value a whole number in `i64` range, and a float finite.
    fn fit(&self, value: Number) -> Option<Number> {
        let whole = |f: f64| {
            // 2^63 is exactly representable; every float below it in
            // magnitude with no fraction converts exactly.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
        };
        if self.reports == Reports::Count {
            let n = match value {
                Number::Int(n) => n,
                Number::Float(f) => whole(f)?,
            };
            return (n >= 0).then_some(Number::Int(n));
        }
        match (self.int, value) {
            (true, Number::Int(n)) => Some(Number::Int(n)),
            (true, Number::Float(f)) => whole(f).map(Number::Int),
            (false, Number::Int(n)) => Some(Number::Float(n as f64)),
            (false, Number::Float(f)) => f.is_finite().then_some(Number::Float(f)),
        }
    }

    fn data(&self, value: Number) -> AggregationData {
        match self.reports {
            Reports::Count => AggregationData::Count(count_of(value)),
            Reports::Sum => AggregationData::Sum(value),
            Reports::Last => AggregationData::LastValue(value),
        }
    }
}

/// A count's value as `fit` left it: a non-negative `Int`.
fn count_of(value: Number) -> u64 {
    match value {
        Number::Int(n) => u64::try_from(n).unwrap_or(0),
        Number::Float(_) => 0,
    }
}

impl Observer {
    pub(crate) fn new(shape: Arc<Shape>) -> Observer {
        Observer {
            shape,
            rows: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            folded: HashMap::default(),
            last_folded: None,
            rejected: 0,
        }
    }

    /// Reports the row for `tags` (projected onto the view's tag keys, as
    /// a record's tags are) with `value`: the reading of a LastValue view,
    /// the cumulative total of a Sum, UpDownSum or Count view.
    ///
    /// Observing the same tags twice in one call keeps the last value.
    /// Past the view's row limit, new tag combinations fold into the
    /// overflow row (their values added, or for LastValue the latest kept)
    /// and are counted in [`ViewData::folded`](census_core::ViewData::folded).
    ///
    /// `value` is converted to the view's measure type. A value that does
    /// not fit is left out and counted in
    /// [`ManagerStats::rejected_values`](crate::ManagerStats::rejected_values):
    /// a NaN or infinite float, a float with a fraction (or past `i64`
    /// range) for an `i64` measure, and for a Count view anything but a
    /// whole number from 0 up.
    pub fn observe(&mut self, tags: &TagMap, value: impl Into<Number>) {
        let Some(value) = self.shape.fit(value.into()) else {
            self.rejected += 1;
            return;
        };
        let key: Key = self
            .shape
            .view
            .tag_keys()
            .iter()
            .map(|k| tags.get(k).cloned())
            .collect();
        if let Some(i) = self.position(&key) {
            if let Some(row) = self.rows.get_mut(i) {
                row.data = self.shape.data(value);
            }
        } else if self.rows.len() < self.shape.view.row_limit() {
            let row = Row::new(key, self.shape.data(value), self.shape.start);
            if self.rows.is_empty() {
                // Many callbacks report one row: room for four (the first
                // growth) costs a larger allocation for nothing.
                self.rows.reserve_exact(1);
            }
            self.rows.push(row);
            if self.rows.len() > SCAN {
                self.index_last();
            }
        } else {
            self.folded.insert(key, value);
            self.last_folded = Some(value);
        }
    }

    /// Where the row of `key` is in `rows`, if observed before.
    fn position(&self, key: &Key) -> Option<usize> {
        if self.rows.len() <= SCAN {
            return self.rows.iter().position(|row| row.tags == *key);
        }
        let rows = &self.rows;
        let hash = self.hasher.hash_one(key);
        self.index
            .find(hash, |&i| rows.get(i).is_some_and(|row| row.tags == *key))
            .copied()
    }

    /// Adds the last row to the index, and, as the rows outgrow the scan,
    /// the ones before it.
    fn index_last(&mut self) {
        let Self {
            rows,
            index,
            hasher,
            ..
        } = self;
        let from = if rows.len() == SCAN + 1 {
            0
        } else {
            rows.len() - 1
        };
        for (i, row) in rows.iter().enumerate().skip(from) {
            let rehash = |&j: &usize| rows.get(j).map_or(0, |r| hasher.hash_one(&r.tags));
            index.insert_unique(hasher.hash_one(&row.tags), i, rehash);
        }
    }

    /// The rows observed, with the overflow row if any.
    pub(crate) fn finish(self) -> Observed {
        let shape = &self.shape;
        let mut rows = self.rows;
        let folded = self.folded.values().copied();
        let overflow = match shape.reports {
            Reports::Last => self.last_folded.map(AggregationData::LastValue),
            Reports::Sum => folded.reduce(add).map(AggregationData::Sum),
            Reports::Count => (!self.folded.is_empty())
                .then(|| AggregationData::Count(folded.map(count_of).fold(0, u64::wrapping_add))),
        };
        if let Some(data) = overflow {
            rows.push(Row::overflow(
                shape.view.tag_keys().len(),
                data,
                shape.start,
            ));
        }
        Observed {
            rows,
            folded: self.folded.len() as u64,
            rejected: self.rejected,
            call: 0,
        }
    }
}

/// Adds two values of one view (so of one type), wrapping as recorded
/// integer sums do and saturating as recorded float sums do.
fn add(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => Number::Int(a.wrapping_add(b)),
        (a, b) => Number::Float(saturate(a.as_f64() + b.as_f64())),
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("view", &self.shape.view.name())
            .field("rows", &self.rows.len())
            .field("folded", &self.folded.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{MeasureF64, MeasureI64, TagKey};

    fn shape(aggregation: Aggregation, int: bool, limit: usize) -> Arc<Shape> {
        let key = TagKey::new("k").expect("key");
        let builder = if int {
            View::builder("v", MeasureI64::new("m", "", "1").expect("measure"))
        } else {
            View::builder("v", MeasureF64::new("m", "", "1").expect("measure"))
        };
        let view = builder
            .tag_keys([key])
            .aggregation(aggregation)
            .row_limit(limit)
            .build()
            .expect("view");
        Arc::new(Shape::new(view, SystemTime::now()).expect("a callback view"))
    }

    fn tags(v: &str) -> TagMap {
        TagMap::new()
            .with(&TagKey::new("k").expect("key"), v)
            .expect("tags")
    }

    fn by_tag(observed: &Observed) -> Vec<(Option<String>, bool, AggregationData)> {
        let mut rows: Vec<_> = observed
            .rows
            .iter()
            .map(|r| {
                let tag = r.tags[0].as_ref().map(|v| v.as_str().to_owned());
                (tag, r.overflow, r.data.clone())
            })
            .collect();
        rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        rows
    }

    #[test]
    fn the_same_tags_twice_keep_the_last_value() {
        let mut out = Observer::new(shape(Aggregation::Sum, true, 10));
        out.observe(&tags("a"), 5);
        out.observe(&tags("b"), 1);
        out.observe(&tags("a"), 7);
        let got = by_tag(&out.finish());
        assert_eq!(
            got,
            vec![
                (
                    Some("a".into()),
                    false,
                    AggregationData::Sum(Number::Int(7))
                ),
                (
                    Some("b".into()),
                    false,
                    AggregationData::Sum(Number::Int(1))
                ),
            ]
        );
    }

    // Folded float values add as recorded float sums do: finite values
    // never make an infinite overflow row (docs/semantics.md).
    #[test]
    fn a_float_overflow_row_saturates() {
        let mut out = Observer::new(shape(Aggregation::Sum, false, 1));
        out.observe(&tags("a"), 1.0);
        out.observe(&tags("b"), f64::MAX);
        out.observe(&tags("c"), f64::MAX);
        let got = by_tag(&out.finish());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].2, AggregationData::Sum(Number::Float(f64::MAX)));
    }

    #[test]
    fn many_rows_are_found_again_past_the_scan() {
        let mut out = Observer::new(shape(Aggregation::LastValue, true, 100));
        for round in 1..=3 {
            for i in 0..30 {
                out.observe(&tags(&format!("r{i}")), i * 10 + round);
            }
        }
        let observed = out.finish();
        assert_eq!(observed.rows.len(), 30);
        for row in &observed.rows {
            let tag = row.tags[0].as_ref().map(|v| v.as_str().to_owned());
            let i: i64 = tag.and_then(|t| t[1..].parse().ok()).unwrap_or(-1);
            assert_eq!(
                row.data,
                AggregationData::LastValue(Number::Int(i * 10 + 3))
            );
        }
    }

    #[test]
    fn combinations_past_the_limit_fold_into_the_overflow_row() {
        for (aggregation, want) in [
            (
                Aggregation::UpDownSum,
                AggregationData::Sum(Number::Int(-2 + 30)),
            ),
            (
                Aggregation::LastValue,
                AggregationData::LastValue(Number::Int(30)),
            ),
            (Aggregation::Count, AggregationData::Count(28)),
        ] {
            let count = aggregation == Aggregation::Count;
            let mut out = Observer::new(shape(aggregation, true, 2));
            out.observe(&tags("a"), 1);
            out.observe(&tags("b"), 2);
            out.observe(&tags("c"), if count { 5 } else { -2 });
            out.observe(&tags("d"), 10);
            // Observed again: keeps its last value, counted once.
            out.observe(&tags("c"), if count { -1 } else { -2 });
            out.observe(&tags("d"), if count { 23 } else { 30 });
            let observed = out.finish();
            assert_eq!(observed.folded, 2);
            let overflow = observed
                .rows
                .iter()
                .find(|r| r.overflow)
                .expect("overflow row");
            assert_eq!(overflow.data, want);
            assert_eq!(observed.rows.len(), 3);
            assert_eq!(observed.rejected, u64::from(count));
        }
    }

    #[test]
    fn values_convert_to_the_measure_type_or_are_counted_out() {
        let mut out = Observer::new(shape(Aggregation::LastValue, true, 10));
        out.observe(&tags("whole"), 4.0);
        out.observe(&tags("frac"), 4.5);
        out.observe(&tags("nan"), f64::NAN);
        out.observe(&tags("huge"), 1e19);
        let observed = out.finish();
        assert_eq!(observed.rejected, 3);
        assert_eq!(
            by_tag(&observed),
            vec![(
                Some("whole".into()),
                false,
                AggregationData::LastValue(Number::Int(4))
            )]
        );
        let mut out = Observer::new(shape(Aggregation::Sum, false, 10));
        out.observe(&tags("int"), 3);
        out.observe(&tags("inf"), f64::INFINITY);
        let observed = out.finish();
        assert_eq!(observed.rejected, 1);
        assert_eq!(
            observed.rows[0].data,
            AggregationData::Sum(Number::Float(3.0))
        );
    }

    #[test]
    fn distribution_and_expiring_views_are_refused() -> Result<(), Error> {
        let m = MeasureF64::new("m", "", "1")?;
        let dist = View::builder("d", &m)
            .aggregation(Aggregation::distribution([1.0])?)
            .build()?;
        let expiring = View::builder("e", &m)
            .aggregation(Aggregation::LastValue)
            .expire_after(std::time::Duration::from_secs(60))
            .build()?;
        for (view, word) in [(dist, "Distribution"), (expiring, "expire_after")] {
            let err = Shape::new(view.clone(), SystemTime::now())
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(&err, Error::UnsupportedCallbackView { view: v, .. } if v == view.name()),
                "{err:?}"
            );
            assert!(err.to_string().contains(word), "{err}");
        }
        Ok(())
    }
}
