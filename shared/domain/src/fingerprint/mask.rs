//! Masking of the variable parts of a message (numbers, ids, digests, addresses, timestamps),
//! so that repeats of one unrecognised failure share a fingerprint.

use std::net::Ipv6Addr;

/// The message with its variable parts masked, so that two UNKNOWN failures that differ only in
/// numbers, hex ids, sha256 digests, UUIDs, IPv4/IPv6 addresses (with optional port) and quoted
/// timestamps produce the same string. Deterministic; used as input to a group fingerprint.
///
/// Placeholders: `<ts>` (RFC 3339 timestamp, quoted or not), `<uuid>`, `<digest>` (after the
/// kept `sha256:`/`sha384:`/`sha512:` prefix), `<ip>` (address and port, IPv6 with or without
/// brackets), `<hex>` (ids of 7+ hex digits mixing digits and letters, or `0x…`) and `<n>`
/// (numbers, dotted versions, durations and sizes such as `30s` or `12MB`). Everything else is
/// kept byte for byte, including case, so identifiers such as `v2`, `sha256`, `ipv4` or
/// `registry-1.docker.io` survive, while genuinely different wording stays different.
pub fn mask_variable_parts(message: &str) -> String {
    let b = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut i = 0;
    // `i` only ever stops on a word byte at the start of a word, or on a non-word byte.
    while i < b.len() {
        let c = b[i];
        let class = CLASS[usize::from(c)];
        let word = class & WORD != 0;
        let candidate =
            if word { class & LEAD != 0 } else { (c == b':' || c == b'[') && (i == 0 || !is_word(b[i - 1])) };
        if candidate {
            if let Some(m) = variable_part(b, i) {
                out.push_str(&message[copied..m.keep_until]);
                out.push_str(m.placeholder);
                copied = m.end;
                i = m.end;
                continue;
            }
        }
        i = if word { skip_word(b, i) } else { i + 1 };
    }
    out.push_str(&message[copied..]);
    out
}

/// A variable part found at some position: the bytes up to `keep_until` stay, the bytes from
/// there to `end` become `placeholder`.
struct Masked {
    keep_until: usize,
    end: usize,
    placeholder: &'static str,
}

/// Byte class bit: the byte makes up words. Non-ASCII bytes count as word bytes so that a
/// token never starts or ends inside a multi-byte character.
const WORD: u8 = 1;
/// Byte class bit: a word starting with this byte may be a variable part.
const LEAD: u8 = 2;

/// The class bits of every byte, looked up rather than computed in the per-byte loops.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut n = 0;
    while n < table.len() {
        let c = n as u8;
        if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            table[n] |= WORD;
        }
        if c.is_ascii_hexdigit() || c == b's' || c == b'S' {
            table[n] |= LEAD;
        }
        n += 1;
    }
    table
};

fn is_word(c: u8) -> bool {
    CLASS[usize::from(c)] & WORD != 0
}

/// The end of the word at `i`, with `.`-joined parts (`registry-1.docker.io`, `v0.29.2`).
fn skip_word(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        if is_word(b[i]) || (b[i] == b'.' && b.get(i + 1).is_some_and(|&n| is_word(n))) {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Whether a token ending at `end` ends at a word boundary.
fn ends_token(b: &[u8], end: usize) -> bool {
    b.get(end).is_none_or(|&c| !is_word(c))
}

fn run_len(b: &[u8], start: usize, accept: impl Fn(u8) -> bool) -> usize {
    run_len_upto(b, start, usize::MAX, accept)
}

/// [`run_len`], reading at most `max` bytes.
fn run_len_upto(b: &[u8], start: usize, max: usize, accept: impl Fn(u8) -> bool) -> usize {
    let n = b.get(start..).unwrap_or_default().iter().take(max).take_while(|&&c| accept(c)).count();
    #[cfg(test)]
    tests::READ.with(|r| r.set(r.get() + n));
    n
}

/// The variable part starting at token start `i`, if any.
fn variable_part(b: &[u8], i: usize) -> Option<Masked> {
    let whole = |end, placeholder| Masked { keep_until: i, end, placeholder };
    let c = b[i];
    match c {
        b'[' | b':' => return ipv6(b, i).map(|end| whole(end, "<ip>")),
        b's' | b'S' => {
            return digest(b, i).map(|(keep_until, end)| Masked { keep_until, end, placeholder: "<digest>" })
        }
        _ => {}
    }
    // What follows the leading run of hex digits tells which shapes are possible at all; most
    // tokens are plain words ("failed", "denied") and leave here.
    let hex = run_len(b, i, |c| c.is_ascii_hexdigit());
    let next = b.get(i + hex).copied();
    let digit = c.is_ascii_digit();
    if !digit && next.is_some_and(is_word) {
        return None;
    }
    if digit && hex >= 4 && b.get(i + 4) == Some(&b'-') {
        if let Some(end) = timestamp(b, i) {
            return Some(whole(end, "<ts>"));
        }
    }
    if digit && hex == 8 && matches!(next, Some(b'T' | b't')) {
        if let Some(end) = basic_timestamp(b, i) {
            return Some(whole(end, "<ts>"));
        }
    }
    if hex == 8 && next == Some(b'-') {
        if let Some(end) = uuid(b, i) {
            return Some(whole(end, "<uuid>"));
        }
    }
    if digit && next == Some(b'.') {
        if let Some(end) = ipv4(b, i) {
            return Some(whole(end, "<ip>"));
        }
    }
    if next == Some(b':') {
        if let Some(end) = ipv6(b, i) {
            return Some(whole(end, "<ip>"));
        }
    }
    if hex >= 7 || (c == b'0' && matches!(next, Some(b'x' | b'X'))) {
        if let Some(end) = hex_id(b, i) {
            return Some(whole(end, "<hex>"));
        }
    }
    if digit {
        return number(b, i).map(|end| whole(end, "<n>"));
    }
    None
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH[:]MM]`.
fn timestamp(b: &[u8], i: usize) -> Option<usize> {
    let digits = |at: usize, n: usize| run_len(b, at, |c| c.is_ascii_digit()) >= n;
    let is = |at: usize, set: &[u8]| b.get(at).is_some_and(|c| set.contains(c));
    let ok = digits(i, 4)
        && is(i + 4, b"-")
        && digits(i + 5, 2)
        && is(i + 7, b"-")
        && digits(i + 8, 2)
        && is(i + 10, b"Tt ")
        && digits(i + 11, 2)
        && is(i + 13, b":")
        && digits(i + 14, 2)
        && is(i + 16, b":")
        && digits(i + 17, 2);
    if !ok {
        return None;
    }
    let mut end = i + 19;
    if is(end, b".") {
        let n = run_len(b, end + 1, |c| c.is_ascii_digit());
        if n > 0 {
            end += 1 + n;
        }
    }
    if is(end, b"Zz") {
        end += 1;
    } else if is(end, b"+-") && digits(end + 1, 2) {
        if is(end + 3, b":") && digits(end + 4, 2) {
            end += 6;
        } else if digits(end + 3, 2) {
            end += 5;
        }
    }
    ends_token(b, end).then_some(end)
}

/// `YYYYMMDDTHHMMSS[Z]`, ISO 8601's basic format: AWS's request times (`X-Amz-Date`, "Signature
/// expired: 20261125T100000Z is now earlier than …").
fn basic_timestamp(b: &[u8], i: usize) -> Option<usize> {
    let digits = |at: usize| run_len(b, at, |c| c.is_ascii_digit());
    if digits(i) != 8 || !b.get(i + 8).is_some_and(|c| matches!(c, b'T' | b't')) || digits(i + 9) != 6 {
        return None;
    }
    let end = i + 15 + usize::from(b.get(i + 15).is_some_and(|c| matches!(c, b'Z' | b'z')));
    ends_token(b, end).then_some(end)
}

/// `8-4-4-4-12` hex digits.
fn uuid(b: &[u8], i: usize) -> Option<usize> {
    let mut at = i;
    for (n, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if b.get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
        if run_len(b, at, |c| c.is_ascii_hexdigit()) != len {
            return None;
        }
        at += len;
    }
    ends_token(b, at).then_some(at)
}

/// `sha256:`, `sha384:` or `sha512:` and at least 32 hex digits; returns where the hex starts
/// and ends.
fn digest(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let prefix = b.get(i..i + 7)?;
    let known = [b"sha256:", b"sha384:", b"sha512:"];
    if !known.iter().any(|k| prefix.eq_ignore_ascii_case(&k[..])) {
        return None;
    }
    let hex = i + 7;
    let n = run_len(b, hex, |c| c.is_ascii_hexdigit());
    (n >= 32 && ends_token(b, hex + n)).then_some((hex, hex + n))
}

/// An optional `:port` after an address ending at `end`.
fn with_port(b: &[u8], end: usize) -> usize {
    if b.get(end) == Some(&b':') {
        let n = run_len(b, end + 1, |c| c.is_ascii_digit());
        if (1..=5).contains(&n) && ends_token(b, end + 1 + n) {
            return end + 1 + n;
        }
    }
    end
}

fn ipv4(b: &[u8], i: usize) -> Option<usize> {
    let mut n = run_len(b, i, |c| c.is_ascii_digit() || c == b'.');
    while n > 0 && b[i + n - 1] == b'.' {
        n -= 1;
    }
    if !(7..=15).contains(&n) || !ends_token(b, i + n) {
        return None;
    }
    let mut parts = 0;
    for part in b[i..i + n].split(|&c| c == b'.') {
        parts += 1;
        if parts > 4 || part.is_empty() || part.len() > 3 {
            return None;
        }
        let value = part.iter().fold(0u16, |v, &d| v * 10 + u16::from(d - b'0'));
        if value > 255 {
            return None;
        }
    }
    (parts == 4).then(|| with_port(b, i + n))
}

fn ipv6(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'[' {
        let close = i + 1 + b.get(i + 1..)?.iter().take(64).position(|&c| c == b']')?;
        let inner = &b[i + 1..close];
        let addr = inner.split(|&c| c == b'%').next()?;
        std::str::from_utf8(addr).ok()?.parse::<Ipv6Addr>().ok()?;
        return Some(with_port(b, close + 1));
    }
    // At most 64 bytes are an address's (the longest, with an IPv4 tail, is 45): read no
    // further, or a run such as `a:a:a:…` is read to its end from each of its tokens.
    let n = run_len_upto(b, i, 64, |c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
    let candidate = &b[i..i + n];
    if candidate.iter().filter(|&&c| c == b':').count() < 2 {
        return None;
    }
    // A trailing ':' or '.' belongs to the sentence ("dial fe80::1: connection refused").
    let mut len = candidate.len();
    while len > 0 {
        let text = std::str::from_utf8(&candidate[..len]).ok()?;
        if text.parse::<Ipv6Addr>().is_ok() {
            let mut end = i + len;
            if b.get(end) == Some(&b'%') {
                end += 1 + run_len(b, end + 1, |c| c.is_ascii_alphanumeric());
            }
            return ends_token(b, end).then_some(end);
        }
        if !matches!(candidate[len - 1], b':' | b'.') {
            return None;
        }
        len -= 1;
    }
    None
}

/// `0x…`, or 7+ hex digits mixing digits and letters (short git shas, container and job ids).
fn hex_id(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let n = run_len(b, i + 2, |c| c.is_ascii_hexdigit());
        return (n > 0 && ends_token(b, i + 2 + n)).then_some(i + 2 + n);
    }
    let hex = &b[i..i + run_len(b, i, |c| c.is_ascii_hexdigit())];
    let mixed = hex.iter().any(u8::is_ascii_digit) && hex.iter().any(u8::is_ascii_alphabetic);
    (hex.len() >= 7 && mixed && ends_token(b, i + hex.len())).then_some(i + hex.len())
}

/// Units that may follow a number without a space (Go durations and sizes), longest first.
const UNITS: &[&[u8]] = &[
    b"kib",
    b"mib",
    b"gib",
    b"tib",
    b"\xc2\xb5s",
    b"ns",
    b"us",
    b"ms",
    b"kb",
    b"mb",
    b"gb",
    b"tb",
    b"s",
    b"m",
    b"h",
    b"b",
];

/// Digits with optional `.`-separated parts and unit suffixes (`42`, `1.4`, `1m30s`, `12MB`);
/// not the start of a word or a host name (`3rd`, `1.docker.io`).
fn number(b: &[u8], i: usize) -> Option<usize> {
    let mut end = i;
    loop {
        let n = run_len(b, end, |c| c.is_ascii_digit());
        if n == 0 {
            break;
        }
        end += n;
        while b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end += 1 + run_len(b, end + 1, |c| c.is_ascii_digit());
        }
        if !b.get(end).is_some_and(|&c| c.is_ascii_alphabetic() || c >= 0x80) {
            break;
        }
        let unit = UNITS.iter().find(|u| {
            b.get(end..end + u.len()).is_some_and(|s| s.eq_ignore_ascii_case(u))
                && !b.get(end + u.len()).is_some_and(|&c| c.is_ascii_alphabetic() || c >= 0x80)
        });
        match unit {
            Some(u) => end += u.len(),
            None => break,
        }
    }
    if end == i || !ends_token(b, end) {
        return None;
    }
    let hostname = b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(|&c| is_word(c));
    (!hostname).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Bytes the runs read, on this thread.
        pub(super) static READ: Cell<usize> = const { Cell::new(0) };
    }

    /// A message as long as one may be, made of tokens that each look like the start of an
    /// address, a number or a time: the runs read a bounded number of bytes per byte (`a:a:…`
    /// read 16,385 per byte, each IPv6 candidate to the end of the run, before its bound).
    #[test]
    fn runs_of_address_like_tokens_are_read_in_linear_time() {
        for word in ["a:", "1.", "1:", "ff:", ":a", "[1", "1.1 ", "2026-", "a1b2c3d:", "1.2.3.4."] {
            let text = word.repeat(65_536 / word.len());
            READ.with(|r| r.set(0));
            let _ = mask_variable_parts(&text);
            let read = READ.with(Cell::get);
            assert!(read <= 40 * text.len(), "{word:?}: {read} bytes read for {}", text.len());
        }
    }

    #[test]
    fn masking_makes_messages_that_differ_only_in_variable_parts_equal() {
        let pairs = [
            ("attempt 3 of 5 failed after 30s", "attempt 4 of 5 failed after 1m30s"),
            (
                "layer sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4 is corrupt",
                "layer sha256:8e6f73cf74a137e1a3f2f0d357b5266b2a19a91df5e13ca502ec9640f487b005 is corrupt",
            ),
            ("container 5428983d1a2b exited", "container 9f0c1e2d3b4a exited"),
            ("job c9f90ad252354a179dc2288b stalled", "job 0aa5815c2b8311ee803a2e8d stalled"),
            ("pointer 0xc000123456 is nil", "pointer 0xc0004a5b10 is nil"),
            (
                "request 0b5c9d1e-7a21-4c55-9b63-1f0e2d3c4b5a rejected",
                "request 6A7E8FEB-B491-4CF7-A9F1-BF3703467718 rejected",
            ),
            ("dial tcp 10.0.3.17:5000: weird", "dial tcp 192.168.1.20:443: weird"),
            ("dial tcp 10.0.3.17: weird", "dial tcp 172.26.0.9: weird"),
            ("dial tcp [2001:db8::1]:443: weird", "dial tcp [fe80::1%eth0]:8443: weird"),
            ("peer 2001:db8:0:0:1::7 went away", "peer ::1 went away"),
            (
                "since \"2024-05-01T12:34:56.789Z\" the store is odd",
                "since \"2025-11-30T01:02:03+02:00\" the store is odd",
            ),
            ("size 4.2GB over the 3GB quota", "size 11GB over the 10.5GB quota"),
            (
                "InvalidSignatureException: Signature expired: 20261125T100000Z is now earlier than 20261125T100500Z (20261125T101000Z - 5 min.)",
                "InvalidSignatureException: Signature expired: 20261125T100001Z is now earlier than 20261125T100501Z (20261125T101001Z - 5 min.)",
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(mask_variable_parts(a), mask_variable_parts(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn masking_produces_the_documented_placeholders() {
        let message = "Get \"https://10.0.3.17:5000/v2/team/app/manifests/sha256:8e6f73cf74a137e1a3f2f0d357b5266b2a19a91df5e13ca502ec9640f487b005\": dial tcp [2001:db8::1]:5000: weird (request 0b5c9d1e-7a21-4c55-9b63-1f0e2d3c4b5a at \"2024-05-01T12:34:56.789Z\", attempt 3 of 5 after 1m30s, job c9f90ad252354a179dc2288b, image registry-1.docker.io/library/nginx:1.25.3, api v2)";
        assert_eq!(
            mask_variable_parts(message),
            "Get \"https://<ip>/v2/team/app/manifests/sha256:<digest>\": dial tcp <ip>: weird (request <uuid> at \"<ts>\", attempt <n> of <n> after <n>, job <hex>, image registry-1.docker.io/library/nginx:<n>, api v2)"
        );
    }

    #[test]
    fn masking_keeps_genuinely_different_messages_apart() {
        let a = mask_variable_parts("GET /v2/team/app/manifests/1.4: manifest unknown on 10.0.0.1");
        let b = mask_variable_parts("GET /v2/team/app/blobs/1.4: blob unknown on 10.0.0.1");
        assert_ne!(a, b);
        assert_ne!(mask_variable_parts("weird failure in indexer"), mask_variable_parts("weird failure in matcher"));
        assert_ne!(mask_variable_parts("error on ipv4 path"), mask_variable_parts("error on ipv6 path"));
    }

    #[test]
    fn masking_handles_edge_input_and_keeps_plain_text() {
        for text in [
            "",
            "::",
            "[",
            "[::1",
            "a:b:c",
            "1.",
            "0x",
            "sha256:",
            "2024-05-01T",
            "é1",
            "1234567890123.5",
            "999.1.1.1:99999999",
        ] {
            assert_eq!(mask_variable_parts(text), mask_variable_parts(text), "deterministic for {text:?}");
        }
        assert_eq!(mask_variable_parts("no variable parts here"), "no variable parts here");
        assert_eq!(mask_variable_parts("é ünïcödé 12 ✓"), "é ünïcödé <n> ✓");
        assert_eq!(mask_variable_parts("at 12:34:56."), "at <n>:<n>:<n>.");
        assert_eq!(mask_variable_parts("dial fe80::1: refused"), "dial <ip>: refused");
        assert_eq!(mask_variable_parts("the 3rd try"), "the 3rd try");
    }
}
