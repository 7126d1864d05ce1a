//! `scanfail console`'s local server over real sockets, with a stand-in for the API (a local
//! HTTP server that records what reaches it): what it refuses never reaches the API, what it
//! forwards carries a SigV4 signature botocore computes the same for the credentials in use,
//! and the API's answers come back as they were. A stand-in because what must be shown is what
//! never reaches the API, which only a server recording every request can show; the console
//! against the real api function is `tests/tests/console.rs`'s.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use common::botocore;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use scanfail::api::client::Client;
use scanfail::api::endpoint::Endpoint;
use scanfail::console::{new_token, serve};
use serde_json::{json, Value};

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION: &str = "FwoGZXIvYXdzEXAMPLETOKEN";

/// A request as the stand-in API received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The stand-in API on a free port: records each request, answers 403 in the function's
/// shape for a path with `forbidden` in it, else 200 with a small JSON body.
async fn stand_in_api() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let method = req.method().to_string();
                        let path_and_query = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                            .collect();
                        let body =
                            String::from_utf8(req.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
                        let forbidden = path_and_query.contains("forbidden");
                        log.lock().unwrap().push(Received { method, path_and_query, headers, body });
                        let (status, answer) = if forbidden {
                            (
                                403,
                                json!({"code": 403, "error": "forbidden", "message": "arn:aws:iam::111122223333:user/viewer lacks the \"Administration write\" permission"}),
                            )
                        } else {
                            (200, json!({"events": [], "answeredBy": "api"}))
                        };
                        let mut res = hyper::Response::new(Full::new(Bytes::from(answer.to_string())));
                        *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        res.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(res)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (port, seen)
}

/// The console on a free port, forwarding to the API at `api_port`; its port and token.
async fn console(api_port: u16) -> (u16, String) {
    let endpoint = Endpoint::parse(Some(&format!("http://127.0.0.1:{api_port}"))).unwrap();
    let credentials = Credentials::new(KEY, SECRET, Some(SESSION.to_owned()), None, "test");
    let client = Client::new(endpoint, credentials, "eu-west-1".to_owned()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = new_token().unwrap();
    tokio::spawn(serve(listener, Arc::new(client), token.clone()));
    (port, token)
}

/// An answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `head` (request line and headers, without the final blank line) and `body` as a
/// browser or another local process would, on its own connection, from a blocking thread.
async fn send(port: u16, head: String, body: &str) -> Answer {
    let body = body.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let request = format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer { status, headers, body: body.to_owned() }
    })
    .await
    .unwrap()
}

/// Recomputes the signature of what the API received with botocore, at the time it names.
fn assert_signed_for_the_credentials(r: &Received, api_port: u16) {
    let date = r.header("x-amz-date").expect("x-amz-date");
    let time = time::PrimitiveDateTime::parse(
        date,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .unwrap()
    .assume_utc()
    .unix_timestamp();
    let mut headers = serde_json::Map::new();
    for name in ["host", "content-type"] {
        if let Some(v) = r.header(name) {
            headers.insert(name.to_owned(), json!(v));
        }
    }
    let theirs = botocore(&json!({
        "method": r.method, "url": format!("http://127.0.0.1:{api_port}{}", r.path_and_query),
        "headers": headers, "body": r.body, "time": time,
        "key": KEY, "secret": SECRET, "token": SESSION, "region": "eu-west-1",
    }));
    assert_eq!(r.header("authorization"), theirs["authorization"].as_str(), "{r:?}");
    assert_eq!(r.header("x-amz-security-token"), Some(SESSION));
    assert!(r.header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_token_from_another_origin_or_host_or_off_the_api_are_refused_and_never_reach_it() {
    let (api_port, seen) = stand_in_api().await;
    let (port, token) = console(api_port).await;
    let host = format!("Host: 127.0.0.1:{port}");
    let header = format!("X-Scanfail-Token: {token}");
    let cases = [
        (format!("GET /v1/administration/events HTTP/1.1\r\n{host}"), 401),
        (format!("GET /v1/administration/events HTTP/1.1\r\n{host}\r\nX-Scanfail-Token: guess"), 401),
        (format!("GET /v1/administration/events?token={token} HTTP/1.1\r\n{host}"), 401),
        // The token as a cookie (what the console once set, and a host's cookies reach every port).
        (format!("GET /v1/administration/events HTTP/1.1\r\n{host}\r\nCookie: scanfail_console_{port}={token}"), 401),
        (
            format!(
                "POST /v1/administration/events/x/triage HTTP/1.1\r\n{host}\r\n{header}\r\nOrigin: http://evil.example"
            ),
            403,
        ),
        (
            format!(
                "GET /v1/administration/events HTTP/1.1\r\n{host}\r\n{header}\r\nOrigin: http://127.0.0.1:{}",
                port + 1
            ),
            403,
        ),
        (format!("GET /v1/administration/events HTTP/1.1\r\nHost: evil.example:{port}\r\n{header}"), 403),
        (format!("GET /v1/administration/events HTTP/1.1\r\n{host}\r\n{header}\r\nSec-Fetch-Site: cross-site"), 403),
        (format!("GET /v1/administration/events HTTP/1.1\r\n{host}\r\n{header}\r\nSec-Fetch-Site: same-site"), 403),
        (format!("GET /etc/passwd HTTP/1.1\r\n{host}\r\n{header}"), 404),
        (format!("GET /v2/administration/events HTTP/1.1\r\n{host}\r\n{header}"), 404),
    ];
    for (head, status) in cases {
        let answer = send(port, head.clone(), "").await;
        assert_eq!(answer.status, status, "{head}: {}", answer.body);
        assert_eq!(answer.json()["error"], "console", "{head}");
        assert!(answer.header("access-control-allow-origin").is_none(), "{head}: no CORS, ever");
    }
    assert_eq!(seen.lock().unwrap().len(), 0, "nothing refused reached the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_loads_without_the_token_and_calls_with_its_header_are_forwarded_signed_and_answered() {
    let (api_port, seen) = stand_in_api().await;
    let (port, token) = console(api_port).await;
    let host = format!("Host: 127.0.0.1:{port}");

    // The page and its scripts hold no secret: no token, no cookie set (the token stays in the tab).
    let page = send(port, format!("GET / HTTP/1.1\r\n{host}"), "").await;
    assert_eq!((page.status, page.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert_eq!(page.header("set-cookie"), None);
    assert!(page.body.contains("<script type=\"module\" src=\"/app.js\"></script>"));
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'none'; require-trusted-types-for 'script'")
    );
    assert_eq!(send(port, format!("GET /app.js HTTP/1.1\r\n{host}"), "").await.status, 200);
    let header = format!("X-Scanfail-Token: {token}");

    // A list with the browser's encoding, from the page's own origin.
    let list = send(
        port,
        format!(
            "GET /v1/administration/events?filter.search=manifest+unknown&filter.repository=quay.io%2facme/web HTTP/1.1\r\n{host}\r\n{header}\r\nOrigin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin"
        ),
        "",
    )
    .await;
    assert_eq!((list.status, list.json()), (200, json!({"events": [], "answeredBy": "api"})));
    // A triage with a body.
    let body = r#"{"state":"acknowledged","note":"tracked in SEC-1"}"#;
    let triage = send(
        port,
        format!("POST /v1/administration/events/3f0c/triage HTTP/1.1\r\n{host}\r\n{header}\r\nContent-Type: application/json"),
        body,
    )
    .await;
    assert_eq!(triage.status, 200);
    // Not on `localhost`, which a browser tries on [::1] first: refused before anything is sent.
    let on_localhost = send(
        port,
        format!("POST /v1/administration/events/3f0c/triage HTTP/1.1\r\nHost: localhost:{port}\r\n{header}\r\nContent-Type: application/json"),
        body,
    )
    .await;
    assert_eq!(on_localhost.status, 403);
    // The API's refusal comes back as it was, for the page to explain.
    let refused = send(port, format!("DELETE /v1/forbidden HTTP/1.1\r\n{host}\r\n{header}"), "").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"], "forbidden");

    let received = seen.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received.iter().map(|r| (r.method.as_str(), r.path_and_query.as_str())).collect::<Vec<_>>(),
        [
            (
                "GET",
                "/v1/administration/events?filter.search=manifest%20unknown&filter.repository=quay.io%2Facme%2Fweb"
            ),
            ("POST", "/v1/administration/events/3f0c/triage"),
            ("DELETE", "/v1/forbidden"),
        ]
    );
    assert_eq!(serde_json::from_str::<Value>(&received[1].body).unwrap(), serde_json::from_str::<Value>(body).unwrap());
    for r in &received {
        assert_signed_for_the_credentials(r, api_port);
        // Nothing of the browser's goes on: no token, no cookie, no origin.
        assert!(r.header("x-scanfail-token").is_none(), "{r:?}");
        assert!(r.header("cookie").is_none() && r.header("origin").is_none(), "{r:?}");
    }
}
