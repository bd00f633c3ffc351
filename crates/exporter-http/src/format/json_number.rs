//! How OTLP JSON spells 64-bit integers: as strings, as census-core's
//! JSON of view data does. Floats go through census-core's `Number`,
//! which spells NaN and the infinities as the proto3 JSON strings.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

/// A 64-bit integer written as a decimal string: JSON numbers above 2^53
/// lose precision in many parsers, and proto3 JSON spells int64 this way.
#[derive(Debug, Clone, Copy)]
pub(super) struct IntStr<T>(pub(super) T);

impl<T: itoa::Integer> Serialize for IntStr<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

/// Nanoseconds since the Unix epoch, as a string; 0 for a time before the
/// epoch, which no working clock gives.
pub(super) fn unix_nanos(time: SystemTime) -> IntStr<u64> {
    IntStr(census_core::unix_nanos(time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn json<T: Serialize>(v: T) -> String {
        serde_json::to_string(&v).unwrap_or_default()
    }

    #[test]
    fn integers_are_exact_strings() {
        assert_eq!(json(IntStr(0u64)), r#""0""#);
        assert_eq!(json(IntStr(u64::MAX)), r#""18446744073709551615""#);
        assert_eq!(json(IntStr(i64::MIN)), r#""-9223372036854775808""#);
        assert_eq!(json(IntStr(-42i64)), r#""-42""#);
        assert_eq!(
            json(IntStr(9_007_199_254_740_993i64)),
            r#""9007199254740993""#
        );
    }

    #[test]
    fn times_are_unix_nanos() {
        let t = UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(json(unix_nanos(t)), r#""1700000000123456789""#);
        assert_eq!(
            json(unix_nanos(UNIX_EPOCH - std::time::Duration::from_secs(1))),
            r#""0""#
        );
    }
}
