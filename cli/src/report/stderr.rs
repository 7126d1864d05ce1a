//! The scanner's standard error as `scanfail run` keeps it: the last [`CAPTURE_BYTES`] (the
//! final error is at the end), without terminal colour codes.

use scan_failures_domain::event::bounds;
use scan_failures_domain::redact;

/// How much of the scanner's standard error is kept; the rest still reaches the terminal.
pub const CAPTURE_BYTES: usize = 64 * 1024;

/// How many non-empty lines make the message of a scanner that prints no `ERROR:` line.
pub const LAST_LINES: usize = 5;

/// The last `limit` bytes written to it.
#[derive(Debug)]
pub struct Tail {
    bytes: Vec<u8>,
    limit: usize,
    /// Whether the kept bytes start inside a line: bytes were dropped, the last of them not a
    /// newline.
    partial: bool,
}

impl Tail {
    pub fn new(limit: usize) -> Self {
        Self { bytes: Vec::new(), limit, partial: false }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        // The last byte dropped, of the kept ones or of `chunk`, as if it were appended whole.
        let dropped = (self.bytes.len() + chunk.len()).saturating_sub(self.limit);
        if dropped > 0 {
            let last = match dropped.checked_sub(self.bytes.len()) {
                None | Some(0) => self.bytes.get(dropped - 1),
                Some(of_chunk) => chunk.get(of_chunk - 1),
            };
            self.partial = last != Some(&b'\n');
        }
        let chunk = &chunk[chunk.len().saturating_sub(self.limit)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.limit);
        self.bytes.drain(..overflow);
        self.bytes.extend_from_slice(chunk);
    }

    /// The kept text: invalid UTF-8 (a cut character at the start included) replaced, colour
    /// codes removed. When it starts inside a line, without that line: what leads to a secret
    /// there (`https://`, a flag's name) may be gone, and the redaction, which finds a secret by
    /// it, with it; unless no other line has words (its end is then the error).
    pub fn text(&self) -> String {
        let text = strip_ansi(&String::from_utf8_lossy(&self.bytes));
        match text.split_once('\n') {
            Some((_, rest)) if self.partial && rest.lines().any(|l| !l.trim().is_empty()) => rest.to_owned(),
            _ => text,
        }
    }
}

/// `s` without ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL` or `… ESC \`
/// such as a hyperlink's or a window title's, character-set designations `ESC ( x`, and
/// two-byte `ESC x`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates up to the final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // The string up to its terminator: BEL, or ST (`ESC \`); an unterminated one
                // up to the end of its line only, so that it cannot take the error after it.
                while let Some(c) = chars.next() {
                    if c == '\n' {
                        out.push(c);
                        break;
                    }
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            Some('(' | ')' | '*' | '+') => {
                chars.next();
            }
            Some(_) | None => {}
        }
    }
    out
}

/// What marks a message whose start was cut: the ingest function stores such a message by its
/// end.
pub use scan_failures_domain::event::CUT_START;

/// The last [`LAST_LINES`] non-empty lines of `s` as a terminal shows them (a line rewritten
/// after `\r`, a progress bar, is its last rewrite), right-trimmed, joined by newlines, marked
/// to be stored by its end ([`end_kept`]): the error a scanner ends on is what the message is
/// for. Its secrets are
/// redacted before the cut: the redaction finds a secret by what leads to it (`://user:`, a
/// flag's name, `Bearer`), and a cut between the two would leave the secret unrecognised.
pub fn last_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(shown).map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    end_kept(redact::secrets(&lines[lines.len().saturating_sub(LAST_LINES)..].join("\n")).into_owned())
}

/// `text` marked to be stored by its end: over the 4 KiB the product stores, it starts with
/// [`CUT_START`], which the ingest function keeps the end of (unmarked, it stores the start,
/// and the error at the end was lost); within what it accepts, its start cut.
pub fn end_kept(text: String) -> String {
    if text.len() > bounds::MESSAGE_STORED && !text.starts_with(CUT_START) {
        keep_end(format!("{CUT_START}{text}"))
    } else {
        keep_end(text)
    }
}

/// `text` if within what the ingest function accepts ([`bounds::MESSAGE_ACCEPTED`]), else its
/// end, marked [`CUT_START`] (once, however often it is cut again: after a redaction that made
/// it longer).
pub fn keep_end(text: String) -> String {
    scan_failures_domain::event::keep_end(text, bounds::MESSAGE_ACCEPTED)
}

/// The last rewrite of a line that is not blank.
fn shown(line: &str) -> &str {
    line.rsplit('\r').find(|part| !part.trim().is_empty()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_across_pushes() {
        let mut tail = Tail::new(8);
        tail.push(b"0123");
        tail.push(b"456789");
        assert_eq!(tail.text(), "23456789");
        tail.push(b"abcdefghijkl");
        assert_eq!(tail.text(), "efghijkl");
    }

    /// The window of the last 64 KiB can start inside a line, between a secret and what leads
    /// to it (`https://ci:`…): that line is dropped, since the redaction would not know the
    /// secret without it. A window of one line is kept (its end is the error).
    #[test]
    fn a_tail_whose_start_was_dropped_keeps_whole_lines_only() {
        let mut tail = Tail::new(24);
        tail.push(b"pull https://ci:hunter2@registry\nFATAL: unauthorized");
        assert_eq!(tail.text(), "FATAL: unauthorized");
        let mut fits = Tail::new(64);
        fits.push(b"pull https://ci:hunter2@registry\nFATAL: unauthorized");
        assert_eq!(fits.text(), "pull https://ci:hunter2@registry\nFATAL: unauthorized", "nothing dropped");
        let mut one = Tail::new(8);
        one.push(b"0123456789");
        assert_eq!(one.text(), "23456789");
        // One cut line and nothing after its newline but blanks: kept, not emptied.
        let mut progress = Tail::new(12);
        progress.push(b"0%\r50%\rFATAL: x\n\n");
        assert_eq!(progress.text(), "%\rFATAL: x\n\n");
        assert_eq!(last_lines(&progress.text()), "FATAL: x");
        // Dropped bytes that end at a newline cut no line: the first kept one stays.
        let mut whole = Tail::new(11);
        whole.push(b"line1\n");
        whole.push(b"ERROR:\tx\nz");
        assert_eq!(whole.text(), "ERROR:\tx\nz");
        let mut big = Tail::new(11);
        big.push(b"line1\nERROR:\tx\nz");
        assert_eq!(big.text(), "ERROR:\tx\nz", "a chunk past the limit alone");
        big.push(b"");
        assert_eq!(big.text(), "ERROR:\tx\nz");
    }

    /// Last lines over the 4 KiB the product stores are marked to be stored by their end:
    /// unmarked, the ingest function kept their start, and the error at the end was lost.
    #[test]
    fn last_lines_over_what_is_stored_are_marked_to_be_stored_by_their_end() {
        let tail = "FATAL: unauthorized: authentication required";
        let text = format!("{}\n{tail}\n", "x".repeat(10_000));
        let message = last_lines(&text);
        assert_eq!(message, format!("{CUT_START}{}\n{tail}", "x".repeat(10_000)));
        let stored = scan_failures_domain::event::stored_message(message);
        assert!(stored.starts_with(CUT_START) && stored.ends_with(tail), "{stored}");
        assert_eq!(last_lines("short\nFATAL: x\n"), "short\nFATAL: x");
    }

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[1;31mERROR:\t\u{1b}[0mboom\u{1b}(B"), "ERROR:\tboom");
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("cut\u{1b}"), "cut");
        // A hyperlink (OSC 8) around a word, as some CLIs print; a title ended by ST.
        assert_eq!(
            strip_ansi("see \u{1b}]8;;https://example.com/x\u{7}docs\u{1b}]8;;\u{7} now\u{1b}]0;title\u{1b}\\!"),
            "see docs now!"
        );
        assert_eq!(strip_ansi("\u{1b}]0;unterminated\nERROR: boom"), "\nERROR: boom");
    }

    #[test]
    fn the_message_of_another_scanner_is_its_last_five_non_empty_lines() {
        let text = "1\n2\n\n3\n4\n5  \n\n6\n\n";
        assert_eq!(last_lines(text), "2\n3\n4\n5\n6");
        assert_eq!(last_lines(""), "");
    }

    /// A 5 KB progress line before the error: the message was its first 4 KiB, cut before the
    /// error, and the reason UNKNOWN. Past what the ingest function accepts (64 KiB), the
    /// message keeps its end.
    #[test]
    fn a_progress_line_is_its_last_rewrite_and_a_long_message_keeps_its_end() {
        let progress: String = (0..500).map(|n| format!("{n:>7}%\r")).collect();
        let text = format!("pulling\n{progress}done 100%\r\nFATAL: unauthorized: authentication required\n");
        assert_eq!(last_lines(&text), "pulling\ndone 100%\nFATAL: unauthorized: authentication required");
        let wide = format!("{}\nFATAL: unauthorized: authentication required", "é".repeat(40_000));
        let message = last_lines(&wide);
        assert_eq!(message.len(), bounds::MESSAGE_ACCEPTED - 1, "a cut on a character boundary");
        assert!(message.starts_with("[truncated]…é"), "{}", &message[..20]);
        assert!(message.ends_with("\nFATAL: unauthorized: authentication required"));
        assert_eq!(
            scan_failures_domain::classify::classify(None, &message),
            scan_failures_domain::classify::Reason::RegistryUnauthorized
        );
    }
}
