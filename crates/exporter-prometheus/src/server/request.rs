//! Reading one request head with httparse and deciding what it asks for.

use std::borrow::Cow;

use crate::format::PrometheusFormat;
use crate::server::response::Status;
use crate::server::METRICS_PATH;

/// Headers read per request; more is answered 431 like an oversized head.
/// Prometheus sends about six.
const MAX_HEADERS: usize = 64;

/// What the bytes buffered so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not a whole head yet, and still within the cap: read more.
    Partial,
    /// A whole head of `len` bytes.
    Request { len: usize, request: Request },
    /// A head that is answered with an error and the connection closed.
    Refused(Refusal),
}

/// A request head that can be answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// Whether the target's path is [`METRICS_PATH`].
    pub(crate) metrics: bool,
    pub(crate) format: PrometheusFormat,
    /// Whether the connection may carry another request after this one:
    /// HTTP/1.1 without `Connection: close`, and no body (bodies are never
    /// read, so the next request's start would be unknown).
    pub(crate) keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    /// Any other method, kept to name it in the answer.
    Other(String),
}

/// A head answered with an error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: not HTTP/1.x syntax.
    BadRequest,
    /// 431: the request line and headers pass the cap (or hold more than
    /// 64 headers).
    HeadTooLarge,
    /// 505: a version other than HTTP/1.0 and HTTP/1.1.
    VersionNotSupported,
}

impl Refusal {
    pub(crate) fn status(self) -> Status {
        match self {
            Refusal::BadRequest => Status::BadRequest,
            Refusal::HeadTooLarge => Status::HeadTooLarge,
            Refusal::VersionNotSupported => Status::VersionNotSupported,
        }
    }

    /// The answer's body: what was wrong, for the person at the client.
    pub(crate) fn message(self, max: usize) -> String {
        match self {
            Refusal::BadRequest => "bad request: not an HTTP/1.1 request line and headers\n".into(),
            Refusal::HeadTooLarge => format!(
                "the request line and headers pass {max} bytes or hold more than \
                 {MAX_HEADERS} headers\n"
            ),
            Refusal::VersionNotSupported => "HTTP version not supported: use HTTP/1.1\n".into(),
        }
    }
}

/// Parses the head at the start of `buf`; `max` caps its length.
pub(crate) fn parse(buf: &[u8], max: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= max => Parsed::Request {
            len,
            request: interpret(&head),
        },
        Ok(httparse::Status::Complete(_)) => Parsed::Refused(Refusal::HeadTooLarge),
        Ok(httparse::Status::Partial) if buf.len() < max => Parsed::Partial,
        Ok(httparse::Status::Partial) => Parsed::Refused(Refusal::HeadTooLarge),
        Err(httparse::Error::Version) => Parsed::Refused(version_refusal(buf)),
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Refusal::HeadTooLarge),
        Err(_) => Parsed::Refused(Refusal::BadRequest),
    }
}

/// What a request line httparse found no HTTP/1.x version in deserves:
/// `505` when it is a well-formed line naming another version
/// (`GET /metrics HTTP/2.0`), `400` when the version's place holds
/// something else, such as the rest of a target with a space in it
/// (`GET /me trics HTTP/1.1`).
fn version_refusal(buf: &[u8]) -> Refusal {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let well_formed = parts.next().is_none()
        && [method, target]
            .iter()
            .all(|p| p.is_some_and(|p| !p.is_empty()))
        && version.is_some_and(|v| v.starts_with(b"HTTP/"));
    if well_formed {
        Refusal::VersionNotSupported
    } else {
        Refusal::BadRequest
    }
}

fn interpret(head: &httparse::Request<'_, '_>) -> Request {
    let method = match head.method.unwrap_or_default() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_owned()),
    };
    // Several Accept lines are one list, as if joined by commas (RFC
    // 9110, section 5.3): a scraper may split its preferences.
    let mut accept: Option<Cow<'_, str>> = None;
    let mut close = head.version != Some(1);
    let mut body = false;
    for header in head.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("accept") {
            // A non-UTF-8 Accept line names no format we know: skipped.
            if let Ok(value) = std::str::from_utf8(header.value) {
                accept = Some(match accept {
                    None => Cow::Borrowed(value),
                    Some(before) => Cow::Owned(format!("{before},{value}")),
                });
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close |= header
                .value
                .split(|&b| b == b',')
                .any(|token| trim(token).eq_ignore_ascii_case(b"close"));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            body = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            body |= trim(header.value) != b"0";
        }
    }
    let keep_alive = !close && !body && matches!(method, Method::Get | Method::Head);
    Request {
        metrics: path(head.path.unwrap_or_default()) == METRICS_PATH,
        method,
        format: PrometheusFormat::from_accept(accept.as_deref()),
        keep_alive,
    }
}

/// `bytes` without the spaces and tabs around it (`<[u8]>::trim_ascii`
/// is newer than the crate's minimum Rust).
fn trim(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |at| at + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// The path of a request target: origin form (`/metrics?x=1`) or absolute
/// form (`http://host:9464/metrics`), which HTTP/1.1 servers must accept
/// (RFC 9112, section 3.2.2).
fn path(target: &str) -> &str {
    let scheme_end = ["http://", "https://"].iter().find_map(|scheme| {
        target
            .get(..scheme.len())
            .filter(|start| start.eq_ignore_ascii_case(scheme))
            .map(|_| scheme.len())
    });
    let origin = match scheme_end {
        Some(end) => {
            let rest = target.get(end..).unwrap_or_default();
            rest.find(['/', '?'])
                .map_or("/", |at| rest.get(at..).unwrap_or("/"))
        }
        None => target,
    };
    let path = origin.split('?').next().unwrap_or_default();
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(head: impl AsRef<[u8]>) -> Request {
        let head = head.as_ref();
        match parse(head, 8192) {
            Parsed::Request { len, request } => {
                assert_eq!(len, head.len());
                request
            }
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(head)),
        }
    }

    #[test]
    fn targets_in_origin_and_absolute_form_reach_metrics() {
        for target in [
            "/metrics",
            "/metrics?debug=1",
            "http://127.0.0.1:9464/metrics",
            "HTTP://example.test/metrics?x",
            "https://example.test/metrics",
        ] {
            assert_eq!(path(target), "/metrics", "{target}");
        }
        for (target, want) in [
            ("http://example.test", "/"),
            ("http://example.test?x", "/"),
            ("/", "/"),
            ("*", "*"),
            ("/metricsx", "/metricsx"),
            ("http:/metrics", "http:/metrics"),
        ] {
            assert_eq!(path(target), want, "{target}");
        }
    }

    #[test]
    fn keep_alive_needs_http_1_1_no_close_and_no_body() {
        assert!(request("GET /metrics HTTP/1.1\r\n\r\n").keep_alive);
        assert!(request("HEAD /metrics HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(request("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").keep_alive);
        for head in [
            "GET /metrics HTTP/1.0\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nConnection: foo, Close\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /metrics HTTP/1.1\r\n\r\n",
        ] {
            assert!(!request(head).keep_alive, "{head:?}");
        }
    }

    #[test]
    fn methods_and_accept_are_read() {
        let r = request("POST /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n");
        assert_eq!(r.method, Method::Other("POST".into()));
        assert_eq!(r.format, PrometheusFormat::OpenMetrics);
        assert!(r.metrics);
        let r = request(
            "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\
             Accept: text/plain;q=0.1\r\n\r\n",
        );
        assert_eq!(r.format, PrometheusFormat::OpenMetrics);
        let r = request(b"HEAD /other HTTP/1.1\r\nAccept: \xff\r\n\r\n");
        assert_eq!((r.method, r.metrics), (Method::Head, false));
        assert_eq!(r.format, PrometheusFormat::Text);
    }

    #[test]
    fn bad_heads_are_refused_by_kind() {
        let refused = |head: &[u8], max| match parse(head, max) {
            Parsed::Refused(refusal) => Some(refusal),
            _ => None,
        };
        assert_eq!(
            refused(b"GET /metrics HTTP/2.0\r\n\r\n", 8192),
            Some(Refusal::VersionNotSupported)
        );
        assert_eq!(
            refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 8192),
            Some(Refusal::VersionNotSupported)
        );
        assert_eq!(
            refused(b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", 8192),
            Some(Refusal::BadRequest)
        );
        assert_eq!(
            refused(b"GET /metrics HTTP/1.1\r\nX: 1234567890\r\n\r\n", 30),
            Some(Refusal::HeadTooLarge)
        );
        assert_eq!(
            refused(b"GET /metrics HTTP/1.1\r\nX: 123456", 30),
            Some(Refusal::HeadTooLarge)
        );
        for head in [
            &b"GET /me trics HTTP/1.1\r\n\r\n"[..],
            b"GET /me trics HT",
            b"GET /metrics http/1.1\r\n\r\n",
            b"GET /metrics FTP/1.1\r\n\r\n",
        ] {
            let shown = String::from_utf8_lossy(head);
            assert_eq!(refused(head, 8192), Some(Refusal::BadRequest), "{shown}");
        }
        assert_eq!(
            refused(b"GET /metrics HTTP/3\r\n", 8192),
            Some(Refusal::VersionNotSupported)
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(65));
        assert_eq!(refused(many.as_bytes(), 8192), Some(Refusal::HeadTooLarge));
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nX: 1", 30), Parsed::Partial);
    }
}
