//! The view name rule, for checking names a processor will give views
//! before any view is seen.

use census_core::InvalidReason;

/// The longest view name, in bytes (census-core's limit).
pub(crate) const MAX_NAME_LEN: usize = 255;

/// What census-core says about the name rule, for error messages.
pub(crate) const NAME_RULE: &str =
    "view names are 1 to 255 bytes of printable ASCII without spaces ('!' to '~')";

/// Checks the characters and length of (part of) a view name, as
/// census-core does when a view is built; emptiness is left to the caller,
/// since a prefix may be empty and a name may not.
pub(crate) fn check_chars(text: &str) -> Result<(), InvalidReason> {
    if let Some((index, ch)) = text
        .char_indices()
        .find(|&(_, ch)| !('!'..='~').contains(&ch))
    {
        return Err(InvalidReason::BadChar { ch, index });
    }
    if text.len() > MAX_NAME_LEN {
        return Err(InvalidReason::TooLong { len: text.len() });
    }
    Ok(())
}

/// Checks a whole view name.
pub(crate) fn check_name(name: &str) -> Result<(), InvalidReason> {
    if name.is_empty() {
        return Err(InvalidReason::Empty);
    }
    check_chars(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64, View};

    #[test]
    fn agrees_with_the_view_builder() {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        let long = "n".repeat(256);
        let names = [
            "",
            "a",
            "a b",
            "demo/x",
            "caf\u{e9}",
            "tab\t",
            "~!",
            &long[..255],
            &long[..],
        ];
        for name in names {
            let built = View::builder(name, &m)
                .aggregation(Aggregation::Count)
                .build();
            assert_eq!(check_name(name).is_ok(), built.is_ok(), "{name:?}");
        }
        assert!(check_chars("").is_ok());
        assert_eq!(
            check_chars("shop /"),
            Err(InvalidReason::BadChar { ch: ' ', index: 4 })
        );
    }
}
