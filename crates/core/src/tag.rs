//! Tags: the dimensions a measurement is recorded under.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::name::{check_name, check_value};

/// The name of a dimension, such as `method` or `status`.
///
/// A key is a cheap handle: cloning it copies a pointer. Two keys made from
/// the same name are equal.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// let method = census_core::TagKey::new("method")?;
/// assert_eq!(method.name(), "method");
/// assert_eq!(method, census_core::TagKey::new(String::from("method"))?);
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagKey(Arc<str>);

impl TagKey {
    /// Makes a tag key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagKey`] unless the name is 1 to 255 bytes of
    /// printable ASCII without spaces (`'!'` to `'~'`).
    pub fn new(name: impl Into<String>) -> Result<TagKey, Error> {
        let name = name.into();
        match check_name(&name) {
            Ok(()) => Ok(TagKey(name.into())),
            Err(reason) => Err(Error::InvalidTagKey { key: name, reason }),
        }
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether two keys are equal, comparing pointers before text: keys are
    /// usually clones of one handle, so the pointer test settles most calls.
    #[inline]
    pub fn same_as(&self, other: &TagKey) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TagKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The value of one tag, such as `GET`.
///
/// Values may be empty; an empty value is a value, distinct from a tag that
/// was not recorded at all (a `None` in [`Row::tags`](crate::Row::tags)).
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// let v = census_core::TagValue::new("GET /index.html")?;
/// assert_eq!(v.as_str(), "GET /index.html");
/// assert!(census_core::TagValue::new("").is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TagValue {
    text: Arc<str>,
    // Computed once here so that recording never reads the text: the
    // record path hashes a row's values by these and compares them by
    // pointer, so a hit touches no string memory at all.
    hash: u64,
}

impl TagValue {
    /// Makes a tag value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] unless the value is 0 to 255 bytes of
    /// printable ASCII (`' '` to `'~'`).
    pub fn new(value: impl Into<String>) -> Result<TagValue, Error> {
        let value = value.into();
        match check_value(&value) {
            Ok(()) => Ok(TagValue {
                hash: content_hash(&value),
                text: value.into(),
            }),
            Err(reason) => Err(Error::InvalidTagValue {
                key: None,
                value,
                reason,
            }),
        }
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A 64-bit hash of the text, computed when the value was made, so
    /// hashing a value costs one load.
    ///
    /// Equal texts have equal hashes within one process. The function is
    /// SipHash-1-3 with fixed keys (the standard library's
    /// [`DefaultHasher`](std::hash::DefaultHasher)): fixed so that core
    /// needs no global seed, and a cryptographic hash so that even knowing
    /// its keys, finding many texts with one hash takes brute force (a
    /// single colliding pair takes about 2^32 tries, so compare texts, not
    /// only hashes). Mix it with a secret seed before using it to place
    /// values in a table;
    /// it is not stable across Rust releases, so never persist it.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::TagValue;
    /// let (a, b) = (TagValue::new("GET")?, TagValue::new("GET")?);
    /// assert_eq!(a.content_hash(), b.content_hash());
    /// assert_ne!(a.content_hash(), TagValue::new("PUT")?.content_hash());
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn content_hash(&self) -> u64 {
        self.hash
    }

    /// Whether two values are equal, comparing pointers before text: a row
    /// keeps clones of the values it was created with, so the recorded value
    /// is often the very same allocation. Values whose hashes differ are
    /// told apart without reading either text.
    #[inline]
    pub fn same_as(&self, other: &TagValue) -> bool {
        Arc::ptr_eq(&self.text, &other.text) || (self.hash == other.hash && self.text == other.text)
    }
}

fn content_hash(text: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(text.as_bytes());
    hasher.finish()
}

impl PartialEq for TagValue {
    fn eq(&self, other: &TagValue) -> bool {
        self.same_as(other)
    }
}

impl Eq for TagValue {}

impl Hash for TagValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with Eq: equal texts have equal content hashes.
        state.write_u64(self.hash);
    }
}

impl PartialOrd for TagValue {
    fn partial_cmp(&self, other: &TagValue) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagValue {
    fn cmp(&self, other: &TagValue) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Debug for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl fmt::Display for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for TagValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A set of tags, at most one value per key, that measurements are recorded
/// under.
///
/// Built once per request (or once for good) and passed by reference to
/// `record`. Methods return a new map, so a base map can be shared and
/// extended; a clone is cheap (the entries are shared, copied on write).
/// The order keys are added in does not matter.
///
/// Keep maps you record with often (one per route, per peer) rather than
/// rebuilding them: census-stats remembers, per thread, which row a map it
/// has seen before goes to, and then skips the tag lookup entirely.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{TagKey, TagMap};
/// let method = TagKey::new("method")?;
/// let status = TagKey::new("status")?;
/// let tags = TagMap::new().with(&method, "GET")?.with(&status, "200")?;
/// assert_eq!(tags.get(&method).map(|v| v.as_str()), Some("GET"));
/// let tags = tags.without(&status);
/// assert_eq!(tags.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct TagMap {
    // Sorted by key name so that two maps with the same tags are equal
    // whatever order they were built in. Maps are small (a handful of
    // tags), so a sorted vector beats any map structure on lookups.
    //
    // Shared, so that a clone costs a reference count and a map has an
    // identity (see `address`) that a cache can key on; changed copy on
    // write. `None` is the empty map, which allocates nothing.
    entries: Option<Arc<Vec<(TagKey, TagValue)>>>,
}

impl PartialEq for TagMap {
    fn eq(&self, other: &TagMap) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for TagMap {}

impl Hash for TagMap {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl TagMap {
    /// An empty map.
    pub fn new() -> TagMap {
        TagMap::default()
    }

    /// Sets `key` to `value`, replacing any value the key had.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] (naming the key) unless the value is 0 to
    /// 255 bytes of printable ASCII.
    pub fn with(self, key: &TagKey, value: impl Into<String>) -> Result<TagMap, Error> {
        Ok(self.with_value(key, value_for(key, value)?))
    }

    /// Sets `key` to an already validated `value`, replacing any value the
    /// key had. Cannot fail.
    pub fn with_value(mut self, key: &TagKey, value: TagValue) -> TagMap {
        let at = self.position(key);
        // Copies the entries only if a clone of this map shares them, so a
        // chain of `with` calls builds one vector.
        let entries = Arc::make_mut(self.entries.get_or_insert_with(Default::default));
        match at {
            Ok(i) => {
                if let Some(entry) = entries.get_mut(i) {
                    entry.1 = value;
                }
            }
            Err(i) => entries.insert(i, (key.clone(), value)),
        }
        self
    }

    /// Sets `key` to `value` only if the key has no value yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] as for [`TagMap::with`].
    pub fn insert(self, key: &TagKey, value: impl Into<String>) -> Result<TagMap, Error> {
        let value = value_for(key, value)?;
        Ok(if self.get(key).is_some() {
            self
        } else {
            self.with_value(key, value)
        })
    }

    /// Replaces the value of `key` only if the key already has one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] as for [`TagMap::with`].
    pub fn update(self, key: &TagKey, value: impl Into<String>) -> Result<TagMap, Error> {
        let value = value_for(key, value)?;
        Ok(if self.get(key).is_some() {
            self.with_value(key, value)
        } else {
            self
        })
    }

    /// Removes `key` and its value, if present.
    pub fn without(mut self, key: &TagKey) -> TagMap {
        if let (Ok(i), Some(entries)) = (self.position(key), self.entries.as_mut()) {
            Arc::make_mut(entries).remove(i);
            if entries.is_empty() {
                // Every empty map is the one without entries (address 0).
                self.entries = None;
            }
        }
        self
    }

    /// The value of `key`, if the map has one.
    #[inline]
    pub fn get(&self, key: &TagKey) -> Option<&TagValue> {
        // A linear scan with the pointer test first: maps hold a few tags and
        // keys are clones of the view's own handles, so this usually ends
        // without comparing any text.
        self.as_slice()
            .iter()
            .find(|(k, _)| k.same_as(key))
            .map(|(_, v)| v)
    }

    /// The number of tags.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the map has no tags.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The tags, ordered by key name.
    pub fn iter(&self) -> impl Iterator<Item = (&TagKey, &TagValue)> + '_ {
        self.as_slice().iter().map(|(k, v)| (k, v))
    }

    /// A number that identifies this map's contents for as long as this
    /// map or a clone of it lives: clones share it. A map changed by any
    /// method gets a new number if a clone shares its entries; if none
    /// does, it may keep the number, and then nothing holds the old
    /// contents under it any more. Every empty map has 0.
    ///
    /// For caches keyed by map, like the record path's: a cache that keeps
    /// a clone of the map it stores keeps the number from being reused, so
    /// an equal number then means equal contents, without comparing them.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::{TagKey, TagMap};
    /// let k = TagKey::new("k")?;
    /// let a = TagMap::new().with(&k, "1")?;
    /// let kept = a.clone();
    /// assert_eq!(kept.address(), a.address());
    /// let b = a.with(&k, "2")?; // `kept` shares the old contents: copied
    /// assert_ne!(b.address(), kept.address());
    /// assert_eq!(TagMap::new().address(), 0);
    /// assert_eq!(kept.without(&k).address(), 0);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn address(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| Arc::as_ptr(e) as usize)
    }

    #[inline]
    fn as_slice(&self) -> &[(TagKey, TagValue)] {
        self.entries.as_deref().map_or(&[], Vec::as_slice)
    }

    fn position(&self, key: &TagKey) -> Result<usize, usize> {
        self.as_slice()
            .binary_search_by(|(k, _)| k.name().cmp(key.name()))
    }
}

fn value_for(key: &TagKey, value: impl Into<String>) -> Result<TagValue, Error> {
    TagValue::new(value).map_err(|err| match err {
        Error::InvalidTagValue { value, reason, .. } => Error::InvalidTagValue {
            key: Some(key.name().to_owned()),
            value,
            reason,
        },
        other => other,
    })
}

impl fmt::Debug for TagMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for TagMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;

    fn key(name: &str) -> TagKey {
        TagKey::new(name).expect("valid test key")
    }

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
    fn value_rules_are_enforced_and_name_the_key() {
        let k = key("path");
        assert!(TagMap::new().with(&k, "").is_ok());
        assert!(TagMap::new().with(&k, "a b c").is_ok());
        assert!(TagMap::new().with(&k, "v".repeat(255)).is_ok());
        let err = TagMap::new().with(&k, "line\nbreak").unwrap_err();
        assert_eq!(
            err,
            Error::InvalidTagValue {
                key: Some("path".into()),
                value: "line\nbreak".into(),
                reason: InvalidReason::BadChar { ch: '\n', index: 4 }
            }
        );
        assert!(err.to_string().contains("\"path\""));
        assert!(matches!(
            TagMap::new().with(&k, "v".repeat(256)),
            Err(Error::InvalidTagValue {
                reason: InvalidReason::TooLong { len: 256 },
                ..
            })
        ));
    }

    #[test]
    fn map_holds_one_value_per_key_whatever_the_order() -> Result<(), Error> {
        let (a, b) = (key("a"), key("b"));
        let ab = TagMap::new().with(&a, "1")?.with(&b, "2")?;
        let ba = TagMap::new().with(&b, "2")?.with(&a, "1")?;
        assert_eq!(ab, ba);
        let replaced = ab.clone().with(&a, "9")?;
        assert_eq!(replaced.len(), 2);
        assert_eq!(replaced.get(&a).map(TagValue::as_str), Some("9"));
        // A key made separately from the same name finds the value too.
        assert_eq!(ab.get(&key("b")).map(TagValue::as_str), Some("2"));
        Ok(())
    }

    #[test]
    fn insert_update_and_without_follow_their_rules() -> Result<(), Error> {
        let (a, b) = (key("a"), key("b"));
        let m = TagMap::new().insert(&a, "1")?.insert(&a, "2")?;
        assert_eq!(m.get(&a).map(TagValue::as_str), Some("1"));
        let m = m.update(&a, "3")?.update(&b, "4")?;
        assert_eq!(m.get(&a).map(TagValue::as_str), Some("3"));
        assert_eq!(m.get(&b), None);
        let m = m.without(&a).without(&b);
        assert!(m.is_empty());
        Ok(())
    }
}
