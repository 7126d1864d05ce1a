//! `events trend` as a bar chart: one line per day, the bar's length proportional to that day's
//! failures.

use serde_json::Value;

/// The widest bar, in characters.
pub const BAR_WIDTH: usize = 40;

/// The chart of a `Trend` answer.
pub fn chart(trend: &Value) -> String {
    let days: Vec<(&str, u64, u64)> = trend
        .get("series")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
            (d.get("date").and_then(Value::as_str).unwrap_or("?"), n("occurrences"), n("newGroups"))
        })
        .collect();
    let most = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let width = days.iter().map(|d| d.1.to_string().len()).max().unwrap_or(1);
    let mut out = String::new();
    for (date, failures, new) in &days {
        // In u128: an answer's counts are the API's, and `failures × 40` may pass u64.
        let length = usize::try_from(u128::from(*failures) * BAR_WIDTH as u128 / u128::from(most)).unwrap_or(BAR_WIDTH);
        let bar = if *failures > 0 && length == 0 { "▏".to_owned() } else { "█".repeat(length) };
        let new = if *new > 0 { format!("  ({new} new)") } else { String::new() };
        out.push_str(&format!("{date} {failures:>width$} {bar}{new}\n"));
    }
    let total = |k: &str| trend.get("totals").and_then(|t| t.get(k)).and_then(Value::as_u64).unwrap_or(0);
    out.push_str(&format!(
        "{} failures, {} new events in {} days\n",
        total("occurrences"),
        total("newGroups"),
        days.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_day_is_a_bar_scaled_to_the_busiest() {
        let trend = json!({
            "days": 3, "totals": {"occurrences": 21, "newGroups": 1},
            "series": [
                {"date": "2026-11-23", "occurrences": 0, "newGroups": 0, "byReason": {}},
                {"date": "2026-11-24", "occurrences": 1, "newGroups": 1, "byReason": {}},
                {"date": "2026-11-25", "occurrences": 20, "newGroups": 0, "byReason": {}}
            ]
        });
        assert_eq!(
            chart(&trend),
            format!(
                "2026-11-23  0 \n2026-11-24  1 ██  (1 new)\n2026-11-25 20 {}\n21 failures, 1 new events in 3 days\n",
                "█".repeat(40)
            )
        );
    }

    /// Counts are the API's: a day past u64::MAX / 40 panicked (debug) or wrapped (release).
    #[test]
    fn counts_near_the_top_of_u64_scale_without_overflow() {
        let trend = json!({"series": [{"date": "2026-11-25", "occurrences": u64::MAX, "newGroups": 0}]});
        assert!(chart(&trend).starts_with(&format!("2026-11-25 {} {}\n", u64::MAX, "█".repeat(40))));
    }
}
