//! Every validator on arbitrary text: never panics, and accepts exactly
//! its documented alphabet and length.
#![no_main]

use census::{Aggregation, MeasureF64, TagKey, TagMap, TagValue, View};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let name_ok =
        !text.is_empty() && text.len() <= 255 && text.chars().all(|c| ('!'..='~').contains(&c));
    let value_ok = text.len() <= 255 && text.chars().all(|c| (' '..='~').contains(&c));
    assert_eq!(TagKey::new(text).is_ok(), name_ok);
    assert_eq!(TagValue::new(text).is_ok(), value_ok);
    let measure = MeasureF64::new(text, text, text);
    assert_eq!(measure.is_ok(), name_ok);
    if let Ok(key) = TagKey::new("k") {
        assert_eq!(TagMap::new().with(&key, text).is_ok(), value_ok);
    }
    if let Ok(m) = MeasureF64::new("m", "", "1") {
        let view = View::builder(text, &m)
            .aggregation(Aggregation::Count)
            .build();
        assert_eq!(view.is_ok(), name_ok);
    }
    // Bounds from the bytes, eight at a time.
    let bounds: Vec<f64> = data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let bounds_ok = bounds.len() <= census::MAX_BOUNDS
        && bounds.iter().all(|b| b.is_finite())
        && bounds.windows(2).all(|w| w[0] < w[1]);
    assert_eq!(Aggregation::distribution(bounds).is_ok(), bounds_ok);
});
