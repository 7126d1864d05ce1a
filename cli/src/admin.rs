//! The admin side: `scanfail events …` and `scanfail retention …`, one API call each (`--all`
//! and `delete` loop over pages), printed as a table or as the API's JSON.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::api::client::{Answer, ApiError, Client};
use crate::api::query::{self, Pairs};
use crate::api::{connect, ConnectError};
use crate::args::{EventsArgs, EventsCommand, Output, RetentionArgs, RetentionCommand, WindowArgs};
use crate::exit;
use crate::output::{self, table, trend};

const EVENTS: &str = "/v1/administration/events";
const COUNT: &str = "/v1/count/administration/events";
const CONFIG: &str = "/v1/config/administration-events";

/// The most pages `--all` walks (1000 events each): a bound on a runaway loop, far above any
/// retained table a person would print.
const MAX_PAGES: usize = 1000;
/// Most events `--all` keeps, every page in memory until it prints them all: with
/// `--limit 1000`, 1,000 pages were a million events and gigabytes of JSON.
const MAX_LISTED: usize = 50_000;
/// Most bytes of answers `--all` keeps: 50,000 events of the API are far less (its events are a
/// few KiB), but an endpoint answering pages of one huge event would pass every other bound.
const MAX_LISTED_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Usage(&'static str),
    #[error("cannot write the answer on standard output")]
    Output(#[source] std::io::Error),
}

impl AdminError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Connect(e) => e.exit_code(),
            Self::Api(e) => e.exit_code(),
            Self::Usage(_) => exit::USAGE,
            Self::Output(_) => exit::OUTPUT,
        }
    }
}

/// What to print.
enum Printed {
    /// The API's answer as it came, or its text rendering.
    Answer(Answer, fn(&Value, OffsetDateTime) -> String),
    /// A page of a list as it came, or its table and how to go on (the window to give with
    /// `--cursor`, [`going_on`]).
    Page(Answer, String),
    /// JSON built here (several pages merged, several deletes added up), or its text.
    Built(Value, String),
}

/// Writes what [`rendered`] makes of `printed` on standard output. A failed write (a full disk
/// under `-o json > file`) is an error, not a success with half the answer; a reader that
/// stopped reading (`| head`) is not: it took what it wanted.
fn print(printed: Printed, mode: Output) -> Result<(), AdminError> {
    written(std::io::stdout().lock().write_all(&rendered(printed, mode, OffsetDateTime::now_utc())))
}

fn written(result: std::io::Result<()>) -> Result<(), AdminError> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(AdminError::Output(e)),
        _ => Ok(()),
    }
}

/// What [`print`] writes: the API's JSON as it came (or as built), or the text for a person, with
/// every control character in it escaped: the values come from producers, and a terminal obeys
/// the escape sequences one could have put in a message or a note. JSON escapes the C0 controls
/// itself; the others it leaves as they are are escaped here ([`output::json_printable`]).
fn rendered(printed: Printed, mode: Output, now: OffsetDateTime) -> Vec<u8> {
    match (printed, mode) {
        (Printed::Answer(a, _) | Printed::Page(a, _), Output::Json) => {
            format!("{}\n", output::json_printable(&String::from_utf8_lossy(&a.raw))).into_bytes()
        }
        (Printed::Answer(a, render), Output::Table) => {
            output::printable(&render(&a.json, now)).into_owned().into_bytes()
        }
        (Printed::Page(a, window), Output::Table) => {
            let page = a.json.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
            let more = match a.json.get("nextCursor").and_then(Value::as_str) {
                Some(c) => format!("more: --all, a larger --limit, or --cursor {c}{window}\n"),
                None => String::new(),
            };
            output::printable(&format!("{}{more}", table::events(&page, now))).into_owned().into_bytes()
        }
        (Printed::Built(v, _), Output::Json) => format!("{}\n", output::json_printable(&v.to_string())).into_bytes(),
        (Printed::Built(_, text), Output::Table) => output::printable(&text).into_owned().into_bytes(),
    }
}

/// `scanfail events …`.
pub async fn events(args: EventsArgs) -> Result<(), AdminError> {
    let mode = output::mode(args.api.output);
    let client = connect(&args.api).await?;
    let now = OffsetDateTime::now_utc();
    // A failure after some of the answer was printed (`--all`'s later pages).
    let mut failure = None;
    let printed = match args.command {
        EventsCommand::List { filters, window, limit, all, cursor } => {
            let mut pairs = query::filters(&filters);
            pairs.extend(query::window(&window, now));
            if let Some(limit) = limit {
                pairs.push(("pagination.limit", limit.to_string()));
            }
            let window = going_on(&window, pairs_from(&pairs));
            if all {
                let Listed { events, pages, left, failed } = every_page(&client, pairs, cursor).await;
                let failed = match failed {
                    // Nothing listed: the failure is all there is to say.
                    Some(e) if pages == 0 => return Err(e),
                    other => other,
                };
                let text = table::events(&events, now);
                let mut answer = json!({ "events": events });
                if let Some(left) = left {
                    let stopped = match failed {
                        Some(_) => failed_listing(pages, events.len(), &left, &window),
                        None => stopped_listing(pages, events.len(), &left, &window),
                    };
                    // On standard error only: the table's own lines stay the events.
                    crate::to_stderr(&format!("scanfail: {}", crate::output::printable(&stopped)));
                    answer["nextCursor"] = json!(left);
                }
                failure = failed;
                Printed::Built(answer, text)
            } else {
                pairs.extend(cursor.map(|c| ("pagination.cursor", c)));
                Printed::Page(client.call("GET", EVENTS, &query::encode(&pairs), None).await?, window)
            }
        }
        EventsCommand::Get { id } => {
            let path = format!("{EVENTS}/{}", query::segment(&id));
            Printed::Answer(client.call("GET", &path, "", None).await?, |v, now| table::event(&v["event"], now))
        }
        EventsCommand::Count { filters, window } => {
            let mut pairs = query::filters(&filters);
            pairs.extend(query::window(&window, now));
            Printed::Answer(client.call("GET", COUNT, &query::encode(&pairs), None).await?, |v, _| {
                format!("{}\n", v["count"])
            })
        }
        EventsCommand::Summary { filters, window, top, detail } => {
            let mut pairs = query::filters(&filters);
            pairs.extend(query::window(&window, now));
            if let Some(top) = top {
                pairs.push(("summary.top", top.to_string()));
            }
            if detail {
                pairs.push(("summary.detail", "true".to_owned()));
            }
            let path = format!("{EVENTS}/summary");
            Printed::Answer(client.call("GET", &path, &query::encode(&pairs), None).await?, |v, _| table::summary(v))
        }
        EventsCommand::Trend { filters, days } => {
            let mut pairs = query::filters(&filters);
            if let Some(days) = days {
                pairs.push(("days", days.to_string()));
            }
            let path = format!("{EVENTS}/trend");
            Printed::Answer(client.call("GET", &path, &query::encode(&pairs), None).await?, |v, _| trend::chart(v))
        }
        EventsCommand::Triage { id, state, note, clear_note, if_version } => {
            let (note, if_version) = match (note, clear_note) {
                (None, false) => kept_note(&client, &id, if_version).await?,
                (note, _) => (note, if_version),
            };
            let path = format!("{EVENTS}/{}/triage", query::segment(&id));
            let mut body = json!({ "state": state });
            if let Some(note) = note {
                body["note"] = json!(note);
            }
            if let Some(version) = if_version {
                body["ifVersion"] = json!(version);
            }
            Printed::Answer(client.call("POST", &path, "", Some(&body)).await?, |v, now| table::event(&v["event"], now))
        }
        EventsCommand::Delete { image, repository, reason, yes } => {
            let mut pairs: Pairs = image.into_iter().map(|i| ("filter.resourceName", i)).collect();
            pairs.extend(repository.into_iter().map(|r| ("filter.repository", r)));
            pairs.extend(reason.into_iter().map(|r| ("filter.reason", r.code().to_owned())));
            if !yes && !confirmed(&pairs)? {
                crate::say("nothing deleted");
                return Ok(());
            }
            let done = match delete_all(&client, &pairs).await {
                Ok(done) => done,
                Err((done, e)) => {
                    // Deletions cannot be undone: what the rounds before the failure did is said.
                    crate::to_stderr(&done.before_failure());
                    return Err(e);
                }
            };
            Printed::Built(json!({ "deleted": done.deleted, "kept": done.kept, "more": done.more }), done.text())
        }
    };
    print(printed, mode)?;
    failure.map_or(Ok(()), Err)
}

/// The note and version a triage without `--note` is sent with: the event's current note,
/// which the API's contract would otherwise clear (a change of state alone kept no note, where
/// the console keeps it), and the version it was read at (`if_version` when one was given),
/// so that a triage made in between is answered 409 rather than overwritten with it unseen.
/// No event to read (404): the triage is sent as asked and answers for itself (404, or 403 to
/// a principal without the write permission, which the API checks first).
async fn kept_note(
    client: &Client,
    id: &str,
    if_version: Option<u64>,
) -> Result<(Option<String>, Option<u64>), AdminError> {
    let read = match client.call("GET", &format!("{EVENTS}/{}", query::segment(id)), "", None).await {
        Ok(read) => read,
        Err(ApiError::Refused { status: 404, .. }) => return Ok((None, if_version)),
        Err(e) => return Err(e.into()),
    };
    let triage = &read.json["event"]["scanFailure"]["triage"];
    Ok((triage["note"].as_str().map(str::to_owned), if_version.or_else(|| triage["version"].as_u64())))
}

/// `scanfail retention …`.
pub async fn retention(args: RetentionArgs) -> Result<(), AdminError> {
    let mode = output::mode(args.api.output);
    let client = connect(&args.api).await?;
    let answer = match args.command {
        RetentionCommand::Get => client.call("GET", CONFIG, "", None).await?,
        RetentionCommand::Set { days } => {
            client.call("PUT", CONFIG, "", Some(&json!({ "retentionDays": days }))).await?
        }
    };
    print(Printed::Answer(answer, |v, _| table::retention(v)), mode)
}

/// What `--all` says when it stopped after `pages` pages of `listed` events ([`MAX_PAGES`],
/// [`MAX_LISTED`]) with `cursor` left (and `window`, from [`going_on`]).
fn stopped_listing(pages: usize, listed: usize, cursor: &str, window: &str) -> String {
    format!("stopped after {pages} pages, {listed} events: go on with --cursor {cursor}{window}\n")
}

/// What `--all` says when a page failed after `pages` pages of `listed` events, `cursor` being
/// the failed page's: the events before it are printed, and the listing can go on from it.
fn failed_listing(pages: usize, listed: usize, cursor: &str, window: &str) -> String {
    format!(
        "listed {listed} events in {pages} page(s) before the failure below: go on with --cursor {cursor}{window}\n"
    )
}

/// Whether `--all` asks for another page after `pages` pages of `listed` events in `bytes` of
/// answers.
fn goes_on(pages: usize, listed: usize, bytes: usize) -> bool {
    pages < MAX_PAGES && listed < MAX_LISTED && bytes < MAX_LISTED_BYTES
}

/// What a hint to go on with `--cursor` adds to the command's own flags: a cursor holds the
/// filters it was issued for, `filter.from` included, and `--since` computes that again from
/// the clock at every run, so the hint gives the `--from` this run computed in its place.
fn going_on(window: &WindowArgs, from: Option<&str>) -> String {
    match (window.since, from) {
        (Some(_), Some(from)) => format!(" --from {from} (in place of --since)"),
        _ => String::new(),
    }
}

/// The `filter.from` among `pairs`.
fn pairs_from(pairs: &Pairs) -> Option<&str> {
    pairs.iter().find(|(k, _)| *k == "filter.from").map(|(_, v)| v.as_str())
}

/// What `--all` read: the events of its pages, the cursor left when it stopped (where a failed
/// page would have started), and the failure that stopped it, if one did.
struct Listed {
    events: Vec<Value>,
    pages: usize,
    left: Option<String>,
    failed: Option<AdminError>,
}

/// Every page of a list from `cursor` (the first when `None`), following `nextCursor` while
/// [`goes_on`] and until a page fails; progress on standard error past one page.
async fn every_page(client: &Client, pairs: Pairs, mut cursor: Option<String>) -> Listed {
    let (mut events, mut page, mut bytes) = (Vec::new(), 0, 0usize);
    loop {
        let mut this = pairs.clone();
        if let Some(c) = cursor.clone() {
            this.push(("pagination.cursor", c));
        }
        let answer = match client.call("GET", EVENTS, &query::encode(&this), None).await {
            Ok(answer) => answer,
            Err(e) => return Listed { events, pages: page, left: cursor, failed: Some(e.into()) },
        };
        page += 1;
        bytes = bytes.saturating_add(answer.raw.len());
        events.extend(answer.json.get("events").and_then(Value::as_array).cloned().unwrap_or_default());
        cursor = answer.json.get("nextCursor").and_then(Value::as_str).map(str::to_owned);
        if cursor.is_none() || !goes_on(page, events.len(), bytes) {
            return Listed { events, pages: page, left: cursor, failed: None };
        }
        if std::io::stderr().is_terminal() || page % 10 == 0 {
            crate::say(&format!("{} events after {page} page(s)…", events.len()));
        }
    }
}

/// What a cleanup's rounds came to.
#[derive(Debug, PartialEq)]
struct Cleaned {
    deleted: u64,
    /// Matches an occurrence reached between their read and their delete.
    kept: u64,
    /// The rounds stopped at [`MAX_PAGES`] with a cursor left.
    more: bool,
}

impl Cleaned {
    fn text(&self) -> String {
        let mut text = format!("deleted {} event(s)\n", self.deleted);
        if self.kept > 0 {
            text += &format!(
                "kept {} event(s) that a failure reached during the cleanup: delete again to remove them\n",
                self.kept
            );
        }
        if self.more {
            text += &format!("stopped after {MAX_PAGES} requests: delete again to go on\n");
        }
        text
    }

    /// What the rounds before a failed one did, for standard error ("" when nothing).
    fn before_failure(&self) -> String {
        if self.deleted == 0 && self.kept == 0 {
            return String::new();
        }
        format!(
            "scanfail: deleted {} event(s) (and kept {}) before the failure below: delete again to go on\n",
            self.deleted, self.kept
        )
    }
}

/// Deletes in rounds, each within the API's bounds, each from the cursor of the one before; a
/// failed round's error comes with what the rounds before it did.
async fn delete_all(client: &Client, pairs: &Pairs) -> Result<Cleaned, (Cleaned, AdminError)> {
    let mut done = Cleaned { deleted: 0, kept: 0, more: true };
    let mut cursor = None::<String>;
    for _ in 0..MAX_PAGES {
        let mut round = pairs.clone();
        round.extend(cursor.take().map(|c| ("pagination.cursor", c)));
        let answer = match client.call("DELETE", EVENTS, &query::encode(&round), None).await {
            Ok(answer) => answer,
            Err(e) => return Err((done, e.into())),
        };
        let count = |k: &str| answer.json.get(k).and_then(Value::as_u64).unwrap_or(0);
        done.deleted = done.deleted.saturating_add(count("deleted"));
        done.kept = done.kept.saturating_add(count("kept"));
        match answer.json.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                done.more = false;
                break;
            }
        }
    }
    Ok(done)
}

/// Asks on the terminal; without one, refuses (a script says `--yes`).
fn confirmed(pairs: &Pairs) -> Result<bool, AdminError> {
    if !std::io::stdin().is_terminal() {
        return Err(AdminError::Usage("delete asks for confirmation on a terminal; give --yes in scripts"));
    }
    crate::to_stderr(&delete_prompt(pairs));
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// The question `delete` asks, its filters' values escaped as a table's are: a value pasted
/// with a bidirectional override would show the terminal another image than the one deleted.
fn delete_prompt(pairs: &Pairs) -> String {
    let what: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", k.trim_start_matches("filter."), crate::output::printable(v)))
        .collect();
    format!("Delete every event matching {}? [y/N] ", what.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Bytes;

    #[test]
    fn the_delete_prompt_names_each_filter_with_its_controls_escaped() {
        let pairs: Pairs = vec![
            ("filter.resourceName", "quay.io/acme/\u{202e}gpj.exe".to_owned()),
            ("filter.reason", "TIMEOUT".to_owned()),
        ];
        assert_eq!(
            delete_prompt(&pairs),
            "Delete every event matching resourceName=quay.io/acme/\\u{202e}gpj.exe, reason=TIMEOUT? [y/N] "
        );
    }

    /// A cursor holds the filters it was issued for, `filter.from` included, and `--since`
    /// moves that with the clock: every hint to go on with one failed (400, "issued for other
    /// filters") after a listing with `--since`.
    #[test]
    fn a_page_listed_with_since_says_the_from_to_go_on_with() {
        let from = "2026-12-05T10:00:00.000Z";
        let since = WindowArgs { since: Some(time::Duration::hours(24)), from: None, until: None };
        let given = WindowArgs { since: None, from: Some(from.to_owned()), until: None };
        let said = " --from 2026-12-05T10:00:00.000Z (in place of --since)";
        assert_eq!((going_on(&since, Some(from)).as_str(), going_on(&given, Some(from)).as_str()), (said, ""));
        let answer = json!({ "events": [], "nextCursor": "c1" });
        let page =
            Printed::Page(Answer { json: answer.clone(), raw: Bytes::from(answer.to_string()) }, said.to_owned());
        let text = String::from_utf8(rendered(page, Output::Table, OffsetDateTime::UNIX_EPOCH)).unwrap();
        assert!(text.ends_with(&format!("more: --all, a larger --limit, or --cursor c1{said}\n")), "{text}");
        assert_eq!(
            stopped_listing(1000, 50_000, "c1", said),
            format!("stopped after 1000 pages, 50000 events: go on with --cursor c1{said}\n")
        );
    }

    /// A full disk is an error of its own (exit 74); a reader that stopped reading is none.
    #[test]
    fn an_answer_not_written_is_an_error_unless_its_reader_stopped() {
        assert!(written(Ok(())).is_ok());
        assert!(written(Err(std::io::ErrorKind::BrokenPipe.into())).is_ok());
        let full = written(Err(std::io::Error::from_raw_os_error(28))).unwrap_err();
        assert_eq!((full.exit_code(), full.to_string()), (74, "cannot write the answer on standard output".to_owned()));
    }

    #[test]
    fn a_cleanup_says_what_it_deleted_what_it_kept_and_whether_it_stopped_short() {
        assert_eq!(Cleaned { deleted: 25, kept: 0, more: false }.text(), "deleted 25 event(s)\n");
        assert_eq!(
            Cleaned { deleted: 3, kept: 1, more: true }.text(),
            "deleted 3 event(s)\nkept 1 event(s) that a failure reached during the cleanup: delete again to remove \
             them\nstopped after 1000 requests: delete again to go on\n"
        );
        assert_eq!(Cleaned { deleted: 0, kept: 0, more: true }.before_failure(), "");
        assert_eq!(
            stopped_listing(50, 50_000, "c1", ""),
            "stopped after 50 pages, 50000 events: go on with --cursor c1\n"
        );
        // At 1,000 pages of the default 50, or 50 pages of --limit 1000, not at a million events.
        assert_eq!(
            (goes_on(999, 49_950, 0), goes_on(1000, 50_000, 0), goes_on(49, 49_000, 0), goes_on(50, 50_000, 0)),
            (true, false, true, false)
        );
        assert!(!goes_on(1000, 10, 0), "the pages' bound holds for small pages too");
        assert_eq!((goes_on(16, 16, 255 << 20), goes_on(16, 16, 256 << 20)), (true, false), "and the bytes'");
        assert_eq!(
            Cleaned { deleted: 10, kept: 1, more: true }.before_failure(),
            "scanfail: deleted 10 event(s) (and kept 1) before the failure below: delete again to go on\n"
        );
    }

    #[test]
    fn a_table_shows_the_escape_sequences_a_producer_sent_instead_of_obeying_them() {
        let now = OffsetDateTime::now_utc();
        // A clipboard write (OSC 52), then a carriage return and an erase of the line.
        let message = "pull failed\u{1b}]52;c;ZWNobyBoaQ==\u{7}\r\u{1b}[2K\u{9b}2J";
        let answer = json!({"event": {"id": "e1", "message": message}});
        let printed = |answer: &Value| {
            Printed::Answer(Answer { json: answer.clone(), raw: Bytes::from(answer.to_string()) }, |v, now| {
                table::event(&v["event"], now)
            })
        };
        let text = String::from_utf8(rendered(printed(&answer), Output::Table, now)).unwrap();
        let line = text.lines().find(|l| l.starts_with("Message")).unwrap();
        assert_eq!(line, "Message       pull failed\\u{1b}]52;c;ZWNobyBoaQ==\\u{7}\\r\\u{1b}[2K\\u{9b}2J");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        // JSON is the API's own: C0 controls escaped by JSON itself, DEL and the C1 controls
        // (U+009B is a CSI, as ESC [ is) escaped here, and the same value once parsed.
        let json = String::from_utf8(rendered(printed(&answer), Output::Json, now)).unwrap();
        assert_eq!(json, format!("{answer}\n").replace('\u{9b}', "\\u009b"));
        assert!(!json.chars().any(|c| c.is_control() && c != '\n'), "{json}");
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), answer);
    }
}
