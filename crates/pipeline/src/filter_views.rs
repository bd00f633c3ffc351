//! FilterViews: pass on only some views.

use std::fmt;

use census_core::{ExportError, Processor, View, ViewData};

use crate::glob::Glob;

/// Passes on only the views a rule keeps; the others do not reach the
/// exporter (and are not checked against it at registration).
///
/// The rule sees each view as it arrives at this step, so after a
/// [`Rename`](crate::Rename) placed earlier in the chain it sees the new
/// name.
///
/// Patterns are globs over the whole view name: `*` matches any run of
/// characters, `/` included, and `?` exactly one character; everything
/// else matches itself, with no escaping.
///
/// ```
/// use census_core::Aggregation;
/// use census_pipeline::FilterViews;
///
/// let demo_only = FilterViews::matching("demo/*");
/// let no_debug = FilterViews::excluding("*/debug_*");
/// let counts_only = FilterViews::predicate(|view| *view.aggregation() == Aggregation::Count);
/// # let _ = (demo_only, no_debug, counts_only);
/// ```
pub struct FilterViews {
    rule: Rule,
}

enum Rule {
    Matching(Glob),
    Excluding(Glob),
    Predicate(Box<dyn Fn(&View) -> bool + Send + Sync>),
}

impl FilterViews {
    /// Keeps the views whose name matches `pattern`.
    pub fn matching(pattern: impl Into<String>) -> FilterViews {
        FilterViews {
            rule: Rule::Matching(Glob::new(pattern)),
        }
    }

    /// Keeps the views whose name does not match `pattern`.
    pub fn excluding(pattern: impl Into<String>) -> FilterViews {
        FilterViews {
            rule: Rule::Excluding(Glob::new(pattern)),
        }
    }

    /// Keeps the views for which `keep` returns true. It is called on the
    /// export thread for every view of every batch, and from registering
    /// threads; a panic in it is a panicking processor (see
    /// [`Pipeline`](crate::Pipeline)).
    pub fn predicate(keep: impl Fn(&View) -> bool + Send + Sync + 'static) -> FilterViews {
        FilterViews {
            rule: Rule::Predicate(Box::new(keep)),
        }
    }

    /// Whether the rule keeps `view`.
    pub fn keeps(&self, view: &View) -> bool {
        match &self.rule {
            Rule::Matching(glob) => glob.matches(view.name()),
            Rule::Excluding(glob) => !glob.matches(view.name()),
            Rule::Predicate(keep) => keep(view),
        }
    }
}

impl Processor for FilterViews {
    fn process(&self, mut batch: Vec<ViewData>) -> Vec<ViewData> {
        batch.retain(|data| self.keeps(&data.view));
        batch
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        Ok(self.keeps(view).then(|| view.clone()))
    }

    fn name(&self) -> &str {
        "FilterViews"
    }
}

impl fmt::Debug for FilterViews {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Rule::Matching(glob) => f
                .debug_tuple("FilterViews::matching")
                .field(&glob.as_str())
                .finish(),
            Rule::Excluding(glob) => f
                .debug_tuple("FilterViews::excluding")
                .field(&glob.as_str())
                .finish(),
            Rule::Predicate(_) => f.write_str("FilterViews::predicate(..)"),
        }
    }
}
