//! How Prometheus spells numbers: sample values, counts and bucket bounds
//! (the `le` label), so that Prometheus's float parser (Go's
//! `strconv.ParseFloat`) reads back exactly the value census holds.

use std::fmt::Write;

/// Integral floats below this magnitude are written as plain integers
/// (`12`, not `12.0` or `1.2e1`): every such float is exact and reads back
/// to itself. Above it, the shortest round-trip form with an exponent keeps
/// lines short (`1e300`, not three hundred digits).
const PLAIN_INTEGER_LIMIT: f64 = 1e16;

/// Writes a sample value or bucket bound so that Prometheus's float parser
/// (Go's `strconv.ParseFloat`) reads back exactly the same `f64`.
///
/// Non-finite values use the spellings both formats define: `+Inf`, `-Inf`,
/// `NaN`.
pub fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < PLAIN_INTEGER_LIMIT {
        // Exact: every integral f64 below the limit is an exact i64. The
        // sign of -0.0 is kept, as Display would.
        if v == 0.0 && v.is_sign_negative() {
            out.push('-');
        }
        write_i64(out, v as i64);
    } else {
        // Debug is the shortest representation that round-trips, with an
        // exponent for very large and very small magnitudes; Go parses it.
        let _ = write!(out, "{v:?}");
    }
}

/// Writes a bucket bound for the `le` label of OpenMetrics, whose canonical
/// numbers always carry a fraction or an exponent (`1.0`, not `1`): an
/// ingester compares `le` values as text, so one bound must have one
/// spelling.
pub fn write_openmetrics_le(out: &mut String, v: f64) {
    let start = out.len();
    write_f64(out, v);
    let written = &out[start..];
    if v.is_finite() && !written.contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// Writes an `i64` exactly.
pub fn write_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Writes a `u64` exactly.
///
/// Through itoa rather than `fmt`: a large scrape writes hundreds of
/// thousands of counts, and the formatting machinery costs several times
/// as much per number.
pub fn write_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_f64(&mut s, v);
        s
    }

    #[test]
    fn floats_use_spellings_prometheus_parses() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-42.0), "-42");
        assert_eq!(f(0.25), "0.25");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(9007199254740993.0), "9007199254740992");
        assert_eq!(f(1e16), "1e16");
        assert_eq!(f(1e300), "1e300");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::MAX), "1.7976931348623157e308");
        assert_eq!(f(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    }

    #[test]
    fn integers_are_written_exactly() {
        for v in [0, 1, 9, 10, 99, 1234567890, i64::MAX, i64::MIN, -1, -10] {
            let mut s = String::new();
            write_i64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        let mut s = String::new();
        write_u64(&mut s, u64::MAX);
        assert_eq!(s, u64::MAX.to_string());
    }

    #[test]
    fn finite_floats_round_trip_through_their_text() {
        let mut x: f64 = 1.0 / 3.0;
        for _ in 0..200 {
            for v in [x, -x, x * 1e-12, x * 1e12, x.trunc()] {
                let text = f(v);
                assert_eq!(text.parse::<f64>().ok(), Some(v), "{text}");
            }
            x *= 1.7;
        }
    }

    #[test]
    fn openmetrics_bounds_always_carry_a_fraction_or_exponent() {
        let le = |v: f64| {
            let mut s = String::new();
            write_openmetrics_le(&mut s, v);
            s
        };
        assert_eq!(le(1.0), "1.0");
        assert_eq!(le(-5.0), "-5.0");
        assert_eq!(le(0.005), "0.005");
        assert_eq!(le(1e20), "1e20");
        assert_eq!(le(f64::INFINITY), "+Inf");
    }
}
