//! How answers are printed: a table for a person at a terminal, the API's own JSON otherwise.

pub mod table;
pub mod trend;

use std::borrow::Cow;
use std::io::IsTerminal as _;

use time::OffsetDateTime;

use crate::args::Output;

/// The output asked for, else a table on a terminal and JSON in a pipe.
pub fn mode(asked: Option<Output>) -> Output {
    asked.unwrap_or(if std::io::stdout().is_terminal() { Output::Table } else { Output::Json })
}

/// `then` relative to `now`, as a person reads it: `just now`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(then: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - then).whole_seconds();
    match seconds {
        i64::MIN..=59 => "just now".to_owned(),
        60..=3_599 => format!("{}m ago", seconds / 60),
        3_600..=86_399 => format!("{}h ago", seconds / 3_600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// `s` cut to `width` characters, with `…` where it was cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `s` with every control character but the line feed, and every bidirectional embedding,
/// override and isolate (U+202A–U+202E, U+2066–U+2069, which reorder what a terminal shows of
/// the line after them), written as its escape (`\u{1b}`, `\r`, `\u{202e}`): text a terminal
/// shows rather than obeys.
pub fn printable(s: &str) -> Cow<'_, str> {
    let obeyed = |c: char| (c.is_control() && c != '\n') || bidi_control(c);
    if !s.chars().any(obeyed) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if obeyed(c) { c.escape_default().to_string() } else { c.to_string() }).collect())
}

/// The bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
/// make a terminal show what follows them reordered ("evil\u{202e}txt.exe" as "evilexe.txt").
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// JSON text with DEL, the C1 controls (U+007F–U+009F) and the bidirectional controls, which
/// JSON leaves as they are and terminals obey, written as `\uXXXX` escapes: the same JSON value,
/// since in valid JSON they can only be inside strings. C0 controls are escaped by JSON already.
/// Before, the bidirectional ones reached the terminal in `--output json` (a triage note's
/// history, which other admins write, shown reordered).
pub fn json_printable(json: &str) -> Cow<'_, str> {
    let unescaped = |c: char| ('\u{7f}'..='\u{9f}').contains(&c) || bidi_control(c);
    if !json.chars().any(unescaped) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unescaped(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn control_characters_are_shown_escaped_and_line_feeds_kept() {
        assert_eq!(printable("a\nb"), Cow::Borrowed("a\nb"));
        assert_eq!(printable("a\u{1b}[31mb\tc\r\n\u{7f}\u{85}"), "a\\u{1b}[31mb\\tc\\r\n\\u{7f}\\u{85}");
        assert_eq!(printable("evil\u{202e}txt.exe \u{2066}x\u{2069}"), "evil\\u{202e}txt.exe \\u{2066}x\\u{2069}");
    }

    #[test]
    fn json_keeps_its_value_with_del_and_c1_controls_escaped() {
        let json = serde_json::json!({"m": "a\u{7f}b\u{85}c\u{9b}2Jd\u{a0}é"}).to_string();
        let shown = json_printable(&json);
        // NO-BREAK SPACE (U+00A0) is not a control: kept.
        assert_eq!(shown, "{\"m\":\"a\\u007fb\\u0085c\\u009b2Jd\u{a0}é\"}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).ok(), serde_json::from_str(&json).ok());
        assert_eq!(json_printable("{\"m\":\"plain\"}"), Cow::Borrowed("{\"m\":\"plain\"}"));
    }

    #[test]
    fn json_keeps_its_value_with_the_bidirectional_controls_escaped() {
        let json = serde_json::json!({"note": "ok \u{202e}exe.txt \u{2066}x\u{2069}"}).to_string();
        let shown = json_printable(&json);
        assert_eq!(shown, "{\"note\":\"ok \\u202eexe.txt \\u2066x\\u2069\"}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).ok(), serde_json::from_str(&json).ok());
    }

    #[test]
    fn times_read_relative_to_now() {
        let now = datetime!(2026-12-02 12:00:00 UTC);
        assert_eq!(ago(datetime!(2026-12-02 11:59:30 UTC), now), "just now");
        assert_eq!(ago(datetime!(2026-12-02 11:55:00 UTC), now), "5m ago");
        assert_eq!(ago(datetime!(2026-12-02 09:00:00 UTC), now), "3h ago");
        assert_eq!(ago(datetime!(2026-11-30 12:00:00 UTC), now), "2d ago");
        assert_eq!(ago(datetime!(2026-12-02 12:01:00 UTC), now), "just now");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(fit("quay.io/acme/web:1.4", 10), "quay.io/a…");
        assert_eq!(fit("short", 10), "short");
    }
}
