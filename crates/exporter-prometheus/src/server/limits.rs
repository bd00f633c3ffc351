//! What one endpoint allows each client, set on the exporter's builder.

use std::time::Duration;

use census_core::Error;

/// The smallest request-head cap accepted: Prometheus's own request line
/// and headers take about 400 bytes, so less would refuse real scrapers.
const MIN_HEADER_BYTES: usize = 1024;

/// The longest timeout accepted: deadlines are `Instant`s, which cannot
/// hold `Duration::MAX` from now, and a day is past any useful timeout.
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// The endpoint's bounds. Every field is checked by [`Limits::check`] when
/// the exporter is built, so the server never meets a zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Connections open at once, idle or busy.
    pub(crate) max_connections: usize,
    /// Threads that render scrapes, besides the one that does the I/O.
    pub(crate) render_threads: usize,
    /// How long a connection may take to deliver a request line and
    /// headers, counted from when it is ready for one (accepted, or its
    /// previous response written).
    pub(crate) read_timeout: Duration,
    /// How long a response may take to be written out.
    pub(crate) write_timeout: Duration,
    /// The cap on a request line plus headers, in bytes.
    pub(crate) max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 64,
            render_threads: 2,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_header_bytes: 8 * 1024,
        }
    }
}

impl Limits {
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first setting that is zero, a
    /// timeout longer than a day, or a header cap below 1024 bytes.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let invalid = |what: &str, value: String, reason: &str| Error::InvalidConfig {
            what: what.into(),
            value,
            reason: reason.into(),
        };
        if self.max_connections == 0 {
            return Err(invalid(
                "max_connections",
                "0".into(),
                "the endpoint needs room for at least 1 connection; the default is 64",
            ));
        }
        if self.render_threads == 0 {
            return Err(invalid(
                "render_threads",
                "0".into(),
                "scrapes need at least 1 render thread; the default is 2",
            ));
        }
        if self.read_timeout.is_zero() {
            return Err(invalid(
                "read_timeout",
                format!("{:?}", self.read_timeout),
                "a zero read timeout would close every connection at once; the default is 5 s",
            ));
        }
        if self.write_timeout.is_zero() {
            return Err(invalid(
                "write_timeout",
                format!("{:?}", self.write_timeout),
                "a zero write timeout would drop every response; the default is 10 s",
            ));
        }
        for (what, timeout) in [
            ("read_timeout", self.read_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if timeout > LONGEST {
                return Err(invalid(
                    what,
                    format!("{timeout:?}"),
                    "timeouts are at most 24h (a day): a longer one cannot be counted down \
                     reliably and would let a client hold its connection for good",
                ));
            }
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(invalid(
                "max_header_bytes",
                self.max_header_bytes.to_string(),
                "request heads need at least 1024 bytes (Prometheus sends about 400); the \
                 default is 8192",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_each_zero_is_named() {
        assert_eq!(Limits::default().check().ok(), Some(()));
        type Spoil = fn(&mut Limits);
        let cases: [(&str, Spoil); 5] = [
            ("max_connections", |l| l.max_connections = 0),
            ("render_threads", |l| l.render_threads = 0),
            ("read_timeout", |l| l.read_timeout = Duration::ZERO),
            ("write_timeout", |l| l.write_timeout = Duration::ZERO),
            ("max_header_bytes", |l| l.max_header_bytes = 1023),
        ];
        for (name, spoil) in cases {
            let mut limits = Limits::default();
            spoil(&mut limits);
            match limits.check() {
                Err(Error::InvalidConfig { what, .. }) => assert_eq!(what, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
