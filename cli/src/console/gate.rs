//! What the console's local server does with a request, decided from its method, path and
//! headers alone (pure, so every rule is a unit test): the defences that keep other local pages
//! and processes from using the admin's credentials through it.
//!
//! - **Host**: only `127.0.0.1:<port>`, the address the server listens on and the URL names. A
//!   DNS-rebinding page reaches 127.0.0.1 under its own host name; its requests carry that name
//!   and are refused. Not `localhost`: a browser tries `[::1]` first, where the server does not
//!   listen and another local user could, to be handed the URL's token.
//! - **Origin / Sec-Fetch-Site**: a request from another origin is refused, whatever it
//!   carries, and a call to the API from another site or another port of this host (`cross-site`,
//!   `same-site`) too; the server never sends CORS headers, so a cross-origin page can neither
//!   read an answer nor send the token's header (a custom header asks first, and is never let).
//! - **Token**: a random token per run, in the fragment of the URL the command prints
//!   ([`TOKEN_FRAGMENT`]), which no request carries. The page keeps it in its tab's
//!   `sessionStorage`, which only this origin (scheme, host and port) can read, and sends it
//!   with every call to the API in [`TOKEN_HEADER`]. Not a cookie: a browser sends a host's
//!   cookies to every port of it, so any other server on 127.0.0.1 the admin's browser visited
//!   would have received the token.
//! - **Paths**: the page, its assets and the catalog (`GET` only, without the token: they hold
//!   no secret, and a page reached from a file or a bookmark must load to ask for the token),
//!   and the API's `/v1/…` routes (the token); nothing else.

/// The header every call of the page to the API carries the token in (`cli/console/api.js`).
pub const TOKEN_HEADER: &str = "x-scanfail-token";
/// What precedes the token in the printed URL's fragment (`cli/console/api.js` reads it).
pub const TOKEN_FRAGMENT: &str = "#token=";

use super::assets::Served;

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
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
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub fetch_site: Option<&'a str>,
    /// The value of [`TOKEN_HEADER`].
    pub token: Option<&'a str>,
}

/// Equal, in time that depends on the lengths only.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The decision for `req` on the server at `port` whose token is `token`.
pub fn decide(req: &Seen<'_>, port: u16, token: &str) -> Decision {
    // A browser leaves HTTP's default port out of `Host` and `Origin`.
    let ours = if port == 80 { "127.0.0.1".to_owned() } else { format!("127.0.0.1:{port}") };
    if req.host != Some(ours.as_str()) {
        return Decision::Refuse { status: 403, reason: "unexpected Host: open the console at the URL it printed" };
    }
    if let Some(origin) = req.origin {
        if origin.strip_prefix("http://") != Some(ours.as_str()) {
            return Decision::Refuse { status: 403, reason: "requests from other origins are refused" };
        }
    }
    match (req.method, Served::of(req.path)) {
        ("GET", Some(a)) => return Decision::Serve(a),
        (_, Some(_)) => return Decision::Refuse { status: 405, reason: "the console's pages are read with GET" },
        _ => {}
    }
    // No escapes: the API's paths are plain, and `%2e%2e` would pass for `..` upstream.
    if !req.path.starts_with("/v1/") || req.path.contains("..") || req.path.contains('%') {
        return Decision::Refuse { status: 404, reason: "not a console page or an API route" };
    }
    if matches!(req.fetch_site, Some("cross-site" | "same-site")) {
        return Decision::Refuse { status: 403, reason: "requests from other sites are refused" };
    }
    if !req.token.is_some_and(|t| same(t, token)) {
        return Decision::Refuse { status: 401, reason: "no console token: open the URL scanfail console printed" };
    }
    match req.method {
        "GET" | "POST" | "PUT" | "DELETE" => Decision::Forward,
        _ => Decision::Refuse { status: 405, reason: "the API takes GET, POST, PUT and DELETE" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: u16 = 4711;
    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn on_port_80_the_host_and_origin_a_browser_sends_have_no_port() {
        let bare = Seen { host: Some("127.0.0.1"), origin: Some("http://127.0.0.1"), ..ok("GET", "/") };
        assert!(matches!(decide(&bare, 80, TOKEN), Decision::Serve(_)));
        assert_eq!(refused(decide(&bare, 4711, TOKEN)).0, 403);
        let with_port = Seen { host: Some("127.0.0.1:80"), ..ok("GET", "/") };
        assert_eq!(refused(decide(&with_port, 80, TOKEN)).0, 403);
    }

    fn ok<'a>(method: &'a str, path: &'a str) -> Seen<'a> {
        Seen { method, path, host: Some("127.0.0.1:4711"), token: Some(TOKEN), ..Seen::default() }
    }

    fn refused(d: Decision) -> (u16, &'static str) {
        match d {
            Decision::Refuse { status, reason } => (status, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_page_is_served_to_anyone_on_the_host_and_the_token_opens_the_api() {
        for path in ["/", "/app.js", "/app.css", "/catalog.json"] {
            let bare = Seen { token: None, ..ok("GET", path) };
            assert_eq!(decide(&bare, PORT, TOKEN), Decision::Serve(Served::of(path).unwrap()), "{path}");
            // The redirect file of `--open` is another site to the browser: its page still loads.
            let from_a_file = Seen { fetch_site: Some("cross-site"), ..bare };
            assert_eq!(decide(&from_a_file, PORT, TOKEN), Decision::Serve(Served::of(path).unwrap()), "{path}");
        }
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert_eq!(decide(&ok(method, "/v1/administration/events"), PORT, TOKEN), Decision::Forward, "{method}");
        }
        let same_origin =
            Seen { origin: Some("http://127.0.0.1:4711"), fetch_site: Some("same-origin"), ..ok("POST", "/v1/x") };
        assert_eq!(decide(&same_origin, PORT, TOKEN), Decision::Forward);
    }

    #[test]
    fn without_the_tokens_header_the_api_is_refused() {
        let unauthorized = (401, "no console token: open the URL scanfail console printed");
        let none = Seen { token: None, ..ok("GET", "/v1/administration/events") };
        assert_eq!(refused(decide(&none, PORT, TOKEN)), unauthorized);
        for wrong in ["00", &format!("{TOKEN}0"), &TOKEN[1..], ""] {
            let r = Seen { token: Some(wrong), ..ok("DELETE", "/v1/administration/events") };
            assert_eq!(refused(decide(&r, PORT, TOKEN)), unauthorized, "{wrong}");
        }
    }

    #[test]
    fn another_host_another_origin_or_another_site_or_port_is_refused_even_with_the_token() {
        // `localhost` too: a browser tries [::1] first, where another local user could listen.
        for host in [None, Some("evil.example:4711"), Some("127.0.0.1:4712"), Some("127.0.0.1"), Some("localhost:4711")]
        {
            let r = Seen { host, ..ok("GET", "/v1/administration/events") };
            assert_eq!(
                refused(decide(&r, PORT, TOKEN)),
                (403, "unexpected Host: open the console at the URL it printed"),
                "{host:?}"
            );
        }
        for origin in
            ["http://evil.example", "http://127.0.0.1:8080", "https://127.0.0.1:4711", "null", "http://localhost:4711"]
        {
            let r = Seen { origin: Some(origin), ..ok("POST", "/v1/administration/events/x/triage") };
            assert_eq!(refused(decide(&r, PORT, TOKEN)), (403, "requests from other origins are refused"), "{origin}");
        }
        // `same-site`: a page on another port of 127.0.0.1.
        for site in ["cross-site", "same-site"] {
            let r = Seen { fetch_site: Some(site), ..ok("GET", "/v1/administration/events") };
            assert_eq!(refused(decide(&r, PORT, TOKEN)), (403, "requests from other sites are refused"), "{site}");
        }
    }

    #[test]
    fn only_the_page_and_the_api_routes_exist() {
        for path in ["/etc/passwd", "/v2/x", "/v1", "/favicon.ico", "/v1/../admin", "/v1/%2e%2e/admin", "/v1/a%2Fb"] {
            assert_eq!(refused(decide(&ok("GET", path), PORT, TOKEN)).0, 404, "{path}");
        }
        assert_eq!(refused(decide(&ok("POST", "/"), PORT, TOKEN)).0, 405);
        assert_eq!(refused(decide(&ok("PATCH", "/v1/administration/events"), PORT, TOKEN)).0, 405);
    }

    /// The page's copy of the header's name and of the fragment's prefix.
    #[test]
    fn the_page_sends_the_header_and_reads_the_fragment_this_gate_names() {
        let api = super::super::assets::FILES.iter().find(|f| f.path == "/api.js").map_or("", |f| f.body);
        assert!(api.contains(&format!("\"{TOKEN_HEADER}\"")), "{TOKEN_HEADER} in api.js");
        assert!(api.contains(&format!("\"{TOKEN_FRAGMENT}\"")), "{TOKEN_FRAGMENT} in api.js");
    }
}
