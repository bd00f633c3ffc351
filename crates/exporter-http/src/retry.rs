//! When to retry a request and how long to wait first.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::format::HttpFormat;

/// Exponential backoff with full jitter: before retry `n` (1 for the first
/// retry) wait a uniformly random time in `[0, min(cap, base * 2^(n-1))]`.
///
/// Full jitter spreads the retries of many exporters that failed together
/// over the whole window, instead of having them return in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) max_attempts: u32,
}

impl Backoff {
    /// The ceiling of the wait before retry `retry` (1-based).
    pub(crate) fn ceiling(&self, retry: u32) -> Duration {
        // Past 2^31 the ceiling is long past any sane cap; saturate rather
        // than overflow.
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry`: random up to the ceiling, and at
    /// least the server's `Retry-After` (cut to the cap) when it gave one.
    /// The header sets the earliest retry, as RFC 9110 means it; it does
    /// not switch the backoff off, or `Retry-After: 0` would bring every
    /// retry at once.
    pub(crate) fn wait(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        rng: &mut Jitter,
    ) -> Duration {
        let backoff = rng.up_to(self.ceiling(retry));
        match retry_after {
            Some(after) => after.min(self.cap).max(backoff),
            None => backoff,
        }
    }
}

/// Whether a response status is worth retrying: the server may answer
/// differently later (timeout, rate limit, overload, outage). Where the
/// protocol says which, it decides: OTLP/HTTP retries exactly 429, 502,
/// 503 and 504 and forbids retrying any other status; remote write 1.0
/// retries 5xx and 429, never another 4xx (so not 408 either). census.v1
/// is ours: 408, 429 and 5xx.
pub(crate) fn status_is_retryable(status: u16, format: HttpFormat) -> bool {
    let server = (500..=599).contains(&status) || status == 429;
    match format {
        HttpFormat::OtlpJson | HttpFormat::OtlpProtobuf => {
            matches!(status, 429 | 502 | 503 | 504)
        }
        HttpFormat::PrometheusRemoteWrite => server,
        HttpFormat::Json => server || status == 408,
    }
}

/// Parses `Retry-After` (RFC 9110 section 10.2.3): delay seconds, or an
/// HTTP-date such as `Sun, 06 Nov 1994 08:49:37 GMT` measured against
/// `now`. A date in the past means "now" (zero). Dates are read by
/// httpdate, which takes the two obsolete forms (RFC 850, asctime) too, as
/// RFC 9110 asks of recipients. Anything else yields `None`, so the
/// exporter falls back to its own backoff.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // A value too long for u64 is further off than any cap.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A small xorshift64* generator for jitter.
///
/// Jitter needs spread, not unpredictability, so a few lines beat a
/// dependency. Seeded from std's per-process random hasher keys, which
/// differ between processes and between exporters in one process.
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(crate) fn new() -> Jitter {
        Jitter::with_seed(random_u64())
    }

    pub(crate) fn with_seed(seed: u64) -> Jitter {
        // xorshift must not start at zero, or it stays there.
        Jitter { state: seed | 1 }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniformly random duration in `[0, max]`, at nanosecond grain.
    pub(crate) fn up_to(&mut self, max: Duration) -> Duration {
        let max_nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        if max_nanos == 0 {
            return Duration::ZERO;
        }
        let span = max_nanos.saturating_add(1);
        // The modulo bias is below 2^-20 for any wait under 18 minutes:
        // irrelevant for spreading retries.
        Duration::from_nanos(self.next_u64() % span)
    }
}

/// A random 64-bit number from std's randomly keyed hasher (no extra
/// dependency).
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 5,
        }
    }

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let b = backoff();
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(4), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_secs(1));
        assert_eq!(b.ceiling(200), Duration::from_secs(1));
    }

    #[test]
    fn waits_stay_within_the_ceiling_and_spread_over_it() {
        let b = backoff();
        let mut rng = Jitter::with_seed(42);
        let waits: Vec<Duration> = (0..2_000).map(|_| b.wait(3, None, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        // Full jitter: both halves of the window are used.
        assert!(waits.iter().any(|w| *w < Duration::from_millis(100)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(300)));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let b = backoff();
        let mut rng = Jitter::with_seed(7);
        assert_eq!(
            b.wait(1, Some(Duration::from_millis(700)), &mut rng),
            Duration::from_millis(700)
        );
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(120)), &mut rng),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_zero_retry_after_keeps_the_backoff() {
        let b = backoff();
        let mut rng = Jitter::with_seed(3);
        let waits: Vec<Duration> = (0..200)
            .map(|_| b.wait(4, Some(Duration::ZERO), &mut rng))
            .collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(800)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(400)));
    }

    #[test]
    fn retry_after_seconds_parse() {
        let now = SystemTime::now();
        let parse = |v: &str| parse_retry_after(v, now);
        assert_eq!(parse("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("1.5"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn retry_after_dates_count_from_now() {
        // 2015-10-21T07:28:00Z is 1445412480 s after the epoch.
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480 - 90);
        let parse = |v: &str| parse_retry_after(v, now);
        assert_eq!(
            parse("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(90))
        );
        // The obsolete forms of the same instant, which recipients must
        // accept (RFC 9110 section 5.6.7).
        assert_eq!(
            parse("Wednesday, 21-Oct-15 07:28:00 GMT"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse("Wed Oct 21 07:28:00 2015"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse("Wed, 21 Oct 2015 07:26:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
        // 2000-02-29 00:00:00Z, a leap day in a century year divisible by 400.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2000 00:00:10 GMT", leap),
            Some(Duration::from_secs(10))
        );
        for bad in [
            "Wed, 21 Oct 2015 07:28:00 UTC",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Wed, 1 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 24:28:00 GMT",
            "Wed, 21 Oct 2015 07:28 GMT",
            "soon",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn retryable_statuses() {
        use HttpFormat::{Json, OtlpJson, OtlpProtobuf, PrometheusRemoteWrite};
        for format in [Json, OtlpJson, OtlpProtobuf, PrometheusRemoteWrite] {
            for s in [429, 502, 503, 504] {
                assert!(status_is_retryable(s, format), "{s} {format:?}");
            }
            for s in [200, 204, 301, 400, 401, 403, 404, 409, 413, 415, 422] {
                assert!(!status_is_retryable(s, format), "{s} {format:?}");
            }
        }
        // census.v1 and remote write retry every 5xx; OTLP only those above.
        for s in [500, 501, 505, 599] {
            assert!(status_is_retryable(s, Json), "{s}");
            assert!(status_is_retryable(s, PrometheusRemoteWrite), "{s}");
            assert!(!status_is_retryable(s, OtlpJson), "{s}");
            assert!(!status_is_retryable(s, OtlpProtobuf), "{s}");
        }
        // 408: only census.v1 retries it.
        assert!(status_is_retryable(408, Json));
        assert!(!status_is_retryable(408, OtlpJson));
        assert!(!status_is_retryable(408, OtlpProtobuf));
        assert!(!status_is_retryable(408, PrometheusRemoteWrite));
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(random_u64(), random_u64());
        assert_ne!(Jitter::new().next_u64(), Jitter::new().next_u64());
    }
}
