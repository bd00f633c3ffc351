//! The I/O thread: one readiness loop (mio) over the listener and every
//! connection. It accepts within `max_connections`, drives each connection
//! as its socket allows, queues scrapes for the render threads, writes
//! their answers, and closes connections at their deadlines. It never
//! waits on a client, so no client can hold up another or `stop`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::exporter::Shared;
use crate::self_metrics::Closed;
use crate::server::connection::{Connection, Context, Next};
use crate::server::limits::Limits;
use crate::server::render_pool::{RenderQueue, Rendered, Ticket};

pub(crate) const LISTENER: Token = Token(usize::MAX);
pub(crate) const WAKER: Token = Token(usize::MAX - 1);

/// How long accepting pauses after the system refused to accept (out of
/// file descriptors or memory): connections wait in the listen backlog
/// meanwhile instead of the loop spinning on the same error.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The longest the loop sleeps without looking at the stop flag, in case a
/// wake-up were ever lost.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// How long a new or newly idle connection is safe from being closed to
/// make room: a scraper sends its request as soon as it has connected, but
/// in a burst of connections it may be accepted before its request
/// arrives, and must not be taken for an idle one then.
const EVICT_GRACE: Duration = Duration::from_millis(100);

/// When `max_connections` connections that never sent a request were
/// closed for room within this long, the endpoint is flooded with
/// connections that send nothing, and
/// idle ones are closed for room without `EVICT_GRACE`: with it, one
/// newcomer per place per grace gets in, the rest of a flood fills the
/// listen backlog, and a scraper waits behind it (its connection even
/// refused by the system) for as long as the flood lasts.
const FLOOD_WINDOW: Duration = Duration::from_millis(200);

/// Bytes a lingering connection discards per read.
const SCRATCH: usize = 16 * 1024;

/// Answers one connection may finish before the others get their turn:
/// enough that a scraper's pipelined requests go out together, few enough
/// that a client pipelining without end delays the others by microseconds.
const ANSWERS_PER_TURN: u32 = 16;

/// What the I/O thread owns.
pub(crate) struct EventLoop {
    poll: Poll,
    listener: TcpListener,
    addr: SocketAddr,
    limits: Limits,
    shared: Arc<Shared>,
    queue: Arc<RenderQueue>,
    rendered: Receiver<Rendered>,
    stopping: Arc<AtomicBool>,
    /// Open connections by slot; a slot's index is its token.
    slots: Vec<Option<Connection>>,
    free: Vec<usize>,
    open: usize,
    next_id: u64,
    /// No deadline falls before this; the next sweep is then.
    next_sweep: Option<Instant>,
    /// Set while accepting is paused after a system error.
    accept_paused_until: Option<Instant>,
    /// A connection accepted while the endpoint was full and nothing could
    /// make room, since when: it gets the next place (the rest wait in the
    /// listen backlog meanwhile), or is closed at `read_timeout`.
    parked: Option<(TcpStream, Instant)>,
    /// When the latest connections that never sent a request were closed
    /// for room, at most `max_connections` of them, oldest first.
    evictions: VecDeque<Instant>,
    /// Whether reaching `max_connections` was logged (once: after that it
    /// is only counted).
    warned_full: bool,
    scratch: Vec<u8>,
    /// Connections that used up their turn with requests perhaps still
    /// waiting: driven again in the next round, which then does not wait
    /// for the sockets (their data raises no new event).
    again: Vec<usize>,
}

impl EventLoop {
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        addr: SocketAddr,
        shared: Arc<Shared>,
        queue: Arc<RenderQueue>,
        rendered: Receiver<Rendered>,
        stopping: Arc<AtomicBool>,
    ) -> EventLoop {
        EventLoop {
            poll,
            listener,
            addr,
            limits: shared.limits().clone(),
            shared,
            queue,
            rendered,
            stopping,
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            next_id: 0,
            next_sweep: None,
            accept_paused_until: None,
            parked: None,
            evictions: VecDeque::new(),
            warned_full: false,
            scratch: vec![0; SCRATCH],
            again: Vec::new(),
        }
    }

    /// Runs until the stop flag is set; dropping `self` then closes the
    /// listener and every connection without waiting on any client.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = if self.again.is_empty() {
                self.sleep(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(err) = self.poll.poll(&mut events, Some(timeout)) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!(
                    "the Prometheus endpoint on {} stopped: waiting for its sockets failed: {err}",
                    self.addr
                );
                return;
            }
            // Acquire pairs with the Release in `Server::stop`; only the
            // flag itself is read, so this orders nothing else.
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(slot) => self.drive(slot),
                }
            }
            for slot in std::mem::take(&mut self.again) {
                self.drive(slot);
            }
            self.deliver_renders();
            let now = Instant::now();
            if self.accept_paused_until.is_some_and(|until| now >= until) {
                self.accept_paused_until = None;
                self.accept();
            }
            if self.next_sweep.is_some_and(|at| now >= at) {
                self.sweep(now);
            }
            if self.parked.is_some() {
                // Places freed in this round, or graces that ended.
                self.accept();
            }
        }
    }

    fn sleep(&self, now: Instant) -> Duration {
        [
            self.next_sweep,
            self.accept_paused_until,
            self.next_place(now),
        ]
        .into_iter()
        .flatten()
        .map(|at| at.saturating_duration_since(now))
        .fold(MAX_SLEEP, Duration::min)
    }

    /// While a newcomer is parked, when a place may free up without an
    /// event: an idle connection's grace ends, or the newcomer's wait does.
    fn next_place(&self, now: Instant) -> Option<Instant> {
        let (_, since) = self.parked.as_ref()?;
        let grace = self.grace(now);
        let oldest_idle = self
            .slots
            .iter()
            .flatten()
            .filter_map(Connection::idle_since)
            .min()
            .map(|idle| idle + grace);
        let given_up = *since + self.limits.read_timeout;
        Some(oldest_idle.map_or(given_up, |at| at.min(given_up)))
    }

    fn accept(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        if let Some((stream, since)) = self.parked.take() {
            if !self.place(stream, since) {
                return;
            }
        }
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if !self.place(stream, Instant::now()) {
                        return;
                    }
                }
                Err(err) => match err.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset => {}
                    _ => {
                        log::warn!(
                            "the Prometheus endpoint on {} cannot accept connections: {err}; \
                             retrying in {ACCEPT_PAUSE:?}",
                            self.addr
                        );
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        return;
                    }
                },
            }
        }
    }

    /// Admits `stream`, accepted at `since`, when there is room or room
    /// can be made; otherwise parks it and returns false, and accepting
    /// waits for a place. A newcomer parked past `read_timeout` is closed
    /// and counted as over capacity.
    fn place(&mut self, stream: TcpStream, since: Instant) -> bool {
        let now = Instant::now();
        if self.open < self.limits.max_connections || self.make_room(now) {
            self.admit(stream);
            return true;
        }
        if now >= since + self.limits.read_timeout {
            self.shared.self_metrics().closed(Closed::OverCapacity);
            log::debug!(
                "the Prometheus endpoint on {} answered {} connections for {:?}; closed a \
                 newcomer that waited for a place",
                self.addr,
                self.open,
                self.limits.read_timeout
            );
            // Dropping closes it. Its request, if it sent one, is unread,
            // so the system answers with a reset rather than an orderly
            // close: the scrape fails either way, and is counted. The next
            // newcomer gets its turn.
            drop(stream);
            return true;
        }
        self.parked = Some((stream, since));
        false
    }

    /// How long an idle connection is safe from being closed for room:
    /// `EVICT_GRACE`, or nothing while the endpoint is flooded.
    fn grace(&self, now: Instant) -> Duration {
        let flooded = self.evictions.len() >= self.limits.max_connections
            && self
                .evictions
                .front()
                .is_some_and(|&first| first + FLOOD_WINDOW > now);
        if flooded {
            Duration::ZERO
        } else {
            EVICT_GRACE
        }
    }

    /// Makes room in a full endpoint by closing the connection that has
    /// waited longest for a request (or lingered longest), once it has
    /// been idle for its [`grace`](Self::grace); each is first read, and
    /// one whose request has arrived meanwhile is answered, not closed. A scraper's
    /// request follows its connection at once, so a flood of connections
    /// that send nothing pushes out only its own kind. False when every
    /// connection is busy or within its grace.
    fn make_room(&mut self, now: Instant) -> bool {
        if !self.warned_full {
            self.warned_full = true;
            log::warn!(
                "the Prometheus endpoint on {} holds its most connections ({}); it now closes \
                 idle ones to admit new ones, and newcomers wait while all are busy (counted \
                 in census/prometheus/closed_connections)",
                self.addr,
                self.limits.max_connections
            );
        }
        // Each pass finds the longest idle connection past its grace; one
        // whose request turns up when read is busy from then on, so the
        // passes end (usually after the first).
        let grace = self.grace(now);
        while self.open >= self.limits.max_connections {
            let oldest = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(slot, c)| Some((c.as_ref()?.idle_since()?, slot)))
                .filter(|(since, _)| *since + grace <= now)
                .min();
            let Some((since, slot)) = oldest else {
                return false;
            };
            self.drive(slot);
            let victim = self.slots.get(slot).and_then(Option::as_ref);
            let unchanged = victim.and_then(Connection::idle_since) == Some(since);
            if unchanged {
                let silent = victim.is_some_and(|c| !c.has_asked());
                self.close(slot, Closed::Evicted);
                if silent {
                    self.evictions.push_back(now);
                    if self.evictions.len() > self.limits.max_connections {
                        self.evictions.pop_front();
                    }
                }
            }
        }
        true
    }

    /// Takes a new connection in and reads the request it may already
    /// have sent, so that it counts as busy from the start.
    fn admit(&mut self, mut stream: TcpStream) {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if let Err(err) = self.poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!(
                "the Prometheus endpoint on {} could not watch a connection: {err}",
                self.addr
            );
            if slot < self.slots.len() {
                self.free.push(slot);
            }
            return;
        }
        let now = Instant::now();
        let connection = Connection::new(stream, self.next_id, now);
        self.next_id += 1;
        self.schedule(connection.deadline(&self.limits));
        match self.slots.get_mut(slot) {
            Some(place) => *place = Some(connection),
            None => self.slots.push(Some(connection)),
        }
        self.open += 1;
        self.drive(slot);
    }

    fn drive(&mut self, slot: usize) {
        let Some(connection) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            // An event for a connection closed earlier in this round.
            return;
        };
        let mut cx = Context {
            limits: &self.limits,
            metrics: self.shared.self_metrics(),
            scratch: &mut self.scratch,
            now: Instant::now(),
            answers_left: ANSWERS_PER_TURN,
        };
        let next = connection.drive(&mut cx);
        let (deadline, id) = (connection.deadline(&self.limits), connection.id);
        match next {
            Next::Wait => self.schedule(deadline),
            Next::Again => {
                self.schedule(deadline);
                self.again.push(slot);
            }
            Next::Render(format) => self.queue.push(Ticket { slot, id }, format),
            Next::Close(reason) => self.close(slot, reason),
        }
    }

    /// Hands each finished render to the connection that asked, if it is
    /// still open, and starts writing.
    fn deliver_renders(&mut self) {
        while let Ok(Rendered {
            ticket,
            format,
            body,
        }) = self.rendered.try_recv()
        {
            let Some(connection) = self
                .slots
                .get_mut(ticket.slot)
                .and_then(Option::as_mut)
                .filter(|c| c.id == ticket.id)
            else {
                continue;
            };
            let cx = Context {
                limits: &self.limits,
                metrics: self.shared.self_metrics(),
                scratch: &mut self.scratch,
                now: Instant::now(),
                answers_left: ANSWERS_PER_TURN,
            };
            connection.rendered(format, body, &cx);
            self.drive(ticket.slot);
        }
    }

    /// Closes every connection past its deadline and finds the next one.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = None;
        let mut late = Vec::new();
        for (slot, connection) in self.slots.iter().enumerate() {
            let Some(connection) = connection else {
                continue;
            };
            match connection.deadline(&self.limits) {
                Some((at, reason)) if at <= now => late.push((slot, reason)),
                Some((at, _)) => {
                    self.next_sweep = Some(self.next_sweep.map_or(at, |next| next.min(at)));
                }
                None => {}
            }
        }
        for (slot, reason) in late {
            if reason == Closed::WriteTimeout {
                self.shared.self_metrics().response_failed();
            }
            self.close(slot, reason);
        }
    }

    fn schedule(&mut self, deadline: Option<(Instant, Closed)>) {
        if let Some((at, _)) = deadline {
            self.next_sweep = Some(self.next_sweep.map_or(at, |next| next.min(at)));
        }
    }

    fn close(&mut self, slot: usize, reason: Closed) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        // Deregistering cannot fail for a registered socket; closing it
        // next removes it from the poll set regardless.
        let _ = self.poll.registry().deregister(connection.stream());
        self.shared.self_metrics().closed(reason);
        self.free.push(slot);
        self.open -= 1;
    }
}
