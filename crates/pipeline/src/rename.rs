//! Rename: give views other names downstream.

use std::collections::HashMap;

use census_core::{Error, ExportError, Processor, View, ViewData};

use crate::conflict_log::ConflictLog;
use crate::view_name::{check_chars, check_name, MAX_NAME_LEN, NAME_RULE};
use crate::view_shape::reshape;

/// Renames views: by adding a prefix to every name, or by an explicit
/// mapping of names (names it does not list pass unchanged). Each view is
/// renamed once: a mapping `a -> b, b -> c` sends `a` as `b`, not `c`.
///
/// The new name must itself be a valid view name. Prefixes and mapping
/// entries are checked when the processor is built. What cannot be known
/// then is whether a prefixed name stays within 255 bytes:
///
/// - **at registration** a view whose new name would be too long is
///   refused with [`Error::ViewRejected`]; one registered before the
///   pipeline makes the pipeline's `register_exporter` fail the same way;
/// - **at export** (exporters' self-metrics, which are never checked, and
///   hand-made batches) it is passed on under its own name, counted in
///   [`Rename::conflicts`] and logged at `warn` once per view.
///
/// Two views renamed to one name are refused at registration by the
/// [`Pipeline`](crate::Pipeline).
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_pipeline::Rename;
/// let shop = Rename::prefix("shop/")?;
/// let legacy = Rename::mapping([("demo/latency", "http_server_duration")])?;
/// assert!(Rename::prefix("shop /").is_err());
/// # let _ = (shop, legacy); Ok(()) }
/// ```
#[derive(Debug)]
pub struct Rename {
    rule: Rule,
    conflicts: ConflictLog,
}

#[derive(Debug)]
enum Rule {
    Prefix(String),
    Mapping(HashMap<String, String>),
}

impl Rename {
    /// Puts `prefix` before every view name. An empty prefix renames
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] unless the prefix is at most 255 bytes of
    /// printable ASCII without spaces (`'!'` to `'~'`), the characters of
    /// view names.
    pub fn prefix(prefix: impl Into<String>) -> Result<Rename, Error> {
        let prefix = prefix.into();
        if let Err(reason) = check_chars(&prefix) {
            return Err(Error::InvalidConfig {
                what: "view name prefix".into(),
                value: prefix,
                reason: format!("{reason}; {NAME_RULE}"),
            });
        }
        Ok(Rename {
            rule: Rule::Prefix(prefix),
            conflicts: ConflictLog::default(),
        })
    }

    /// Renames each view named like the first of a pair to the second.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidViewName`] unless both names of every pair are
    ///   valid view names (1 to 255 bytes of printable ASCII without
    ///   spaces): a name that is not valid can never be matched or used;
    /// - [`Error::InvalidConfig`] if a name is mapped twice.
    pub fn mapping<F, T>(pairs: impl IntoIterator<Item = (F, T)>) -> Result<Rename, Error>
    where
        F: Into<String>,
        T: Into<String>,
    {
        let mut map = HashMap::new();
        for (from, to) in pairs {
            let (from, to) = (from.into(), to.into());
            for name in [&from, &to] {
                if let Err(reason) = check_name(name) {
                    return Err(Error::InvalidViewName {
                        name: name.clone(),
                        reason,
                    });
                }
            }
            if map.contains_key(&from) {
                return Err(Error::InvalidConfig {
                    what: "view rename".into(),
                    value: from,
                    reason: "this name is mapped twice; map each view name once".into(),
                });
            }
            map.insert(from, to);
        }
        Ok(Rename {
            rule: Rule::Mapping(map),
            conflicts: ConflictLog::default(),
        })
    }

    /// Views passed on under their own name because the new name would
    /// have been longer than 255 bytes, counted once per view per batch.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.count()
    }

    /// The view's new name, or `None` if it keeps its own.
    fn new_name(&self, name: &str) -> Option<String> {
        match &self.rule {
            Rule::Prefix(prefix) if prefix.is_empty() => None,
            Rule::Prefix(prefix) => Some(format!("{prefix}{name}")),
            Rule::Mapping(map) => map.get(name).cloned(),
        }
    }

    /// Every view of `batch` renamed; `counting` says whether a refused
    /// name counts (a period) or not (a pull).
    fn rename_all(&self, batch: Vec<ViewData>, counting: bool) -> Vec<ViewData> {
        batch
            .into_iter()
            .map(|mut data| {
                match self.renamed(&data.view) {
                    Ok(Some(view)) => data.view = view,
                    Ok(None) => {}
                    Err(err) if counting => {
                        self.conflicts.conflict(self.name(), data.view.name(), || {
                            format!("passed on under its own name: the new name is refused: {err}")
                        })
                    }
                    Err(_) => {}
                }
                data
            })
            .collect()
    }

    fn renamed(&self, view: &View) -> Result<Option<View>, Error> {
        match self.new_name(view.name()) {
            None => Ok(None),
            Some(name) => reshape(view, &name, view.tag_keys().to_vec()).map(Some),
        }
    }
}

impl Processor for Rename {
    fn process(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        self.conflicts.retain_present(&batch);
        self.rename_all(batch, true)
    }

    /// As `process`, without counting conflicts again: they are counted
    /// once per view per period, not per scrape.
    fn pull(&self, batch: Vec<ViewData>) -> Vec<ViewData> {
        self.rename_all(batch, false)
    }

    fn map_view(&self, view: &View) -> Result<Option<View>, ExportError> {
        match self.renamed(view) {
            Ok(Some(renamed)) => Ok(Some(renamed)),
            Ok(None) => Ok(Some(view.clone())),
            Err(err) => Err(ExportError::new(format!(
                "its new name is refused ({err}); view names after renaming must stay within \
                 {MAX_NAME_LEN} bytes"
            ))),
        }
    }

    fn name(&self) -> &str {
        "Rename"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::InvalidReason;

    #[test]
    fn bad_prefixes_and_mappings_are_typed_errors() {
        let err = Rename::prefix("shop /").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { what, value, .. } if what == "view name prefix" && value == "shop /"),
            "{err:?}"
        );
        assert!(err.to_string().contains("' '"), "{err}");
        assert!(Rename::prefix("p".repeat(256)).is_err());
        assert!(Rename::prefix("").is_ok());
        assert_eq!(
            Rename::mapping([("a", "b c")]).unwrap_err(),
            Error::InvalidViewName {
                name: "b c".into(),
                reason: InvalidReason::BadChar { ch: ' ', index: 1 }
            }
        );
        assert!(matches!(
            Rename::mapping([("", "b")]),
            Err(Error::InvalidViewName {
                reason: InvalidReason::Empty,
                ..
            })
        ));
        assert!(matches!(
            Rename::mapping([("a", "b"), ("a", "c")]),
            Err(Error::InvalidConfig { value, .. }) if value == "a"
        ));
    }
}
