//! The API's answers as text for a person: reason titles and hints from the catalogue, times
//! relative to now. Pure: answer and clock in, text out.

use scan_failures_domain::classify::Reason;
use scan_failures_domain::time_fmt;
use serde_json::Value;
use time::OffsetDateTime;

use super::{ago, fit};

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or("")
}

fn number(v: &Value, path: &[&str]) -> u64 {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_u64).unwrap_or(0)
}

fn when(v: &str, now: OffsetDateTime) -> String {
    time_fmt::parse(v).map_or_else(|| v.to_owned(), |t| ago(t, now))
}

fn title(code: &str) -> &'static str {
    Reason::from_code(code).map_or("Unknown reason", Reason::title)
}

/// A page (or all pages) of events: one line each.
pub fn events(events: &[Value], now: OffsetDateTime) -> String {
    let mut out =
        format!("{:<36}  {:>8}  {:>7}  {:<30}  {:<14}  {}\n", "ID", "LAST", "COUNT", "REASON", "TRIAGE", "IMAGE");
    for e in events {
        let triage = match text(e, &["scanFailure", "triage", "state"]) {
            "" => "open",
            s => s,
        };
        out.push_str(&format!(
            "{:<36}  {:>8}  {:>7}  {:<30}  {:<14}  {}\n",
            text(e, &["id"]),
            when(text(e, &["lastOccurredAt"]), now),
            text(e, &["numOccurrences"]),
            fit(title(text(e, &["scanFailure", "reason"])), 30),
            triage,
            text(e, &["resource", "name"]),
        ));
    }
    out.push_str(&format!("{} event(s)\n", events.len()));
    out
}

/// One event in full.
pub fn event(e: &Value, now: OffsetDateTime) -> String {
    let reason = text(e, &["scanFailure", "reason"]);
    let list = |k: &str| {
        e.get("scanFailure")
            .and_then(|s| s.get(k))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let mut lines = vec![
        ("Event", text(e, &["id"]).to_owned()),
        ("Image", text(e, &["resource", "name"]).to_owned()),
        ("Reason", format!("{} ({reason})", title(reason))),
        ("Level", text(e, &["level"]).trim_start_matches(scan_failures_domain::classify::ACS_LEVEL_PREFIX).to_owned()),
        ("Failures", text(e, &["numOccurrences"]).to_owned()),
        ("First failed", format!("{} ({})", text(e, &["createdAt"]), when(text(e, &["createdAt"]), now))),
        ("Last failed", format!("{} ({})", text(e, &["lastOccurredAt"]), when(text(e, &["lastOccurredAt"]), now))),
        ("Account", format!("{} {}", text(e, &["scanFailure", "account"]), text(e, &["scanFailure", "region"]))),
        ("Clusters", list("clusters")),
        ("Deployments", list("deployments")),
        ("Initiators", list("initiators")),
        ("Triage", triage(e)),
        ("Note", text(e, &["scanFailure", "triage", "note"]).to_owned()),
        ("Message", text(e, &["message"]).to_owned()),
        ("Hint", text(e, &["hint"]).to_owned()),
    ];
    lines.retain(|(_, v)| !v.trim().is_empty());
    // A value's further lines (a scanner's message, or a cluster name a producer chose) are
    // indented under the values: at the start of a line, they could pass for a field of their
    // own ("Triage        false_positive" inside a cluster name).
    lines.iter().map(|(k, v)| format!("{k:<13} {}\n", v.replace('\n', &format!("\n{:14}", "")))).collect()
}

/// The triage state with its version, what `events triage --if-version` names.
fn triage(e: &Value) -> String {
    let state = text(e, &["scanFailure", "triage", "state"]);
    match e.pointer("/scanFailure/triage/version").and_then(Value::as_u64) {
        Some(version) if !state.is_empty() => format!("{state} (version {version})"),
        _ => state.to_owned(),
    }
}

/// The summary: totals, reasons with their titles, top images; the other breakdowns are in the
/// JSON (`--output json`), as the last line says.
pub fn summary(s: &Value) -> String {
    let mut out =
        format!("{} events, {} failures\n\n", number(s, &["totals", "groups"]), number(s, &["totals", "occurrences"]));
    out.push_str(&format!("{:<28} {:<40} {:>7} {:>9}\n", "REASON", "", "EVENTS", "FAILURES"));
    let mut reasons: Vec<(&String, &Value)> =
        s.get("byReason").and_then(Value::as_object).into_iter().flatten().collect();
    reasons.sort_by_key(|(_, t)| std::cmp::Reverse(number(t, &["occurrences"])));
    for (code, tally) in reasons {
        out.push_str(&format!(
            "{:<28} {:<40} {:>7} {:>9}\n",
            code,
            fit(title(code), 40),
            number(tally, &["groups"]),
            number(tally, &["occurrences"])
        ));
    }
    let images = s.get("topImages").and_then(Value::as_array).cloned().unwrap_or_default();
    if s.get("omitted").and_then(Value::as_array).is_some_and(|o| !o.is_empty()) {
        out.push_str(
            "\ntop images, clusters and the account drill-down are not kept by the rollups: --detail reads them\n",
        );
    }
    if !images.is_empty() {
        out.push_str(&format!("\n{:<69} {:>7} {:>9}\n", "TOP IMAGES", "EVENTS", "FAILURES"));
        for i in &images {
            out.push_str(&format!(
                "{:<69} {:>7} {:>9}\n",
                fit(text(i, &["resourceName"]), 69),
                number(i, &["groups"]),
                number(i, &["occurrences"])
            ));
        }
    }
    out.push_str(SUMMARY_ELSEWHERE);
    out
}

/// What the summary's table leaves to its JSON.
pub const SUMMARY_ELSEWHERE: &str =
    "\nby level, operation, origin, cluster, account and region, and the account drill-down: --output json\n";

/// The retention setting and the progress of its re-stamping.
pub fn retention(r: &Value) -> String {
    let mut out = format!("retention: {} days ({})", number(r, &["retentionDays"]), text(r, &["source"]));
    if !text(r, &["updatedBy"]).is_empty() {
        out.push_str(&format!(", set by {} at {}", text(r, &["updatedBy"]), text(r, &["updatedAt"])));
    }
    out.push('\n');
    if let Some(p) = r.get("restamp") {
        let state = if p.get("finished").and_then(Value::as_bool) == Some(true) { "finished" } else { "in progress" };
        out.push_str(&format!(
            "re-stamping to {} days: {state}, {} examined, {} changed\n",
            number(p, &["targetRetentionDays"]),
            number(p, &["examined"]),
            number(p, &["restamped"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn sample() -> Value {
        json!({
            "id": "3f0c1c9e-8d2e-5a43-9f55-0c0b7f1a2b3c",
            "level": "ADMINISTRATION_EVENT_LEVEL_ERROR",
            "message": "unauthorized: authentication required",
            "hint": "Check the registry credentials.",
            "resource": {"type": "Image", "id": "", "name": "quay.io/acme/web:1.4"},
            "numOccurrences": "12",
            "lastOccurredAt": "2026-12-02T09:00:00Z",
            "createdAt": "2026-11-30T12:00:00Z",
            "scanFailure": {"reason": "REGISTRY_UNAUTHORIZED", "account": "123456789012", "region": "eu-west-1",
                "clusters": ["prod"], "deployments": [], "initiators": [], "triage": {"state": "acknowledged"}}
        })
    }

    #[test]
    fn a_list_line_has_id_relative_time_count_title_triage_and_image() {
        let out = events(&[sample()], datetime!(2026-12-02 12:00:00 UTC));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            format!(
                "3f0c1c9e-8d2e-5a43-9f55-0c0b7f1a2b3c  {:>8}  {:>7}  {:<30}  {:<14}  quay.io/acme/web:1.4",
                "3h ago",
                "12",
                fit(Reason::RegistryUnauthorized.title(), 30),
                "acknowledged"
            )
        );
        assert_eq!(lines[2], "1 event(s)");
    }

    #[test]
    fn an_event_shows_its_reason_title_and_hint() {
        let out = event(&sample(), datetime!(2026-12-02 12:00:00 UTC));
        assert!(
            out.contains(&format!("Reason        {} (REGISTRY_UNAUTHORIZED)\n", Reason::RegistryUnauthorized.title())),
            "{out}"
        );
        assert!(out.contains("Last failed   2026-12-02T09:00:00Z (3h ago)\n"), "{out}");
        assert!(out.contains("Hint          Check the registry credentials.\n"), "{out}");
        assert!(!out.contains("Deployments"), "empty fields are left out: {out}");
        assert!(out.contains("Triage        acknowledged\n"), "{out}");
        // The version `events triage --if-version` names, when the API gives it.
        let mut versioned = sample();
        versioned["scanFailure"]["triage"]["version"] = json!(3);
        let out = event(&versioned, datetime!(2026-12-02 12:00:00 UTC));
        assert!(out.contains("Triage        acknowledged (version 3)\n"), "{out}");
    }

    #[test]
    fn a_values_further_lines_are_indented_under_the_values_and_pass_for_no_field() {
        let mut e = sample();
        e["scanFailure"]["triage"] = Value::Null;
        e["scanFailure"]["clusters"] = json!(["prod\nTriage        false_positive\nNote          benign"]);
        let out = event(&e, datetime!(2026-12-02 12:00:00 UTC));
        assert!(!out.lines().any(|l| l.starts_with("Triage") || l.starts_with("Note")), "{out}");
        assert!(
            out.contains(
                "Clusters      prod\n              Triage        false_positive\n              Note          benign\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn the_retention_shows_who_set_it_and_the_restamp() {
        let r = json!({"retentionDays": 30, "source": "table", "updatedAt": "2026-12-01T00:00:00Z",
            "updatedBy": "arn:aws:iam::123456789012:user/alice",
            "restamp": {"targetRetentionDays": 30, "examined": 10, "restamped": 4, "finished": false}});
        assert_eq!(
            retention(&r),
            "retention: 30 days (table), set by arn:aws:iam::123456789012:user/alice at 2026-12-01T00:00:00Z\n\
             re-stamping to 30 days: in progress, 10 examined, 4 changed\n"
        );
    }
}
