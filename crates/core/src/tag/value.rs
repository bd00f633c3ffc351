//! TagValue: the value of one tag, kept inline when short.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::name::{check_value, MAX_LEN};

/// Values up to this many bytes live inside the `TagValue` itself: method
/// names, status codes, route templates and most identifiers do, so a map
/// built per request from them touches no heap.
const INLINE: usize = 23;

/// The value of one tag, such as `GET`.
///
/// Values are 0 to 255 bytes of printable ASCII (`' '` to `'~'`). A value
/// of up to 23 bytes is kept inside the `TagValue` (no allocation), a
/// longer one in one shared heap copy; a value made by
/// [`from_static`](TagValue::from_static) borrows its literal.
///
/// Values may be empty; an empty value is a value, distinct from a tag that
/// was not recorded at all (a `None` in [`Row::tags`](crate::Row::tags)).
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::TagValue;
/// let v = TagValue::new("GET /index.html")?;
/// assert_eq!(v.as_str(), "GET /index.html");
/// assert!(TagValue::new("").is_ok());
/// const GET: TagValue = TagValue::from_static("GET");
/// assert_eq!(GET, TagValue::new(String::from("GET"))?);
/// assert_eq!(TagValue::new_lossy("caf\u{e9}\n").as_str(), "caf__");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TagValue(Repr);

// 24 bytes, an `Option<TagValue>` too: `Len` leaves 232 of its byte's
// values unused, and the compiler keeps the other variants' tags there.
enum Repr {
    Inline(Inline),
    Static(&'static str),
    Shared(Arc<str>),
}

/// A short value in place: its text zero-padded to 23 bytes, then its
/// length. Laid out by hand (text first, on an 8-byte boundary) so that it
/// is written and read as three aligned words: with the text at an odd
/// offset, the compiler wrote it in odd-sized pieces and read it back in
/// words, and every such read waited for the writes to drain (a store-
/// forwarding stall, about 40 ns per value built, measured with three
/// values per call).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
struct Inline {
    bytes: [u8; INLINE],
    len: Len,
}

/// The length of an inline value: 0 to 23, a type of its own so that the
/// byte holding it has room for the enum's tag.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Len {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    L16,
    L17,
    L18,
    L19,
    L20,
    L21,
    L22,
    L23,
}

impl Len {
    const ALL: [Len; INLINE + 1] = [
        Len::L0,
        Len::L1,
        Len::L2,
        Len::L3,
        Len::L4,
        Len::L5,
        Len::L6,
        Len::L7,
        Len::L8,
        Len::L9,
        Len::L10,
        Len::L11,
        Len::L12,
        Len::L13,
        Len::L14,
        Len::L15,
        Len::L16,
        Len::L17,
        Len::L18,
        Len::L19,
        Len::L20,
        Len::L21,
        Len::L22,
        Len::L23,
    ];
}

impl TagValue {
    /// Makes a tag value from any text: `&str`, `String`, `&String`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTagValue`] unless the value is 0 to 255 bytes of
    /// printable ASCII (`' '` to `'~'`).
    #[inline]
    pub fn new(value: impl AsRef<str>) -> Result<TagValue, Error> {
        let value = value.as_ref();
        if is_valid(value) {
            Ok(TagValue::from_valid(value))
        } else {
            Err(invalid(value))
        }
    }

    /// A value from a literal known valid when the program is written, such
    /// as a method name: no check at run time beyond a `const` one, no
    /// allocation, no error to handle. Use it in a `const` to have the
    /// compiler check the literal.
    ///
    /// ```
    /// use census_core::TagValue;
    /// const OK: TagValue = TagValue::from_static("200");
    /// assert_eq!(OK.as_str(), "200");
    /// ```
    ///
    /// # Panics
    ///
    /// If `value` is longer than 255 bytes or holds a character outside
    /// `' '` to `'~'`: at compile time in a `const`, else when called.
    pub const fn from_static(value: &'static str) -> TagValue {
        let bytes = value.as_bytes();
        assert!(
            bytes.len() <= MAX_LEN,
            "TagValue::from_static: a tag value is at most 255 bytes"
        );
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            assert!(
                b >= b' ' && b <= b'~',
                "TagValue::from_static: a tag value is printable ASCII, ' ' to '~'"
            );
            i += 1;
        }
        TagValue(Repr::Static(value))
    }

    /// A value from request data that may break the rules, made valid
    /// rather than refused: every character outside `' '` to `'~'` becomes
    /// one `_`, and the result is cut to 255 bytes. A valid value comes
    /// back unchanged. Never allocates for results of up to 23 bytes.
    ///
    /// ```
    /// use census_core::TagValue;
    /// assert_eq!(TagValue::new_lossy("/caf\u{e9}/\t").as_str(), "/caf_/_");
    /// assert_eq!(TagValue::new_lossy("x".repeat(300)).as_str().len(), 255);
    /// ```
    pub fn new_lossy(value: impl AsRef<str>) -> TagValue {
        let value = value.as_ref();
        if is_valid(value) {
            return TagValue::from_valid(value);
        }
        let mut buf = [0u8; MAX_LEN];
        let mut len = 0;
        for (slot, ch) in buf.iter_mut().zip(value.chars()) {
            *slot = if (' '..='~').contains(&ch) {
                ch as u8
            } else {
                b'_'
            };
            len += 1;
        }
        // Every byte written is printable ASCII, so this is valid UTF-8.
        let text = buf
            .get(..len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        TagValue::from_valid(text)
    }

    /// A value from text already checked: inline when it fits.
    #[inline(always)]
    pub(crate) fn from_valid(value: &str) -> TagValue {
        match Len::ALL.get(value.len()) {
            Some(&len) => TagValue(Repr::Inline(Inline::new(value.as_bytes(), len))),
            None => TagValue(Repr::Shared(Arc::from(value))),
        }
    }

    /// The value as text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Inline bytes were copied from a valid `&str` of printable
            // ASCII, so they always decode; the check is a short ASCII scan.
            Repr::Inline(_) => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// The value's bytes (printable ASCII), without decoding: what hashing
    /// and comparing values reads.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.bytes.get(..inline.len as usize).unwrap_or_default(),
            Repr::Static(s) => s.as_bytes(),
            Repr::Shared(s) => s.as_bytes(),
        }
    }

    /// Whether two values are equal: the same as `==`.
    #[inline]
    pub fn same_as(&self, other: &TagValue) -> bool {
        self == other
    }

    /// Feeds `state` exactly what hashing a `TagValue` of `text` feeds it,
    /// without making the value: a table of `TagValue`s can be probed with
    /// borrowed text, valid or not, and no copy of it.
    ///
    /// ```
    /// use std::hash::{BuildHasher, Hash, RandomState};
    /// use census_core::TagValue;
    /// let state = RandomState::new();
    /// let mut made = state.build_hasher();
    /// TagValue::from_static("GET").hash(&mut made);
    /// let mut text = state.build_hasher();
    /// TagValue::hash_text("GET", &mut text);
    /// use std::hash::Hasher;
    /// assert_eq!(made.finish(), text.finish());
    /// ```
    #[inline]
    pub fn hash_text<H: Hasher>(text: &str, state: &mut H) {
        let text = text.as_bytes();
        if text.len() <= INLINE {
            hash_words(state, text.len(), short_words(text));
        } else {
            state.write(text);
            state.write_usize(text.len());
        }
    }
}

/// Written by hand for inline values, which the derived copy moved as 16
/// bytes, then 7 in two overlapping pieces through the stack, then the
/// length: reading back those pieces stalled twice per value (about half
/// the time of copying a row's tags in a snapshot, by `perf`). Copied as
/// three words, it stores each once.
impl Clone for Repr {
    #[inline]
    fn clone(&self) -> Repr {
        match self {
            Repr::Inline(inline) => Repr::Inline(Inline::from_words(inline.words(), inline.len)),
            Repr::Static(s) => Repr::Static(s),
            Repr::Shared(s) => Repr::Shared(Arc::clone(s)),
        }
    }
}

impl Inline {
    /// The value's text, zero-padded, as the little-endian words of its
    /// bytes 0..8, 8..16 and 15..23: three plain loads (the last overlaps
    /// the second by a byte, so that none reads the length), which hashing,
    /// comparing and cloning all read.
    #[inline(always)]
    fn words(&self) -> [u64; 3] {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            if let Some(src) = self.bytes.get(at..at + 8) {
                w.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        [word(0), word(8), word(15)]
    }

    /// The inline value whose text `words` hold (see [`Inline::words`]).
    #[inline(always)]
    fn from_words(words: [u64; 3], len: Len) -> Inline {
        let [a, b, c] = words.map(u64::to_le_bytes);
        Inline {
            bytes: [
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5],
                b[6], b[7], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ],
            len,
        }
    }

    /// `text` (at most 23 bytes) zero-padded, built as three words in
    /// registers and stored whole.
    #[inline(always)]
    fn new(text: &[u8], len: Len) -> Inline {
        Inline::from_words(short_words(text), len)
    }
}

/// The words [`Inline::words`] reads from an inline value of `text`,
/// built in registers from text of at most `INLINE` bytes (callers
/// check): a few overlapping loads and shifts. Copying the text into a
/// padded buffer and reading that back as words would wait on the copy's
/// stores (and a copy of variable length calls `memcpy`).
#[inline(always)]
fn short_words(text: &[u8]) -> [u64; 3] {
    // Little-endian loads of N bytes at `at`, zero-extended (0 if out of
    // range, which the length checks below rule out).
    fn load<const N: usize>(text: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        if let (Some(d), Some(s)) = (w.get_mut(..N), text.get(at..at + N)) {
            d.copy_from_slice(s);
        }
        u64::from_le_bytes(w)
    }
    let n = text.len();
    // Bytes 0..8: two overlapping loads agree on the bytes they share.
    let first = match n {
        0 => 0,
        1 => load::<1>(text, 0),
        2..=3 => load::<2>(text, 0) | load::<2>(text, n - 2) << (8 * (n - 2)),
        4..=7 => load::<4>(text, 0) | load::<4>(text, n - 4) << (8 * (n - 4)),
        _ => load::<8>(text, 0),
    };
    // Bytes 8..16: the last eight bytes, shifted down past the ones before 8.
    let second = match n {
        0..=8 => 0,
        9..=15 => load::<8>(text, n - 8) >> (8 * (16 - n)),
        _ => load::<8>(text, 8),
    };
    // Bytes 15..23: the last eight bytes, shifted down past the ones
    // before 15.
    let third = match n {
        0..=15 => 0,
        _ => load::<8>(text, n - 8) >> (8 * INLINE.saturating_sub(n)),
    };
    [first, second, third]
}

/// The value rule, checked byte by byte: a loop the compiler vectorises,
/// where `check_value` decodes characters to say which one is wrong.
#[inline]
pub(crate) fn is_valid(value: &str) -> bool {
    value.len() <= MAX_LEN && value.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// The error for a value that broke the rule.
#[cold]
#[inline(never)]
pub(crate) fn invalid(value: &str) -> Error {
    Error::InvalidTagValue {
        key: None,
        value: value.to_owned(),
        reason: match check_value(value) {
            Err(reason) => reason,
            // Unreachable: `is_valid` and `check_value` state one rule.
            Ok(()) => crate::error::InvalidReason::TooLong { len: value.len() },
        },
    }
}

impl PartialEq for TagValue {
    #[inline]
    fn eq(&self, other: &TagValue) -> bool {
        match (&self.0, &other.0) {
            // The usual case on the record path: two short values, compared
            // as whole arrays (zeroed past their ends) without a memcmp call.
            (Repr::Inline(a), Repr::Inline(b)) => a == b,
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for TagValue {}

/// A value equals the text it holds: `value == "GET"`. For a short value
/// the text is compared as the words it hashes as, without a `memcmp`
/// call: the record path compares borrowed tags to stored values this way.
/// A value does not hash as a `str` does (nor implement `Borrow<str>`), so
/// a `HashMap<TagValue, _>` cannot be looked up by text; a table of your
/// own can, hashing the text with [`TagValue::hash_text`].
impl PartialEq<str> for TagValue {
    #[inline]
    fn eq(&self, text: &str) -> bool {
        match &self.0 {
            Repr::Inline(inline) => {
                // Word by word in registers: comparing the arrays, the
                // compiler stored the text's words and read them back as
                // one 16-byte load, which waited on both stores.
                if inline.len as usize != text.len() {
                    return false;
                }
                let [a0, a1, a2] = inline.words();
                let [b0, b1, b2] = short_words(text.as_bytes());
                ((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2)) == 0
            }
            _ => self.as_bytes() == text.as_bytes(),
        }
    }
}

impl PartialEq<&str> for TagValue {
    #[inline]
    fn eq(&self, text: &&str) -> bool {
        *self == **text
    }
}

impl PartialEq<String> for TagValue {
    #[inline]
    fn eq(&self, text: &String) -> bool {
        *self == *text.as_str()
    }
}

impl PartialEq<TagValue> for String {
    #[inline]
    fn eq(&self, value: &TagValue) -> bool {
        *value == *self.as_str()
    }
}

impl PartialEq<TagValue> for str {
    #[inline]
    fn eq(&self, value: &TagValue) -> bool {
        *value == *self
    }
}

impl PartialEq<TagValue> for &str {
    #[inline]
    fn eq(&self, value: &TagValue) -> bool {
        *value == **self
    }
}

impl Hash for TagValue {
    /// Consistent with Eq (equal text, equal hash, however each value is
    /// kept), and cheap for short values, which hash as one to three
    /// 64-bit words with the length mixed in: the record path hashes every
    /// value of every record, and the words cost a third of a byte hash.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Inline(inline) => hash_words(state, inline.len as usize, inline.words()),
            _ => TagValue::hash_text(self.as_str(), state),
        }
    }
}

/// Hashes a short value as the words that hold its bytes zero-padded to
/// `INLINE` (see [`Inline::words`]). The length goes into the first word's
/// top byte, where it cannot be mistaken for valid text: its bytes are at
/// least `' '` (0x20), lengths at most 23. (Invalid text given to
/// `hash_text` may collide so; equality tells them apart.)
#[inline(always)]
fn hash_words<H: Hasher>(state: &mut H, len: usize, words: [u64; 3]) {
    let [first, second, third] = words;
    state.write_u64(first ^ ((len as u64) << 56));
    if len > 8 {
        state.write_u64(second);
    }
    if len > 16 {
        state.write_u64(third);
    }
}

impl PartialOrd for TagValue {
    fn partial_cmp(&self, other: &TagValue) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagValue {
    fn cmp(&self, other: &TagValue) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TagValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;

    impl Repr {
        fn kind(&self) -> &'static str {
            match self {
                Repr::Inline(_) => "inline",
                Repr::Static(_) => "static",
                Repr::Shared(_) => "shared",
            }
        }
    }

    fn hash(v: &TagValue) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn short_values_stay_inline_and_long_ones_are_shared() -> Result<(), Error> {
        let short = TagValue::new("x".repeat(23))?;
        assert!(matches!(
            short.0,
            Repr::Inline(Inline { len: Len::L23, .. })
        ));
        let long = TagValue::new("x".repeat(24))?;
        assert!(matches!(long.0, Repr::Shared(_)));
        assert_eq!(long.as_str(), "x".repeat(24));
        assert!(matches!(TagValue::from_static("GET").0, Repr::Static(_)));
        // One value, whichever way it was made, with one hash.
        assert_eq!(TagValue::new("GET")?, TagValue::from_static("GET"));
        let text = "a value of twenty chars";
        for n in [0, 1, 8, 9, 16, 17, 23] {
            let leaked: &'static str = Box::leak(text[..n].to_owned().into_boxed_str());
            let (a, b) = (TagValue::new(leaked)?, TagValue::from_static(leaked));
            assert_eq!(hash(&a), hash(&b), "{n} bytes");
        }
        assert_ne!(hash(&TagValue::new("ab")?), hash(&TagValue::new("ab ")?));
        assert_eq!(std::mem::size_of::<TagValue>(), 24);
        assert_eq!(std::mem::size_of::<Option<TagValue>>(), 24);
        Ok(())
    }

    #[test]
    fn every_short_length_copies_exactly() -> Result<(), Error> {
        let text: String = ('a'..='z').collect();
        for n in 0..=INLINE {
            let v = TagValue::new(&text[..n])?;
            assert_eq!(v.as_str(), &text[..n]);
            // A clone copies the text as words: every byte and the length.
            let copy = v.clone();
            assert_eq!(copy.as_str(), &text[..n]);
            assert!(copy == v && hash(&copy) == hash(&v), "{n}");
            let Repr::Inline(Inline { bytes, .. }) = copy.0 else {
                panic!("{n} bytes not inline");
            };
            assert!(bytes[n..].iter().all(|&b| b == 0), "{n}: {bytes:?}");
        }
        Ok(())
    }

    #[test]
    fn hash_text_and_eq_text_agree_with_the_value_at_every_length() -> Result<(), Error> {
        let text: String = ('a'..='z').chain('A'..='Z').collect();
        for n in 0..=text.len() {
            let t = &text[..n];
            let leaked: &'static str = Box::leak(t.to_owned().into_boxed_str());
            let of_text = |t: &str| {
                let mut h = std::hash::DefaultHasher::new();
                TagValue::hash_text(t, &mut h);
                h.finish()
            };
            let values = [TagValue::new(t)?, TagValue::from_static(leaked)];
            for v in &values {
                assert_eq!(hash(v), of_text(t), "{n} bytes, {:?}", v.0.kind());
                assert!(*v == *t && *v == t, "{n} bytes, {:?}", v.0.kind());
                assert!(*t == *v && t == *v, "{n} bytes, {:?}", v.0.kind());
                let owned: String = t.to_owned();
                assert!(*v == owned, "{n} bytes");
                assert!(owned == *v, "{n} bytes");
            }
            // Every byte counts: the words drop none of them.
            for at in 0..n {
                let mut other = t.to_owned().into_bytes();
                other[at] = b'~';
                let other = String::from_utf8(other).unwrap_or_default();
                assert_ne!(of_text(&other), of_text(t), "{n} bytes, byte {at}");
                assert_ne!(hash(&TagValue::new(&other)?), hash(&values[0]));
                for v in &values {
                    assert!(*v != *other, "{n} bytes, byte {at}, {:?}", v.0.kind());
                    assert!(*v != other, "{n} bytes, byte {at}");
                    assert!(other != *v, "{n} bytes, byte {at}");
                }
            }
            // Nor does the length: a prefix or a longer text differs.
            for v in &values {
                assert!(*v != text[..n.saturating_sub(1)] || n == 0);
                assert!(n == text.len() || *v != text[..n + 1]);
            }
        }
        Ok(())
    }

    #[test]
    fn text_that_breaks_the_rule_hashes_and_never_equals_its_cleaned_value() {
        let bad = [
            "\0".to_owned(),
            "abcdefg\u{f}".to_owned(),
            "caf\u{e9}".to_owned(),
            "\u{1F600}".repeat(6),
            format!("{}\n", "y".repeat(22)),
            "z".repeat(256),
            "z".repeat(400),
        ];
        for text in &bad {
            let mut h = std::hash::DefaultHasher::new();
            TagValue::hash_text(text, &mut h);
            let cleaned = TagValue::new_lossy(text);
            assert!(
                cleaned != *text.as_str() && *text.as_str() != cleaned,
                "{text:?}"
            );
        }
    }

    #[test]
    fn new_refuses_what_check_value_refuses_with_the_same_reason() {
        for bad in ["line\nbreak", "caf\u{e9}", "\u{7f}"] {
            match TagValue::new(bad) {
                Err(Error::InvalidTagValue { value, reason, .. }) => {
                    assert_eq!(value, bad);
                    assert_eq!(Err(reason), check_value(bad));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(matches!(
            TagValue::new("v".repeat(256)),
            Err(Error::InvalidTagValue {
                reason: InvalidReason::TooLong { len: 256 },
                ..
            })
        ));
        assert!(TagValue::new("v".repeat(255)).is_ok());
    }

    #[test]
    fn lossy_replaces_each_bad_character_once_and_cuts_at_255() {
        assert_eq!(TagValue::new_lossy("ok value").as_str(), "ok value");
        assert_eq!(TagValue::new_lossy("a\u{1F600}b\n").as_str(), "a_b_");
        assert_eq!(
            TagValue::new_lossy("\u{e9}".repeat(300)).as_str(),
            "_".repeat(255)
        );
        let cut = TagValue::new_lossy(format!("{}\n", "y".repeat(400)));
        assert_eq!(cut.as_str(), "y".repeat(255));
        assert!(TagValue::new(cut.as_str()).is_ok());
    }

    #[test]
    #[should_panic(expected = "printable ASCII")]
    fn from_static_refuses_a_bad_literal() {
        let _ = TagValue::from_static("tab\there");
    }
}
