//! The character rules shared by measure names, view names and tag keys,
//! and the looser rule for tag values.

use crate::error::InvalidReason;

/// The longest name or tag value, in bytes. Long enough for any sane name,
/// short enough that a hostile value cannot make rows expensive.
pub(crate) const MAX_LEN: usize = 255;

/// Checks a name: measure, view or tag key.
///
/// Names are 1..=255 bytes of printable ASCII without the space
/// (`'!'..='~'`). The space is refused because names become metric and
/// label names in every exporter's output, where a space has no safe
/// spelling.
pub(crate) fn check_name(name: &str) -> Result<(), InvalidReason> {
    if name.is_empty() {
        return Err(InvalidReason::Empty);
    }
    check_chars(name, '!')
}

/// Checks a tag value: 0..=255 bytes of printable ASCII, space included.
pub(crate) fn check_value(value: &str) -> Result<(), InvalidReason> {
    check_chars(value, ' ')
}

fn check_chars(text: &str, lowest: char) -> Result<(), InvalidReason> {
    // Characters are looked at before the length, so a long text with a bad
    // character among its first 256 reports the character, the more useful
    // complaint; no further, so a hostile megabyte is refused at once.
    if let Some((index, ch)) = text
        .char_indices()
        .take(MAX_LEN + 1)
        .find(|&(_, ch)| ch < lowest || ch > '~')
    {
        return Err(InvalidReason::BadChar { ch, index });
    }
    if text.len() > MAX_LEN {
        return Err(InvalidReason::TooLong { len: text.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_exactly_visible_ascii() {
        for b in 0u8..=255 {
            let ch = b as char;
            let ok = ('!'..='~').contains(&ch);
            assert_eq!(check_name(&ch.to_string()).is_ok(), ok, "byte {b}");
        }
        assert_eq!(check_name(""), Err(InvalidReason::Empty));
        assert_eq!(
            check_name("a b"),
            Err(InvalidReason::BadChar { ch: ' ', index: 1 })
        );
        assert!(check_name(&"x".repeat(255)).is_ok());
        assert_eq!(
            check_name(&"x".repeat(256)),
            Err(InvalidReason::TooLong { len: 256 })
        );
    }

    #[test]
    fn values_accept_printable_ascii_and_empty() {
        for b in 0u8..=255 {
            let ch = b as char;
            let ok = (' '..='~').contains(&ch);
            assert_eq!(check_value(&ch.to_string()).is_ok(), ok, "byte {b}");
        }
        assert!(check_value("").is_ok());
        assert!(check_value("GET /index.html").is_ok());
        assert_eq!(
            check_value("caf\u{e9}"),
            Err(InvalidReason::BadChar {
                ch: '\u{e9}',
                index: 3
            })
        );
        assert_eq!(
            check_value(&"v".repeat(256)),
            Err(InvalidReason::TooLong { len: 256 })
        );
    }

    #[test]
    fn a_long_text_is_judged_by_its_first_characters() {
        let early = format!("{}\t{}", "v".repeat(255), "v".repeat(100));
        assert_eq!(
            check_value(&early),
            Err(InvalidReason::BadChar {
                ch: '\t',
                index: 255
            })
        );
        // A bad character past the first 256 is not looked for: the text
        // is refused for its length without reading it all.
        let late = format!("{}\t", "v".repeat(256));
        assert_eq!(check_value(&late), Err(InvalidReason::TooLong { len: 257 }));
    }
}
