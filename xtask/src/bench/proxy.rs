//! A recording HTTP proxy for `cargo xtask bench`: it listens on 127.0.0.1:8765 (where the Python AnkiOps
//! insists on finding AnkiConnect), forwards each request to the current test backend, and counts requests,
//! bytes and actions per measured run.
//!
//! One request per connection, like the test backend itself: the request is read whole (headers and
//! `Content-Length` body), sent to the backend on a new connection, and the reply is relayed until the backend
//! closes. A client that keeps connections alive simply reconnects, as it must with the backend.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the proxy saw since the last [`Proxy::reset`].
#[derive(Debug, Default, Clone)]
pub struct Record {
    pub requests: usize,
    pub bytes_up: usize,
    pub bytes_down: usize,
    /// Time spent waiting for the backend (request forwarded to reply read), summed over requests.
    pub backend: std::time::Duration,
    /// Action name (sub-actions of a `multi` as `multi/name`) -> count.
    pub actions: BTreeMap<String, usize>,
    /// Request bodies, kept only while capturing.
    pub bodies: Vec<Vec<u8>>,
}

#[derive(Default)]
struct State {
    backend_port: u16,
    capture: bool,
    record: Record,
}

pub struct Proxy {
    state: Arc<Mutex<State>>,
    port: u16,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking connection thread leaves counts that are still usable.
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Proxy {
    /// Binds 127.0.0.1:`port` and serves in background threads for the rest of the process.
    pub fn start(port: u16) -> Result<Proxy, String> {
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{port} ({e}): the Python AnkiOps only talks to http://localhost:8765, \
                 so the bench needs that port. Quit Anki desktop (AnkiConnect) or stop `cargo xtask anki`, then retry"
            )
        })?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    if let Err(e) = serve(conn, &state) {
                        eprintln!("bench proxy: {e}");
                    }
                });
            }
        });
        Ok(Proxy { state, port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Points the proxy at another backend.
    pub fn set_backend(&self, port: u16) {
        lock(&self.state).backend_port = port;
    }

    /// Clears the counters; with `capture`, request bodies are kept too.
    pub fn reset(&self, capture: bool) {
        let mut state = lock(&self.state);
        state.record = Record::default();
        state.capture = capture;
    }

    /// The counters since the last reset.
    pub fn take(&self) -> Record {
        let mut state = lock(&self.state);
        state.capture = false;
        std::mem::take(&mut state.record)
    }
}

/// Reads one HTTP request: the head up to CRLFCRLF and exactly `Content-Length` body bytes.
fn read_request(conn: &mut TcpStream) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut data = Vec::with_capacity(8192);
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = conn.read(&mut buf).map_err(|e| format!("read request: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return Err("chunked request bodies are not supported".to_owned());
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = conn.read(&mut buf).map_err(|e| format!("read request body: {e}"))?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(Some((data, head_end)))
}

/// Adds `Connection: close` to the reply head. The backend closes every connection after one reply but does
/// not say so; a keep-alive client (Python `requests`) that sends its next request before the close arrives then
/// gets "Remote end closed connection without response". Saying it makes every client reconnect, as it must.
fn with_connection_close(reply: Vec<u8>) -> Vec<u8> {
    let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") else { return reply };
    let head = String::from_utf8_lossy(&reply[..end]).to_ascii_lowercase();
    if head.contains("\r\nconnection:") {
        return reply;
    }
    let mut out = Vec::with_capacity(reply.len() + 19);
    out.extend_from_slice(&reply[..end]);
    out.extend_from_slice(b"\r\nConnection: close");
    out.extend_from_slice(&reply[end..]);
    out
}

fn count_actions(body: &[u8], actions: &mut BTreeMap<String, usize>) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        *actions.entry("(not JSON)".to_owned()).or_default() += 1;
        return;
    };
    let action = json.get("action").and_then(|a| a.as_str()).unwrap_or("(none)").to_owned();
    if action == "multi" {
        let subs = json.pointer("/params/actions").and_then(|a| a.as_array()).cloned().unwrap_or_default();
        for sub in subs {
            let name = sub.get("action").and_then(|a| a.as_str()).unwrap_or("(none)");
            *actions.entry(format!("multi/{name}")).or_default() += 1;
        }
    }
    *actions.entry(action).or_default() += 1;
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) -> Result<(), String> {
    let Some((request, head_end)) = read_request(&mut conn)? else { return Ok(()) };
    let port = lock(state).backend_port;
    let started = std::time::Instant::now();
    let mut backend =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect to the backend on port {port}: {e}"))?;
    backend.write_all(&request).map_err(|e| format!("forward the request: {e}"))?;
    let mut reply = Vec::new();
    backend.read_to_end(&mut reply).map_err(|e| format!("read the backend's reply: {e}"))?;
    let waited = started.elapsed();
    // Counted before the reply is relayed, so a client that exits right after it is fully counted.
    {
        let body = &request[head_end..];
        let mut state = lock(state);
        let capture = state.capture;
        let record = &mut state.record;
        record.requests += 1;
        record.bytes_up += request.len();
        record.bytes_down += reply.len();
        record.backend += waited;
        count_actions(body, &mut record.actions);
        if capture {
            record.bodies.push(body.to_vec());
        }
    }
    conn.write_all(&with_connection_close(reply)).map_err(|e| format!("relay the reply: {e}"))?;
    let _ = conn.shutdown(std::net::Shutdown::Both);
    Ok(())
}
