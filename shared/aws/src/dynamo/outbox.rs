//! The notification outbox. Exactly one notification per transition: the transition is decided
//! inside the group's conditional write, and that same transaction writes an outbox record
//! `o#<notification id>` ([`item`]). The invocation then publishes the record and deletes it; a
//! record whose publish failed stays, and a later invocation publishes it (records are found
//! with a `Query` on the `byTime` index, partition [`OUTBOX_PARTITION`]). A lease keeps two
//! invocations from publishing one record at once.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use scan_failures_domain::group::notification::Notification;
use scan_failures_domain::time_fmt;

use crate::dynamo::schema::{BY_TIME, PARTITION_KEY, TTL_ATTRIBUTE};
use crate::dynamo::{applied, dynamo, Store, StoreError};

/// The DynamoDB operations of the outbox, on top of the writer's (see `write::actions`).
pub mod actions {
    pub const OUTBOX: &[&str] = &["dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"];
}

/// `gsiAll` value of outbox records: their partition of the `byTime` index.
pub const OUTBOX_PARTITION: &str = "OUTBOX";
/// Outbox records older than this (wall clock) are dropped rather than published late: by a
/// drain that finds one ([`Outbox::page`]), and by TTL.
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

/// The key of a notification's outbox record.
fn key(n: &Notification) -> String {
    format!("o#{}", n.notification_id)
}

/// The outbox record of a notification, as it is read back for publishing.
pub fn pending(n: &Notification) -> Pending {
    Pending {
        key: key(n),
        detail_type: n.detail_type().to_owned(),
        detail: serde_json::to_string(n).unwrap_or_default(),
    }
}

/// When a record was written: the time its `byTime` sort key (`<time>#<notification id>`) starts
/// with.
pub fn written_at(sort_key: &str) -> Option<OffsetDateTime> {
    time_fmt::parse(sort_key.split('#').next()?)
}

/// The outbox record of a notification, written in the group's transaction at `now` (its place
/// in the outbox's order). It expires [`OUTBOX_TTL_DAYS`] after the wall clock's now, as TTL and
/// the drains read it (not the handler's clock, which tests pin).
pub fn item(n: &Notification, now: OffsetDateTime) -> HashMap<String, AttributeValue> {
    let expires = wall_clock_seconds() + OUTBOX_TTL_DAYS * 86_400;
    HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(key(n))),
        (BY_TIME.partition_key.to_owned(), AttributeValue::S(OUTBOX_PARTITION.into())),
        (
            BY_TIME.sort_key.attribute().to_owned(),
            AttributeValue::S(format!("{}#{}", time_fmt::format(now), n.notification_id)),
        ),
        (TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires.to_string())),
        ("detailType".to_owned(), AttributeValue::S(n.detail_type().into())),
        ("detail".to_owned(), AttributeValue::S(serde_json::to_string(n).unwrap_or_default())),
        (LEASE_ATTRIBUTE.to_owned(), AttributeValue::N((wall_clock_seconds() + OUTBOX_LEASE_SECONDS).to_string())),
    ])
}

/// A pending outbox record, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub key: String,
    pub detail_type: String,
    pub detail: String,
}

/// A page of the outbox; see [`Outbox::page`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    pub live: Vec<Pending>,
    pub expired: Vec<String>,
}

/// The outbox of one [`Store`]; see [`Store::outbox`].
#[derive(Debug, Clone, Copy)]
pub struct Outbox<'a> {
    store: &'a Store,
}

impl<'a> Outbox<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Outbox records not yet published, oldest first (at most `limit`), expired or not.
    pub async fn pending(&self, limit: i32) -> Result<Vec<Pending>, StoreError> {
        Ok(self.page(limit, i64::MIN).await?.live)
    }

    /// A page of the outbox, oldest first (at most `limit` records): those to publish, and the
    /// keys of those expired at `now` (epoch seconds, wall clock), for [`Self::drop_expired`].
    pub async fn page(&self, limit: i32, now: i64) -> Result<Page, StoreError> {
        let out = self.store.query_by_time(OUTBOX_PARTITION).limit(limit).send().await.map_err(dynamo("Query"))?;
        let mut page = Page::default();
        for i in out.items() {
            let s = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
            let Some(key) = s(PARTITION_KEY) else { continue };
            let expires = i.get(TTL_ATTRIBUTE).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
            if expires.is_some_and(|e| e <= now) {
                page.expired.push(key);
            } else if let (Some(detail_type), Some(detail)) = (s("detailType"), s("detail")) {
                page.live.push(Pending { key, detail_type, detail });
            }
        }
        Ok(page)
    }

    /// Deletes an outbox record expired at `now` (epoch seconds, wall clock) unpublished;
    /// `false` when it is gone or not expired after all.
    pub async fn drop_expired(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let out = self
            .store
            .client()
            .delete_item()
            .table_name(self.store.table())
            .key(PARTITION_KEY, AttributeValue::S(key.to_owned()))
            .condition_expression("#e <= :now")
            .expression_attribute_names("#e", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(DeleteItemError::is_conditional_check_failed_exception) => {
                Ok(false)
            }
            Err(e) => Err(dynamo("DeleteItem")(e)),
        }
    }

    /// When the oldest record still in the outbox was written: a record stays only while its
    /// publish has not been accepted (a refusing or unreachable bus), so its age is how long
    /// notifications have been waiting. `None` when the outbox is empty.
    pub async fn oldest_written_at(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let out = self.store.query_by_time(OUTBOX_PARTITION).limit(1).send().await.map_err(dynamo("Query"))?;
        Ok(out
            .items()
            .first()
            .and_then(|i| i.get(BY_TIME.sort_key.attribute()))
            .and_then(|v| v.as_s().ok())
            .and_then(|k| written_at(k)))
    }

    /// Claims an outbox record for publishing until `now + OUTBOX_LEASE_SECONDS` (wall clock);
    /// `false` when another publisher holds it or it is gone.
    pub async fn claim(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let out = self
            .store
            .update_item(key.to_owned())
            .update_expression("SET #l = :until")
            .condition_expression("attribute_exists(#pk) AND (attribute_not_exists(#l) OR #l < :now)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#l", LEASE_ATTRIBUTE)
            .expression_attribute_values(":until", AttributeValue::N((now + OUTBOX_LEASE_SECONDS).to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        applied(out)
    }

    /// Gives up the lease of an outbox record that could not be published, so that the next
    /// drain publishes it at once: only a lease running no later than `held_until` (epoch
    /// seconds, wall clock), the latest of the leases the caller took. A publish that outran
    /// its lease leaves alone the lease of the publisher that claimed the record since (later
    /// than any of the caller's), which would otherwise be handed to a third.
    pub async fn release(&self, key: &str, held_until: i64) -> Result<(), StoreError> {
        let out = self
            .store
            .update_item(key.to_owned())
            .update_expression("REMOVE #l")
            .condition_expression("attribute_exists(#pk) AND #l <= :held")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#l", LEASE_ATTRIBUTE)
            .expression_attribute_values(":held", AttributeValue::N(held_until.to_string()))
            .send()
            .await;
        // A record that is gone (published and deleted by another), or leased by another,
        // is not this caller's to release.
        applied(out).map(|_| ())
    }

    /// Removes a published outbox record.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store
            .client()
            .delete_item()
            .table_name(self.store.table())
            .key(PARTITION_KEY, AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(dynamo("DeleteItem"))?;
        Ok(())
    }
}
