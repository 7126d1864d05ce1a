//! What a group transition says to ticketing and alerting: one notification per transition
//! (opened, threshold crossed, reopened after it was resolved), with the group id as the stable
//! ticket key and an id that is stable per transition, so a consumer can deduplicate. Which
//! transitions a write makes is decided by [`super::transitions`]; delivery is the adapters'
//! (an outbox record in the group's own write, then EventBridge).

use serde::Serialize;
use uuid::Uuid;

use crate::event::Occurrence;
use crate::time_fmt;

pub const OPENED: &str = "Scan Failure Group Opened";
pub const THRESHOLD_CROSSED: &str = "Scan Failure Threshold Crossed";
pub const REOPENED: &str = "Scan Failure Group Reopened";

/// What a notification says. Its JSON is the `detail` of the published event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Stable per transition: a consumer can deduplicate on it.
    pub notification_id: String,
    /// Stable per group: the ticket key.
    pub group_id: String,
    /// `opened`, `threshold_crossed` or `reopened`.
    pub transition: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    pub reason: &'static str,
    pub reason_title: &'static str,
    pub hint: &'static str,
    pub level: &'static str,
    pub num_occurrences: u64,
    pub last_occurred_at: String,
    pub account: String,
    pub region: String,
    /// Path of the group in the admin API.
    pub link: String,
    /// What the id is derived from (`opened`, `threshold:10`, `reopened:2`): not published.
    #[serde(skip)]
    key: String,
}

/// A group's latest occurrence as its item stores it: its time, digest, account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLatest {
    pub at: String,
    pub resource_id: Option<String>,
    pub account: String,
    pub region: String,
}

impl Notification {
    pub fn detail_type(&self) -> &'static str {
        match self.transition {
            "reopened" => REOPENED,
            _ if self.threshold.is_some() => THRESHOLD_CROSSED,
            _ => OPENED,
        }
    }

    /// The notification that group `id`, resolved at triage version `version`, was reopened by
    /// `o`; its id is stable per reopen (one per resolve).
    pub fn reopened(id: &Uuid, o: &Occurrence, version: u64, count: u64) -> Self {
        let mut n = Self::new(id, o, None, count);
        n.key = format!("reopened:{version}");
        n.notification_id = Uuid::new_v5(id, n.key.as_bytes()).to_string();
        n.transition = "reopened";
        n
    }

    /// The notification of a transition of group `id` to `count` occurrences, caused by `o`.
    pub fn new(id: &Uuid, o: &Occurrence, threshold: Option<u64>, count: u64) -> Self {
        let transition_key = threshold.map_or_else(|| "opened".to_owned(), |t| format!("threshold:{t}"));
        let notification_id = Uuid::new_v5(id, transition_key.as_bytes()).to_string();
        Self {
            notification_id,
            group_id: id.to_string(),
            transition: if threshold.is_some() { "threshold_crossed" } else { "opened" },
            threshold,
            image: o.image.normalized(),
            resource_id: o.image.digest.clone(),
            reason: o.reason.code(),
            reason_title: o.reason.title(),
            hint: o.reason.hint(),
            level: o.reason.level().as_str(),
            num_occurrences: count,
            last_occurred_at: time_fmt::format(o.occurred_at),
            account: o.envelope.account.clone(),
            region: o.envelope.region.clone(),
            link: format!("/v1/administration/events/{id}"),
            key: transition_key,
        }
    }

    /// The same notification telling of the group's latest occurrence as stored, `latest`, where
    /// the write's own occurrences are all older (`None`: as it is): a threshold a late
    /// occurrence crosses is the group's, and a consumer keeping the group's last time, digest,
    /// account and region from it must not move them back to the late one's.
    pub fn as_of(mut self, latest: Option<&StoredLatest>) -> Self {
        if let Some(l) = latest {
            self.last_occurred_at.clone_from(&l.at);
            self.resource_id.clone_from(&l.resource_id);
            self.account.clone_from(&l.account);
            self.region.clone_from(&l.region);
        }
        self
    }

    /// The same notification in the life of the group whose `createdAt` is `generation`: a
    /// group deleted by TTL, or past its retention, and seen again goes through its transitions
    /// a second time, so their ids must differ from the earlier life's. An id is made once, in
    /// the write that records the transition with it. `None`: the transition's id alone.
    pub fn in_generation(mut self, group: &Uuid, generation: Option<&str>) -> Self {
        if let Some(g) = generation {
            self.notification_id = Uuid::new_v5(group, format!("{}@{g}", self.key).as_bytes()).to_string();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        let envelope = serde_json::json!({
            "version": "0", "id": "e-1", "detail-type": "Image Scan Failed", "source": "s", "account": "123456789012",
            "time": "2026-11-25T10:00:00Z", "region": "eu-west-1",
            "detail": {"operation": "image scan", "origin": "api", "image": {"name": "nginx"},
                "error": {"message": "context deadline exceeded"}}
        });
        let Ok(crate::event::Parsed::Failure(o)) = crate::event::parse(envelope) else {
            panic!("sample did not parse")
        };
        let id = o.group_id();
        Notification::new(&id, &o, Some(10), 10)
    }

    #[test]
    fn a_notification_has_exactly_the_fields_of_its_published_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../../events/notification.schema.json")).expect("schema is JSON");
        let documented: std::collections::BTreeSet<String> =
            schema["properties"].as_object().expect("properties").keys().cloned().collect();
        let written = serde_json::to_value(sample()).expect("serializes");
        let fields: std::collections::BTreeSet<String> = written.as_object().expect("object").keys().cloned().collect();
        assert_eq!(fields.len(), documented.len() - 1, "only resourceId (unknown digest) may be absent");
        assert!(fields.is_subset(&documented));
        assert_eq!(written["transition"], "threshold_crossed");
        assert_eq!(written["link"], format!("/v1/administration/events/{}", written["groupId"].as_str().unwrap_or("")));
        assert_eq!(sample().detail_type(), THRESHOLD_CROSSED);
        assert_eq!(sample().notification_id, sample().notification_id, "stable per transition");
    }
}
