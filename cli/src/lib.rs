//! `scanfail`, the product's command-line tool. Two ends: [`report`] runs scanners and puts
//! their failures on the bus (the product's main input); [`admin`] queries, triages and deletes
//! them through the IAM-authorized API with the caller's own credentials ([`api`]), from the
//! terminal or a local web console ([`console`]).
//! Exit codes are [`exit`]'s.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed. Nor
// does a standard error nobody reads (`eprint!` panics on it; [`to_stderr`] does not).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr))]

pub mod admin;
pub mod api;
pub mod args;
pub mod aws;
pub mod console;
pub mod exit;
pub mod output;
pub mod report;

/// Prints `message` on standard error as one line, `scanfail: …`: every message of this tool is
/// one line, whatever an error it quotes spans, and what a terminal would obey in it (an API's
/// message, a cursor) is escaped as the tables escape it ([`output::printable`]).
pub fn say(message: &str) {
    to_stderr(&line(message));
}

/// The line [`say`] prints.
fn line(message: &str) -> String {
    format!("scanfail: {}\n", output::printable(&one_line(message)))
}

/// Writes `text` on standard error as it is. A standard error nobody reads any more
/// (`scanfail run … 2>&1 | head`) is ignored: `eprint!` would panic there, and a panic aborts
/// the release build, which would end `run` with 134 instead of the scanner's code, or before
/// it published, and end the console's server.
pub fn to_stderr(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `s` with its line breaks (and the indentation after them) turned into `; `.
pub fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    /// An endpoint's answer quoted in an error (here an OSC 52 clipboard write) reaches the
    /// terminal escaped, as in the tables.
    #[test]
    fn what_a_terminal_would_obey_in_a_message_is_escaped() {
        let said = super::line("refused (HTTP 400): a\u{1b}]52;c;ZWNobw==\u{7}");
        assert_eq!(said, "scanfail: refused (HTTP 400): a\\u{1b}]52;c;ZWNobw==\\u{7}\n");
    }

    #[test]
    fn a_message_over_several_lines_is_printed_on_one() {
        assert_eq!(super::one_line("a: b\n  Tried:\n  x\n\n"), "a: b; Tried:; x");
        assert_eq!(super::one_line("plain"), "plain");
    }
}
