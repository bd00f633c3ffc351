//! View data: the snapshot of a view that exporters receive.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::exemplar::Exemplar;
use crate::tag::{TagKey, TagMap, TagValue};
use crate::view::View;

/// A snapshot of one view: every row with its aggregated value, and the
/// time span the values cover.
///
/// Count, Sum and Distribution values are cumulative from `start` (when the
/// view was registered) to `end` (when the snapshot was taken). A snapshot
/// taken while other threads record holds every value whose `record` call
/// returned before the snapshot began, and may or may not hold values
/// recorded during it; each row is read consistently (a distribution's
/// count always equals the sum of its buckets).
///
/// Serializes to JSON as one view of census.v1 (docs/http-exporter.md):
/// 64-bit integers and times (nanoseconds since the Unix epoch) as
/// strings, rows with their tags by key.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ViewData {
    /// The view's definition.
    pub view: View,
    /// When the view was registered: the start of every cumulative value.
    /// Under [`Temporality::Delta`], the start of the interval.
    pub start: SystemTime,
    /// When the snapshot was taken.
    pub end: SystemTime,
    /// The rows, in no particular order; at most one row is an overflow row.
    pub rows: Vec<Row>,
    /// How many measurements were folded into the overflow row because the
    /// view was at its row limit. Zero when there is no overflow row.
    pub folded: u64,
    /// Whether Count, Sum and Distribution values are cumulative (as the
    /// view manager produces them) or deltas over `start..end` (as a delta
    /// processor makes them). LastValue is a gauge either way.
    pub temporality: Temporality,
}

/// Whether values cover all time since their start, or one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Since the view (or row) started: what a manager produces.
    #[default]
    Cumulative,
    /// Over `start..end` only.
    Delta,
}

impl ViewData {
    /// Makes view data, with nothing folded. The rows learn the view's tag
    /// keys, so that [`Row::tag`] can name their values.
    pub fn new(view: View, start: SystemTime, end: SystemTime, rows: Vec<Row>) -> ViewData {
        let mut data = ViewData {
            view,
            start,
            end,
            rows,
            folded: 0,
            temporality: Temporality::Cumulative,
        };
        data.rekey();
        data
    }

    /// Teaches every row the view's tag keys, as [`ViewData::new`] does:
    /// for rows pushed onto `rows` after it, or after `view` was replaced
    /// by one with other keys, so that [`Row::tag`] (and every exporter
    /// that names a row's tags by key) reads them by the view they are in
    /// now.
    ///
    /// ```
    /// use census_core::{Aggregation, AggregationData, MeasureI64, Row, TagKey, TagValue, View, ViewData};
    /// use std::time::SystemTime;
    /// # fn main() -> Result<(), census_core::Error> {
    /// let requests = MeasureI64::new("demo/requests", "requests", "1")?;
    /// let route = TagKey::new("route")?;
    /// let view = View::builder("demo/requests_count", &requests)
    ///     .tag_keys([route.clone()])
    ///     .aggregation(Aggregation::Count)
    ///     .build()?;
    /// let now = SystemTime::now();
    /// let mut data = ViewData::new(view, now, now, Vec::new());
    /// data.rows.push(Row::new(vec![Some(TagValue::new("/")?)], AggregationData::Count(1), now));
    /// assert_eq!(data.rows[0].tag(&route), None, "pushed after `new`");
    /// data.rekey();
    /// assert_eq!(data.rows[0].tag(&route).map(TagValue::as_str), Some("/"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn rekey(&mut self) {
        let keys = self.view.shared_tag_keys();
        for row in &mut self.rows {
            row.keys = Some(Arc::clone(keys));
        }
    }

    /// The ordinary row that measurements recorded under `tags` land in:
    /// `tags` projected onto the view's keys, as recording projects them
    /// (keys the view does not have are ignored; a view key that `tags`
    /// lacks matches a row where that tag was absent). `None` when no
    /// such row was recorded. Never the overflow row.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::{Aggregation, AggregationData, MeasureI64, Row, TagKey, TagMap, TagValue, View, ViewData};
    /// use std::time::SystemTime;
    ///
    /// let requests = MeasureI64::new("demo/requests", "requests", "1")?;
    /// let method = TagKey::new("method")?;
    /// let view = View::builder("demo/requests_count", &requests)
    ///     .tag_keys([method.clone()])
    ///     .aggregation(Aggregation::Count)
    ///     .build()?;
    /// let now = SystemTime::now();
    /// let get = Row::new(vec![Some(TagValue::new("GET")?)], AggregationData::Count(3), now);
    /// let data = ViewData::new(view, now, now, vec![get]);
    ///
    /// let tags = TagMap::new().with(&method, "GET")?.with(&TagKey::new("route")?, "/")?;
    /// let row = data.row(&tags).expect("a GET row");
    /// assert_eq!(row.data.as_i64(), Some(3));
    /// assert_eq!(row.tag(&method).map(|v| v.as_str()), Some("GET"));
    /// assert!(data.row(&TagMap::new()).is_none());
    /// # Ok(()) }
    /// ```
    pub fn row(&self, tags: &TagMap) -> Option<&Row> {
        let keys = self.view.tag_keys();
        self.rows.iter().find(|row| {
            !row.overflow
                && row.tags.len() == keys.len()
                && keys
                    .iter()
                    .zip(&row.tags)
                    .all(|(key, value)| value.as_ref() == tags.get(key))
        })
    }
}

/// One combination of tag values in a view, with its aggregated value.
///
/// Two rows are equal when their tags, data, start, overflow flag and
/// exemplars are; the keys they learnt from their view are not compared.
#[derive(Clone)]
#[non_exhaustive]
pub struct Row {
    /// One entry per view tag key, in the view's key order: `Some(value)`
    /// where the recorded tags held the key, `None` where they did not
    /// (which differs from an empty value). [`Row::tag`] reads one by key.
    pub tags: Vec<Option<TagValue>>,
    /// The row's aggregated value.
    pub data: AggregationData,
    /// When this row's cumulative value started: the view's start time, or,
    /// in a view with [`expire_after`](crate::ViewBuilder::expire_after),
    /// when this incarnation of the row was made (a row that expired and
    /// is recorded again starts afresh). Under [`Temporality::Delta`], the
    /// start of the row's interval.
    pub start: SystemTime,
    /// Whether this is the overflow row, holding every measurement whose
    /// tag combination arrived after the view reached its row limit. Its
    /// `tags` are all `None`, except columns a processor added to every
    /// row (such as the pipeline's constant tags).
    pub overflow: bool,
    /// Values recorded with attachments (such as a trace id), kept as
    /// examples of the row: in a Distribution row, at most one per bucket,
    /// the most recent value recorded into that bucket with attachments,
    /// in bucket order (each exemplar's bucket is the one its value falls
    /// in). Empty for other rows and for rows that never received
    /// attachments; left out of the JSON when empty.
    pub exemplars: Vec<Exemplar>,
    /// The view's tag keys, given by [`ViewData::new`]; `None` for a row
    /// not yet in view data.
    keys: Option<Arc<[TagKey]>>,
}

impl Row {
    /// Makes an ordinary (not overflow) row.
    pub fn new(tags: Vec<Option<TagValue>>, data: AggregationData, start: SystemTime) -> Row {
        Row {
            tags,
            data,
            start,
            overflow: false,
            exemplars: Vec::new(),
            keys: None,
        }
    }

    /// Makes the overflow row of a view with `keys` tag keys.
    pub fn overflow(keys: usize, data: AggregationData, start: SystemTime) -> Row {
        Row {
            tags: vec![None; keys],
            data,
            start,
            overflow: true,
            exemplars: Vec::new(),
            keys: None,
        }
    }

    /// The row's value for tag `key`: `None` when the recorded tags did
    /// not hold it (or the view has no such key). Rows learn their view's
    /// keys in [`ViewData::new`], which every [`ViewData`] a manager or a
    /// pipeline hands out went through; a row made by [`Row::new`] and not
    /// yet put in view data knows no key.
    pub fn tag(&self, key: &TagKey) -> Option<&TagValue> {
        let at = self.keys.as_ref()?.iter().position(|k| k == key)?;
        self.tags.get(at)?.as_ref()
    }

    /// The keys the row learnt from its view, if any.
    pub(crate) fn keys(&self) -> Option<&[TagKey]> {
        self.keys.as_deref()
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.tags == other.tags
            && self.data == other.data
            && self.start == other.start
            && self.overflow == other.overflow
            && self.exemplars == other.exemplars
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are the view's, shown with it.
        f.debug_struct("Row")
            .field("tags", &self.tags)
            .field("data", &self.data)
            .field("start", &self.start)
            .field("overflow", &self.overflow)
            .field("exemplars", &self.exemplars)
            .finish()
    }
}

/// The aggregated value of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum AggregationData {
    /// How many values were recorded.
    Count(u64),
    /// The sum of the values (an `Int` for an integer measure), for a
    /// [`Sum`](crate::Aggregation::Sum) view and for an
    /// [`UpDownSum`](crate::Aggregation::UpDownSum) view alike: whether it
    /// may go down is the view's, read from
    /// [`View::aggregation`](crate::View::aggregation).
    Sum(Number),
    /// The latest value.
    LastValue(Number),
    /// A histogram of the values.
    Distribution(DistributionData),
}

impl AggregationData {
    /// The value as an exact integer: a count (if it fits an `i64`), or
    /// the sum or last value of an integer measure. `None` for a float
    /// measure's value and for a distribution.
    ///
    /// ```
    /// use census_core::{AggregationData, Number};
    /// assert_eq!(AggregationData::Sum(Number::Int(7)).as_i64(), Some(7));
    /// assert_eq!(AggregationData::Count(2).as_i64(), Some(2));
    /// assert_eq!(AggregationData::LastValue(Number::Float(1.5)).as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AggregationData::Count(n) => i64::try_from(*n).ok(),
            AggregationData::Sum(Number::Int(v)) | AggregationData::LastValue(Number::Int(v)) => {
                Some(*v)
            }
            _ => None,
        }
    }

    /// The value as a float: a count, or the sum or last value of either
    /// measure type (integers past 2^53 round to the nearest float).
    /// `None` for a distribution; see
    /// [`as_distribution`](AggregationData::as_distribution).
    ///
    /// ```
    /// use census_core::{AggregationData, Number};
    /// assert_eq!(AggregationData::Sum(Number::Float(2.5)).as_f64(), Some(2.5));
    /// assert_eq!(AggregationData::LastValue(Number::Int(-3)).as_f64(), Some(-3.0));
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AggregationData::Count(n) => Some(*n as f64),
            AggregationData::Sum(v) | AggregationData::LastValue(v) => Some(v.as_f64()),
            AggregationData::Distribution(_) => None,
        }
    }

    /// The distribution, for a Distribution view's row.
    pub fn as_distribution(&self) -> Option<&DistributionData> {
        match self {
            AggregationData::Distribution(d) => Some(d),
            _ => None,
        }
    }
}

/// A recorded number: an exact integer, or a float.
///
/// Made from an `i64`, `i32`, `u32`, `f64` or `f32` with `From`/`Into`;
/// a `u64` or `usize` (which may not fit) goes through `i64::try_from`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// From an `i64` measure.
    Int(i64),
    /// From an `f64` measure.
    Float(f64),
}

// Exact conversions only, so that a callback view's `observe` takes an
// `i64`, an `f64` or a bare literal (`3` is an `i32`) as it is. No u64 or
// usize: those may not fit an i64, and what a value past i64::MAX means is
// the caller's to decide.
impl From<i64> for Number {
    fn from(value: i64) -> Number {
        Number::Int(value)
    }
}

impl From<i32> for Number {
    fn from(value: i32) -> Number {
        Number::Int(value.into())
    }
}

impl From<u32> for Number {
    fn from(value: u32) -> Number {
        Number::Int(value.into())
    }
}

impl From<f64> for Number {
    fn from(value: f64) -> Number {
        Number::Float(value)
    }
}

impl From<f32> for Number {
    fn from(value: f32) -> Number {
        Number::Float(value.into())
    }
}

impl Number {
    /// The number as an `f64` (large integers round to the nearest float).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(v) => v as f64,
            Number::Float(v) => v,
        }
    }
}

/// The state of a distribution row.
///
/// `bucket_counts[i]` counts values `v` with `bounds[i-1] < v <= bounds[i]`
/// (upper-inclusive); the last entry counts `v > bounds[last]`, so there is
/// one more count than bounds. Counts are per bucket, not cumulative.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionData {
    /// How many values were recorded: the sum of `bucket_counts`.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Their mean (`0.0` when `count` is 0).
    pub mean: f64,
    /// The smallest value (`0.0` when `count` is 0). Always since the
    /// row's cumulative start, even under [`Temporality::Delta`]: an
    /// interval's minimum cannot be derived from cumulative data.
    pub min: f64,
    /// The largest value (`0.0` when `count` is 0); since the cumulative
    /// start, like `min`.
    pub max: f64,
    /// The sum of squared deviations from the mean: the variance is this
    /// over `count`. Recorded as sums of the values' differences from a
    /// value near them and merged with [`Moments::merge`](crate::Moments::merge),
    /// which both stay accurate when values are large and close together.
    pub sum_of_squared_deviation: f64,
    /// The view's bucket bounds (shared among rows).
    pub bounds: Arc<[f64]>,
    /// One count per bucket: `bounds.len() + 1` entries.
    pub bucket_counts: Vec<u64>,
}

/// Nanoseconds since the Unix epoch, as every census encoder writes times:
/// 0 for a time before the epoch (no working clock gives one, and failing a
/// whole export over it would be worse), `u64::MAX` past the year 2554.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(census_core::unix_nanos(UNIX_EPOCH + Duration::from_secs(2)), 2_000_000_000);
/// assert_eq!(census_core::unix_nanos(UNIX_EPOCH - Duration::from_secs(1)), 0);
/// ```
pub fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregation::Aggregation;
    use crate::tag::TagKey;

    #[test]
    fn numbers_come_from_every_exact_primitive() {
        assert_eq!(Number::from(-3i64), Number::Int(-3));
        assert_eq!(Number::from(i32::MIN), Number::Int(i64::from(i32::MIN)));
        assert_eq!(Number::from(u32::MAX), Number::Int(i64::from(u32::MAX)));
        assert_eq!(Number::from(2.5f64), Number::Float(2.5));
        assert_eq!(Number::from(0.5f32), Number::Float(0.5));
        let literal: Number = 7.into();
        assert_eq!(literal, Number::Int(7));
    }

    #[test]
    fn rows_are_found_by_the_tags_they_were_recorded_under() -> Result<(), crate::Error> {
        let m = crate::measure::MeasureI64::new("m", "", "1")?;
        let (a, b) = (TagKey::new("a")?, TagKey::new("b")?);
        let view = View::builder("v", &m)
            .tag_keys([a.clone(), b.clone()])
            .aggregation(Aggregation::Sum)
            .build()?;
        let t = UNIX_EPOCH;
        let v = |s: &str| TagValue::new(s).map(Some);
        let sum = |n| AggregationData::Sum(Number::Int(n));
        let loose = Row::new(vec![v("x")?, None], sum(1), t);
        assert_eq!(loose.tag(&a), None, "a row outside view data knows no key");
        let data = ViewData::new(
            view,
            t,
            t,
            vec![
                Row::overflow(2, sum(9), t),
                loose,
                Row::new(vec![v("x")?, v("")?], sum(2), t),
                Row::new(vec![v("x")?, v("y")?], sum(3), t),
            ],
        );
        let get = |tags: &TagMap| data.row(tags).and_then(|r| r.data.as_i64());
        let x = TagMap::new().with(&a, "x")?;
        assert_eq!(get(&x), Some(1), "a missing key matches an absent tag");
        assert_eq!(
            get(&x.clone().with(&b, "")?),
            Some(2),
            "empty is not absent"
        );
        let xy = x.with(&b, "y")?.with(&TagKey::new("other")?, "z")?;
        assert_eq!(get(&xy), Some(3), "keys outside the view are ignored");
        assert_eq!(get(&TagMap::new()), None, "never the overflow row");
        let row = data.row(&xy).expect("the x, y row");
        assert_eq!(row.tag(&a).map(TagValue::as_str), Some("x"));
        assert_eq!(row.tag(&b).map(TagValue::as_str), Some("y"));
        assert_eq!(row.tag(&TagKey::new("other")?), None);
        Ok(())
    }

    #[test]
    fn aggregation_data_reads_as_plain_numbers() {
        use AggregationData::{Count, Distribution, LastValue, Sum};
        assert_eq!(Count(u64::MAX).as_i64(), None);
        assert_eq!(Count(u64::MAX).as_f64(), Some(u64::MAX as f64));
        assert_eq!(Sum(Number::Int(-4)).as_i64(), Some(-4));
        assert_eq!(Sum(Number::Float(4.0)).as_i64(), None);
        assert_eq!(LastValue(Number::Int(i64::MIN)).as_i64(), Some(i64::MIN));
        let d = DistributionData {
            count: 1,
            sum: 2.0,
            mean: 2.0,
            min: 2.0,
            max: 2.0,
            sum_of_squared_deviation: 0.0,
            bounds: Arc::from(vec![1.0]),
            bucket_counts: vec![0, 1],
        };
        let dist = Distribution(d.clone());
        assert_eq!((dist.as_i64(), dist.as_f64()), (None, None));
        assert_eq!(dist.as_distribution(), Some(&d));
        assert_eq!(Count(1).as_distribution(), None);
    }

    #[test]
    fn numbers_convert_to_f64() {
        assert_eq!(Number::Int(-3).as_f64(), -3.0);
        assert_eq!(Number::Float(2.5).as_f64(), 2.5);
    }
}
