//! Which transitions one write of a group makes, decided from what the writer knows of the
//! stored group. The write asserts that knowledge in its condition, so only one writer can
//! make each transition: this is what makes every notification exactly-once.

use uuid::Uuid;

use super::aggregate::Aggregate;
use super::notification::Notification;

/// What the writer knows of the stored group when it plans a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Known {
    /// The group is stored (else the write creates it).
    pub exists: bool,
    /// The stored occurrence count, when known; unknown means "no threshold is crossed".
    pub count: Option<u64>,
    /// Triaged as false positive: it never notifies a threshold.
    pub false_positive: bool,
    /// The write reopens a group resolved under this triage version.
    pub reopens: Option<u64>,
}

/// The transitions a write of `agg` into group `id` makes: opening the group, reopening it after
/// it was resolved, and each of `thresholds` its count crosses (at most 3; none for a false
/// positive). `None` thresholds: transitions are off, none is made.
pub fn transitions(thresholds: Option<&[u64]>, agg: &Aggregate, id: &Uuid, known: Known) -> Vec<Notification> {
    let Some(thresholds) = thresholds else { return Vec::new() };
    let k = agg.count();
    if !known.exists {
        return vec![Notification::new(id, agg.latest, None, k)];
    }
    let mut out = Vec::new();
    if let Some(version) = known.reopens {
        out.push(Notification::reopened(id, agg.latest, version, known.count.map_or(k, |n| n + k)));
    }
    if let Some(n) = known.count.filter(|_| !known.false_positive) {
        out.extend(
            thresholds
                .iter()
                .filter(|t| n < **t && **t <= n + k)
                .take(3)
                .map(|t| Notification::new(id, agg.latest, Some(*t), n + k)),
        );
    }
    out
}
