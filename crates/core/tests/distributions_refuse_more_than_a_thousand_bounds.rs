//! Distribution bounds are capped (issue #16, finding 10): a million
//! bounds made twenty rows cost 152 MB. Past `MAX_BOUNDS` the bounds are
//! refused with a typed error that names the count and the cap.

use census_core::{Aggregation, Bounds, Error, MAX_BOUNDS};

fn increasing(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

#[test]
fn the_cap_is_accepted_and_one_more_is_refused() {
    assert_eq!(MAX_BOUNDS, 1_000);
    assert!(Aggregation::distribution(increasing(MAX_BOUNDS)).is_ok());
    match Bounds::new(increasing(MAX_BOUNDS + 1)) {
        Err(Error::TooManyBounds { count, max }) => {
            assert_eq!((count, max), (MAX_BOUNDS + 1, MAX_BOUNDS));
        }
        other => panic!("expected TooManyBounds, got {other:?}"),
    }
}

#[test]
fn a_million_bounds_are_refused_with_a_message_naming_the_cap() {
    let err = Aggregation::distribution(increasing(1_000_000))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("1000000") && err.contains("1000"), "{err}");
    assert!(!err.ends_with('.'), "{err}");
}
