//! One client connection: reads a request head within the caps, hands a
//! scrape to the render threads, writes the answer as the socket accepts
//! it, and closes gently. It never blocks: every step returns at
//! `WouldBlock` and resumes on the next readiness event.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::format::PrometheusFormat;
use crate::self_metrics::{Closed, SelfMetrics};
use crate::server::limits::Limits;
use crate::server::request::{self, Method, Parsed};
use crate::server::response::{Response, Status};
use crate::server::METRICS_PATH;

/// Bytes asked of the socket per read while reading a head.
const READ_CHUNK: usize = 4096;

/// How long a connection closed after an error answer keeps discarding
/// what its client still sends, so that the client reads the answer
/// instead of a reset (at most the read timeout).
const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    /// Unique for the endpoint's life, unlike the slot the connection
    /// occupies.
    pub(crate) id: u64,
    /// Bytes read and not yet used: the head being read, perhaps followed
    /// by requests the client pipelined. Never more than the head cap.
    buf: Vec<u8>,
    state: State,
    /// The client has closed its side; answer what is buffered, then close.
    peer_closed: bool,
    /// The client has sent a whole request head (answered or refused).
    asked: bool,
}

#[derive(Debug)]
enum State {
    /// Waiting for a request head since `since`.
    Reading { since: Instant },
    /// Its scrape is with the render threads; nothing is read meanwhile.
    Rendering { head_only: bool, keep_alive: bool },
    /// Writing `response`, of which `written` bytes are sent.
    Writing {
        response: Response,
        written: usize,
        deadline: Instant,
    },
    /// The last answer is written and the write side shut; what the client
    /// still sends is read and discarded until it closes or `deadline`.
    Lingering { since: Instant, deadline: Instant },
}

/// What the I/O thread does after driving a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait for the socket or a deadline.
    Wait,
    /// It answered its share of requests for this turn with more perhaps
    /// waiting: drive it again after the other connections had theirs.
    Again,
    /// Queue a render in this format.
    Render(PrometheusFormat),
    /// Close the connection.
    Close(Closed),
}

/// What a connection needs from its I/O thread while it is driven.
pub(crate) struct Context<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) metrics: &'a SelfMetrics,
    /// Where lingering connections read the bytes they discard.
    pub(crate) scratch: &'a mut [u8],
    pub(crate) now: Instant,
    /// Answers this connection may still finish in this turn: a client
    /// that pipelines requests and reads every answer never lets its
    /// socket run dry, and must not keep the I/O thread to itself.
    pub(crate) answers_left: u32,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, id: u64, now: Instant) -> Connection {
        Connection {
            stream,
            id,
            buf: Vec::new(),
            state: State::Reading { since: now },
            peer_closed: false,
            asked: false,
        }
    }

    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// When the connection times out, and how that closing is counted.
    pub(crate) fn deadline(&self, limits: &Limits) -> Option<(Instant, Closed)> {
        match &self.state {
            State::Reading { since } if self.buf.is_empty() => {
                Some((*since + limits.read_timeout, Closed::Idle))
            }
            State::Reading { since } => Some((*since + limits.read_timeout, Closed::ReadTimeout)),
            State::Rendering { .. } => None,
            State::Writing { deadline, .. } => Some((*deadline, Closed::WriteTimeout)),
            State::Lingering { deadline, .. } => Some((*deadline, Closed::Done)),
        }
    }

    /// Since when the connection has been waiting on its client for a
    /// request, or lingering; `None` while a request of its is answered.
    /// The oldest such connection gives way when a new one finds the
    /// endpoint full.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        match self.state {
            State::Reading { since } | State::Lingering { since, .. } => Some(since),
            State::Rendering { .. } | State::Writing { .. } => None,
        }
    }

    /// Whether the client has sent a whole request head on this
    /// connection: one that never has, closed for room, is one of a flood
    /// of connections that send nothing, not a keep-alive scraper.
    pub(crate) fn has_asked(&self) -> bool {
        self.asked
    }

    /// Takes the render for the scrape this connection is waiting on, and
    /// starts writing it.
    pub(crate) fn rendered(
        &mut self,
        format: PrometheusFormat,
        body: Option<Arc<String>>,
        cx: &Context<'_>,
    ) {
        let State::Rendering {
            head_only,
            keep_alive,
        } = self.state
        else {
            return;
        };
        let response = match body {
            Some(body) => {
                cx.metrics.scraped(format);
                Response::metrics(format, body, head_only, keep_alive)
            }
            None => Response::error(
                Status::InternalError,
                "rendering the metrics failed; the service's log says why\n".into(),
                head_only,
                false,
            ),
        };
        self.write(response, cx);
    }

    fn write(&mut self, response: Response, cx: &Context<'_>) {
        self.state = State::Writing {
            response,
            written: 0,
            deadline: cx.now + cx.limits.write_timeout,
        };
    }

    /// Does every step the socket allows now.
    pub(crate) fn drive(&mut self, cx: &mut Context<'_>) -> Next {
        loop {
            match &mut self.state {
                State::Reading { .. } => {
                    if let Some(next) = self.read_request(cx) {
                        return next;
                    }
                }
                State::Rendering { .. } => return Next::Wait,
                State::Writing {
                    response, written, ..
                } => match write_out(&mut self.stream, response, written) {
                    Ok(false) => return Next::Wait,
                    Ok(true) if response.keep_alive => {
                        self.state = State::Reading { since: cx.now };
                        cx.answers_left = cx.answers_left.saturating_sub(1);
                        if cx.answers_left == 0 {
                            return Next::Again;
                        }
                    }
                    Ok(true) => {
                        // FIN after the answer; the client's own close
                        // (or LINGER) ends the connection.
                        let _ = self.stream.shutdown(Shutdown::Write);
                        self.buf = Vec::new();
                        self.state = State::Lingering {
                            since: cx.now,
                            deadline: cx.now + LINGER.min(cx.limits.read_timeout),
                        };
                    }
                    Err(err) => {
                        cx.metrics.response_failed();
                        log::debug!("could not send a Prometheus endpoint response: {err}");
                        return Next::Close(Closed::Done);
                    }
                },
                State::Lingering { .. } => return discard(&mut self.stream, cx.scratch),
            }
        }
    }

    /// Parses what is buffered, reading more while the head is partial.
    /// `None` when the state changed and driving goes on.
    fn read_request(&mut self, cx: &mut Context<'_>) -> Option<Next> {
        let max = cx.limits.max_header_bytes;
        loop {
            match request::parse(&self.buf, max) {
                Parsed::Partial if self.peer_closed => return Some(Next::Close(Closed::Done)),
                Parsed::Partial => match self.fill(max) {
                    Ok(true) => {}
                    Ok(false) => return Some(Next::Wait),
                    Err(err) => {
                        log::debug!("a Prometheus endpoint connection failed: {err}");
                        return Some(Next::Close(Closed::Done));
                    }
                },
                Parsed::Request { len, request } => {
                    self.asked = true;
                    self.buf.drain(..len.min(self.buf.len()));
                    if self.buf.is_empty() {
                        // An idle keep-alive connection holds no buffer.
                        self.buf = Vec::new();
                    }
                    let head_only = request.method == Method::Head;
                    let keep_alive = request.keep_alive;
                    if !request.metrics {
                        cx.metrics.refused(Status::NotFound);
                        let message = format!("not found: metrics are served at {METRICS_PATH}\n");
                        let response =
                            Response::error(Status::NotFound, message, head_only, keep_alive);
                        self.write(response, cx);
                    } else if let Method::Other(method) = &request.method {
                        cx.metrics.refused(Status::MethodNotAllowed);
                        let message = format!("method {method} not allowed: use GET\n");
                        let response =
                            Response::error(Status::MethodNotAllowed, message, false, false);
                        self.write(response, cx);
                    } else {
                        self.state = State::Rendering {
                            head_only,
                            keep_alive,
                        };
                        return Some(Next::Render(request.format));
                    }
                    return None;
                }
                Parsed::Refused(refusal) => {
                    self.asked = true;
                    let status = refusal.status();
                    cx.metrics.refused(status);
                    self.buf = Vec::new();
                    let response = Response::error(status, refusal.message(max), false, false);
                    self.write(response, cx);
                    return None;
                }
            }
        }
    }

    /// Reads once, at most up to the head cap. `Ok(true)` when something
    /// changed (bytes arrived, or the client closed), `Ok(false)` when the
    /// socket has nothing now.
    fn fill(&mut self, max: usize) -> io::Result<bool> {
        let old = self.buf.len();
        // `parse` refuses a partial head as long as the cap, so there is
        // room for at least one byte here.
        let room = max.saturating_sub(old).clamp(1, READ_CHUNK);
        self.buf.resize(old + room, 0);
        let read = loop {
            let target = self.buf.get_mut(old..).unwrap_or_default();
            match self.stream.read(target) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(n) => {
                self.buf.truncate(old + n);
                self.peer_closed |= n == 0;
                Ok(true)
            }
            Err(err) => {
                self.buf.truncate(old);
                match err.kind() {
                    io::ErrorKind::WouldBlock => Ok(false),
                    _ => Err(err),
                }
            }
        }
    }
}

/// Writes as much of `response` as the socket takes. `Ok(true)` once all
/// of it is written.
fn write_out(stream: &mut TcpStream, response: &Response, written: &mut usize) -> io::Result<bool> {
    let [head, body] = response.parts();
    loop {
        let slices = if *written < head.len() {
            [
                IoSlice::new(head.get(*written..).unwrap_or_default()),
                IoSlice::new(body),
            ]
        } else {
            let rest = body.get(*written - head.len()..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(true);
            }
            [IoSlice::new(rest), IoSlice::new(&[])]
        };
        match stream.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Reads and drops whatever a lingering connection's client sends.
fn discard(stream: &mut TcpStream, scratch: &mut [u8]) -> Next {
    loop {
        match stream.read(scratch) {
            Ok(0) => return Next::Close(Closed::Done),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close(Closed::Done),
        }
    }
}
