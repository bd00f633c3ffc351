//! Request methods as tag values: the nine known ones by name, any other
//! as `_OTHER`, so a client inventing methods cannot add rows.

use http::Method;

use crate::views::OTHER_METHOD;

/// The known methods, in the order of their indexes; `_OTHER` comes last.
const KNOWN: [(Method, &str); 9] = [
    (Method::GET, "GET"),
    (Method::POST, "POST"),
    (Method::PUT, "PUT"),
    (Method::DELETE, "DELETE"),
    (Method::HEAD, "HEAD"),
    (Method::OPTIONS, "OPTIONS"),
    (Method::PATCH, "PATCH"),
    (Method::CONNECT, "CONNECT"),
    (Method::TRACE, "TRACE"),
];

/// A method reduced to what the views record: a small index that a
/// request's future carries instead of the `Method` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MethodIndex(u8);

impl MethodIndex {
    /// The index of `method`. Known methods compare as enum tags, so the
    /// scan touches no text.
    #[inline]
    pub(crate) fn of(method: &Method) -> MethodIndex {
        let at = KNOWN.iter().position(|(known, _)| known == method);
        // At most nine, so the index fits a byte.
        MethodIndex(at.map_or(KNOWN.len(), |i| i) as u8)
    }

    /// The tag value text: the method's name, or `_OTHER`.
    pub(crate) fn as_str(self) -> &'static str {
        KNOWN
            .get(usize::from(self.0))
            .map_or(OTHER_METHOD, |(_, name)| name)
    }

    /// The method at `index`, as [`get`](MethodIndex::get) gave it; out of
    /// range is `_OTHER`.
    pub(crate) fn from_index(index: u8) -> MethodIndex {
        MethodIndex(index.min(KNOWN.len() as u8))
    }

    /// Whether the method is HEAD, whose responses carry no body.
    pub(crate) fn is_head(self) -> bool {
        self == MethodIndex::of(&Method::HEAD)
    }

    /// The index as a number, for cache keys.
    pub(crate) fn get(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_keep_their_names_and_others_fold() -> Result<(), http::method::InvalidMethod> {
        for (method, name) in &KNOWN {
            assert_eq!(MethodIndex::of(method).as_str(), *name);
        }
        for other in ["BREW", "PROPFIND", "get"] {
            let method = Method::from_bytes(other.as_bytes())?;
            assert_eq!(MethodIndex::of(&method).as_str(), "_OTHER", "{other}");
        }
        Ok(())
    }
}
