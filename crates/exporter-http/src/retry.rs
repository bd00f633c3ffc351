//! When to retry a request and how long to wait first.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

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

    /// The wait before retry `retry`: random up to the ceiling, or the
    /// server's `Retry-After` (cut to the cap) when it gave one.
    pub(crate) fn wait(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        rng: &mut Jitter,
    ) -> Duration {
        match retry_after {
            Some(after) => after.min(self.cap),
            None => rng.up_to(self.ceiling(retry)),
        }
    }
}

/// Whether a response status is worth retrying: the server may answer
/// differently later (timeout, rate limit, overload, outage).
pub(crate) fn status_is_retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Parses the seconds form of `Retry-After` (RFC 9110 section 10.2.3).
///
/// The HTTP-date form is not understood and yields `None`, so the
/// exporter falls back to its own backoff; collectors send seconds.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A value too long for u64 is further off than any cap.
    Some(Duration::from_secs(
        value.parse::<u64>().unwrap_or(u64::MAX),
    ))
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
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
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
    fn retry_after_seconds_parse_and_dates_do_not() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("1.5"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(status_is_retryable(s), "{s}");
        }
        for s in [200, 204, 301, 400, 401, 403, 404, 409, 413, 415, 422] {
            assert!(!status_is_retryable(s), "{s}");
        }
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(random_u64(), random_u64());
        assert_ne!(Jitter::new().next_u64(), Jitter::new().next_u64());
    }
}
