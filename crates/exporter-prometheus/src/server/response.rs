//! Responses as the bytes the connection writes: a head built here and a
//! body that scrapes answered by one render share.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use crate::format::PrometheusFormat;

/// The statuses the endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    HeadTooLarge,
    InternalError,
    VersionNotSupported,
}

impl Status {
    pub(crate) fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::HeadTooLarge => 431,
            Status::InternalError => 500,
            Status::VersionNotSupported => 505,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::HeadTooLarge => "Request Header Fields Too Large",
            Status::InternalError => "Internal Server Error",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// One response, written head first.
#[derive(Debug)]
pub(crate) struct Response {
    head: Vec<u8>,
    /// `None` for an answer to HEAD, which has the head alone.
    body: Option<Arc<String>>,
    /// Whether the connection reads another request after this one.
    pub(crate) keep_alive: bool,
}

impl Response {
    /// A scrape's answer: `body` is a render, maybe shared with other
    /// scrapes of the same format.
    pub(crate) fn metrics(
        format: PrometheusFormat,
        body: Arc<String>,
        head_only: bool,
        keep_alive: bool,
    ) -> Response {
        Response::new(
            Status::Ok,
            format.content_type(),
            body,
            head_only,
            keep_alive,
        )
    }

    /// An error answer with a one-line plain-text explanation.
    pub(crate) fn error(
        status: Status,
        message: String,
        head_only: bool,
        keep_alive: bool,
    ) -> Response {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            Arc::new(message),
            head_only,
            keep_alive,
        )
    }

    fn new(
        status: Status,
        content_type: &str,
        body: Arc<String>,
        head_only: bool,
        keep_alive: bool,
    ) -> Response {
        let mut head = String::with_capacity(192);
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            status.code(),
            status.reason(),
            httpdate::fmt_http_date(SystemTime::now()),
            body.len(),
        );
        if status == Status::MethodNotAllowed {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        Response {
            head: head.into_bytes(),
            body: (!head_only).then_some(body),
            keep_alive,
        }
    }

    /// The head and the body, to be written in that order.
    pub(crate) fn parts(&self) -> [&[u8]; 2] {
        let body = self.body.as_deref().map_or(&[][..], |b| b.as_bytes());
        [&self.head, body]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(response: &Response) -> String {
        response
            .parts()
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect()
    }

    #[test]
    fn heads_carry_length_type_and_connection() {
        let ok = Response::metrics(
            PrometheusFormat::Text,
            Arc::new("a 1\n".into()),
            false,
            true,
        );
        let ok = text(&ok);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{ok}");
        assert!(ok.contains("\r\nContent-Length: 4\r\n"), "{ok}");
        assert!(
            ok.contains("\r\nContent-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(!ok.contains("Connection"), "{ok}");
        assert!(ok.ends_with("\r\n\r\na 1\n"), "{ok}");

        let refused = text(&Response::error(
            Status::MethodNotAllowed,
            "no\n".into(),
            true,
            false,
        ));
        assert!(refused.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(refused.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(refused.contains("\r\nContent-Length: 3\r\n"));
        assert!(
            refused.ends_with("\r\nConnection: close\r\n\r\n"),
            "{refused}"
        );
    }
}
