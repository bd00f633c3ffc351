//! How numbers are spelled in both JSON formats: 64-bit integers as
//! strings, non-finite floats as the proto3 JSON strings.

use std::time::SystemTime;

use census_core::Number;
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

/// A float as a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`,
/// which JSON numbers cannot express and proto3 JSON accepts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Float(pub(super) f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

/// An integer measure's value as a string, a float measure's as a number.
#[derive(Debug, Clone, Copy)]
pub(super) struct Num(pub(super) Number);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Number::Int(v) => IntStr(v).serialize(s),
            Number::Float(v) => Float(v).serialize(s),
        }
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
    fn floats_are_numbers_unless_not_finite() {
        assert_eq!(json(Float(1.5)), "1.5");
        assert_eq!(json(Float(f64::NAN)), r#""NaN""#);
        assert_eq!(json(Float(f64::INFINITY)), r#""Infinity""#);
        assert_eq!(json(Float(f64::NEG_INFINITY)), r#""-Infinity""#);
        assert_eq!(json(Num(Number::Int(7))), r#""7""#);
        assert_eq!(json(Num(Number::Float(7.0))), "7.0");
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
