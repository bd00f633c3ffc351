//! Property tests: no validation function panics on any string, and each
//! accepts exactly its documented alphabet and length. (Issue 6.)

use census_core::{Aggregation, MeasureF64, MeasureI64, TagKey, TagMap, TagValue, View};
use proptest::prelude::*;

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.chars().all(|c| ('!'..='~').contains(&c))
}

fn is_value(s: &str) -> bool {
    s.len() <= 255 && s.chars().all(|c| (' '..='~').contains(&c))
}

/// Mostly near-valid strings, where the interesting edges are, plus
/// anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,300}",
        "[!-~]{250,260}",
        any::<String>(),
        "[a-z]{1,5}[\\x00-\\x20\\x7f-\\u{10ffff}][a-z]{0,5}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn names_follow_the_name_rule(s in text()) {
        prop_assert_eq!(TagKey::new(s.clone()).is_ok(), is_name(&s));
        prop_assert_eq!(MeasureI64::new(s.clone(), "d", "1").is_ok(), is_name(&s));
        prop_assert_eq!(MeasureF64::new(s.clone(), "d", "1").is_ok(), is_name(&s));
        let m = MeasureI64::new("m", "", "1").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let view = View::builder(s.clone(), &m).aggregation(Aggregation::Count).build();
        prop_assert_eq!(view.is_ok(), is_name(&s));
        if let Err(err) = TagKey::new(s.clone()) {
            // The message always quotes the offending key.
            let quoted = format!("{:?}", s);
            prop_assert!(err.to_string().contains(&quoted));
        }
    }

    #[test]
    fn values_follow_the_value_rule(s in text()) {
        prop_assert_eq!(TagValue::new(s.clone()).is_ok(), is_value(&s));
        let key = TagKey::new("k").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(TagMap::new().with(&key, s.clone()).is_ok(), is_value(&s));
    }

    #[test]
    fn bounds_are_accepted_iff_finite_and_increasing(bounds in prop::collection::vec(
        prop_oneof![any::<f64>(), -1e6f64..1e6, Just(f64::NAN), Just(f64::INFINITY)], 0..12)) {
        let ok = bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]);
        prop_assert_eq!(Aggregation::distribution(bounds.clone()).is_ok(), ok);
    }
}
