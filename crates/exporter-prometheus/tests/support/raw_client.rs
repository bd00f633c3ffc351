//! A raw HTTP/1.1 client over a TcpStream, for what ordinary clients never
//! do: pipelining, absolute-form targets, other versions, endless headers,
//! connecting and then not reading.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The longest any raw read or write waits, so that a test against a
/// broken endpoint fails instead of hanging.
pub const SAFETY_TIMEOUT: Duration = Duration::from_secs(10);

/// One answer: status, headers (names lowercased), body.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection whose answers are read one at a time, in order.
pub struct RawConnection {
    reader: BufReader<TcpStream>,
}

impl RawConnection {
    pub fn open(addr: SocketAddr) -> io::Result<RawConnection> {
        Ok(RawConnection {
            reader: BufReader::new(connect(addr)?),
        })
    }

    /// The same socket, for a thread that writes while this one reads.
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.reader.get_ref().try_clone()
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Reads the next answer; `head_only` for an answer to HEAD.
    pub fn answer(&mut self, head_only: bool) -> Result<RawAnswer, String> {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the status line: {e}"))?;
        let status = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP/1.1 status line: {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader
                .read_line(&mut line)
                .map_err(|e| format!("reading a header: {e}"))?;
            let header = line.trim_end_matches(['\r', '\n']);
            if header.is_empty() {
                break;
            }
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("not a header: {header:?}"))?;
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut answer = RawAnswer {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only {
            let length: usize = answer
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .ok_or("no Content-Length")?;
            answer.body.resize(length, 0);
            self.reader
                .read_exact(&mut answer.body)
                .map_err(|e| format!("reading a {length}-byte body: {e}"))?;
        }
        Ok(answer)
    }

    /// Whether the endpoint closed the connection: the next read ends it
    /// (end of file or reset) instead of bringing bytes.
    pub fn closed_by_server(&mut self) -> bool {
        let mut byte = [0];
        match self.reader.read(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }
}

/// Connects with [`SAFETY_TIMEOUT`] on reads and writes.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(SAFETY_TIMEOUT))?;
    stream.set_write_timeout(Some(SAFETY_TIMEOUT))?;
    Ok(stream)
}

/// Sends `request` on a new connection and reads one answer.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Result<RawAnswer, String> {
    let mut connection = RawConnection::open(addr).map_err(|e| e.to_string())?;
    connection.send(request).map_err(|e| e.to_string())?;
    connection.answer(request.starts_with(b"HEAD "))
}

/// One plain scrape on a new connection that must be answered 200 within
/// `limit`; returns how long it took.
pub fn scrape_within(addr: SocketAddr, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut connection = RawConnection::open(addr).map_err(|e| e.to_string())?;
    connection
        .reader
        .get_ref()
        .set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    connection
        .send(b"GET /metrics HTTP/1.1\r\nHost: census.test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let answer = connection
        .answer(false)
        .map_err(|e| format!("no answer within {limit:?}: {e}"))?;
    let took = start.elapsed();
    if answer.status != 200 {
        return Err(format!("answered {} ({})", answer.status, answer.text()));
    }
    if took > limit {
        return Err(format!("answered after {took:?}, more than {limit:?}"));
    }
    Ok(took)
}

/// A client that pipelines `requests` scrapes, reads one byte to know the
/// endpoint has begun answering (which must happen within 2 s), and then
/// never reads again. Keep the returned stream to keep the client attached.
pub fn pipelining_non_reader(addr: SocketAddr, requests: usize) -> Result<TcpStream, String> {
    let mut stream = connect(addr).map_err(|e| e.to_string())?;
    let request = b"GET /metrics HTTP/1.1\r\nHost: census.test\r\n\r\n";
    let all: Vec<u8> = request.repeat(requests);
    stream.write_all(&all).map_err(|e| e.to_string())?;
    let mut byte = [0];
    let first_byte = Duration::from_secs(2);
    stream
        .set_read_timeout(Some(first_byte))
        .and_then(|()| stream.read_exact(&mut byte))
        .and_then(|()| stream.set_read_timeout(Some(SAFETY_TIMEOUT)))
        .map_err(|e| {
            format!(
                "a client that pipelined {requests} scrapes got no byte of an answer within \
                 {first_byte:?}: {e}"
            )
        })?;
    Ok(stream)
}
