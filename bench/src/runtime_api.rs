//! A minimal local Lambda Runtime API (2018-06-01): `GET /runtime/invocation/next`,
//! `POST /runtime/invocation/{id}/response` and `/error`, `POST /runtime/init/error`.
//!
//! Function processes started by the benchmark poll it exactly as they poll the Runtime API
//! inside Lambda. It records when each poll arrives (the cold-start figure "exec to first poll")
//! and when each response arrives. One server can feed any number of function processes: an
//! invocation goes to whichever process polls first, as Lambda's execution environments do.

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{self, Message};

const PREFIX: &str = "/2018-06-01/runtime";

/// Something the server saw, in the order it saw it.
#[derive(Debug, Clone)]
pub enum Seen {
    /// A `GET .../invocation/next` arrived (the process is ready for work).
    Poll { at: Instant },
    /// `POST .../init/error`: the function could not start.
    InitError { body: String },
}

/// The outcome of one invocation.
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: Vec<u8>,
    /// `Some` when the function reported an error (its `Lambda-Runtime-Function-Error-Type`).
    pub error_type: Option<String>,
    pub enqueued: Instant,
    pub dispatched: Instant,
    pub completed: Instant,
}

impl Reply {
    /// From `invoke` to the response: what a synchronous caller waits.
    pub fn latency(&self) -> Duration {
        self.completed - self.enqueued
    }
}

struct Pending {
    id: String,
    payload: Arc<Vec<u8>>,
    reply: Sender<Reply>,
    enqueued: Instant,
}

struct InFlight {
    reply: Sender<Reply>,
    enqueued: Instant,
    dispatched: Instant,
}

struct Waiter {
    conn: u64,
    stream: TcpStream,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    waiters: VecDeque<Waiter>,
    in_flight: HashMap<String, InFlight>,
}

struct Shared {
    state: Mutex<State>,
    seen: Mutex<Sender<Seen>>,
    closed: AtomicBool,
    ids: AtomicU64,
    function_arn: String,
}

/// A running Runtime API on `127.0.0.1`, stopped when dropped.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    seen: Mutex<Receiver<Seen>>,
}

impl RuntimeApi {
    pub fn start(function: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            seen: Mutex::new(tx),
            closed: AtomicBool::new(false),
            ids: AtomicU64::new(0),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        });
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for (conn, stream) in (1u64..).zip(listener.incoming()) {
                if s.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(&s, conn, stream));
            }
        });
        Ok(Self { shared, addr, seen: Mutex::new(rx) })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`host:port`, as Lambda sets it).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The next thing the server saw, waiting at most `within`.
    pub fn next_seen(&self, within: Duration) -> Option<Seen> {
        self.seen.lock().ok()?.recv_timeout(within).ok()
    }

    /// Forgets everything seen so far.
    pub fn drain_seen(&self) {
        if let Ok(rx) = self.seen.lock() {
            while rx.try_recv().is_ok() {}
        }
    }

    /// Polls waiting for an invocation right now.
    pub fn waiting(&self) -> usize {
        self.shared.state.lock().map(|st| st.waiters.len()).unwrap_or(0)
    }

    /// Waits until no poll is waiting (the processes that polled have exited), at most `within`.
    pub fn wait_idle(&self, within: Duration) -> bool {
        let start = Instant::now();
        while self.waiting() > 0 {
            if start.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Queues one invocation; the receiver yields its reply.
    pub fn submit(&self, payload: Arc<Vec<u8>>) -> Receiver<Reply> {
        let (tx, rx) = mpsc::channel();
        let id = format!("bench-{:012}", self.shared.ids.fetch_add(1, Ordering::Relaxed));
        if let Ok(mut st) = self.shared.state.lock() {
            st.queue.push_back(Pending { id, payload, reply: tx, enqueued: Instant::now() });
            dispatch(&self.shared, &mut st);
        }
        rx
    }

    /// One synchronous invocation (`RequestResponse`).
    pub fn invoke(&self, payload: Arc<Vec<u8>>, timeout: Duration) -> Result<Reply, String> {
        self.submit(payload).recv_timeout(timeout).map_err(|_| format!("no reply within {timeout:?}"))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.addr);
        if let Ok(mut st) = self.shared.state.lock() {
            for w in st.waiters.drain(..) {
                let _ = w.stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn epoch_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// Pairs queued invocations with waiting polls. A waiter whose connection cannot be written
/// is dropped and the invocation goes to the next one. (A waiter whose process has exited is
/// removed by its connection's thread at end of stream; see [`RuntimeApi::waiting`].)
fn dispatch(shared: &Shared, st: &mut State) {
    while !st.queue.is_empty() {
        let Some(mut w) = st.waiters.pop_front() else { return };
        let Some(p) = st.queue.pop_front() else { return };
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("lambda-runtime-aws-request-id".to_owned(), p.id.clone()),
            ("lambda-runtime-deadline-ms".to_owned(), (epoch_ms() + 300_000).to_string()),
            ("lambda-runtime-invoked-function-arn".to_owned(), shared.function_arn.clone()),
            ("lambda-runtime-trace-id".to_owned(), format!("Root=1-00000000-{:024x};Sampled=0", 1)),
        ];
        if http::write_message(&mut w.stream, "HTTP/1.1 200 OK", &headers, &p.payload).is_err() {
            st.queue.push_front(p);
            continue;
        }
        st.in_flight.insert(p.id, InFlight { reply: p.reply, enqueued: p.enqueued, dispatched: Instant::now() });
    }
}

fn serve(shared: &Shared, conn: u64, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Ok(Some(req)) = http::read_message(&mut reader, false) {
        let at = Instant::now();
        if shared.closed.load(Ordering::SeqCst) {
            break;
        }
        let (method, path) = req.method_path();
        let route = path.strip_prefix(PREFIX).unwrap_or(path);
        let answered = match (method, route) {
            ("GET", "/invocation/next") => {
                note(shared, Seen::Poll { at });
                let Ok(stream) = writer.try_clone() else { break };
                if let Ok(mut st) = shared.state.lock() {
                    st.waiters.push_back(Waiter { conn, stream });
                    dispatch(shared, &mut st);
                }
                Ok(())
            }
            ("POST", "/init/error") => {
                note(shared, Seen::InitError { body: String::from_utf8_lossy(&req.body).into_owned() });
                accepted(&mut writer)
            }
            ("POST", r) if r.starts_with("/invocation/") => {
                let rest = &r["/invocation/".len()..];
                let (id, kind) = rest.rsplit_once('/').unwrap_or((rest, ""));
                complete(shared, id, kind, &req, at);
                accepted(&mut writer)
            }
            _ => http::write_message(&mut writer, "HTTP/1.1 404 Not Found", &[], b"{}"),
        };
        if answered.is_err() {
            break;
        }
    }
    if let Ok(mut st) = shared.state.lock() {
        st.waiters.retain(|w| w.conn != conn);
    }
}

fn note(shared: &Shared, seen: Seen) {
    if let Ok(tx) = shared.seen.lock() {
        let _ = tx.send(seen);
    }
}

fn accepted(w: &mut impl Write) -> std::io::Result<()> {
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    http::write_message(w, "HTTP/1.1 202 Accepted", &headers, br#"{"status":"OK"}"#)
}

fn complete(shared: &Shared, id: &str, kind: &str, req: &Message, at: Instant) {
    let Some(f) = shared.state.lock().ok().and_then(|mut st| st.in_flight.remove(id)) else { return };
    let error_type = match kind {
        "response" => None,
        _ => Some(req.header("lambda-runtime-function-error-type").unwrap_or("Unhandled").to_owned()),
    };
    let _ = f.reply.send(Reply {
        body: req.body.clone(),
        error_type,
        enqueued: f.enqueued,
        dispatched: f.dispatched,
        completed: at,
    });
}
