//! Sending one signed request to the API and reading its answer: the API's JSON, or an
//! [`ApiError`] that says in one line what went wrong and carries its exit code.

use std::time::{Duration, SystemTime};

use std::sync::Mutex;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use scan_failures_domain::text::prefix;
use serde_json::Value;
use thiserror::Error;

use super::endpoint::Endpoint;
use super::retry;
use super::sign::{sign_request, SignError};
use crate::exit;

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (a page of 1000 events is well below).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot load the system's CA certificates")]
    Tls(#[source] std::io::Error),
    #[error("cannot reach {url}")]
    Unreachable {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no answer from {url} within {} s", REQUEST_TIMEOUT.as_secs())]
    TimedOut { url: String },
    #[error("{url} did not answer as the scan-failures API (HTTP {status}{})", if .content_type.is_empty() { String::new() } else { format!(", {}", .content_type) })]
    NotTheApi { url: String, status: u16, content_type: String },
    #[error("access denied (HTTP {status}): {message}")]
    Denied { status: u16, message: String },
    #[error("refused (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the API failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("the request cannot be built")]
    Request(#[source] http::Error),
    #[error("the AWS credentials expired and could not be loaded again; sign in again, e.g. `aws sso login`")]
    Credentials(#[source] CredentialsError),
}

impl ApiError {
    /// The documented exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Tls(_) | Self::Unreachable { .. } | Self::TimedOut { .. } | Self::NotTheApi { .. } => {
                exit::UNREACHABLE
            }
            Self::Denied { .. } => exit::DENIED,
            Self::Refused { .. } | Self::Request(_) => exit::REFUSED,
            // Credentials loaded again near their expiry are checked by the signer only: a control
            // character in them is the credentials' problem (3), as at the first load.
            Self::Credentials(_) | Self::Sign(SignError::Unfit { .. }) => exit::NO_CREDENTIALS,
            Self::Server { .. } | Self::Sign(_) => exit::SERVER,
        }
    }
}

/// A successful answer: its JSON, and its bytes as they came (printed by `--output json`).
#[derive(Debug)]
pub struct Answer {
    pub json: Value,
    pub raw: Bytes,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// How long before their expiry credentials are loaded again.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// How long after a failed load of the credentials the next is tried, while the current ones
/// are still valid.
pub const RELOAD_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Whether credentials that expire at `expiry` must be loaded again before signing at `now`.
pub fn stale(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_some_and(|e| e <= now + REFRESH_BEFORE_EXPIRY)
}

/// A client of one API endpoint, signing with one identity: its credentials as loaded, and,
/// when the chain's provider is given ([`Client::refreshing`]), loaded again as they near their
/// expiry (SSO, assumed roles and instance credentials last an hour or so; `scanfail console`
/// runs for longer).
pub struct Client {
    http: HyperClient<Https, Full<Bytes>>,
    endpoint: Endpoint,
    credentials: Mutex<Credentials>,
    provider: Option<SharedCredentialsProvider>,
    /// Held while the credentials are loaded again: one load for all the requests that find
    /// them stale at once (the console's views send several). Holds when the last load failed.
    refresh: tokio::sync::Mutex<Option<std::time::Instant>>,
    region: String,
}

impl Client {
    pub fn new(endpoint: Endpoint, credentials: Credentials, region: String) -> Result<Self, ApiError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(ApiError::Tls)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            http: HyperClient::builder(TokioExecutor::new()).build(https),
            endpoint,
            credentials: Mutex::new(credentials),
            provider: None,
            refresh: tokio::sync::Mutex::new(None),
            region,
        })
    }

    /// The same client, loading its credentials again from `provider` when they near expiry.
    pub fn refreshing(self, provider: SharedCredentialsProvider) -> Self {
        Self { provider: Some(provider), ..self }
    }

    fn current(&self) -> Credentials {
        self.credentials.lock().map_or_else(|p| p.into_inner().clone(), |c| c.clone())
    }

    /// The credentials to sign with now: loaded again once they near their expiry, by one
    /// request while the others wait for it. A load that fails (a moment without SSO or STS)
    /// leaves the current ones in use until they expire, said on standard error, and is not
    /// tried again for [`RELOAD_AFTER_FAILURE`] (the requests waiting on it sign at once).
    async fn credentials(&self) -> Result<Credentials, ApiError> {
        let Some(provider) = &self.provider else { return Ok(self.current()) };
        if !stale(self.current().expiry(), SystemTime::now()) {
            return Ok(self.current());
        }
        let mut last_failure = self.refresh.lock().await;
        let current = self.current();
        let valid = current.expiry().is_some_and(|x| x > SystemTime::now());
        let failed_lately = last_failure.is_some_and(|t| t.elapsed() < RELOAD_AFTER_FAILURE);
        if !stale(current.expiry(), SystemTime::now()) || (valid && failed_lately) {
            return Ok(current);
        }
        match provider.provide_credentials().await {
            Ok(fresh) => {
                *last_failure = None;
                if let Ok(mut c) = self.credentials.lock() {
                    *c = fresh.clone();
                }
                Ok(fresh)
            }
            Err(e) if current.expiry().is_some_and(|x| x > SystemTime::now()) => {
                *last_failure = Some(std::time::Instant::now());
                crate::say(&format!(
                    "the credentials could not be loaded again ({}); the current ones sign until they expire",
                    scan_failures_domain::text::error_chain(&e)
                ));
                Ok(current)
            }
            Err(e) => Err(ApiError::Credentials(e)),
        }
    }

    /// Sends `method path?query` with an optional JSON body; the answer.
    pub async fn call(&self, method: &str, path: &str, query: &str, body: Option<&Value>) -> Result<Answer, ApiError> {
        let (status, content_type, bytes) = self.forward(method, path, query, body).await?;
        let json = judge(&self.endpoint.url(path, query), status, &content_type, &bytes)?;
        Ok(Answer { json, raw: bytes })
    }

    /// Sends `method path?query` with `body` (JSON), signed, and returns the answer as it came
    /// (status, content type, bytes) whatever its status: the console relays it to its page. An
    /// answer asking to come back later is waited out and the request sent again, signed anew,
    /// as [`retry::wait`] decides; each wait is said on standard error.
    pub async fn forward(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String, Bytes), ApiError> {
        let url = self.endpoint.url(path, query);
        let mut attempt = 1;
        loop {
            let credentials = self.credentials().await?;
            let request = signed_request(method, &url, body, &credentials, &self.region, SystemTime::now())?;
            let reply = match tokio::time::timeout(REQUEST_TIMEOUT, self.send(request)).await {
                Err(_) => return Err(ApiError::TimedOut { url }),
                Ok(Err(source)) => return Err(ApiError::Unreachable { url, source }),
                Ok(Ok(reply)) => reply,
            };
            let Some(wait) = retry::wait(method, reply.status, reply.retry_after.as_deref(), attempt) else {
                return Ok((reply.status, reply.content_type, reply.bytes));
            };
            attempt += 1;
            crate::say(&format!(
                "the API asked to come back later (HTTP {}): sending the request again in {} s, attempt {attempt} of {}",
                reply.status,
                wait.as_secs(),
                retry::ATTEMPTS
            ));
            tokio::time::sleep(wait).await;
        }
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let response = self.http.request(request.map(|b| Full::new(Bytes::from(b)))).await?;
        let status = response.status().as_u16();
        let header = |name: http::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| prefix(v, 256).to_owned())
        };
        let content_type = header(http::header::CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(http::header::RETRY_AFTER);
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect().await?.to_bytes();
        Ok(Reply { status, content_type, retry_after, bytes })
    }
}

/// An answer as it came.
struct Reply {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    bytes: Bytes,
}

/// The request as sent: `host` and, with a body, `content-type: application/json` set, then
/// signed for `region` at `time`.
pub fn signed_request(
    method: &str,
    url: &str,
    body: Option<&Value>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<http::Request<Vec<u8>>, ApiError> {
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| ApiError::Request(e.into()))?;
    let host = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
    let mut builder = http::Request::builder().method(method).uri(uri).header(http::header::HOST, host);
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let mut request =
        builder.body(body.map(Value::to_string).unwrap_or_default().into_bytes()).map_err(ApiError::Request)?;
    sign_request(&mut request, credentials, region, time)?;
    Ok(request)
}

/// What a bodiless refusal of a request's size says.
const TOO_LONG: &str = "the request is too large for API Gateway (its URL, headers or body): fewer or shorter filters";
/// What a bodiless 429 or 5xx says.
const NO_BODY: &str = "no error body (API Gateway's own, or a proxy's); try again later";

/// The answer's JSON when it succeeded; otherwise the API's message (`{"code","error","message"}`
/// from the function, `{"message"}` from API Gateway) in an error of its class.
pub fn judge(url: &str, status: u16, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let json: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let not_the_api = || ApiError::NotTheApi { url: url.to_owned(), status, content_type: content_type.to_owned() };
    let Some(json) = json else {
        return Err(match status {
            // Bodiless answers of API Gateway (or a proxy before it): the request line and
            // headers past its limits, a throttle, the service failing. Before, each was "not
            // the API" (exit 4), and a script retrying on 7 did not retry a bodiless 502.
            413 | 414 | 431 => ApiError::Refused { status, message: TOO_LONG.to_owned() },
            429 | 500.. => ApiError::Server { status, message: NO_BODY.to_owned() },
            _ => not_the_api(),
        });
    };
    if (200..300).contains(&status) {
        return Ok(json);
    }
    let message = json.get("message").and_then(Value::as_str).map(|m| prefix(m, 1024).to_owned());
    let from_function = json.get("error").is_some();
    match (status, message) {
        (_, None) => Err(not_the_api()),
        (401 | 403, Some(m)) if !from_function => Err(ApiError::Denied {
            status,
            message: format!("{m}: API Gateway refused the caller's IAM identity (execute-api:Invoke on this API, or the signature's region)"),
        }),
        (401 | 403, Some(message)) => Err(ApiError::Denied { status, message }),
        // API Gateway's own 404 is a path no route of this API has: a wrong URL or stage.
        (404, Some(_)) if !from_function => Err(not_the_api()),
        // API Gateway's throttle (429) is the service asking to come back later, as a 5xx is.
        (429 | 500.., Some(message)) => Err(ApiError::Server { status, message }),
        (_, Some(message)) => Err(ApiError::Refused { status, message }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://x.execute-api.eu-west-1.amazonaws.com/v1/administration/events";

    #[test]
    fn the_functions_errors_keep_their_message_and_class() {
        let bad = br#"{"code":400,"error":"bad parameter","message":"filter.level: \"x\" is not a level"}"#;
        let err = judge(URL, 400, "application/json", bad).unwrap_err();
        assert_eq!(
            (err.exit_code(), err.to_string()),
            (exit::REFUSED, "refused (HTTP 400): filter.level: \"x\" is not a level".to_owned())
        );
        let forbidden =
            br#"{"code":403,"error":"forbidden","message":"arn:aws:iam::111122223333:user/bob may not write"}"#;
        let err = judge(URL, 403, "application/json", forbidden).unwrap_err();
        assert_eq!(
            (err.exit_code(), err.to_string()),
            (exit::DENIED, "access denied (HTTP 403): arn:aws:iam::111122223333:user/bob may not write".to_owned())
        );
        let internal = br#"{"code":500,"error":"internal error","message":"internal error (request id r-1)"}"#;
        assert_eq!(judge(URL, 500, "application/json", internal).unwrap_err().exit_code(), exit::SERVER);
        let throttled = judge(URL, 429, "application/json", br#"{"message":"Too Many Requests"}"#).unwrap_err();
        assert_eq!(
            (throttled.exit_code(), throttled.to_string()),
            (exit::SERVER, "the API failed (HTTP 429): Too Many Requests".to_owned())
        );
    }

    #[test]
    fn credentials_are_stale_five_minutes_before_their_expiry_and_never_without_one() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(!stale(None, now));
        assert!(!stale(Some(now + Duration::from_secs(301)), now));
        assert!(stale(Some(now + Duration::from_secs(300)), now));
        assert!(stale(Some(now - Duration::from_secs(1)), now));
    }

    /// Credentials 4 minutes from their expiry are loaded again, once, and kept until near
    /// their own. The providers are functions: no local server issues credentials that expire
    /// when a test needs (moto's STS gives an hour at least) or fails a load on demand.
    #[tokio::test]
    async fn credentials_near_their_expiry_are_loaded_again_from_the_provider_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let expiring = |secs: u64| {
            Credentials::new(
                "AKID",
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + Duration::from_secs(secs)),
                "t",
            )
        };
        let loads = Arc::new(AtomicUsize::new(0));
        let counted = loads.clone();
        let provider =
            SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(Credentials::new(
                        "AKID2",
                        "secret2",
                        None,
                        Some(SystemTime::now() + Duration::from_secs(3600)),
                        "t",
                    ))
                }
            }));
        let endpoint = Endpoint::parse(Some("https://x.execute-api.eu-west-1.amazonaws.com")).unwrap();
        let fixed = Client::new(endpoint, expiring(60), "eu-west-1".into()).unwrap();
        assert_eq!(fixed.credentials().await.unwrap().access_key_id(), "AKID", "without a provider: as loaded");
        let client = fixed.refreshing(provider);
        assert_eq!(client.credentials().await.unwrap().access_key_id(), "AKID2");
        assert_eq!(client.credentials().await.unwrap().access_key_id(), "AKID2");
        assert_eq!(loads.load(Ordering::SeqCst), 1, "loaded again once, then kept until near its own expiry");
    }

    /// Credentials loaded again with a carriage return in the key (a `credential_process` that
    /// prints one) are refused before anything is sent, with the credentials' exit code, 3, as
    /// at the first load. Before, 7 ("try again later"). A provider function: no local server
    /// hands out credentials on a refresh.
    #[tokio::test]
    async fn credentials_loaded_again_with_a_control_character_are_the_credentials_problem() {
        let soon = SystemTime::now() + Duration::from_secs(60);
        let provider =
            SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(|| async {
                Ok(Credentials::new("AKID\r", "secret", Some("token".into()), None, "refreshed"))
            }));
        let endpoint = Endpoint::parse(Some("https://x.execute-api.eu-west-1.amazonaws.com")).unwrap();
        let first = Credentials::new("AKID", "secret", Some("token".into()), Some(soon), "t");
        let client = Client::new(endpoint, first, "eu-west-1".into()).unwrap().refreshing(provider);
        let err = client.call("GET", "/v1/administration/events", "", None).await.unwrap_err();
        assert!(matches!(err, ApiError::Sign(SignError::Unfit { .. })), "{err:?}");
        assert_eq!(err.exit_code(), 3);
    }

    /// Credentials 4 minutes from their expiry (stale: 5 minutes before) whose provider fails
    /// still sign; once expired, the failure is the answer. Eight requests finding them stale at
    /// once load them once (each was a load of its own: eight SSO calls). A provider function,
    /// as above: no local server fails a load on demand.
    #[tokio::test]
    async fn stale_credentials_sign_while_a_load_fails_and_concurrent_requests_load_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let expiring = |secs: i64| {
            let at = if secs >= 0 {
                SystemTime::now() + Duration::from_secs(secs as u64)
            } else {
                SystemTime::now() - Duration::from_secs(secs.unsigned_abs())
            };
            Credentials::new("AKID", "secret", Some("token".into()), Some(at), "t")
        };
        let endpoint = || Endpoint::parse(Some("https://x.execute-api.eu-west-1.amazonaws.com")).unwrap();
        let failures = Arc::new(AtomicUsize::new(0));
        let counted = failures.clone();
        let failing =
            SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Err(aws_credential_types::provider::error::CredentialsError::provider_error("SSO unreachable"))
                }
            }));
        let client = Client::new(endpoint(), expiring(240), "eu-west-1".into()).unwrap().refreshing(failing.clone());
        assert_eq!(client.credentials().await.map(|c| c.access_key_id().to_owned()).ok().as_deref(), Some("AKID"));
        // The failed load is not tried again at once by the next requests: they sign.
        let signed = futures_join8(|| async { client.credentials().await.is_ok() }).await;
        assert_eq!((signed, failures.load(Ordering::SeqCst)), (vec![true; 8], 1));
        let expired = Client::new(endpoint(), expiring(-1), "eu-west-1".into()).unwrap().refreshing(failing);
        assert!(matches!(expired.credentials().await, Err(ApiError::Credentials(_))));

        // Each request counts itself in before asking; the load reads, as it ends, how many had:
        // all eight were waiting on it (they overlapped).
        let (loads, started, waiting) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (counted, seen, during) = (loads.clone(), started.clone(), waiting.clone());
        let slow =
            SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(move || {
                let (counted, seen, during) = (counted.clone(), seen.clone(), during.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    during.store(seen.load(Ordering::SeqCst), Ordering::SeqCst);
                    Ok(Credentials::new("AKID2", "s", None, Some(SystemTime::now() + Duration::from_secs(3600)), "t"))
                }
            }));
        let client = Client::new(endpoint(), expiring(60), "eu-west-1".into()).unwrap().refreshing(slow);
        let one = || async {
            started.fetch_add(1, Ordering::SeqCst);
            client.credentials().await.map(|c| c.access_key_id().to_owned()).ok()
        };
        let all = futures_join8(one).await;
        assert_eq!(waiting.load(Ordering::SeqCst), 8, "every request had asked before the load ended");
        assert!(all.iter().all(|k| k.as_deref() == Some("AKID2")), "{all:?}");
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    /// Eight of `f`'s futures polled together.
    async fn futures_join8<F, Fut, T>(f: F) -> Vec<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let (a, b, c, d, e, g, h, i) = tokio::join!(f(), f(), f(), f(), f(), f(), f(), f());
        vec![a, b, c, d, e, g, h, i]
    }

    #[test]
    fn api_gateways_refusals_say_what_to_check() {
        let err = judge(URL, 403, "application/json", br#"{"message":"Forbidden"}"#).unwrap_err();
        assert_eq!(err.exit_code(), exit::DENIED);
        assert_eq!(
            err.to_string(),
            "access denied (HTTP 403): Forbidden: API Gateway refused the caller's IAM identity (execute-api:Invoke on this API, or the signature's region)"
        );
        let err = judge(URL, 404, "application/json", br#"{"message":"Not Found"}"#).unwrap_err();
        assert_eq!(
            (err.exit_code(), err.to_string()),
            (exit::UNREACHABLE, format!("{URL} did not answer as the scan-failures API (HTTP 404, application/json)"))
        );
    }

    #[test]
    fn an_answer_that_is_not_json_is_not_the_api() {
        let err = judge(URL, 200, "text/html", b"<html>").unwrap_err();
        assert_eq!(
            (err.exit_code(), err.to_string()),
            (exit::UNREACHABLE, format!("{URL} did not answer as the scan-failures API (HTTP 200, text/html)"))
        );
        assert_eq!(judge(URL, 200, "application/json", br#"{"count":3}"#).unwrap(), serde_json::json!({"count": 3}));
        let err = judge(URL, 404, "text/html", b"<html>").unwrap_err();
        assert_eq!(err.exit_code(), exit::UNREACHABLE);
    }

    /// API Gateway's bodiless 414 (a request line and headers past its 10,240 bytes) is the
    /// request's fault, and its bodiless 5xx, or a proxy's, the service's: not "not the API".
    #[test]
    fn a_bodiless_refusal_of_size_or_failure_keeps_its_class() {
        for status in [413, 414, 431] {
            let err = judge(URL, status, "", b"").unwrap_err();
            assert_eq!(
                (err.exit_code(), err.to_string()),
                (
                    exit::REFUSED,
                    format!("refused (HTTP {status}): the request is too large for API Gateway (its URL, headers or body): fewer or shorter filters")
                )
            );
        }
        for status in [429, 500, 502, 503, 504] {
            let err = judge(URL, status, "text/html", b"<html>Bad Gateway</html>").unwrap_err();
            assert_eq!(
                (err.exit_code(), err.to_string()),
                (
                    exit::SERVER,
                    format!("the API failed (HTTP {status}): no error body (API Gateway's own, or a proxy's); try again later")
                )
            );
        }
    }
}
