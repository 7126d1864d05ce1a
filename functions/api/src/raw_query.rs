//! An HTTP API event's raw query string (and its `X-Forwarded-Proto` header) made fit for
//! `lambda_http`'s conversion.
//!
//! `lambda_http` appends `rawQueryString` to the request's URI as it came and `expect`s the
//! URI to build: a query with a byte the `http` crate refuses (`"`, `<`, `>`, a space, a
//! control character, `{`, `|`, …, as a client that does not encode them sends it) panicked
//! before any of this function's code ran, and with `panic = "abort"` the process ended: the
//! caller got API Gateway's bare 500, and the instance a cold start. Here every such byte is
//! percent-encoded first, which the parameters' decoding undoes: `filter.search="x"` is read as
//! `"x"`. A `#` is encoded too, or it would cut the query as a fragment.
//!
//! The conversion also takes the URI's scheme from `X-Forwarded-Proto` as sent and `unwrap`s
//! the URL it makes: a value that is not a scheme (`1`, `http,https`, empty) panicked the same
//! way. Such a value is replaced by `https`, what API Gateway serves.

use std::borrow::Cow;
use std::fmt::Write as _;

use lambda_http::http::HeaderValue;
use lambda_http::request::LambdaRequest;

/// The header `lambda_http` takes the URI's scheme from.
const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// The longest raw query string passed on: with the path, a URI past 65,534 bytes does not
/// build either. API Gateway's own limits on a request line are far below it; one past it is
/// replaced by [`TOO_LONG`].
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// What replaces a query past [`MAX_QUERY_BYTES`]: a parameter no route takes, so the answer is
/// a 400 naming it rather than a panic.
pub const TOO_LONG: &str = "query-string-too-long=1";

/// `event` with its raw query string fit for a URI and its `X-Forwarded-Proto`, when there
/// is one, `http` or `https` (other events as they are).
pub fn fit(mut event: LambdaRequest) -> LambdaRequest {
    if let LambdaRequest::ApiGatewayV2(request) = &mut event {
        let proto = request.headers.get(FORWARDED_PROTO).map(|v| v.as_bytes());
        if proto.is_some_and(|p| p != b"https" && p != b"http") {
            request.headers.insert(FORWARDED_PROTO, HeaderValue::from_static("https"));
        }
        if let Some(query) = request.raw_query_string.as_mut() {
            if let Cow::Owned(encoded) = encoded(query) {
                *query = encoded;
            }
            if query.len() > MAX_QUERY_BYTES {
                TOO_LONG.clone_into(query);
            }
        }
    }
    event
}

/// Whether the `http` crate takes `b` as it is in a query. Conservative: RFC 3986's unreserved
/// and sub-delimiter characters, `:@/?`, `%` (a query's own escapes), and every byte of a
/// character past ASCII (the query is UTF-8).
fn kept(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// `query` with every byte not [`kept`] percent-encoded; borrowed when there is none.
fn encoded(query: &str) -> Cow<'_, str> {
    if query.bytes().all(kept) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len() + 16);
    for c in query.chars() {
        match u8::try_from(c) {
            Ok(b) if !kept(b) => {
                let _ = write!(out, "%{b:02X}");
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Request;

    fn event(query: &str) -> LambdaRequest {
        serde_json::from_value(serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /v1/administration/events",
            "rawPath": "/v1/administration/events",
            "rawQueryString": query,
            "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "abc123", "stage": "$default",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "http": {"method": "GET", "path": "/v1/administration/events", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "curl"},
                "requestId": "r", "routeKey": "GET /v1/administration/events", "time": "06/Dec/2026:10:00:00 +0000", "timeEpoch": 0
            },
            "isBase64Encoded": false
        }))
        .unwrap()
    }

    /// The pairs the handler reads.
    fn pairs(request: &Request) -> Vec<(String, String)> {
        scan_failures_http::query_string::pairs(request.uri().query().unwrap_or("")).unwrap()
    }

    #[test]
    fn bytes_a_uri_refuses_are_encoded_and_read_back_as_sent() {
        let sent = "filter.search=\"x y\"<a>{b}|c^d`e\\f#g\u{1}&filter.reason=TIMEOUT&n=%C3%A9&m=é";
        let request = Request::from(fit(event(sent)));
        assert_eq!(
            pairs(&request),
            [
                ("filter.search".to_owned(), "\"x y\"<a>{b}|c^d`e\\f#g\u{1}".to_owned()),
                ("filter.reason".to_owned(), "TIMEOUT".to_owned()),
                ("n".to_owned(), "é".to_owned()),
                ("m".to_owned(), "é".to_owned()),
            ]
        );
        // A query without such bytes is passed on as it is.
        let plain = "filter.reason=TIMEOUT&pagination.limit=5&filter.from=2026-11-25T12:00:00%2B02:00";
        assert_eq!(Request::from(fit(event(plain))).uri().query(), Some(plain));
    }

    #[test]
    fn a_query_past_the_bound_is_a_parameter_no_route_takes() {
        let request = Request::from(fit(event(&format!("filter.search={}", "\"".repeat(MAX_QUERY_BYTES)))));
        assert_eq!(request.uri().query(), Some(TOO_LONG));
    }

    #[test]
    fn a_forwarded_proto_that_is_not_a_scheme_is_taken_as_https() {
        for sent in ["1", "http,https", "", "https:"] {
            let mut e = event("filter.reason=TIMEOUT");
            if let LambdaRequest::ApiGatewayV2(r) = &mut e {
                r.headers.insert(FORWARDED_PROTO, HeaderValue::from_str(sent).unwrap());
            }
            let request = Request::from(fit(e));
            assert_eq!(request.uri().scheme_str(), Some("https"), "{sent:?}");
            assert_eq!(request.uri().query(), Some("filter.reason=TIMEOUT"), "{sent:?}");
        }
        let mut plain = event("");
        if let LambdaRequest::ApiGatewayV2(r) = &mut plain {
            r.headers.insert(FORWARDED_PROTO, HeaderValue::from_static("http"));
        }
        assert_eq!(Request::from(fit(plain)).uri().scheme_str(), Some("http"));
    }

    /// The faults this module answers: unfit, the conversion panics.
    #[test]
    #[should_panic(expected = "called `Result::unwrap()` on an `Err` value")]
    fn unfit_a_forwarded_proto_that_is_not_a_scheme_panics_in_lambda_http() {
        let mut e = event("");
        if let LambdaRequest::ApiGatewayV2(r) = &mut e {
            r.headers.insert(FORWARDED_PROTO, HeaderValue::from_static("1"));
        }
        let _ = Request::from(e);
    }

    #[test]
    #[should_panic(expected = "failed to build request")]
    fn unfit_a_quote_in_the_query_panics_in_lambda_http() {
        let _ = Request::from(event("filter.search=\"x\""));
    }
}
