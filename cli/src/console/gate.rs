//! What the console's local server does with a request, decided from its method, path, query
//! and headers alone (pure, so every rule is a unit test): the defences that keep other local
//! pages and processes from using the admin's credentials through it.
//!
//! - **Host**: only `127.0.0.1:<port>` or `localhost:<port>`. A DNS-rebinding page reaches
//!   127.0.0.1 under its own host name; its requests carry that name and are refused.
//! - **Origin / Sec-Fetch-Site**: a request from another origin (a page on another site or
//!   port) is refused, whatever it carries; the server never sends CORS headers, so a
//!   cross-origin page cannot read an answer either.
//! - **Token**: a random token per run, in the URL the command prints; the first load trades it
//!   for an `HttpOnly`, `SameSite=Strict` cookie, which every later request must carry (a
//!   process that merely finds the port open has neither).
//! - **Paths**: the page and its assets (`GET` only), and the API's `/v1/…` routes; nothing else.

/// The name of the cookie holding the token of the console on `port`. Cookies are shared by
/// every port of a host, so two consoles open at once (say, two accounts) each need their own.
pub fn cookie_name(port: u16) -> String {
    format!("scanfail_console_{port}")
}
/// The query parameter of the printed URL.
pub const TOKEN_PARAM: &str = "token";

use super::assets::Served;

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The printed URL: set the cookie and send the browser to `/` without the token.
    Enter,
    Serve(Served),
    /// Sign and forward to the API.
    Forward,
    Refuse {
        status: u16,
        reason: &'static str,
    },
}

/// The parts of a request the decision reads.
#[derive(Debug, Clone, Default)]
pub struct Seen<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub fetch_site: Option<&'a str>,
    pub cookie: Option<&'a str>,
}

/// The value of `name` in a `Cookie` header.
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The value of `name` in a query string (the token has no characters that need decoding).
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Equal, in time that depends on the lengths only.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The decision for `req` on the server at `port` whose token is `token`.
pub fn decide(req: &Seen<'_>, port: u16, token: &str) -> Decision {
    let ours = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    if !req.host.is_some_and(|h| ours.iter().any(|o| o == h)) {
        return Decision::Refuse { status: 403, reason: "unexpected Host: open the console at the URL it printed" };
    }
    if let Some(origin) = req.origin {
        if !ours.iter().any(|o| origin == format!("http://{o}")) {
            return Decision::Refuse { status: 403, reason: "requests from other origins are refused" };
        }
    }
    if req.fetch_site == Some("cross-site") {
        return Decision::Refuse { status: 403, reason: "requests from other sites are refused" };
    }
    let by_cookie = req.cookie.and_then(|c| cookie_value(c, &cookie_name(port))).is_some_and(|t| same(t, token));
    let by_query = query_value(req.query, TOKEN_PARAM).is_some_and(|t| same(t, token));
    let asset = Served::of(req.path);
    if by_query && asset.is_some_and(Served::is_index) && req.method == "GET" {
        return Decision::Enter;
    }
    if !by_cookie {
        return Decision::Refuse { status: 401, reason: "no console token: open the URL scanfail console printed" };
    }
    match (req.method, asset) {
        ("GET", Some(a)) => return Decision::Serve(a),
        (_, Some(_)) => return Decision::Refuse { status: 405, reason: "the console's pages are read with GET" },
        _ => {}
    }
    if req.path.starts_with("/v1/") && !req.path.contains("..") {
        return match req.method {
            "GET" | "POST" | "PUT" | "DELETE" => Decision::Forward,
            _ => Decision::Refuse { status: 405, reason: "the API takes GET, POST, PUT and DELETE" },
        };
    }
    Decision::Refuse { status: 404, reason: "not a console page or an API route" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: u16 = 4711;
    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ok<'a>(method: &'a str, path: &'a str) -> Seen<'a> {
        Seen {
            method,
            path,
            host: Some("127.0.0.1:4711"),
            cookie: Some("scanfail_console_4712=00; scanfail_console_4711=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            ..Seen::default()
        }
    }

    fn refused(d: Decision) -> (u16, &'static str) {
        match d {
            Decision::Refuse { status, reason } => (status, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_printed_url_sets_the_cookie_and_the_cookie_opens_the_page_the_assets_and_the_api() {
        let enter = Seen { cookie: None, query: &format!("token={TOKEN}"), ..ok("GET", "/") };
        assert_eq!(decide(&enter, PORT, TOKEN), Decision::Enter);
        for path in ["/", "/app.js", "/app.css", "/catalog.json"] {
            assert_eq!(decide(&ok("GET", path), PORT, TOKEN), Decision::Serve(Served::of(path).unwrap()), "{path}");
        }
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert_eq!(decide(&ok(method, "/v1/administration/events"), PORT, TOKEN), Decision::Forward, "{method}");
        }
        let localhost =
            Seen { host: Some("localhost:4711"), origin: Some("http://localhost:4711"), ..ok("GET", "/v1/x") };
        assert_eq!(decide(&localhost, PORT, TOKEN), Decision::Forward);
        let same_origin =
            Seen { origin: Some("http://127.0.0.1:4711"), fetch_site: Some("same-origin"), ..ok("POST", "/v1/x") };
        assert_eq!(decide(&same_origin, PORT, TOKEN), Decision::Forward);
    }

    #[test]
    fn without_the_token_nothing_is_served_and_the_token_in_a_query_opens_only_the_page() {
        let none = Seen { cookie: None, ..ok("GET", "/v1/administration/events") };
        assert_eq!(refused(decide(&none, PORT, TOKEN)).0, 401);
        let wrong = Seen { cookie: Some("scanfail_console_4711=00"), ..ok("GET", "/") };
        assert_eq!(refused(decide(&wrong, PORT, TOKEN)).0, 401);
        let longer = Seen { cookie: Some(&format!("scanfail_console_4711={TOKEN}0")), ..ok("GET", "/") };
        assert_eq!(refused(decide(&longer, PORT, TOKEN)).0, 401);
        // Another console's cookie (another port of the same host) is not this one's.
        let other = Seen { cookie: Some(&format!("scanfail_console_4712={TOKEN}")), ..ok("GET", "/") };
        assert_eq!(refused(decide(&other, PORT, TOKEN)).0, 401);
        // The token in the query of an API call is not enough: only the page trades it.
        let api_by_query =
            Seen { cookie: None, query: &format!("token={TOKEN}"), ..ok("GET", "/v1/administration/events") };
        assert_eq!(refused(decide(&api_by_query, PORT, TOKEN)).0, 401);
    }

    #[test]
    fn another_host_another_origin_or_another_site_is_refused_even_with_the_token() {
        for host in [None, Some("evil.example:4711"), Some("127.0.0.1:4712"), Some("127.0.0.1")] {
            let r = Seen { host, ..ok("GET", "/v1/administration/events") };
            assert_eq!(
                refused(decide(&r, PORT, TOKEN)),
                (403, "unexpected Host: open the console at the URL it printed"),
                "{host:?}"
            );
        }
        for origin in ["http://evil.example", "http://127.0.0.1:8080", "https://127.0.0.1:4711", "null"] {
            let r = Seen { origin: Some(origin), ..ok("POST", "/v1/administration/events/x/triage") };
            assert_eq!(refused(decide(&r, PORT, TOKEN)), (403, "requests from other origins are refused"), "{origin}");
        }
        let r = Seen { fetch_site: Some("cross-site"), ..ok("GET", "/v1/administration/events") };
        assert_eq!(refused(decide(&r, PORT, TOKEN)), (403, "requests from other sites are refused"));
    }

    #[test]
    fn only_the_page_and_the_api_routes_exist() {
        for path in ["/etc/passwd", "/v2/x", "/v1", "/favicon.ico", "/v1/../admin"] {
            assert_eq!(refused(decide(&ok("GET", path), PORT, TOKEN)).0, 404, "{path}");
        }
        assert_eq!(refused(decide(&ok("POST", "/"), PORT, TOKEN)).0, 405);
        assert_eq!(refused(decide(&ok("PATCH", "/v1/administration/events"), PORT, TOKEN)).0, 405);
    }
}
