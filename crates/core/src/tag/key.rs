//! TagKey: the name of a dimension, interned so that a key is one pointer.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::name::check_name;

/// The name of a dimension, such as `method` or `status`.
///
/// A key is one pointer: copying it into a [`TagMap`](crate::TagMap) per
/// request writes no shared memory (no reference count), so threads
/// building maps from the same keys never contend. Two keys made from the
/// same name are the same pointer, and equal.
///
/// Make keys once, at start-up or in a static, like metric names: every
/// distinct key name is kept for the life of the process (keys are the
/// schema of your measurements, not data; put data in values).
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// let method = census_core::TagKey::new("method")?;
/// assert_eq!(method.name(), "method");
/// assert_eq!(method, census_core::TagKey::new(String::from("method"))?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TagKey(&'static Interned);

/// A key's name, allocated once per distinct name and never freed.
struct Interned(Box<str>);

/// Every key name made so far. The one table core keeps for the life of
/// the process: it is what makes a key one pointer whose equality is
/// pointer equality, and it only grows by distinct key names, which are
/// few. Touched by `TagKey::new` alone, never on a record path.
static NAMES: OnceLock<Mutex<HashMap<&'static str, &'static Interned>>> = OnceLock::new();

impl TagKey {
    /// Makes a tag key, or finds the one already made with this name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagKey`] unless the name is 1 to 255 bytes of
    /// printable ASCII without spaces (`'!'` to `'~'`).
    pub fn new(name: impl AsRef<str>) -> Result<TagKey, Error> {
        let name = name.as_ref();
        if let Err(reason) = check_name(name) {
            return Err(Error::InvalidTagKey {
                key: name.to_owned(),
                reason,
            });
        }
        let names = NAMES.get_or_init(Default::default);
        // A panic elsewhere while holding the lock leaves the table whole
        // (inserts are single calls), so a poisoned lock is still usable.
        let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(interned) = names.get(name) {
            return Ok(TagKey(interned));
        }
        let interned: &'static Interned = Box::leak(Box::new(Interned(Box::from(name))));
        names.insert(&interned.0, interned);
        Ok(TagKey(interned))
    }

    /// The key's name.
    #[inline]
    pub fn name(&self) -> &'static str {
        &self.0 .0
    }

    /// Whether two keys are equal: the same as `==`, which compares one
    /// pointer.
    #[inline]
    pub fn same_as(&self, other: &TagKey) -> bool {
        self == other
    }
}

impl PartialEq for TagKey {
    #[inline]
    fn eq(&self, other: &TagKey) -> bool {
        // Names are interned: one name, one pointer.
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for TagKey {}

impl Hash for TagKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with Eq, which compares pointers.
        std::ptr::hash(self.0, state);
    }
}

impl PartialOrd for TagKey {
    fn partial_cmp(&self, other: &TagKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagKey {
    fn cmp(&self, other: &TagKey) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name(), f)
    }
}

impl fmt::Display for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TagKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;

    #[test]
    fn key_rules_are_enforced_with_the_offending_key() {
        assert!(TagKey::new("http.method").is_ok());
        assert!(TagKey::new("~!@#$%^&*()_+").is_ok());
        let err = TagKey::new("http method").unwrap_err();
        assert_eq!(
            err,
            Error::InvalidTagKey {
                key: "http method".into(),
                reason: InvalidReason::BadChar { ch: ' ', index: 4 }
            }
        );
        let text = err.to_string();
        assert!(text.contains("255"), "{text}");
        assert!(text.contains("\"http method\""), "{text}");
        assert!(matches!(
            TagKey::new(""),
            Err(Error::InvalidTagKey {
                reason: InvalidReason::Empty,
                ..
            })
        ));
        assert!(matches!(
            TagKey::new("k".repeat(256)),
            Err(Error::InvalidTagKey {
                reason: InvalidReason::TooLong { len: 256 },
                ..
            })
        ));
        assert!(TagKey::new("k".repeat(255)).is_ok());
        assert!(TagKey::new("m\u{e9}thode").is_err());
        assert!(TagKey::new("tab\there").is_err());
    }

    #[test]
    fn one_name_is_one_key_across_threads() -> Result<(), Error> {
        let here = TagKey::new("interned.across.threads")?;
        let there = std::thread::spawn(|| TagKey::new(String::from("interned.across.threads")))
            .join()
            .expect("thread")?;
        assert!(std::ptr::eq(here.0, there.0));
        assert_eq!(here, there);
        assert_ne!(here, TagKey::new("interned.other")?);
        assert!(TagKey::new("a")? < TagKey::new("b")?);
        Ok(())
    }
}
