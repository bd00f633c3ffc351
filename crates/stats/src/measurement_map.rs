//! MeasurementMap: the values a service records together, under one set
//! of tags.

use census_core::{Measure, Number, TagKey, TagMap, TagValue, TypedMeasure};
use smallvec::SmallVec;

use crate::exemplar::Attachment;
use crate::manager::ViewManager;
use crate::record::Tags;

/// Measurements after the first kept inline before spilling to the heap:
/// most call sites record one to three values at once, so building a map
/// allocates nothing.
const INLINE: usize = 3;

/// Attachments kept inline: a trace id and a span id.
const INLINE_ATTACHMENTS: usize = 2;

/// Values of one or more measures, recorded together under one
/// [`TagMap`].
///
/// Build it with [`put`](MeasurementMap::put) and hand it to
/// [`record`](MeasurementMap::record) (the global manager) or
/// [`record_to`](MeasurementMap::record_to) (a given one) with the tags
/// to record under, to [`record_tags`](MeasurementMap::record_tags) /
/// [`record_tags_to`](MeasurementMap::record_tags_to) with the tags as
/// borrowed key and text pairs, or to
/// [`record_current`](MeasurementMap::record_current) /
/// [`record_current_to`](MeasurementMap::record_current_to) to record
/// under the current tag context ([`crate::tags`]); an explicit map
/// ignores the context. Recording is a no-op for a measure no view uses,
/// and after the manager has shut down.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{MeasureF64, MeasureI64, TagKey, TagMap};
/// use census_stats::{MeasurementMap, ViewManager};
///
/// let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
/// let requests = MeasureI64::new("demo/requests", "requests served", "1")?;
/// let tags = TagMap::new().with(&TagKey::new("method")?, "GET")?;
/// let vm = ViewManager::new();
/// MeasurementMap::new().put(&latency, 12.5).put(&requests, 1).record_to(&vm, &tags);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a measurement map records nothing until .record(..), .record_tags(..) or their _to forms"]
pub struct MeasurementMap<'m> {
    /// The first value, apart from the others: a map of one value, the
    /// usual one, is built and recorded without touching `more`. Pushed
    /// into a `SmallVec`, that value went through an out-of-line `push`
    /// that kept the whole map in memory, and each `put` then copied the
    /// map with wide loads that waited on the push's narrow stores.
    first: Option<(&'m Measure, Number)>,
    more: SmallVec<[(&'m Measure, Number); INLINE]>,
    attachments: SmallVec<[Attachment<'m>; INLINE_ATTACHMENTS]>,
}

impl<'m> MeasurementMap<'m> {
    /// An empty map.
    #[inline(always)]
    pub fn new() -> MeasurementMap<'m> {
        MeasurementMap::default()
    }

    /// Adds a value of `measure`: an `i64` for a
    /// [`MeasureI64`](census_core::MeasureI64), an `f64` for a
    /// [`MeasureF64`](census_core::MeasureF64). Putting the same measure
    /// twice records both values.
    // Always inlined, like `new` and `record_to`, so that a one-value map
    // goes straight to `record_one` without being passed around.
    #[inline(always)]
    pub fn put<M: TypedMeasure>(mut self, measure: &'m M, value: M::Value) -> Self {
        let value = (measure.as_ref(), M::number(value));
        match self.first {
            None => self.first = Some(value),
            Some(_) => self.more.push(value),
        }
        self
    }

    /// Attaches `key: value` to every value of the map, such as the trace
    /// id of the request (OpenCensus `measure_put_attachment`). Attaching a
    /// key again replaces its value, in its place.
    ///
    /// A value recorded with attachments into a Distribution view becomes
    /// the exemplar of its bucket in its row, until a later value with
    /// attachments lands in the same bucket:
    /// [`Row::exemplars`](census_core::Row::exemplars) holds the latest one
    /// per bucket, with the value, its time and the attachments.
    /// Exporters that carry exemplars (Prometheus in OpenMetrics, OTLP,
    /// census.v1) show them; other views ignore attachments. An exemplar
    /// keeps the first 8 attachments, within 256 bytes of keys and values
    /// together; the rest are dropped and counted in
    /// [`ManagerStats::dropped_attachments`](crate::ManagerStats::dropped_attachments).
    /// Attaching costs nothing until the map is recorded, and a map
    /// without attachments records as fast as it did before they existed.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::{Aggregation, MeasureF64, TagMap, View};
    /// use census_stats::{MeasurementMap, ViewManager};
    ///
    /// let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
    /// let vm = ViewManager::new();
    /// vm.register_view(View::builder("demo/latency", &latency)
    ///     .aggregation(Aggregation::distribution([10.0, 100.0])?).build()?)?;
    /// let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    /// MeasurementMap::new()
    ///     .put(&latency, 250.0)
    ///     .attach("trace_id", trace_id)
    ///     .record_to(&vm, &TagMap::new());
    /// let row = &vm.retrieve_data("demo/latency")?.rows[0];
    /// assert_eq!(row.exemplars[0].value, 250.0);
    /// assert_eq!(row.exemplars[0].attachment("trace_id"), Some(trace_id));
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn attach(mut self, key: &'m str, value: &'m str) -> Self {
        match self.attachments.iter_mut().find(|(k, _)| *k == key) {
            Some(attachment) => attachment.1 = value,
            None => self.attachments.push((key, value)),
        }
        self
    }

    /// Records every value into the global manager
    /// ([`crate::view_manager`]).
    #[inline]
    pub fn record(&self, tags: &TagMap) {
        self.record_to(crate::global::view_manager(), tags);
    }

    /// Records every value into `manager`.
    ///
    /// Each value goes to every view of its measure, under the projection of
    /// `tags` onto that view's keys. A float that is NaN or infinite is not
    /// aggregated; it is counted in
    /// [`ManagerStats::rejected_values`](crate::ManagerStats::rejected_values).
    #[inline(always)]
    pub fn record_to(&self, manager: &ViewManager, tags: &TagMap) {
        if !self.attachments.is_empty() {
            return manager.record_attached(self.values(), tags, &self.attachments);
        }
        self.record_unattached(manager, tags);
    }

    /// Records every value into the global manager
    /// ([`crate::view_manager`]) under `tags` given as key and text pairs,
    /// borrowed from the request: see
    /// [`record_tags_to`](MeasurementMap::record_tags_to).
    #[inline]
    pub fn record_tags(&self, tags: &[(&TagKey, &str)]) {
        self.record_tags_to(crate::global::view_manager(), tags);
    }

    /// Records every value into `manager` under `tags` given as key and
    /// text pairs, borrowed from the request: the same rows as
    /// [`record_to`](MeasurementMap::record_to) with a [`TagMap`] of those
    /// tags, without building the map.
    ///
    /// Once this thread has recorded into a row, a record finds it by
    /// hashing and comparing the text where it lies: no value is made, and
    /// for valid text (up to 255 bytes of printable ASCII), however long,
    /// no allocation and no error to handle. Text is checked only when the
    /// thread has no share of the row yet. Text that breaks the value rule
    /// is recorded as [`TagValue::new_lossy`] makes it (each character
    /// outside `' '` to `'~'` becomes `_`, cut at 255 bytes); it never
    /// equals the stored value, so it takes that slower way, which makes
    /// the values and looks the row up in the view's table, at every record.
    /// A key given twice counts with its last value, as in a map built with
    /// `with` in the same order. A map with attachments builds the
    /// [`TagMap`] (exemplars are rare).
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::{Aggregation, MeasureF64, TagKey, View};
    /// use census_stats::{MeasurementMap, ViewManager};
    ///
    /// let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
    /// let (method, route) = (TagKey::new("method")?, TagKey::new("route")?);
    /// let vm = ViewManager::new();
    /// vm.register_view(View::builder("demo/latency_sum", &latency)
    ///     .tag_keys([method.clone(), route.clone()])
    ///     .aggregation(Aggregation::Sum).build()?)?;
    /// // In a handler, from the request's own strings:
    /// let (verb, path) = ("GET", "/cart");
    /// MeasurementMap::new()
    ///     .put(&latency, 12.5)
    ///     .record_tags_to(&vm, &[(&method, verb), (&route, path)]);
    /// let row = &vm.retrieve_data("demo/latency_sum")?.rows[0];
    /// assert_eq!(row.tags[1].as_ref().map(|v| v.as_str()), Some("/cart"));
    /// # Ok(()) }
    /// ```
    #[inline(always)]
    pub fn record_tags_to(&self, manager: &ViewManager, tags: &[(&TagKey, &str)]) {
        if !self.attachments.is_empty() {
            return self.record_tags_attached(manager, tags);
        }
        self.record_unattached(manager, tags);
    }

    /// A map without attachments, under either kind of tags: one value
    /// (nearly every record) straight to `record_one`.
    #[inline(always)]
    fn record_unattached<T: Tags + ?Sized>(&self, manager: &ViewManager, tags: &T) {
        match (&self.first, self.more.is_empty()) {
            (Some((measure, value)), true) => manager.record_one(measure, value, tags),
            _ => manager.record(self.values(), tags),
        }
    }

    /// [`record_tags_to`](MeasurementMap::record_tags_to) for a map with
    /// attachments: it builds the tag map, out of the callers' way.
    #[cold]
    #[inline(never)]
    fn record_tags_attached(&self, manager: &ViewManager, tags: &[(&TagKey, &str)]) {
        let map = tags.iter().fold(TagMap::new(), |map, (key, text)| {
            map.with_value(key, TagValue::new_lossy(text))
        });
        manager.record_attached(self.values(), &map, &self.attachments);
    }

    /// Records every value into the global manager
    /// ([`crate::view_manager`]) under the current tag context of this
    /// thread ([`tags::current`](crate::tags::current)): the tags of the
    /// [`tags::scope`](crate::tags::scope)s it runs in, or of the tagged
    /// future being polled; no tags outside any.
    ///
    /// Costs what [`record`](MeasurementMap::record) with a kept map costs,
    /// plus one thread-local read: the context is not copied.
    #[inline]
    pub fn record_current(&self) {
        self.record_current_to(crate::global::view_manager());
    }

    /// [`record_current`](MeasurementMap::record_current) into `manager`.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
    /// use census_stats::{tags, MeasurementMap, ViewManager};
    ///
    /// let queries = MeasureI64::new("db/queries", "queries run", "1")?;
    /// let route = TagKey::new("route")?;
    /// let vm = ViewManager::new();
    /// vm.register_view(View::builder("db/queries_by_route", &queries)
    ///     .tag_keys([route.clone()]).aggregation(Aggregation::Sum).build()?)?;
    /// // A library records without seeing any tag map...
    /// let run_query = || MeasurementMap::new().put(&queries, 1).record_current_to(&vm);
    /// // ...and its caller's tags apply.
    /// tags::scope(&TagMap::new().with(&route, "/cart")?, run_query);
    /// let rows = vm.retrieve_data("db/queries_by_route")?.rows;
    /// assert_eq!(rows[0].tags[0].as_ref().map(|v| v.as_str()), Some("/cart"));
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn record_current_to(&self, manager: &ViewManager) {
        crate::context::with_current(|tags| self.record_to(manager, tags));
    }

    /// The number of measurements in the map.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    /// Whether the map holds no measurement.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The values in the order they were put, as two slices.
    #[inline(always)]
    fn values(&self) -> [&[(&'m Measure, Number)]; 2] {
        [self.first.as_slice(), &self.more]
    }

    #[cfg(test)]
    fn attachments(&self) -> &[Attachment<'m>] {
        &self.attachments
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = (&'m Measure, Number)> + '_ {
        self.values().into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{MeasureF64, MeasureI64};

    #[test]
    fn keeps_every_value_in_order_past_the_inline_capacity() -> Result<(), census_core::Error> {
        let f = MeasureF64::new("f", "", "1")?;
        let i = MeasureI64::new("i", "", "1")?;
        let mut map = MeasurementMap::new();
        for n in 0..7 {
            map = map.put(&i, n).put(&f, n as f64 / 2.0);
        }
        assert_eq!(map.len(), 14);
        let got: Vec<(String, Number)> =
            map.iter().map(|(m, v)| (m.name().to_owned(), v)).collect();
        assert_eq!(got.len(), 14);
        assert_eq!(got[0], ("i".to_owned(), Number::Int(0)));
        assert_eq!(got[13], ("f".to_owned(), Number::Float(3.0)));
        assert!(MeasurementMap::new().is_empty());
        Ok(())
    }

    #[test]
    fn attaching_a_key_again_replaces_its_value_in_place() {
        let map = MeasurementMap::new()
            .attach("trace_id", "a")
            .attach("span_id", "b")
            .attach("trace_id", "c");
        assert_eq!(map.attachments(), [("trace_id", "c"), ("span_id", "b")]);
    }
}
