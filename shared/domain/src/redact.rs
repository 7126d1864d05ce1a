//! Secrets a scanner's error output may carry, taken out before the message leaves the machine
//! or is stored: a URL's password (`https://robot:<password>@registry/…`), an `Authorization`
//! value (`Bearer <token>`, `Basic <base64>`), a setting of a secret (`password=…`,
//! `ROX_API_TOKEN: …`, `"client_secret":"…"`), a secret flag's value on a command line a shell
//! trace printed (`--password …`, `--registry-token …`, `login … -p …`). A stored message is shown to every viewer and
//! copied into dead-letter queues and logs, so it is redacted once, for every producer: the
//! ingest parser and `scanfail`'s report both call [`secrets`].
//!
//! One pass of one automaton over the message finds the words a secret follows; each is then
//! read a few bytes on by its rule. Every delimiter is ASCII, so every cut is on a character
//! boundary. Words stay: only a value is replaced, so what the classifier reads is kept.

use std::borrow::Cow;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// What a message becomes should the automaton ever fail to build (a unit test builds it):
/// nothing of it is kept rather than a secret.
pub const WITHHELD: &str = "[message withheld: its secrets could not be redacted]";

/// How the bytes after a word are read.
#[derive(Clone, Copy)]
enum Rule {
    /// `://user:<secret>@`.
    UrlPassword,
    /// `Bearer <secret>`, `Basic <secret>`.
    AuthValue,
    /// `<name>=<secret>`, `<name>: <secret>`, `"<name>":"<secret>"`.
    Setting,
    /// `Authorization: token <secret>`.
    AuthorizationToken,
}

/// The words (ASCII case-insensitive) and their rules.
const WORDS: [(&str, Rule); 17] = [
    ("://", Rule::UrlPassword),
    ("authorization", Rule::AuthorizationToken),
    ("bearer", Rule::AuthValue),
    ("basic", Rule::AuthValue),
    ("password", Rule::Setting),
    ("passwd", Rule::Setting),
    ("pwd", Rule::Setting),
    ("token", Rule::Setting),
    ("secret", Rule::Setting),
    ("api_key", Rule::Setting),
    ("api-key", Rule::Setting),
    ("apikey", Rule::Setting),
    ("access_key", Rule::Setting),
    ("access-key", Rule::Setting),
    ("accesskey", Rule::Setting),
    ("credential", Rule::Setting),
    // `skopeo … --creds user:password`, `crane --creds …`.
    ("creds", Rule::Setting),
];

static WORDS_FINDER: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(WORDS.map(|(w, _)| w))
        .ok()
});

/// `message` with the secrets it carries replaced by [`REDACTED`]; borrowed when it has none.
pub fn secrets(message: &str) -> Cow<'_, str> {
    let Some(finder) = WORDS_FINDER.as_ref() else { return Cow::Borrowed(WITHHELD) };
    let b = message.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for m in finder.find_iter(message) {
        let Some(&(_, rule)) = WORDS.get(m.pattern().as_usize()) else { continue };
        // A span starting before the last one's end is dropped; a setting's value is not read
        // when it would start there (`token:token:…` would read each on to the end of the run).
        let floor = spans.last().map_or(0, |last| last.1);
        let span = match rule {
            Rule::UrlPassword => url_password(b, m.end()),
            Rule::AuthValue => auth_value(b, m.start(), m.end()),
            Rule::Setting => setting_value(b, m.start(), m.end(), floor),
            Rule::AuthorizationToken => authorization_token(b, m.end()),
        };
        if let Some(span) = span.filter(|s| spans.last().is_none_or(|last| s.0 >= last.1)) {
            spans.push(span);
        }
    }
    // `-p` holds no secret word, and would hide `--password` from the automaton's leftmost
    // matches (its `-p` starts first): its values are found apart and merged in order.
    let short = short_password_flags(b);
    if !short.is_empty() {
        spans.extend(short);
        spans.sort_unstable();
        let mut kept: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for span in spans {
            if kept.last().is_none_or(|last| span.0 >= last.1) {
                kept.push(span);
            }
        }
        spans = kept;
    }
    if spans.is_empty() {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(message.get(at..start).unwrap_or_default());
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(message.get(at..).unwrap_or_default());
    Cow::Owned(out)
}

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(b'\0')
}

fn skip(b: &[u8], mut i: usize, while_: impl Fn(u8) -> bool) -> usize {
    #[cfg(test)]
    let from = i;
    while i < b.len() && while_(b[i]) {
        i += 1;
    }
    #[cfg(test)]
    tests::EXAMINED.with(|e| e.set(e.get() + (i - from)));
    i
}

/// After `://`: the password of `user:password@`, up to the last `@` of the authority, where a
/// URL parser (Go's among them) ends the user information: `ci@example.com:<password>@host`,
/// `u:<p@ss>@host`.
fn url_password(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let authority_end = skip(b, from, |c| !c.is_ascii_whitespace() && !b"/\"'<>?#".contains(&c));
    let authority = b.get(from..authority_end)?;
    let end = from + authority.iter().rposition(|&c| c == b'@')?;
    let colon = from + b.get(from..end)?.iter().position(|&c| c == b':')?;
    (colon + 1 < end).then_some((colon + 1, end))
}

/// A character of a bearer token (RFC 6750's `b64token`, `_` among them: `ghp_…`, `dckr_pat_…`).
fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"._~+/=-".contains(&c)
}

/// After `Bearer`/`Basic` as a word and blanks: a value with a digit or a sign in it, or a
/// capital past its first letter (`Basic dXNlcjpwYXNz`, base64 of `user:pass`, is letters only),
/// so that "basic authentication required" and "Basic Authentication" keep their words.
fn auth_value(b: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    if start > 0 && at(b, start - 1).is_ascii_alphanumeric() {
        return None;
    }
    let value = skip(b, end, |c| c == b' ' || c == b'\t');
    if value == end {
        return None;
    }
    let value_end = skip(b, value, token_char);
    let v = b.get(value..value_end)?;
    let telling = v.iter().any(|&c| !c.is_ascii_alphabetic()) || v.iter().skip(1).any(u8::is_ascii_uppercase);
    (value_end > value && telling).then_some((value, value_end))
}

/// After `Authorization` (a quote maybe), `:` or `=`, blanks (a quote maybe): the value of the
/// `token` scheme (`Authorization: token ghp_…`, GitHub's and Jenkins'), which the word `token`
/// alone does not read, no `=` or `:` following it. `Bearer` and `Basic` are words of their own;
/// "authorization token has expired" (ECR's) has no `:`.
fn authorization_token(b: &[u8], end: usize) -> Option<(usize, usize)> {
    let quote = |i: usize| i + usize::from(matches!(at(b, i), b'"' | b'\''));
    let i = skip(b, quote(end), is_blank);
    if !matches!(at(b, i), b':' | b'=') {
        return None;
    }
    let scheme = quote(skip(b, i + 1, is_blank));
    let after = scheme + "token".len();
    if !b.get(scheme..after).is_some_and(|w| w.eq_ignore_ascii_case(b"token")) || !is_blank(at(b, after)) {
        return None;
    }
    let value = skip(b, after, is_blank);
    let value_end = skip(b, value, token_char);
    (value_end > value).then_some((value, value_end))
}

/// The longest a setting's name goes on after its secret word (`ROX_API_TOKEN`'s `_TOKEN`
/// after `API`): past it the word is not read as a setting's name. The bound keeps the
/// redaction of a message linear: without it, each of a run of secret words (`pwdpwdpwd…`,
/// 21,845 in the 64 KiB a message may have) read the name on to the end of the run.
pub const NAME_GOES_ON: usize = 64;

/// After a secret's word (the name going on, `ROX_API_TOKEN`, `password_file`, for at most
/// [`NAME_GOES_ON`] bytes): blanks, `=` or `:`, blanks, a quote maybe, then the value up to a
/// blank, a quote or `&,;`. Or a flag ending in the word (`--password`, `--registry-token`)
/// and blanks, then a value that is not another flag. `None` as well for a value that would
/// start before `floor`.
fn setting_value(b: &[u8], start: usize, end: usize, floor: usize) -> Option<(usize, usize)> {
    let name_end = b.len().min(end + NAME_GOES_ON + 1);
    let mut i = skip(&b[..name_end], end, |c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if i - end > NAME_GOES_ON {
        return None;
    }
    // A flag and its value (`--password x`), unless `=` or `:` follow (`--password = x`, a setting).
    let after_blanks = skip(b, i, is_blank);
    if i == end && after_blanks > i && !matches!(at(b, after_blanks), b'=' | b':') && is_flag(b, start) {
        i = after_blanks;
        return (i >= floor && at(b, i) != b'-').then(|| quoted_or_bare(b, i)).flatten();
    }
    // A quote closing a key, escaped too (`{\"token\":\"…\"}`, a JSON body as Go's `%q` prints it).
    if at(b, i) == b'\\' && at(b, i + 1) == b'"' {
        i += 1;
    }
    if at(b, i) == b'"' || at(b, i) == b'\'' {
        i += 1;
    }
    i = skip(b, i, is_blank);
    if at(b, i) != b'=' && at(b, i) != b':' {
        return None;
    }
    i = skip(b, i + 1, is_blank);
    if i < floor {
        return None;
    }
    quoted_or_bare(b, i)
}

/// The longest quoted value read to its closing quote (past it, the value ends at a blank).
pub const QUOTED_GOES_ON: usize = 256;

/// A value at `i`: within quotes (`'pa$$ w0rd'`, as `set -x` quotes an argument with a blank or
/// a sign of the shell; `"x y"`), up to the closing quote if it comes within
/// [`QUOTED_GOES_ON`] bytes on the line; else, or bare, up to a blank, a quote or `&,;`.
fn quoted_or_bare(b: &[u8], i: usize) -> Option<(usize, usize)> {
    // An escaped quote (`\"…\"`) quotes as a quote does; its closing backslash stays.
    let escaped = at(b, i) == b'\\' && at(b, i + 1) == b'"';
    let i = if escaped { i + 1 } else { i };
    let quote = at(b, i);
    if quote != b'"' && quote != b'\'' {
        return value(b, i);
    }
    let limit = b.len().min(i + 1 + QUOTED_GOES_ON);
    let close = skip(&b[..limit], i + 1, |c| c != quote && c != b'\n');
    let close_at = if escaped && close > i + 1 && at(b, close - 1) == b'\\' { close - 1 } else { close };
    if at(b, close) == quote && close_at > i + 1 {
        return Some((i + 1, close_at));
    }
    value(b, i + 1)
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// A value from `i` up to a blank, a quote or `&,;`; `None` when empty.
fn value(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let value_end = skip(b, i, |c| !c.is_ascii_whitespace() && !b"\"'&,;".contains(&c));
    (value_end > i).then_some((i, value_end))
}

/// Whether the word at `start` ends a command-line flag: a word of letters, digits, `_` and `-`
/// going back at most [`NAME_GOES_ON`] bytes to a `-` after a blank or the start.
fn is_flag(b: &[u8], start: usize) -> bool {
    let mut i = start;
    while i > 0
        && start - i <= NAME_GOES_ON
        && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'-')
    {
        i -= 1;
    }
    at(b, i) == b'-' && (i == 0 || b[i - 1].is_ascii_whitespace())
}

/// The values of `-p` flags (`docker login -u ci -p <secret> registry`): `-p` after a blank or
/// the start, blanks, then a value that is not another flag. A `-p` of another meaning
/// (`mkdir -p /tmp/x`) loses its value too: the message keeps its words, and a secret is not
/// told apart from a path by its look.
fn short_password_flags(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at_) = b.get(from..).and_then(|rest| rest.windows(2).position(|w| w == b"-p")) {
        let flag = from + at_;
        from = flag + 2;
        if (flag > 0 && !b[flag - 1].is_ascii_whitespace()) || !is_blank(at(b, flag + 2)) {
            continue;
        }
        let i = skip(b, flag + 2, is_blank);
        if at(b, i) != b'-' {
            if let Some(span) = quoted_or_bare(b, i) {
                from = span.1;
                out.push(span);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Bytes the rules have read past their words, on this thread.
        pub(super) static EXAMINED: Cell<usize> = const { Cell::new(0) };
    }

    /// [`secrets`] of `message` and the bytes its rules read.
    fn examined(message: &str) -> (String, usize) {
        EXAMINED.with(|e| e.set(0));
        let out = secrets(message).into_owned();
        (out, EXAMINED.with(Cell::get))
    }

    /// Runs of words each of which would read its value on to the end of the run: the rules
    /// read each byte a bounded number of times (`token:token:…` read 10,922 values of up to
    /// 64 KiB, 358 million bytes, before a value starting inside the last one was left unread).
    #[test]
    fn runs_of_secret_words_are_read_in_linear_time() {
        for (word, redacted) in [("token:", "token:***"), ("pwd=", "pwd=***"), ("secret=", "secret=***")] {
            let run = word.repeat(65_536 / word.len());
            let (out, read) = examined(&run);
            assert!(out == redacted, "{word}: {} bytes out, starting {:?}", out.len(), out.get(..40));
            assert!(read <= 2 * run.len(), "{word}: {read} bytes read for {}", run.len());
        }
        // Quotes never closed: each value's closing quote is looked for at most QUOTED_GOES_ON on.
        for word in ["password=\"a ", "-p 'a "] {
            let run = word.repeat(65_536 / word.len());
            let (_, read) = examined(&run);
            let bound = 2 * run.len() + run.len() / word.len() * QUOTED_GOES_ON;
            assert!(read <= bound, "{word}: {read} bytes read for {}, bound {bound}", run.len());
        }
        for flag in ["-p x ", "--token x "] {
            let run = flag.repeat(65_536 / flag.len());
            let (out, read) = examined(&run);
            assert!(out == run.replace(" x ", " *** "), "{flag}: starting {:?}", out.get(..40));
            assert!(read <= 2 * run.len(), "{flag}: {read} bytes read for {}", run.len());
        }
    }

    #[test]
    fn the_automaton_builds() {
        assert!(WORDS_FINDER.is_some());
    }

    #[test]
    fn secrets_scanners_print_are_replaced_and_the_rest_is_kept() {
        for (given, redacted) in [
            (
                "Get \"https://robot:s3cr3t-P4ss@registry.example.com/v2/\": dial tcp: i/o timeout",
                "Get \"https://robot:***@registry.example.com/v2/\": dial tcp: i/o timeout",
            ),
            (
                "401 Unauthorized: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",
                "401 Unauthorized: Authorization: Bearer ***",
            ),
            ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ***"),
            // base64 of `user:pass`, letters only: its capitals past the first tell it.
            ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
            // The `token` scheme, GitHub's and Jenkins'.
            ("Authorization: token ghp_16C7e42F292c6912E7710c838347Ae178B4a", "Authorization: token ***"),
            ("headers: {\"Authorization\": \"token abc123\"}", "headers: {\"Authorization\": \"token ***\"}"),
            (
                "skopeo inspect --creds robot:s3cr3t docker://quay.io/a/b",
                "skopeo inspect --creds *** docker://quay.io/a/b",
            ),
            ("login failed: password=hunter2, user=ci", "login failed: password=***, user=ci"),
            ("ROX_API_TOKEN: abc.def.ghi rejected", "ROX_API_TOKEN: *** rejected"),
            ("client_secret=\"x y\" and api-key: k-123", "client_secret=\"***\" and api-key: ***"),
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key = ***"),
            ("body: {\"token\":\"abc123\",\"user\":\"ci\"}", "body: {\"token\":\"***\",\"user\":\"ci\"}"),
            ("é ssh://git:pässwörd@host/x é", "é ssh://git:***@host/x é"),
            // The user information ends at the authority's last `@`, as URL parsers read it.
            (
                "Get https://ci@example.com:hunter2@registry.example.com/v2/: 401",
                "Get https://ci@example.com:***@registry.example.com/v2/: 401",
            ),
            ("https://u:p@ss@host/x", "https://u:***@host/x"),
            // RFC 6750's token characters, `_` among them (GitHub's and Docker Hub's tokens).
            ("Authorization: Bearer ghp_16C7e42F292c6912E7710c838347Ae178B4a", "Authorization: Bearer ***"),
            ("Bearer dckr_pat_2Xy-abc", "Bearer ***"),
            // A JSON body quoted by Go's `%q`: its quotes escaped.
            ("body=\"{\\\"token\\\":\\\"eyJabc.def\\\"}\"", "body=\"{\\\"token\\\":\\\"***\\\"}\""),
            (
                "{\\\"password\\\": \\\"hunter2\\\", \\\"user\\\": \\\"ci\\\"}",
                "{\\\"password\\\": \\\"***\\\", \\\"user\\\": \\\"ci\\\"}",
            ),
            (
                "+ docker login -u ci -p hunter2 registry.example.com",
                "+ docker login -u ci -p *** registry.example.com",
            ),
            ("roxctl --password hunter2 image scan", "roxctl --password *** image scan"),
            ("helm push --registry-token  t0k3n oci://r", "helm push --registry-token  *** oci://r"),
            ("-p\thunter2", "-p\t***"),
            // As `set -x` quotes a password with a sign of the shell or a blank.
            ("+ docker login -u ci -p 'pa$$ w0rd!' reg", "+ docker login -u ci -p '***' reg"),
            ("+ cli --password \"hunter 2\" --verbose", "+ cli --password \"***\" --verbose"),
            // A flag followed by `=` or `:` is a setting.
            ("cfg --password = hunter2", "cfg --password = ***"),
            ("cfg --token: t0k", "cfg --token: ***"),
            // A quote not closed within its bound: the value ends at a blank.
            (&format!("password='{} rest", "a".repeat(300)), "password='*** rest"),
        ] {
            assert_eq!(secrets(given), redacted, "{given}");
        }
    }

    #[test]
    fn a_name_going_on_past_64_bytes_after_a_secret_word_is_no_setting() {
        let near = format!("password{}=hunter2 x", "_".repeat(NAME_GOES_ON));
        assert_eq!(secrets(&near), format!("password{}=*** x", "_".repeat(NAME_GOES_ON)));
        let far = format!("password{}=hunter2 x", "_".repeat(NAME_GOES_ON + 1));
        assert!(matches!(secrets(&far), Cow::Borrowed(_)), "{far}");
        // A run of secret words as long as a message may be: read, none a setting.
        let run = "pwd".repeat(21_845);
        assert!(matches!(secrets(&run), Cow::Borrowed(_)));
        // The last word alone names the setting after it; the others' names go on too far.
        let set = format!("{run}=v");
        assert_eq!(secrets(&set), format!("{run}=***"));
    }

    #[test]
    fn messages_without_secrets_are_kept_as_they_are_and_borrowed() {
        for kept in [
            "context deadline exceeded",
            "incorrect username or password",
            "rpc error: code = Unauthenticated desc = token expired",
            "credentials not found: no credentials",
            "pull access denied for quay.io/acme/web, repository does not exist",
            "Get \"https://quay.io/v2/acme/web/manifests/1.4\": http: non-successful response (status=401 body=\"\")",
            "the basic scan of team/api ended with status FAILED",
            "unauthorized: basic authentication required",
            "401: Basic Authentication Required",
            "no creds found for quay.io",
            "your authorization token has expired; reauthenticate and try again",
            "authorization: permission denied",
            "password authentication failed for user ci",
            "https://user@registry.example.com/v2/ refused",
            "docker login --password-stdin registry.example.com",
            "login -u ci --password-file ./p registry.example.com",
            "x --password --verbose and -p -v",
            "no-password here, a-password there, a x-p value",
            "",
        ] {
            assert!(matches!(secrets(kept), Cow::Borrowed(m) if m == kept), "{kept}");
        }
    }
}
