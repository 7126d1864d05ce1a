//! The DynamoDB adapter: records occurrences into failure groups and reads groups back.
//!
//! One occurrence is one `TransactWriteItems` request holding two writes:
//! - a conditional `Put` of an idempotency marker `e#<envelope id>` (kept [`MARKER_TTL_HOURS`]),
//!   so a redelivered envelope is recognised and counts once;
//! - one `Update` that carries the whole upsert of the group, with no read before it.
//!
//! The update is planned from what the writer believes of the stored group (at first: it exists,
//! this occurrence is the newest, its sets have room). The belief is written into the condition,
//! so a wrong belief cancels the transaction, which returns the stored item; the writer re-plans
//! from it and tries again. Counts are atomic `ADD`s, `lastOccurredAt` only moves forward and
//! `createdAt` only backward, whatever order occurrences arrive in.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::RetentionDays;
use crate::event::Occurrence;
use crate::expr::Expr;
use crate::fingerprint::{DOMAIN, RESOURCE_TYPE};
use crate::group::{GroupRecord, MAX_SET_ENTRIES};
use crate::schema::{self, ALL_PARTITION, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
use crate::time_fmt;

/// How long an envelope id is remembered: EventBridge retries for up to 24 h and Lambda's
/// asynchronous queue for up to 6 h more, so 48 h covers every redelivery.
pub const MARKER_TTL_HOURS: i64 = 48;
/// Attempts at one occurrence before it is reported failed (conflicts and re-plans).
const MAX_ATTEMPTS: u32 = 12;

/// The DynamoDB operations the store calls, declared once; the template test checks each
/// function's IAM policy against the set its code uses.
pub mod actions {
    pub const RECORD: &[&str] =
        &["dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"];
}

/// Why a store operation failed. The event is then reported failed, so it is retried.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed")]
    Dynamo {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("could not build the DynamoDB request")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    #[error("DynamoDB cancelled the write: {0}")]
    Cancelled(String),
    #[error("the write of group {group} still conflicted after {attempts} attempts")]
    Contention { group: Uuid, attempts: u32 },
    #[error("a stored item could not be decoded")]
    Decode(#[from] serde_dynamo::Error),
}

fn dynamo<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    aws_sdk_dynamodb::Error: From<E>,
{
    move |e| StoreError::Dynamo { operation, source: Box::new(aws_sdk_dynamodb::Error::from(e)) }
}

/// What recording an occurrence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Created,
    Updated,
    /// The envelope id was seen before; nothing changed.
    Duplicate,
}

impl Recorded {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The cost of recording one occurrence, as DynamoDB reported it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WriteCost {
    pub requests: u32,
    pub write_capacity_units: f64,
}

/// The table of failure groups.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

pub fn group_key(id: &Uuid) -> String {
    format!("g#{id}")
}

fn marker_key(event_id: &str) -> String {
    format!("e#{event_id}")
}

/// What the writer believes of the stored group; written into the update's condition.
#[derive(Debug, Clone, PartialEq, Default)]
struct Belief {
    exists: bool,
    /// Stored `lastOccurredAt`/`createdAt`, when known; unknown means "this one is newest".
    last: Option<String>,
    created: Option<String>,
    /// Per remembered set: its stored size and the entries to evict to make room.
    evictions: HashMap<&'static str, (usize, Vec<String>)>,
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

impl Belief {
    fn optimistic() -> Self {
        Self { exists: true, ..Self::default() }
    }

    /// The belief that matches a stored item (`None`: no item).
    fn from_stored(item: Option<&HashMap<String, AttributeValue>>, o: &Occurrence) -> Self {
        let Some(item) = item else { return Self::default() };
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let mut evictions = HashMap::new();
        for (attr, value) in set_values(o) {
            let (Some(value), Some(Ok(map))) = (value, item.get(attr).map(|v| v.as_m())) else { continue };
            if map.len() >= MAX_SET_ENTRIES && !map.contains_key(&value) {
                let mut by_age: Vec<(&String, &str)> =
                    map.iter().map(|(k, v)| (k, v.as_s().map(String::as_str).unwrap_or(""))).collect();
                by_age.sort_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)));
                let excess = map.len() + 1 - MAX_SET_ENTRIES;
                evictions.insert(attr, (map.len(), by_age.into_iter().take(excess).map(|(k, _)| k.clone()).collect()));
            }
        }
        Self { exists: true, last: s("lastOccurredAt"), created: s("createdAt"), evictions }
    }
}

fn map_of(value: Option<&String>, t: &str) -> AttributeValue {
    AttributeValue::M(value.map(|v| HashMap::from([(v.clone(), AttributeValue::S(t.to_owned()))])).unwrap_or_default())
}

/// The update for one occurrence under one belief.
fn plan_update(o: &Occurrence, id: &Uuid, belief: &Belief, retention: RetentionDays) -> Expr {
    let t = time_fmt::format(o.occurred_at);
    let sk = format!("{t}#{id}");
    let expires = (o.occurred_at + retention.duration()).unix_timestamp();
    let mut e = Expr::default();
    let (op, origin) = (o.operation.key(), o.origin.as_str());

    let newest = belief.last.as_deref().is_none_or(|last| t.as_str() >= last);
    let oldest = belief.created.as_deref().is_some_and(|created| t.as_str() < created);

    if !belief.exists {
        let pk = e.name(PARTITION_KEY);
        e.condition(format!("attribute_not_exists({pk})"));
        let image = &o.image;
        let level = o.reason.level().as_str();
        let statics: [(&str, AttributeValue); 9] = [
            ("id", AttributeValue::S(id.to_string())),
            ("domain", AttributeValue::S(DOMAIN.into())),
            ("resourceType", AttributeValue::S(RESOURCE_TYPE.into())),
            ("resourceName", AttributeValue::S(image.normalized())),
            ("repository", AttributeValue::S(image.repository())),
            ("registry", AttributeValue::S(image.registry.clone())),
            ("reason", AttributeValue::S(o.reason.code().into())),
            ("level", AttributeValue::S(level.into())),
            ("gsiAll", AttributeValue::S(ALL_PARTITION.into())),
        ];
        for (attr, value) in statics {
            let (n, v) = (e.name(attr), e.value(value));
            e.set(format!("{n} = {v}"));
        }
        if let Some(d) = &image.digest {
            let (n, v) = (e.name("resourceId"), e.s(d.clone()));
            e.set(format!("{n} = {v}"));
        }
        let (n, v) = (e.name("createdAt"), e.s(t.clone()));
        e.set(format!("{n} = {v}"));
        let (n, v) = (
            e.name("opCounts"),
            e.value(AttributeValue::M(HashMap::from([(op.to_owned(), AttributeValue::N("1".into()))]))),
        );
        e.set(format!("{n} = {v}"));
        let (n, v) = (
            e.name("originCounts"),
            e.value(AttributeValue::M(HashMap::from([(origin.to_owned(), AttributeValue::N("1".into()))]))),
        );
        e.set(format!("{n} = {v}"));
        for (attr, value) in set_values(o) {
            let (n, v) = (e.name(attr), e.value(map_of(value.as_ref(), &t)));
            e.set(format!("{n} = {v}"));
        }
    } else {
        let pk = e.name(PARTITION_KEY);
        e.condition(format!("attribute_exists({pk})"));
        let tv = e.s(t.clone());
        if newest {
            let last_n = e.name("lastOccurredAt");
            e.condition(format!("{last_n} <= {tv}"));
        } else if oldest {
            let created_n = e.name("createdAt");
            e.condition(format!("{created_n} > {tv}"));
            e.set(format!("{created_n} = {tv}"));
        } else {
            let (last_n, created_n) = (e.name("lastOccurredAt"), e.name("createdAt"));
            e.condition(format!("{last_n} > {tv} AND {created_n} <= {tv}"));
        }
        let zero = e.n(0);
        let one = e.n(1);
        let op_path = e.path("opCounts", op);
        e.set(format!("{op_path} = if_not_exists({op_path}, {zero}) + {one}"));
        let origin_path = e.path("originCounts", origin);
        e.set(format!("{origin_path} = if_not_exists({origin_path}, {zero}) + {one}"));
        for (attr, value) in set_values(o) {
            let Some(value) = value else { continue };
            let map = e.name(attr);
            let path = e.path(attr, &value);
            if newest {
                e.set(format!("{path} = {tv}"));
            } else {
                e.set(format!("{path} = if_not_exists({path}, {tv})"));
            }
            match belief.evictions.get(attr) {
                Some((size, evict)) => {
                    let size = e.n(size);
                    e.condition(format!("size({map}) = {size}"));
                    for key in evict {
                        let old = e.path(attr, key);
                        e.condition(format!("attribute_exists({old})"));
                        e.remove(old);
                    }
                }
                None => {
                    let max = e.n(MAX_SET_ENTRIES);
                    e.condition(format!("(size({map}) < {max} OR attribute_exists({path}))"));
                }
            }
        }
        let n = e.name("numOccurrences");
        e.add(format!("{n} {one}"));
    }

    if !belief.exists {
        let (n, v) = (e.name("numOccurrences"), e.n(1));
        e.set(format!("{n} = {v}"));
    }
    if newest || !belief.exists {
        let latest: [(&str, AttributeValue); 8] = [
            ("lastOccurredAt", AttributeValue::S(t.clone())),
            (SORT_KEY, AttributeValue::S(sk)),
            (TTL_ATTRIBUTE, AttributeValue::N(expires.to_string())),
            ("message", AttributeValue::S(o.message.clone())),
            ("account", AttributeValue::S(o.envelope.account.clone())),
            ("region", AttributeValue::S(o.envelope.region.clone())),
            ("source", AttributeValue::S(o.envelope.source.clone())),
            ("lastEventId", AttributeValue::S(o.envelope.id.clone())),
        ];
        for (attr, value) in latest {
            let (n, v) = (e.name(attr), e.value(value));
            e.set(format!("{n} = {v}"));
        }
    }
    e
}

fn marker_put(table: &str, o: &Occurrence, id: &Uuid, now: OffsetDateTime) -> Result<Put, StoreError> {
    let expires = (now + time::Duration::hours(MARKER_TTL_HOURS)).unix_timestamp();
    let item = HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(marker_key(&o.envelope.id))),
        (TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires.to_string())),
        ("groupId".to_owned(), AttributeValue::S(id.to_string())),
    ]);
    Ok(Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
        .expression_attribute_names("#pk", PARTITION_KEY)
        .expression_attribute_names("#exp", TTL_ATTRIBUTE)
        .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
        .build()?)
}

/// A short pause before retrying a conflicting transaction, growing with the attempt, with
/// jitter so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let base_ms = 5u64 << attempt.min(5);
    let jitter = RandomState::new().hash_one(attempt) % base_ms.max(1);
    Duration::from_millis(base_ms + jitter)
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Records one occurrence into its group `id`, exactly once per envelope id.
    pub async fn record(
        &self,
        o: &Occurrence,
        id: &Uuid,
        retention: RetentionDays,
        now: OffsetDateTime,
    ) -> Result<(Recorded, WriteCost), StoreError> {
        let mut belief = Belief::optimistic();
        let mut cost = WriteCost::default();
        for attempt in 0..MAX_ATTEMPTS {
            let e = plan_update(o, id, &belief, retention);
            let update_expression = e.update_expression();
            let condition = e.condition_expression();
            let (names, values) = e.into_parts();
            let update = Update::builder()
                .table_name(&self.table)
                .key(PARTITION_KEY, AttributeValue::S(group_key(id)))
                .update_expression(update_expression)
                .set_condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(marker_put(&self.table, o, id, now)?).build())
                .transact_items(TransactWriteItem::builder().update(update).build())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            cost.requests += 1;
            let err = match result {
                Ok(out) => {
                    cost.write_capacity_units +=
                        out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum::<f64>();
                    let done = if belief.exists { Recorded::Updated } else { Recorded::Created };
                    return Ok((done, cost));
                }
                Err(err) => err,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
                return Err(dynamo("TransactWriteItems")(err));
            };
            let reasons = cancel.cancellation_reasons();
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            match (code(0), code(1)) {
                ("ConditionalCheckFailed", _) => return Ok((Recorded::Duplicate, cost)),
                (_, "ConditionalCheckFailed") => {
                    let stored = match reasons.get(1).and_then(|r| r.item()) {
                        Some(item) => Some(item.clone()),
                        None => self.get_raw(id).await?,
                    };
                    belief = Belief::from_stored(stored.as_ref(), o);
                }
                ("TransactionConflict", _)
                | (_, "TransactionConflict")
                | ("ThrottlingError", _)
                | (_, "ThrottlingError") => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                (a, b) => return Err(StoreError::Cancelled(format!("marker: {a}, group: {b}"))),
            }
        }
        Err(StoreError::Contention { group: *id, attempts: MAX_ATTEMPTS })
    }

    async fn get_raw(&self, id: &Uuid) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(group_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo("GetItem"))?;
        Ok(out.item)
    }

    /// The stored group, whether or not it has expired.
    pub async fn get(&self, id: &Uuid) -> Result<Option<GroupRecord>, StoreError> {
        match self.get_raw(id).await? {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Creates the table from [`schema`] (local set-up and tests; production uses the template).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
            ProjectionType, ScalarAttributeType,
        };
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?);
        for (name, _) in schema::key_attributes() {
            req = req.attribute_definitions(
                AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()?,
            );
        }
        for index in schema::INDEXES {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key, KeyType::Hash)?)
                    .key_schema(key(index.sort_key, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
            );
        }
        req.send().await.map_err(dynamo("CreateTable"))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()?,
            )
            .send()
            .await
            .map_err(dynamo("UpdateTimeToLive"))?;
        Ok(())
    }
}
