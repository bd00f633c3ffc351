//! TagMap: the tags one measurement is recorded under.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Serialize, Serializer};

use super::value::{invalid, is_valid};
use super::{TagKey, TagValue};
use crate::error::Error;

/// A set of tags, at most one value per key, that measurements are recorded
/// under.
///
/// Build one per request, or once for good, and pass it by reference to
/// `record`. A map of up to three tags whose values are up to 23 bytes long
/// does not touch the heap, and adding a tag copies the key's pointer, so
/// building maps from shared keys on many threads at once costs no
/// contention: building one per request is the intended use. Keeping a map
/// you record with often saves the building, nothing more.
///
/// Methods take the map and return it changed, so a chain of `with` calls
/// reads as one expression; a clone copies the tags. The order keys are
/// added in does not matter to equality or to recording.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{TagKey, TagMap, TagValue};
/// let method = TagKey::new("method")?;
/// let status = TagKey::new("status")?;
/// let tags = TagMap::new().with(&method, "GET")?.with(&status, "200")?;
/// assert_eq!(tags.get(&method).map(|v| v.as_str()), Some("GET"));
/// // No error branch for values known valid, or for request data taken as is:
/// let same = TagMap::new()
///     .with_value(&status, TagValue::from_static("200"))
///     .with_value(&method, TagValue::new_lossy("GET"));
/// assert_eq!(same, tags);
/// let tags = tags.without(&status);
/// assert_eq!(tags.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct TagMap {
    entries: Entries,
}

/// One tag.
type Entry = (TagKey, TagValue);

/// Tags a map holds in place: the usual handful (method, route, status).
const INLINE_TAGS: usize = 3;

/// A map's tags, in the order keys were first set: maps are small, so a
/// linear scan comparing key pointers beats any ordering or hashing.
//
// 104 bytes, and so is a `Result<TagMap, Error>`: `Count` leaves room in
// its word for both enums' tags, so `Ok(map)` needs no tag of its own,
// where a separate tag made every step of a `with` chain copy the map
// once more (callgrind: about 100 instructions per map of three tags).
#[derive(Clone)]
enum Entries {
    /// Up to three tags in place, filled from the front.
    Inline(Count, [Option<Entry>; INLINE_TAGS]),
    /// Four tags or more.
    Heap(Vec<Entry>),
}

/// How many slots of an inline map are filled.
///
/// A whole word, though a byte would hold it: its unused values are the
/// tags of `Entries` and of `Result<TagMap, Error>`, and with a one-byte
/// tag the compiler copied the rest of a map as 103 bytes from offset 1,
/// in 16-byte loads that each straddled two of the stores that had just
/// built the map: every step of a `with` chain waited for those stores to
/// drain (perf on the A2 bench: a third of building a map). With the tag a
/// word, the copies are aligned: A2's loop runs in three quarters of the
/// time (with `with` always inlined; either change alone gains little).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Count {
    Zero,
    One,
    Two,
    Three,
}

impl Count {
    fn of(n: usize) -> Count {
        match n {
            0 => Count::Zero,
            1 => Count::One,
            2 => Count::Two,
            _ => Count::Three,
        }
    }
}

impl Default for Entries {
    fn default() -> Entries {
        Entries::Inline(Count::Zero, [None, None, None])
    }
}

impl TagMap {
    /// An empty map. A `const fn`, so that a map can start a `static` or
    /// a thread-local without a lazy initialiser.
    #[inline]
    pub const fn new() -> TagMap {
        TagMap {
            entries: Entries::Inline(Count::Zero, [None, None, None]),
        }
    }

    /// Sets `key` to `value` (any text: `&str`, `String`, `&String`),
    /// replacing any value the key had.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] (naming the key) unless the value is 0 to
    /// 255 bytes of printable ASCII.
    // Always inlined, so a chain of `with` calls in a request handler
    // builds its map in the handler's frame (see `Count`).
    #[inline(always)]
    pub fn with(mut self, key: &TagKey, value: impl AsRef<str>) -> Result<TagMap, Error> {
        let value = value.as_ref();
        if !is_valid(value) {
            return Err(with_key(key, invalid(value)));
        }
        self.set(key, TagValue::from_valid(value));
        Ok(self)
    }

    /// Sets `key` to an already made `value`, replacing any value the key
    /// had. Cannot fail.
    #[inline(always)]
    pub fn with_value(mut self, key: &TagKey, value: TagValue) -> TagMap {
        self.set(key, value);
        self
    }

    /// Sets `key` to `value` in place: the chain methods wrap it, so each
    /// step of a chain changes one map instead of copying it.
    #[inline(always)]
    fn set(&mut self, key: &TagKey, value: TagValue) {
        if let Entries::Inline(count, slots) = &mut self.entries {
            // Unrolled by the compiler: `i` is a constant in each copy.
            for (i, slot) in slots.iter_mut().enumerate() {
                match slot {
                    Some((k, v)) if k == key => {
                        *v = value;
                        return;
                    }
                    Some(_) => {}
                    None => {
                        *slot = Some((key.clone(), value));
                        *count = Count::of(i + 1);
                        return;
                    }
                }
            }
        }
        self.set_on_heap(key, value);
    }

    /// [`set`](TagMap::set) for a map past its inline tags.
    #[cold]
    #[inline(never)]
    fn set_on_heap(&mut self, key: &TagKey, value: TagValue) {
        let mut entries = match std::mem::take(&mut self.entries) {
            Entries::Heap(entries) => entries,
            Entries::Inline(_, slots) => slots.into_iter().flatten().collect(),
        };
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key.clone(), value)),
        }
        self.entries = Entries::Heap(entries);
    }

    /// Sets `key` to `value` only if the key has no value yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] as for [`TagMap::with`].
    pub fn insert(mut self, key: &TagKey, value: impl AsRef<str>) -> Result<TagMap, Error> {
        let value = TagValue::new(value).map_err(|e| with_key(key, e))?;
        if self.get(key).is_none() {
            self.set(key, value);
        }
        Ok(self)
    }

    /// Replaces the value of `key` only if the key already has one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] as for [`TagMap::with`].
    pub fn update(mut self, key: &TagKey, value: impl AsRef<str>) -> Result<TagMap, Error> {
        let value = TagValue::new(value).map_err(|e| with_key(key, e))?;
        if self.get(key).is_some() {
            self.set(key, value);
        }
        Ok(self)
    }

    /// Removes `key` and its value, if present.
    pub fn without(self, key: &TagKey) -> TagMap {
        if self.get(key).is_none() {
            return self;
        }
        self.pairs()
            .filter(|(k, _)| k != key)
            .fold(TagMap::new(), |map, (k, v)| map.with_value(k, v.clone()))
    }

    /// [`without`](TagMap::without) under OpenCensus' name for it, the
    /// delete of its insert, update and delete.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// use census_core::{TagKey, TagMap};
    /// let method = TagKey::new("method")?;
    /// let tags = TagMap::new().with(&method, "GET")?.delete(&method);
    /// assert!(tags.get(&method).is_none());
    /// # Ok(()) }
    /// ```
    pub fn delete(self, key: &TagKey) -> TagMap {
        self.without(key)
    }

    /// The value of `key`, if the map has one.
    #[inline]
    pub fn get(&self, key: &TagKey) -> Option<&TagValue> {
        match &self.entries {
            Entries::Inline(_, slots) => {
                for slot in slots {
                    match slot {
                        Some((k, v)) if k == key => return Some(v),
                        Some(_) => {}
                        // Slots fill from the front: the rest are empty.
                        None => return None,
                    }
                }
                None
            }
            Entries::Heap(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        }
    }

    /// The number of tags.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.entries {
            Entries::Inline(count, _) => *count as usize,
            Entries::Heap(entries) => entries.len(),
        }
    }

    /// Whether the map has no tags.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tags, in the order their keys were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&TagKey, &TagValue)> + '_ {
        self.pairs().map(|(k, v)| (k, v))
    }

    #[inline]
    fn pairs(&self) -> impl Iterator<Item = &Entry> + '_ {
        let (slots, heap): (&[Option<Entry>], &[Entry]) = match &self.entries {
            Entries::Inline(_, slots) => (slots, &[]),
            Entries::Heap(entries) => (&[], entries),
        };
        slots.iter().flatten().chain(heap)
    }
}

/// Names the key in a value's error.
fn with_key(key: &TagKey, err: Error) -> Error {
    match err {
        Error::InvalidTagValue { value, reason, .. } => Error::InvalidTagValue {
            key: Some(key.name().to_owned()),
            value,
            reason,
        },
        other => other,
    }
}

impl PartialEq for TagMap {
    fn eq(&self, other: &TagMap) -> bool {
        // One value per key, so equal lengths and every tag found in the
        // other map mean the same tags, whatever order they were set in.
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for TagMap {}

impl Hash for TagMap {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with Eq, which ignores order: the tags sorted by key.
        let mut sorted: Vec<&Entry> = self.pairs().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.hash(state);
    }
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

    // The layout `Count` explains: its tag is a whole word (a byte gives the
    // same sizes and offsets, but the copies between `with` steps stall),
    // and a map and a `Result` of one stay 104 bytes, the tag in the count.
    #[test]
    fn the_count_is_a_word_and_a_map_and_its_result_stay_104_bytes() {
        assert_eq!(std::mem::size_of::<Count>(), 8);
        assert_eq!(std::mem::size_of::<TagMap>(), 104);
        assert_eq!(std::mem::size_of::<Result<TagMap, Error>>(), 104);
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
        let hash = |m: &TagMap| {
            let mut h = std::hash::DefaultHasher::new();
            m.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&ab), hash(&ba));
        assert_ne!(ab, TagMap::new().with(&a, "1")?.with(&b, "3")?);
        let replaced = ab.clone().with(&a, "9")?;
        assert_eq!(replaced.len(), 2);
        assert_eq!(replaced.get(&a).map(TagValue::as_str), Some("9"));
        // A key made again from the same name is the same key.
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
        assert_eq!(m, TagMap::new());
        Ok(())
    }

    #[test]
    fn maps_past_the_inline_tags_keep_every_tag() -> Result<(), Error> {
        let keys: Vec<TagKey> = (0..9).map(|i| key(&format!("k{i}"))).collect();
        let mut m = TagMap::new();
        for (i, k) in keys.iter().enumerate() {
            m = m.with(k, i.to_string())?;
        }
        assert_eq!(m.len(), 9);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k).map(TagValue::as_str), Some(i.to_string().as_str()));
        }
        Ok(())
    }
}
