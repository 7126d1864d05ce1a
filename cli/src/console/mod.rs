//! `scanfail console`: a local web console for the API, served on 127.0.0.1 only. The page and
//! its assets are built into the binary; its calls to `/v1/…` are signed here with the same
//! credential chain as every other command and forwarded to the API, so credentials never reach
//! the browser. [`gate`] decides what each request may do; this module does it.

pub mod assets;
pub mod gate;
pub mod launch;

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use scan_failures_http::params::ParamError;
use serde_json::{json, Value};
use thiserror::Error;

use crate::api::client::Client;
use crate::api::{connect, ConnectError};
use crate::args::ConsoleArgs;
use crate::exit;
use assets::Served;
use gate::{decide, Decision, Seen, TOKEN_FRAGMENT, TOKEN_HEADER};

/// The largest request body forwarded (a triage note is at most 1 KiB, the API's bodies 4 KiB).
pub const MAX_BODY: usize = 16 * 1024;
/// The longest query string forwarded (the API refuses more than 64 parameters of 1 KiB).
pub const MAX_QUERY: usize = 8 * 1024;
/// Connections served at once; more wait in the listener's backlog. A browser opens six per
/// host: this bounds the file descriptors connections hold (a quarter of the usual soft limit
/// of 1,024), so that another local user's connections cannot exhaust them.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a connection may take to send a request's headers, or its body: one that sends
/// nothing is closed after it, and frees its place.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an answer's write may wait on a connection that reads none of it: one that stops
/// reading (or asks for answers it never reads) is closed after it, and frees its place, so
/// that [`MAX_CONNECTIONS`] of them cannot keep the page from being served.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The pause after a connection could not be accepted (the process out of file descriptors,
/// say) before trying again: the server goes on, rather than stop or spin.
const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw a random token from the operating system: {0}")]
    Random(String),
    #[error("the console's server stopped")]
    Serve(#[source] std::io::Error),
}

impl ConsoleError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Connect(e) => e.exit_code(),
            Self::Bind { .. } => exit::USAGE,
            Self::Random(_) | Self::Serve(_) => exit::SERVER,
        }
    }
}

/// A fresh token: 32 bytes from the operating system, in hex.
pub fn new_token() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ConsoleError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `scanfail console`: connects as every admin command does, listens on 127.0.0.1, prints the
/// URL (and opens it with `--open`), then serves until interrupted (Ctrl-C: the redirect file
/// of `--open`, if still there, is removed, and the command ends with success).
pub async fn console(args: ConsoleArgs) -> Result<(), ConsoleError> {
    let client = connect(&args.api).await?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .map_err(|source| ConsoleError::Bind { port: args.port, source })?;
    let port = listener.local_addr().map_err(ConsoleError::Serve)?.port();
    let token = new_token()?;
    let url = format!("http://127.0.0.1:{port}/{TOKEN_FRAGMENT}{token}");
    // Written, not printed: a reader that closes the pipe after the URL must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "scanfail console: {url}");
    let _ = writeln!(
        out,
        "scanfail console: signs with your AWS credentials; the URL is the key: do not share it. Ctrl-C stops it."
    );
    let _ = out.flush();
    let redirect = if args.open { open_browser(port, &url) } else { None };
    let served = tokio::select! {
        served = serve(listener, Arc::new(client), token) => served,
        // A handler that could not be set up disables this branch, rather than end the console.
        Ok(()) = tokio::signal::ctrl_c() => Ok(()),
    };
    if let Some(page) = redirect {
        let _ = std::fs::remove_file(page);
    }
    served
}

/// Opens `url` with the desktop's opener, through a redirect file only the user can read
/// ([`launch`]), so that the token is on no command line; the file's path. A failure is said,
/// not fatal (the URL is printed).
fn open_browser(port: u16, url: &str) -> Option<std::path::PathBuf> {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let dir = launch::redirect_dir(|name| std::env::var(name).ok());
    launch::open_through_file(opener, &dir, port, url, launch::REDIRECT_KEPT)
        .map_err(|e| crate::say(&format!("{e}: open the URL above yourself")))
        .ok()
}

/// Serves `listener` with `client` and `token` until the process is stopped: at most
/// [`MAX_CONNECTIONS`] connections at once, each closed when it is silent for [`READ_TIMEOUT`]
/// while a request is due, or reads nothing of an answer for [`WRITE_TIMEOUT`]; a connection
/// that cannot be accepted is said and passed over.
pub async fn serve(listener: tokio::net::TcpListener, client: Arc<Client>, token: String) -> Result<(), ConsoleError> {
    let port = listener.local_addr().map_err(ConsoleError::Serve)?.port();
    let token: Arc<str> = token.into();
    let places = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // Said once until a connection is accepted again, not once per try.
    let mut failing = false;
    loop {
        // Never closed: the semaphore lives as long as this loop.
        let Ok(place) = places.clone().acquire_owned().await else { continue };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if !failing {
                    crate::say(&format!("could not accept a connection ({e}); trying again"));
                }
                failing = true;
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        failing = false;
        let (client, token) = (client.clone(), token.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (client, token) = (client.clone(), token.clone());
                async move { Ok::<_, Infallible>(handle(req, &client, &token, port).await) }
            });
            // The write deadline counts from a write that could not go on, and starts again at
            // each one that does.
            let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
            stream.set_write_timeout(Some(WRITE_TIMEOUT));
            // A connection that fails (the browser went away, it was silent, or it stopped
            // reading) ends alone.
            let _ = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(Box::pin(stream)), service)
                .await;
            drop(place);
        });
    }
}

/// The answer to one request.
async fn handle(req: Request<Incoming>, client: &Client, token: &str, port: u16) -> Response<Full<Bytes>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let seen = Seen {
        method: req.method().as_str(),
        path: req.uri().path(),
        host: header("host"),
        origin: header("origin"),
        fetch_site: header("sec-fetch-site"),
        token: header(TOKEN_HEADER),
    };
    match decide(&seen, port, token) {
        Decision::Serve(Served::File(file)) => {
            respond(StatusCode::OK, file.content_type, Bytes::from_static(file.body.as_bytes()))
        }
        Decision::Serve(Served::Catalog) => {
            respond(StatusCode::OK, "application/json", Bytes::from(assets::catalog().to_string()))
        }
        Decision::Refuse { status, reason } => problem(status, reason),
        Decision::Forward => forward(req, client).await,
    }
}

/// The request signed and sent to the API; its answer as it came.
async fn forward(req: Request<Incoming>, client: &Client) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().unwrap_or_default();
    if raw_query.len() > MAX_QUERY {
        return problem(414, "the query string is too long");
    }
    let query = match canonical_query(raw_query) {
        Ok(query) => query,
        Err(e) => return problem(400, &e.to_string()),
    };
    let body = match tokio::time::timeout(READ_TIMEOUT, Limited::new(req.into_body(), MAX_BODY).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return problem(413, "the request body is over 16 KiB"),
        Err(_) => return problem(408, "the request body did not arrive in time"),
    };
    let json: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(_) => return problem(400, "the request body is not JSON"),
        }
    };
    match client.forward(&method, &path, &query, json.as_ref()).await {
        Ok((status, content_type, bytes)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            respond(status, served_type(&content_type), bytes)
        }
        Err(e) => problem(502, &scan_failures_domain::text::error_chain(&e)),
    }
}

/// The content type an answer of the API is served with on the console's origin: the API's own
/// JSON types as they came, anything else as JSON, so that nothing upstream (a proxy's HTML
/// error page, say) is ever rendered as a page of this origin.
pub fn served_type(upstream: &str) -> &'static str {
    match upstream.split(';').next().map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("application/problem+json") => "application/problem+json",
        _ => "application/json",
    }
}

/// The browser's query (`+` for spaces, its own choice of escapes) in the encoding the request
/// is signed in: each name and value decoded as the API decodes them, then encoded as the other
/// commands do. Escapes that do not spell UTF-8 are refused by name, as the API refuses them:
/// decoded lossily, `%FF` became U+FFFD and the API answered a wrong empty page, not its 400.
pub fn canonical_query(raw: &str) -> Result<String, ParamError> {
    let pairs = scan_failures_http::query_string::pairs(raw)?;
    let borrowed: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    Ok(crate::api::query::encode(&borrowed))
}

fn set(res: &mut Response<Full<Bytes>>, name: &'static str, value: &str) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

/// A response with the headers every answer carries: never cached, never framed, never sniffed,
/// no referrer, scripts and styles from this origin only, and no CORS header at all.
fn respond(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    set(&mut res, "content-type", content_type);
    set(&mut res, "cache-control", "no-store");
    set(&mut res, "x-content-type-options", "nosniff");
    set(&mut res, "x-frame-options", "DENY");
    set(&mut res, "referrer-policy", "no-referrer");
    set(&mut res, "content-security-policy", "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'none'; require-trusted-types-for 'script'");
    res
}

/// A refusal in the API's own error shape, so the page handles both alike.
fn problem(status: u16, message: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"code": status.as_u16(), "error": "console", "message": message}).to_string();
    respond(status, "application/json", Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browsers_query_is_signed_in_the_encoding_of_the_other_commands() {
        assert_eq!(
            canonical_query("filter.search=manifest+unknown&filter.repository=quay.io%2facme/web&days=7"),
            Ok("filter.search=manifest%20unknown&filter.repository=quay.io%2Facme%2Fweb&days=7".to_owned())
        );
        assert_eq!(canonical_query(""), Ok(String::new()));
    }

    /// The API's own refusal, word for word; before, `%FF` was forwarded as U+FFFD and answered
    /// with an empty page.
    #[test]
    fn escapes_that_do_not_spell_utf8_are_refused_by_name_as_the_api_refuses_them() {
        assert_eq!(
            canonical_query("filter.cluster=%FF").map_err(|e| e.to_string()),
            Err("filter.cluster: its percent-escapes must spell UTF-8 text (é is %C3%A9)".to_owned())
        );
        assert_eq!(canonical_query("filter.search=%C3%A9chec"), Ok("filter.search=%C3%A9chec".to_owned()));
    }

    #[test]
    fn only_json_is_served_whatever_type_the_api_answers_with() {
        assert_eq!(served_type("application/json"), "application/json");
        assert_eq!(served_type("application/problem+json; charset=utf-8"), "application/problem+json");
        for other in ["text/html", "text/html; charset=utf-8", "", "image/svg+xml", "application/javascript"] {
            assert_eq!(served_type(other), "application/json", "{other}");
        }
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
