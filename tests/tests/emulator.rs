//! What cargo-lambda watch 1.9.2 (the pinned local Lambda emulator) does wrong, shown on the
//! wire, so that the suite's workaround (`scripts/watch-relay-faults.py`, used by
//! `scripts/schemathesis.sh`) rests on a proven fault and this test fails the day an upgrade
//! fixes it.
//!
//! watch answers a function's `POST /runtime/invocation/{id}/response` before reading its body,
//! and hands the unread body to the waiting caller. A body that arrived whole with the request's
//! first read is relayed; the rest of a larger one is only read when the function sends more on
//! that connection. A function whose next request goes out on another connection leaves its
//! caller waiting (a schemathesis "Read timed out"); one that closes the connection makes watch
//! answer the caller its own 500 (`{"type":"https://httpstatuses.com/500",…}`). The function did
//! answer in both cases. Plain sockets stand in for the caller and the function: the point is
//! the bytes on the wire, which no HTTP client library would let a test hold back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use integration_tests::{unique_name, Watch};

/// The caller: a function URL request to `api` through watch, its status line, or `None`
/// when no answer came within `wait`.
fn call(port: u16, wait: Duration) -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(wait)).expect("timeout");
        s.write_all(b"GET /lambda-url/api/v1/x HTTP/1.1\r\nHost: local\r\n\r\n").expect("request");
        let mut buf = [0_u8; 4096];
        let status = match s.read(&mut buf) {
            Ok(n) if n > 0 => String::from_utf8_lossy(&buf[..n]).lines().next().map(str::to_owned),
            _ => None,
        };
        let _ = tx.send(status);
    });
    rx
}

/// The function: takes the next invocation, then posts a function-URL response whose body
/// holds `size` bytes, all in one write; the early status line it got and its connection.
fn respond(port: u16, size: usize) -> (String, TcpStream) {
    let mut next = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    next.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    next.write_all(b"GET /.rt/api/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: local\r\n\r\n").expect("next");
    let mut head = Vec::new();
    let mut buf = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = next.read(&mut buf).expect("next answered");
        assert!(n > 0, "watch closed the /next connection");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("lambda-runtime-aws-request-id: "))
        .expect("a request id")
        .trim()
        .to_owned();
    let body = format!(
        r#"{{"statusCode":200,"headers":{{"content-type":"text/plain"}},"multiValueHeaders":{{}},"isBase64Encoded":false,"cookies":[],"body":"{}"}}"#,
        "x".repeat(size)
    );
    let mut post = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    post.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let request = format!(
        "POST /.rt/api/2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: local\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    post.write_all(request.as_bytes()).expect("response posted");
    let n = post.read(&mut buf).expect("response answered");
    let status = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned();
    (status, post)
}

#[test]
fn watch_relays_a_large_function_response_only_if_the_function_sends_more_on_its_connection() {
    let watch = Watch::start(&[], &unique_name("emulator"), &[], None);
    let wait = Duration::from_secs(5);

    // A small answer arrives whole with the first read: relayed.
    let caller = call(watch.port, wait);
    let (status, _post) = respond(watch.port, 1_000);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(caller.recv().expect("caller ends").as_deref(), Some("HTTP/1.1 200 OK"));

    // A 20 KB answer, written whole: watch says 200 to the function at once, and the caller
    // waits while the function keeps its connection idle (the function did answer).
    let caller = call(watch.port, wait);
    let (status, post) = respond(watch.port, 20_000);
    assert_eq!(status, "HTTP/1.1 200 OK", "watch answered the function before reading its body");
    assert_eq!(caller.recv().expect("caller ends"), None, "the caller got no answer within {wait:?}");
    drop(post);

    // The same answer, and the function closes the connection: the caller gets watch's own 500.
    // Whether watch's relay reads the rest of the body before its connection task sees the close
    // is a race inside watch: on a loaded machine the relay once won and the caller got the
    // function's 200 (`make test` on e15bd83). So the fault is shown by one of up to
    // `CLOSE_TRIES` tries (the first, every run here), and no try may answer anything else.
    let mut answers = Vec::new();
    while answers.len() < CLOSE_TRIES && answers.last() != Some(&Some(WATCH_500.to_owned())) {
        let caller = call(watch.port, Duration::from_secs(20));
        let (status, post) = respond(watch.port, 20_000);
        assert_eq!(status, "HTTP/1.1 200 OK");
        drop(post);
        answers.push(caller.recv().expect("caller ends"));
    }
    assert_eq!(answers.last(), Some(&Some(WATCH_500.to_owned())), "watch relayed every closed answer: {answers:?}");
    assert!(answers.iter().all(|a| [Some(WATCH_500), Some(RELAYED)].contains(&a.as_deref())), "{answers:?}");
}

/// What the caller gets when watch gives up on the function's answer.
const WATCH_500: &str = "HTTP/1.1 500 Internal Server Error";
/// What the caller gets when watch relays the function's answer.
const RELAYED: &str = "HTTP/1.1 200 OK";
/// Tries of the closed-connection case before the test concludes that watch no longer fails it.
const CLOSE_TRIES: usize = 5;
