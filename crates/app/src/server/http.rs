//! A small HTTP/1.1 server for the metrics and health endpoints, bounded in every way a peer can
//! push: one thread for everything (no thread per connection), at most
//! [`Limits::max_connections`] open at once (when full, the oldest connection still sending its
//! request is closed to make room, so a flood of idle connections cannot lock out the scraper),
//! at most [`Limits::max_head_bytes`] of request head (over: `431` and close), and a deadline of
//! [`Limits::timeout`] for the whole exchange (slow or idle peers are closed). Request heads are
//! parsed with `httparse`; every answer closes its connection.
//!
//! The thread polls non-blocking sockets every [`POLL_INTERVAL`] while connections are open, and
//! sleeps in `accept` when none are.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::log::debug;
use metrics::counter;

/// How often open connections are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(3);

/// Most connections accepted in one poll, so that reading keeps up with a connect flood.
const ACCEPT_BATCH: usize = 64;

/// Most headers one request may carry.
const MAX_HEADERS: usize = 32;

/// What the endpoint allows one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Bytes of request line and headers.
    pub max_head_bytes: usize,
    /// Time from accepting a connection to the last byte of its answer.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_head_bytes: 8 * 1024,
            timeout: Duration::from_secs(2),
        }
    }
}

/// An answer: status, content type and body (shared, so a cached body is not copied).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The body.
    pub body: Arc<[u8]>,
}

impl Response {
    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes().into(),
        }
    }
}

/// Answers a request for `path` (without its query string).
pub trait Handler: Send + 'static {
    /// The answer to `GET path`.
    fn handle(&mut self, path: &str) -> Response;
}

impl<F: FnMut(&str) -> Response + Send + 'static> Handler for F {
    fn handle(&mut self, path: &str) -> Response {
        self(path)
    }
}

/// Serves `listener` with `handler` on a new thread named `name`.
pub fn spawn(
    name: &str,
    listener: TcpListener,
    limits: Limits,
    handler: impl Handler,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || serve(&listener, limits, handler))?;
    Ok(())
}

/// Where a connection is in its one exchange.
enum State {
    /// Reading the request head.
    Reading(Vec<u8>),
    /// Writing the answer: `head` then `body`, `written` bytes so far.
    Writing {
        head: Vec<u8>,
        body: Arc<[u8]>,
        written: usize,
    },
    /// Answered and shut down for writing: reading (and dropping) what the peer still sends, at
    /// most [`LINGER_BYTES`], so that closing does not reset the connection before the peer read
    /// the answer.
    Closing {
        /// Bytes dropped so far.
        dropped: usize,
    },
}

/// Most bytes read and dropped after an answer before the connection is closed regardless.
const LINGER_BYTES: usize = 64 * 1024;

struct Connection {
    stream: TcpStream,
    deadline: Instant,
    state: State,
}

/// Why a connection was closed before its answer: the `reason` label of
/// `skirmish_http_rejected_total`.
fn reject(reason: &'static str) {
    counter!("http_rejected_total", "reason" => reason).increment(1);
}

fn serve(listener: &TcpListener, limits: Limits, mut handler: impl Handler) {
    let mut connections: VecDeque<Connection> = VecDeque::new();
    let mut nonblocking = false;
    loop {
        // With nothing open, wait in `accept` instead of polling.
        let idle = connections.is_empty();
        if nonblocking == idle {
            if listener.set_nonblocking(!idle).is_err() {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            nonblocking = !idle;
        }
        for _ in 0..ACCEPT_BATCH {
            match listener.accept() {
                Ok((stream, _)) => admit(&mut connections, stream, limits),
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) => {
                    // Out of file descriptors, for example: back off rather than spin.
                    debug!("metrics endpoint: accept failed: {err}");
                    std::thread::sleep(POLL_INTERVAL);
                    break;
                }
            }
            if idle {
                break;
            }
        }
        let now = Instant::now();
        connections.retain_mut(|connection| {
            if now >= connection.deadline {
                if !matches!(connection.state, State::Closing { .. }) {
                    reject("timeout");
                }
                return false;
            }
            progress(connection, limits, &mut handler)
        });
        if !connections.is_empty() {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

/// Takes a new connection, closing the oldest one still reading when all slots are taken.
fn admit(connections: &mut VecDeque<Connection>, stream: TcpStream, limits: Limits) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    if connections.len() >= limits.max_connections {
        let oldest_reading = connections
            .iter()
            .position(|connection| matches!(connection.state, State::Reading(_)));
        match oldest_reading {
            Some(index) => {
                connections.remove(index);
            }
            // Every slot is answering: the newcomer waits for no one.
            None => {
                reject("full");
                return;
            }
        }
        reject("full");
    }
    connections.push_back(Connection {
        stream,
        deadline: Instant::now() + limits.timeout,
        state: State::Reading(Vec::new()),
    });
}

/// Reads or writes what the socket takes without blocking. `false` once the connection is done.
fn progress(connection: &mut Connection, limits: Limits, handler: &mut impl Handler) -> bool {
    if let State::Reading(head) = &mut connection.state {
        let mut chunk = [0; 2048];
        loop {
            // One byte past the limit tells a full head from an oversized one.
            let room = (limits.max_head_bytes + 1 - head.len()).min(chunk.len());
            match connection.stream.read(&mut chunk[..room]) {
                Ok(0) => return false,
                Ok(read) => head.extend_from_slice(&chunk[..read]),
                Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
            if let Some((response, with_body)) = answer(head, limits, handler) {
                connection.state = State::Writing {
                    head: response_head(&response),
                    body: if with_body {
                        response.body
                    } else {
                        Arc::from(Vec::new())
                    },
                    written: 0,
                };
                break;
            }
        }
    }
    if let State::Writing {
        head,
        body,
        written,
    } = &mut connection.state
    {
        loop {
            let rest = match head.get(*written..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => match body.get(written.saturating_sub(head.len())..) {
                    Some(rest) if !rest.is_empty() => rest,
                    _ => break,
                },
            };
            match connection.stream.write(rest) {
                Ok(0) => return false,
                Ok(sent) => *written += sent,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if connection
            .stream
            .shutdown(std::net::Shutdown::Write)
            .is_err()
        {
            return false;
        }
        connection.state = State::Closing { dropped: 0 };
    }
    if let State::Closing { dropped } = &mut connection.state {
        let mut chunk = [0; 2048];
        while *dropped < LINGER_BYTES {
            match connection.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(read) => *dropped += read,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        return false;
    }
    true
}

/// The answer to the request head read so far, and whether to send its body (not for `HEAD`), or
/// `None` while the head is incomplete.
fn answer(head: &[u8], limits: Limits, handler: &mut impl Handler) -> Option<(Response, bool)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if head.len() > limits.max_head_bytes => {
            reject("head_too_large");
            return Some((
                Response::text(431, "request header fields too large\n"),
                true,
            ));
        }
        Ok(httparse::Status::Partial) => return None,
        Err(httparse::Error::TooManyHeaders) => {
            reject("head_too_large");
            return Some((Response::text(431, "too many header fields\n"), true));
        }
        Err(_) => {
            reject("bad_request");
            return Some((Response::text(400, "bad request\n"), true));
        }
    }
    let path = request.path.unwrap_or("/");
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    match request.method {
        Some("GET") => Some((handler.handle(path), true)),
        // Same headers (the length announced is the body's), no body.
        Some("HEAD") => Some((handler.handle(path), false)),
        _ => Some((Response::text(405, "only GET and HEAD\n"), true)),
    }
}

/// The status line and headers of `response`.
fn response_head(response: &Response) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Connection: close\r\n\r\n",
        response.status,
        reason_phrase(response.status),
        response.content_type,
        response.body.len(),
    )
    .into_bytes()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::{Limits, Response, spawn};

    /// An endpoint on 127.0.0.1 answering `path: <path>` with 200 on every path but `/missing`.
    fn endpoint(limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        spawn("test-http", listener, limits, |path: &str| match path {
            "/missing" => Response::text(404, "not found\n"),
            _ => Response::text(200, format!("path: {path}\n")),
        })
        .unwrap();
        addr
    }

    /// Sends `request` on a new connection and reads the whole answer (until the server closes).
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("a whole answer");
        answer
    }

    /// Reads until the server closes `stream`; panics if it is still open at `deadline`.
    fn closed_by(stream: &mut TcpStream, deadline: Instant) -> Vec<u8> {
        let mut received = Vec::new();
        let mut chunk = [0; 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "still open");
            stream.set_read_timeout(Some(left)).unwrap();
            match stream.read(&mut chunk) {
                Ok(0) => return received,
                Ok(read) => received.extend_from_slice(&chunk[..read]),
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return received,
                Err(err) => panic!("still open: {err}"),
            }
        }
    }

    #[test]
    fn answers_get_and_head_and_strips_the_query() {
        let addr = endpoint(Limits::default());
        let answer = exchange(addr, b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Length: 15\r\n"), "{answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\npath: /metrics\n"), "{answer}");

        let answer = exchange(addr, b"HEAD /healthz HTTP/1.0\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Length: 15\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"), "no body: {answer}");

        let answer = exchange(addr, b"GET /missing HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    }

    #[test]
    fn refuses_other_methods_and_garbage() {
        let addr = endpoint(Limits::default());
        let answer = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        let answer = exchange(addr, b"\x16\x03\x01 not http at all\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for index in 0..40 {
            many.extend_from_slice(format!("X-{index}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let answer = exchange(addr, &many);
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    }

    #[test]
    fn an_oversized_head_gets_431_and_the_connection_closes() {
        let limits = Limits::default();
        let addr = endpoint(limits);
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nX-Big: ").unwrap();
        stream
            .write_all(&vec![b'a'; 2 * limits.max_head_bytes])
            .unwrap();
        let answer = closed_by(&mut stream, Instant::now() + Duration::from_secs(5));
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{answer}"
        );
    }

    #[test]
    fn idle_and_trickling_peers_are_closed_at_the_deadline() {
        let limits = Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let addr = endpoint(limits);
        let opened = Instant::now();
        let mut idle = TcpStream::connect(addr).unwrap();
        let mut trickle = TcpStream::connect(addr).unwrap();
        // One byte every 50 ms: always some progress, never a whole head.
        for byte in b"GET / HTTP/1.1\r\nX" {
            if trickle.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let deadline = opened + Duration::from_secs(3);
        assert!(closed_by(&mut idle, deadline).is_empty());
        assert!(closed_by(&mut trickle, deadline).is_empty());
        assert!(opened.elapsed() >= limits.timeout);
    }

    #[test]
    fn when_full_the_oldest_idle_connection_makes_room() {
        let limits = Limits {
            max_connections: 4,
            ..Limits::default()
        };
        let addr = endpoint(limits);
        let mut idle: Vec<TcpStream> = (0..limits.max_connections)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        // Let the server take them all before the newcomer.
        std::thread::sleep(Duration::from_millis(100));
        let answer = exchange(addr, b"GET /fresh HTTP/1.1\r\n\r\n");
        assert!(answer.ends_with("path: /fresh\n"), "{answer}");
        let deadline = Instant::now() + Duration::from_millis(500);
        assert!(closed_by(&mut idle[0], deadline).is_empty(), "the oldest");
        // The others are still waiting for their request.
        idle[1]
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let still_open = idle[1].read(&mut [0; 8]).unwrap_err();
        assert!(
            matches!(
                still_open.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{still_open}"
        );
    }
}
