//! What a set of occurrences of one group does to it, merged: the direct path merges one, the
//! SQS batch path every occurrence of the group in a batch. The DynamoDB adapter plans one
//! conditional write from it.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::daily;
use super::record::MAX_SET_ENTRIES;
use crate::event::Occurrence;
use crate::time_fmt;

/// Occurrences of one group merged into one write: the direct path writes one, the SQS batch
/// path merges every occurrence of a group in a batch.
#[derive(Debug, Clone)]
pub struct Aggregate<'a> {
    /// The occurrence with the latest `occurred_at`: its message, account and source are kept.
    pub latest: &'a Occurrence,
    pub earliest: OffsetDateTime,
    /// Envelope ids, each counted once.
    pub event_ids: Vec<&'a str>,
    pub op_counts: BTreeMap<&'static str, u64>,
    pub origin_counts: BTreeMap<&'static str, u64>,
    /// Per remembered set: value → latest time seen, at most [`MAX_SET_ENTRIES`] (most recent).
    pub sets: BTreeMap<&'static str, BTreeMap<String, String>>,
    /// Occurrences per UTC day (`YYYY-MM-DD`).
    pub daily: BTreeMap<String, u64>,
}

/// The remembered sets: attribute name and the occurrence's value for it.
fn set_values(o: &Occurrence) -> [(&'static str, Option<String>); 4] {
    [
        ("clusters", o.cluster.clone()),
        ("deployments", o.deployment.as_ref().map(|d| d.key())),
        ("initiators", o.initiator.id.clone()),
        ("userAgents", o.initiator.user_agent.clone()),
    ]
}

/// Every remembered-set attribute.
pub const SET_ATTRIBUTES: [&str; 4] = ["clusters", "deployments", "initiators", "userAgents"];

impl<'a> Aggregate<'a> {
    /// Merges occurrences of one group; `None` for an empty slice. Envelope ids seen twice in
    /// the slice count once.
    pub fn of(occurrences: &[&'a Occurrence]) -> Option<Self> {
        let first = occurrences.first()?;
        let mut agg = Aggregate {
            latest: first,
            earliest: first.occurred_at,
            event_ids: Vec::new(),
            op_counts: BTreeMap::new(),
            origin_counts: BTreeMap::new(),
            sets: BTreeMap::new(),
            daily: BTreeMap::new(),
        };
        for o in occurrences {
            if agg.event_ids.contains(&o.envelope.key.as_str()) {
                continue;
            }
            agg.event_ids.push(&o.envelope.key);
            if o.occurred_at > agg.latest.occurred_at {
                agg.latest = o;
            }
            agg.earliest = agg.earliest.min(o.occurred_at);
            *agg.op_counts.entry(o.operation.key()).or_default() += 1;
            *agg.origin_counts.entry(o.origin.as_str()).or_default() += 1;
            *agg.daily.entry(daily::day_key(o.occurred_at)).or_default() += 1;
            let t = time_fmt::format(o.occurred_at);
            for (attr, value) in set_values(o) {
                if let Some(v) = value {
                    let seen = agg.sets.entry(attr).or_default().entry(v).or_default();
                    if *seen < t {
                        seen.clone_from(&t);
                    }
                }
            }
        }
        for set in agg.sets.values_mut() {
            while set.len() > MAX_SET_ENTRIES {
                let oldest = set.iter().min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0))).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    set.remove(&k);
                }
            }
        }
        Some(agg)
    }

    pub fn count(&self) -> u64 {
        self.event_ids.len() as u64
    }

    /// The per-day counts a writer whose clock reads `now` records: days before the
    /// [`daily::horizon`] can no longer be asked for, so they are not kept.
    pub fn recorded_days(&self, now: OffsetDateTime) -> BTreeMap<String, u64> {
        let horizon = daily::horizon(now);
        self.daily.iter().filter(|(d, _)| **d >= horizon).map(|(d, n)| (d.clone(), *n)).collect()
    }

    /// The same aggregate without the given envelope ids (found to be duplicates).
    pub fn without(&self, all: &[&'a Occurrence], drop: &[&str]) -> Option<Self> {
        let rest: Vec<&Occurrence> = all.iter().copied().filter(|o| !drop.contains(&o.envelope.key.as_str())).collect();
        Self::of(&rest)
    }
}
