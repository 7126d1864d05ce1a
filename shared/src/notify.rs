//! Notifications for ticketing and alerting: one EventBridge event per group transition
//! (opened, threshold crossed, reopened after it was resolved), with the group id as the stable
//! ticket key.
//!
//! Exactly one per transition: the transition is decided inside the group's conditional write
//! (only one writer can create a group, or move its count across a threshold), and that same
//! transaction writes an outbox record `o#<notification id>`. A reopen is decided the same way:
//! the write that reopens asserts the resolved state and its triage version. The invocation
//! then publishes the record and deletes it; a record whose publish failed stays, and a later
//! invocation publishes it (records are found with a `Query` on the `byTime` index, partition
//! `OUTBOX`). Groups triaged as false positive never produce a threshold record.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::ConfigError;
use crate::event::Occurrence;
use crate::schema::{BY_TIME, PARTITION_KEY, TTL_ATTRIBUTE};
use crate::time_fmt;

pub const OPENED: &str = "Scan Failure Group Opened";
pub const THRESHOLD_CROSSED: &str = "Scan Failure Threshold Crossed";
pub const REOPENED: &str = "Scan Failure Group Reopened";
/// `gsiAll` value of outbox records: their partition of the `byTime` index.
pub const OUTBOX_PARTITION: &str = "OUTBOX";
/// Outbox records older than this are dropped by TTL rather than published late.
pub const OUTBOX_TTL_DAYS: i64 = 14;
/// How long a publisher holds an outbox record (`leaseUntil`, epoch seconds, wall clock): the
/// writer of a record holds it from the write, a drainer claims it with a conditional update,
/// so two invocations never publish one record at once. A publisher that fails releases it; one
/// that crashes lets the lease lapse.
pub const OUTBOX_LEASE_SECONDS: i64 = 30;
/// The attribute holding an outbox record's lease.
pub const LEASE_ATTRIBUTE: &str = "leaseUntil";

/// The wall-clock time in epoch seconds, for leases (not the handler's clock, which tests pin).
pub fn wall_clock_seconds() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}
pub const DEFAULT_THRESHOLDS: [u64; 3] = [10, 100, 1000];
pub const DEFAULT_SOURCE: &str = "scan-failures";

/// The EventBridge operations the notifier calls (see `store::actions`).
pub mod actions {
    pub const PUBLISH: &[&str] = &["events:PutEvents"];
    /// The outbox adds these DynamoDB operations to the ingest function's.
    pub const OUTBOX: &[&str] = &["dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"];
}

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
        n.notification_id = Uuid::new_v5(id, format!("reopened:{version}").as_bytes()).to_string();
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
        }
    }

    /// The outbox record of this notification, as it is read back for publishing.
    pub fn pending(&self) -> Pending {
        Pending {
            key: format!("o#{}", self.notification_id),
            detail_type: self.detail_type().to_owned(),
            detail: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// The outbox record of this notification, written in the group's transaction.
    pub fn outbox_item(&self, now: OffsetDateTime) -> HashMap<String, AttributeValue> {
        let expires = (now + time::Duration::days(OUTBOX_TTL_DAYS)).unix_timestamp();
        HashMap::from([
            (PARTITION_KEY.to_owned(), AttributeValue::S(format!("o#{}", self.notification_id))),
            (BY_TIME.partition_key.to_owned(), AttributeValue::S(OUTBOX_PARTITION.into())),
            (
                BY_TIME.sort_key.attribute().to_owned(),
                AttributeValue::S(format!("{}#{}", time_fmt::format(now), self.notification_id)),
            ),
            (TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires.to_string())),
            ("detailType".to_owned(), AttributeValue::S(self.detail_type().into())),
            ("detail".to_owned(), AttributeValue::S(serde_json::to_string(self).unwrap_or_default())),
            (LEASE_ATTRIBUTE.to_owned(), AttributeValue::N((wall_clock_seconds() + OUTBOX_LEASE_SECONDS).to_string())),
        ])
    }
}

/// A pending outbox record, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub key: String,
    pub detail_type: String,
    pub detail: String,
}

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("EventBridge PutEvents failed")]
    PutEvents(#[source] Box<aws_sdk_eventbridge::Error>),
}

/// Where notifications go, and which transitions produce them.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    source: String,
}

/// Notification settings from the environment: `NOTIFY_BUS_NAME` (unset: notifications off),
/// `NOTIFY_SOURCE` (default `scan-failures`), `NOTIFY_THRESHOLDS` (default `10,100,1000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub bus: String,
    pub source: String,
    pub thresholds: Vec<u64>,
}

impl NotifyConfig {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(bus) = var("NOTIFY_BUS_NAME").filter(|b| !b.trim().is_empty()) else { return Ok(None) };
        let source = var("NOTIFY_SOURCE").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_SOURCE.into());
        let thresholds = match var("NOTIFY_THRESHOLDS") {
            None => DEFAULT_THRESHOLDS.to_vec(),
            Some(raw) => parse_thresholds(&raw).ok_or(ConfigError::Invalid {
                var: "NOTIFY_THRESHOLDS",
                rule: "1 to 10 comma-separated increasing whole numbers from 2 to 1000000000",
                value: raw,
            })?,
        };
        Ok(Some(Self { bus, source, thresholds }))
    }
}

fn parse_thresholds(raw: &str) -> Option<Vec<u64>> {
    let values: Option<Vec<u64>> = raw.split(',').map(|t| t.trim().parse::<u64>().ok()).collect();
    let values = values?;
    let increasing = values.windows(2).all(|w| w[0] < w[1]);
    ((1..=10).contains(&values.len()) && increasing && values.iter().all(|t| (2..=1_000_000_000).contains(t)))
        .then_some(values)
}

impl Notifier {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self { client, bus: bus.into(), source: source.into() }
    }

    /// Publishes pending records (at most 10 per request, EventBridge's limit); returns, per
    /// record, whether EventBridge accepted it.
    pub async fn publish(&self, pending: &[Pending]) -> Result<Vec<bool>, PublishError> {
        let mut accepted = Vec::with_capacity(pending.len());
        for chunk in pending.chunks(10) {
            let entries: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|p| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(&self.source)
                        .detail_type(&p.detail_type)
                        .detail(&p.detail)
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| PublishError::PutEvents(Box::new(e.into())))?;
            let results = out.entries();
            for i in 0..chunk.len() {
                // An entry without an event id, or with an error code, was not accepted.
                let ok = results.get(i).is_some_and(|r| r.error_code().is_none() && r.event_id().is_some());
                accepted.push(ok);
            }
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| pairs.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
    }

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
        let id = crate::fingerprint::group_id(&o.image.normalized(), o.reason, &o.message);
        Notification::new(&id, &o, Some(10), 10)
    }

    #[test]
    fn a_notification_has_exactly_the_fields_of_its_published_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../events/notification.schema.json")).expect("schema is JSON");
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

    #[test]
    fn notifications_are_off_without_a_bus_and_thresholds_default_to_10_100_1000() {
        assert_eq!(NotifyConfig::from_env(env(&[])), Ok(None));
        assert_eq!(
            NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops")])),
            Ok(Some(NotifyConfig {
                bus: "ops".into(),
                source: "scan-failures".into(),
                thresholds: vec![10, 100, 1000]
            }))
        );
        for bad in ["", "10,5", "1", "abc", "10,10"] {
            let err = NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_THRESHOLDS", bad)]));
            assert!(err.is_err(), "{bad:?} accepted");
        }
    }
}
