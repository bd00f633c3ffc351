//! ConstTags: the same tags on every row of every view, such as the
//! service and region a process runs in.

use census_core::{Error, ExportError, Processor, TagKey, TagValue, View, ViewData};

use crate::conflict_log::ConflictLog;
use crate::view_shape::reshape;

/// Adds constant tags to every view as extra columns after the view's own
/// keys, with the constant value on every row (the overflow row included,
/// so it stays attributable to its service).
///
/// A view that already has one of the keys conflicts:
///
/// - **at registration** the view is refused with [`Error::ViewRejected`],
///   naming the key; a view registered before the pipeline makes the
///   pipeline's `register_exporter` fail the same way;
/// - **at export** (exporters' self-metrics, which are never checked, and
///   hand-made batches) the recorded value wins: the
///   view keeps its own column for that key, the other constants are still
///   added, and the conflict is counted ([`ConstTags::conflicts`]) and
///   logged at `warn` once per view.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// let tags = census_pipeline::ConstTags::new([("service", "checkout"), ("region", "eu-1")])?;
/// assert!(census_pipeline::ConstTags::new([("bad key", "x")]).is_err());
/// # let _ = tags; Ok(()) }
/// ```
#[derive(Debug)]
pub struct ConstTags {
    tags: Vec<(TagKey, TagValue)>,
    conflicts: ConflictLog,
}

impl ConstTags {
    /// Constant tags, added in the order given.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTagKey`] unless each key is 1 to 255 bytes of
    ///   printable ASCII without spaces;
    /// - [`Error::InvalidTagValue`] (naming the key) unless each value is 0
    ///   to 255 bytes of printable ASCII;
    /// - [`Error::InvalidConfig`] if a key is given twice.
    pub fn new<K, V>(tags: impl IntoIterator<Item = (K, V)>) -> Result<ConstTags, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut out: Vec<(TagKey, TagValue)> = Vec::new();
        for (key, value) in tags {
            let key = TagKey::new(key)?;
            let value = TagValue::new(value).map_err(|err| match err {
                Error::InvalidTagValue { value, reason, .. } => Error::InvalidTagValue {
                    key: Some(key.name().to_owned()),
                    value,
                    reason,
                },
                other => other,
            })?;
            if out.iter().any(|(k, _)| k == &key) {
                return Err(Error::InvalidConfig {
                    what: "constant tag key".into(),
                    value: key.name().to_owned(),
                    reason: "it is given twice; give each constant key one value".into(),
                });
            }
            out.push((key, value));
        }
        Ok(ConstTags {
            tags: out,
            conflicts: ConflictLog::default(),
        })
    }

    /// Views that arrived at export time with a key these constants also
    /// set, counted once per view per batch.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.count()
    }

    /// The constants whose key `view` does not have yet.
    fn missing<'a>(&'a self, view: &'a View) -> impl Iterator<Item = &'a (TagKey, TagValue)> {
        self.tags
            .iter()
            .filter(move |(k, _)| !view.tag_keys().contains(k))
    }

    /// `data` with the constants added; `counting` says whether a
    /// conflict counts (a period) or not (a pull).
    fn enrich(&self, mut data: ViewData, counting: bool) -> ViewData {
        let added: Vec<(TagKey, TagValue)> = self.missing(&data.view).cloned().collect();
        if counting && added.len() < self.tags.len() {
            let clashing: Vec<&str> = self
                .tags
                .iter()
                .filter(|(k, _)| data.view.tag_keys().contains(k))
                .map(|(k, _)| k.name())
                .collect();
            self.conflicts.conflict(self.name(), data.view.name(), || {
                format!(
                    "the view has tag key(s) {clashing:?} that ConstTags also sets; \
                         the recorded values are kept for them"
                )
            });
        }
        if added.is_empty() {
            return data;
        }
        let keys = data
            .view
            .tag_keys()
            .iter()
            .cloned()
            .chain(added.iter().map(|(k, _)| k.clone()))
            .collect();
        match reshape(&data.view, data.view.name(), keys) {
            Ok(view) => data.view = view,
            // Unreachable: the name is the view's own and no key repeats.
            Err(err) => {
                if counting {
                    self.conflicts
                        .conflict(self.name(), data.view.name(), || err.to_string());
                }
                return data;
            }
        }
        for row in &mut data.rows {
            row.tags.extend(added.iter().map(|(_, v)| Some(v.clone())));
        }
        data
    }
}

impl Processor for ConstTags {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        self.conflicts.retain_present(&batch);
        batch
            .into_iter()
            .map(|data| self.enrich(data, true))
            .collect()
    }

    /// As `process`, without counting conflicts again: they are counted
    /// once per view per period, not per scrape.
    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        batch
            .into_iter()
            .map(|data| self.enrich(data, false))
            .collect()
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        if let Some((key, _)) = self.tags.iter().find(|(k, _)| view.tag_keys().contains(k)) {
            return Err(ExportError::new(format!(
                "the view has tag key {:?}, which ConstTags adds as a constant; remove the \
                 key from the view or from the constants",
                key.name()
            )));
        }
        let keys = view
            .tag_keys()
            .iter()
            .chain(self.tags.iter().map(|(k, _)| k))
            .cloned()
            .collect();
        reshape(view, view.name(), keys)
            .map(Some)
            .map_err(|err| ExportError::new(err.to_string()))
    }

    fn name(&self) -> &str {
        "ConstTags"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::InvalidReason;

    #[test]
    fn bad_constants_are_typed_errors() {
        assert!(matches!(
            ConstTags::new([("bad key", "x")]),
            Err(Error::InvalidTagKey { .. })
        ));
        assert_eq!(
            ConstTags::new([("service", "caf\u{e9}")]).unwrap_err(),
            Error::InvalidTagValue {
                key: Some("service".into()),
                value: "caf\u{e9}".into(),
                reason: InvalidReason::BadChar {
                    ch: '\u{e9}',
                    index: 3
                },
            }
        );
        let twice = ConstTags::new([("a", "1"), ("a", "2")]).unwrap_err();
        assert!(matches!(twice, Error::InvalidConfig { ref value, .. } if value == "a"));
        assert!(twice.to_string().contains("twice"), "{twice}");
        assert!(ConstTags::new([("a", "")]).is_ok());
        assert!(ConstTags::new(Vec::<(String, String)>::new()).is_ok());
    }
}
