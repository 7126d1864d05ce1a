//! Which transitions one write of a group makes, decided from what the writer knows of the
//! stored group. The write asserts that knowledge in its condition, so only one writer can
//! make each transition: this is what makes every notification exactly-once.

use uuid::Uuid;

use super::aggregate::Aggregate;
use super::notification::{Notification, StoredLatest};

/// What the writer knows of the stored group when it plans a write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    /// The group is stored and within the retention (else the write creates it, or starts an
    /// expired one anew).
    pub exists: bool,
    /// The stored occurrence count, when known; unknown means "no threshold is crossed".
    pub count: Option<u64>,
    /// Triaged as false positive, or resolved and left resolved by the write (its occurrences
    /// are all from before the resolve time): it notifies no threshold. An administrator who
    /// closed a group is told when it fails again (a reopen), not of late deliveries' counts.
    pub silenced: bool,
    /// The write reopens a group resolved under this triage version.
    pub reopens: Option<u64>,
    /// The group's current life, as its `createdAt`: the one the write sets when it creates the
    /// group (or starts it anew after it expired), else the stored one. Each life's
    /// notifications get ids of their own ([`Notification::in_generation`]). A late occurrence
    /// can move `createdAt` earlier; past the start of an earlier life only when the retention
    /// was raised in between, and even then the two lives' ids differ unless their `createdAt`
    /// are equal to the millisecond.
    pub generation: Option<String>,
    /// The group's latest occurrence as stored, when it is later than every occurrence of the
    /// write (a late one): what the notifications tell of the group ([`Notification::as_of`]).
    pub latest: Option<StoredLatest>,
}

/// The most transitions one write can make with `thresholds`: opening or reopening the group, and
/// every threshold at once (a write of many occurrences can cross several).
pub fn most_per_write(thresholds: &[u64]) -> usize {
    1 + thresholds.len()
}

/// The transitions a write of `agg` into group `id` makes: opening the group, reopening it after
/// it was resolved, and every one of `thresholds` its count crosses, however many (none for a
/// silenced group); a write that creates a group with `k` occurrences crosses every threshold up
/// to `k`. `None` thresholds: transitions are off, none is made.
pub fn transitions(thresholds: Option<&[u64]>, agg: &Aggregate, id: &Uuid, known: Known) -> Vec<Notification> {
    let Some(thresholds) = thresholds else { return Vec::new() };
    let k = agg.count();
    let mut out = Vec::new();
    let from = if known.exists {
        if let Some(version) = known.reopens {
            out.push(Notification::reopened(id, agg.latest, version, known.count.map_or(k, |n| n.saturating_add(k))));
        }
        // Unknown count: the write asserts that no threshold is crossed.
        known.count.filter(|_| !known.silenced)
    } else {
        out.push(Notification::new(id, agg.latest, None, k));
        Some(0)
    };
    if let Some(from) = from {
        out.extend(
            thresholds
                .iter()
                .filter(|t| from < **t && **t <= from.saturating_add(k))
                .map(|t| Notification::new(id, agg.latest, Some(*t), from.saturating_add(k))),
        );
    }
    out.into_iter().map(|n| n.in_generation(id, known.generation.as_deref()).as_of(known.latest.as_ref())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse, Occurrence, Parsed};

    fn occurrences(n: usize) -> Vec<Occurrence> {
        (0..n)
            .map(|i| {
                let envelope = serde_json::json!({
                    "version": "0", "id": format!("e-{i}"), "detail-type": "Image Scan Failed", "source": "s",
                    "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "eu-west-1",
                    "detail": {"operation": "image scan", "origin": "roxctl", "image": {"name": "nginx"},
                        "error": {"message": "context deadline exceeded"}}
                });
                match parse(envelope) {
                    Ok(Parsed::Failure(o)) => *o,
                    other => panic!("not a failure: {other:?}"),
                }
            })
            .collect()
    }

    fn made(thresholds: &[u64], k: usize, known: Known) -> Vec<(&'static str, Option<u64>, u64)> {
        made_with_ids(thresholds, k, known).into_iter().map(|(t, th, n, _)| (t, th, n)).collect()
    }

    fn made_with_ids(thresholds: &[u64], k: usize, known: Known) -> Vec<(&'static str, Option<u64>, u64, String)> {
        let all = occurrences(k);
        let refs: Vec<&Occurrence> = all.iter().collect();
        let agg = Aggregate::of(&refs).unwrap();
        transitions(Some(thresholds), &agg, &Uuid::nil(), known)
            .into_iter()
            .map(|n| (n.transition, n.threshold, n.num_occurrences, n.notification_id))
            .collect()
    }

    /// A group that expired and is written again opens again, under ids of its new life.
    #[test]
    fn a_group_started_anew_notifies_under_ids_of_its_new_life() {
        let first = made_with_ids(&[10], 1, Known::default());
        let again = Known { generation: Some("2026-12-01T00:00:00.000Z".into()), ..Known::default() };
        let second = made_with_ids(&[10], 1, again.clone());
        assert_eq!((first[0].0, second[0].0), ("opened", "opened"));
        assert_ne!(first[0].3, second[0].3);
        assert_eq!(second, made_with_ids(&[10], 1, again), "stable within one life");
    }

    /// Before: a group created with 95 occurrences notified "opened" and never threshold 10.
    #[test]
    fn a_group_created_past_a_threshold_notifies_it_with_the_opening() {
        assert_eq!(
            made(&[10, 100, 1000], 95, Known::default()),
            [("opened", None, 95), ("threshold_crossed", Some(10), 95)]
        );
        assert_eq!(made(&[10, 100, 1000], 1, Known::default()), [("opened", None, 1)]);
    }

    /// Before: `.take(3)` dropped the fourth threshold crossed by one write.
    #[test]
    fn every_threshold_one_write_crosses_is_notified() {
        let known = Known { exists: true, count: Some(1), ..Known::default() };
        assert_eq!(
            made(&[2, 3, 4, 5, 100], 5, known),
            [
                ("threshold_crossed", Some(2), 6),
                ("threshold_crossed", Some(3), 6),
                ("threshold_crossed", Some(4), 6),
                ("threshold_crossed", Some(5), 6)
            ]
        );
        assert_eq!(most_per_write(&[2, 3, 4, 5, 100]), 6);
    }

    #[test]
    fn a_false_positive_or_an_unknown_count_notifies_no_threshold() {
        let fp = Known { exists: true, count: Some(1), silenced: true, ..Known::default() };
        assert_eq!(made(&[2, 3], 5, fp), []);
        assert_eq!(made(&[2, 3], 5, Known { exists: true, ..Known::default() }), []);
        let reopened = Known { exists: true, count: Some(1), reopens: Some(4), ..Known::default() };
        assert_eq!(made(&[10], 2, reopened), [("reopened", None, 3)]);
    }
}
