//! Views: which measure to aggregate, broken down by which tags, how.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::aggregation::Aggregation;
use crate::error::Error;
use crate::measure::Measure;
use crate::name::check_name;
use crate::tag::TagKey;

/// The number of rows a view keeps unless told otherwise; past it, new tag
/// combinations fold into the view's overflow row.
pub const DEFAULT_ROW_LIMIT: usize = 10_000;

/// A view: a measure, the tag keys that split it into rows, and the
/// aggregation each row keeps. The unit of export.
///
/// Built with [`View::builder`]; once built it is known to be valid.
/// Cloning copies a pointer. Two views are equal when their whole
/// definitions are.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{Aggregation, MeasureF64, TagKey, View};
/// let latency = MeasureF64::new("demo/latency", "request latency", "ms")?;
/// let method = TagKey::new("method")?;
/// let view = View::builder("demo/latency_distribution", &latency)
///     .description("latency by method")
///     .tag_keys([method])
///     .aggregation(Aggregation::distribution([0.0, 10.0, 100.0])?)
///     .build()?;
/// assert_eq!(view.name(), "demo/latency_distribution");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct View(Arc<ViewDef>);

#[derive(PartialEq)]
struct ViewDef {
    name: String,
    description: String,
    measure: Measure,
    /// Shared with every row of the view's data, so a row can name its
    /// tags ([`Row::tag`](crate::Row::tag)) for the cost of a reference
    /// count.
    tag_keys: Arc<[TagKey]>,
    aggregation: Aggregation,
    row_limit: usize,
    expire_after: Option<Duration>,
}

impl View {
    /// Starts a view named `name` over `measure` (a `&MeasureI64`,
    /// `&MeasureF64` or `&Measure`).
    ///
    /// View names follow the measure name rules: 1 to 255 bytes of
    /// printable ASCII without spaces; [`ViewBuilder::build`] checks them.
    pub fn builder(name: impl Into<String>, measure: impl AsRef<Measure>) -> ViewBuilder {
        ViewBuilder {
            name: name.into(),
            description: None,
            measure: measure.as_ref().clone(),
            tag_keys: Vec::new(),
            aggregation: None,
            row_limit: DEFAULT_ROW_LIMIT,
            expire_after: None,
        }
    }

    /// The view's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The view's description (the measure's, unless one was given).
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// The measure the view aggregates.
    pub fn measure(&self) -> &Measure {
        &self.0.measure
    }

    /// The tag keys that split the view into rows, in the order given: the
    /// order of [`Row::tags`](crate::Row::tags).
    pub fn tag_keys(&self) -> &[TagKey] {
        &self.0.tag_keys
    }

    /// The tag keys, shared.
    pub(crate) fn shared_tag_keys(&self) -> &Arc<[TagKey]> {
        &self.0.tag_keys
    }

    /// The aggregation each row keeps.
    pub fn aggregation(&self) -> &Aggregation {
        &self.0.aggregation
    }

    /// The most rows the view keeps before folding new tag combinations into
    /// its overflow row.
    pub fn row_limit(&self) -> usize {
        self.0.row_limit
    }

    /// How long a row may go without a record before it leaves the view;
    /// `None` when rows never expire. See
    /// [`ViewBuilder::expire_after`].
    pub fn expire_after(&self) -> Option<Duration> {
        self.0.expire_after
    }

    /// Whether two handles are one view, comparing pointers before the
    /// definition.
    #[inline]
    pub fn same_as(&self, other: &View) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl PartialEq for View {
    #[inline]
    fn eq(&self, other: &View) -> bool {
        self.same_as(other)
    }
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("name", &self.0.name)
            .field("description", &self.0.description)
            .field("measure", &self.0.measure)
            .field("tag_keys", &self.0.tag_keys)
            .field("aggregation", &self.0.aggregation)
            .field("row_limit", &self.0.row_limit)
            .field("expire_after", &self.0.expire_after)
            .finish()
    }
}

/// Builds a [`View`]; see [`View::builder`]. Setters only record; every
/// check happens once, in [`build`](ViewBuilder::build).
#[derive(Debug, Clone)]
#[must_use = "a view builder does nothing until .build() is called"]
pub struct ViewBuilder {
    name: String,
    description: Option<String>,
    measure: Measure,
    tag_keys: Vec<TagKey>,
    aggregation: Option<Aggregation>,
    row_limit: usize,
    expire_after: Option<Duration>,
}

impl ViewBuilder {
    /// What the view shows, for people. Default: the measure's description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The tag keys that split the view into rows, in the order rows list
    /// their values. Recording into a view of up to 32 keys allocates
    /// nothing once the row exists; a wider view costs one allocation per
    /// record (bound handles excepted). Default: none (one row).
    pub fn tag_keys(mut self, keys: impl IntoIterator<Item = TagKey>) -> Self {
        self.tag_keys = keys.into_iter().collect();
        self
    }

    /// How each row aggregates its values. Required: there is no default,
    /// since no one aggregation fits most measures.
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = Some(aggregation);
        self
    }

    /// The most rows (tag combinations) the view keeps; further combinations
    /// fold into one overflow row and are counted. Bounds the view's memory
    /// whatever tag values arrive. Default: 10,000 ([`DEFAULT_ROW_LIMIT`]).
    pub fn row_limit(mut self, limit: usize) -> Self {
        self.row_limit = limit;
        self
    }

    /// Drops a row that has not been recorded to for `after`: it leaves
    /// the view's snapshots (and so exports, pushes and scrapes) and frees
    /// its place under the row limit; a later record of the same tags
    /// starts a fresh row, counting from zero with a new start time. For
    /// views over open-ended tag values (user ids, paths) whose old rows
    /// would otherwise stay forever. A row goes at the first snapshot at
    /// least `after` past the snapshot that last saw it change, never
    /// earlier; docs/semantics.md ("Rows that expire") has the details.
    /// An [`Aggregation::UpDownSum`] row holds a level, and goes only
    /// when idle at level zero. Must not be zero. Default: never.
    pub fn expire_after(mut self, after: Duration) -> Self {
        self.expire_after = Some(after);
        self
    }

    /// Checks the definition and builds the view.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidViewName`] unless the name is 1 to 255 bytes of
    ///   printable ASCII without spaces;
    /// - [`Error::DuplicateTagKey`] if a key is listed twice;
    /// - [`Error::MissingAggregation`] if no aggregation was set;
    /// - [`Error::InvalidRowLimit`] if the row limit is 0;
    /// - [`Error::InvalidExpiry`] if `expire_after` is zero.
    pub fn build(self) -> Result<View, Error> {
        if let Err(reason) = check_name(&self.name) {
            return Err(Error::InvalidViewName {
                name: self.name,
                reason,
            });
        }
        for (i, key) in self.tag_keys.iter().enumerate() {
            if self.tag_keys[..i].contains(key) {
                return Err(Error::DuplicateTagKey {
                    view: self.name,
                    key: key.name().to_owned(),
                });
            }
        }
        let Some(aggregation) = self.aggregation else {
            return Err(Error::MissingAggregation { view: self.name });
        };
        if self.row_limit == 0 {
            return Err(Error::InvalidRowLimit { view: self.name });
        }
        if self.expire_after.is_some_and(|d| d.is_zero()) {
            return Err(Error::InvalidExpiry { view: self.name });
        }
        let description = self
            .description
            .unwrap_or_else(|| self.measure.description().to_owned());
        Ok(View(Arc::new(ViewDef {
            name: self.name,
            description,
            measure: self.measure,
            tag_keys: Arc::from(self.tag_keys),
            aggregation,
            row_limit: self.row_limit,
            expire_after: self.expire_after,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::MeasureI64;

    fn requests() -> MeasureI64 {
        MeasureI64::new("demo/requests", "requests served", "1").expect("valid measure")
    }

    #[test]
    fn build_checks_every_rule() -> Result<(), Error> {
        let m = requests();
        let k = TagKey::new("method")?;
        assert!(matches!(
            View::builder("bad name", &m)
                .aggregation(Aggregation::Count)
                .build(),
            Err(Error::InvalidViewName { .. })
        ));
        assert!(matches!(
            View::builder("", &m)
                .aggregation(Aggregation::Count)
                .build(),
            Err(Error::InvalidViewName { .. })
        ));
        assert_eq!(
            View::builder("v", &m)
                .tag_keys([k.clone(), k.clone()])
                .aggregation(Aggregation::Count)
                .build()
                .unwrap_err(),
            Error::DuplicateTagKey {
                view: "v".into(),
                key: "method".into()
            }
        );
        assert_eq!(
            View::builder("v", &m).build().unwrap_err(),
            Error::MissingAggregation { view: "v".into() }
        );
        assert_eq!(
            View::builder("v", &m)
                .aggregation(Aggregation::Sum)
                .row_limit(0)
                .build()
                .unwrap_err(),
            Error::InvalidRowLimit { view: "v".into() }
        );
        let zero = View::builder("v", &m)
            .aggregation(Aggregation::Sum)
            .expire_after(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(zero, Error::InvalidExpiry { view: "v".into() });
        assert!(zero.to_string().contains("expire_after"), "{zero}");
        Ok(())
    }

    #[test]
    fn defaults_and_key_order_are_kept() -> Result<(), Error> {
        let m = requests();
        let (b, a) = (TagKey::new("b")?, TagKey::new("a")?);
        let v = View::builder(String::from("v"), &m)
            .tag_keys([b.clone(), a.clone()])
            .aggregation(Aggregation::Sum)
            .build()?;
        assert_eq!(v.description(), "requests served");
        assert_eq!(v.tag_keys(), &[b, a]);
        assert_eq!(v.row_limit(), DEFAULT_ROW_LIMIT);
        assert_eq!(v.measure(), m.measure());
        let same = View::builder("v", &m)
            .tag_keys(v.tag_keys().to_vec())
            .aggregation(Aggregation::Sum)
            .build()?;
        assert_eq!(v, same);
        let other = View::builder("v", &m)
            .aggregation(Aggregation::Count)
            .build()?;
        assert_ne!(v, other);
        assert_eq!(v.expire_after(), None);
        let expiring = |d| {
            View::builder("v", &m)
                .tag_keys(v.tag_keys().to_vec())
                .aggregation(Aggregation::Sum)
                .expire_after(d)
                .build()
        };
        let a = expiring(Duration::from_secs(60))?;
        assert_eq!(a.expire_after(), Some(Duration::from_secs(60)));
        assert_ne!(v, a);
        assert_eq!(a, expiring(Duration::from_secs(60))?);
        assert_ne!(a, expiring(Duration::from_secs(61))?);
        Ok(())
    }
}
