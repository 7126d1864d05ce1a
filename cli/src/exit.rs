//! `scanfail`'s exit codes. `run` exits with the scanner's own code; these are the others.
//! [`TABLE`] is the table of the book's CLI page, `docs/src/cli.md` (checked by a test).

pub const OK: u8 = 0;
/// A usage error (clap's code): a bad flag or value, nothing sent.
pub const USAGE: u8 = 2;
/// No AWS credentials in the chain, or they could not be loaded, or cannot be sent (a control
/// character in the access key id, session token or region).
pub const NO_CREDENTIALS: u8 = 3;
/// The endpoint or the bus cannot be reached, or the endpoint is not this API.
pub const UNREACHABLE: u8 = 4;
/// IAM refused the caller (HTTP 401 or 403, AccessDenied).
pub const DENIED: u8 = 5;
/// The request was refused as wrong: a bad parameter (400), an unknown event (404), a triage
/// of a version changed since (409), no such bus, an event the contract refuses.
pub const REFUSED: u8 = 6;
/// The service failed (HTTP 5xx) or throttled the request: try again later.
pub const SERVER: u8 = 7;
/// The answer could not be written on standard output (sysexits' EX_IOERR).
pub const OUTPUT: u8 = 74;
/// `run --require-report`: the scan failed and could not be reported.
pub const NOT_REPORTED: u8 = 75;

/// Every code with its meaning, as documented.
pub const TABLE: &[(u8, &str)] = &[
    (OK, "success (for `run`: the scanner's own code, whatever it is)"),
    (USAGE, "usage error: a bad command, flag or value, no or a malformed endpoint, no region; nothing was sent"),
    (NO_CREDENTIALS, "no AWS credentials found, or they could not be loaded, or they (or the region) hold a control character"),
    (UNREACHABLE, "the endpoint or the bus cannot be reached, or the endpoint is not this API"),
    (DENIED, "IAM refused the caller (HTTP 401/403, AccessDenied)"),
    (
        REFUSED,
        "the request was refused: bad parameter (400), unknown event (404), a triage's `--if-version` no longer current (409), a request too long for API Gateway (a bodiless 413, 414 or 431: fewer or shorter filters), no such bus, invalid event; `--stack` names no stack, or one without an `ApiUrl` output",
    ),
    (SERVER, "the service failed (HTTP 5xx, with or without a body) or throttled: try again later"),
    (OUTPUT, "the answer could not be written on standard output (a full disk, a closed file); a reader that stopped reading (a pipe into `head`) is no error"),
    (NOT_REPORTED, "`run --require-report` only: the scan failed and its report was not published"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_page_lists_every_exit_code_as_documented() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/cli.md")).unwrap();
        for (code, meaning) in super::TABLE {
            let row = format!("| {code} | {meaning} |");
            assert!(readme.contains(&row), "docs/src/cli.md lacks the row {row}");
        }
        let codes: std::collections::BTreeSet<u8> = super::TABLE.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes.len(), super::TABLE.len(), "an exit code is listed twice");
    }
}
