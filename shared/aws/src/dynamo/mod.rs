//! The DynamoDB adapter: one table holds the failure groups, the idempotency markers, the
//! notification outbox and the live settings (see [`schema`]).
//!
//! [`Store`] is only the handle (client and table name); each concern is a view of its own, in
//! a file of its own: [`write`] (a planned conditional write per group and its executor),
//! [`read`] (queries on the indexes, never a `Scan`), [`admin`] (triage and cleanup),
//! [`settings`] (retention and the TTL re-stamp job), [`reconcile`] (the reconciler's progress), [`rollup`] (the maintained aggregates), [`outbox`] (notifications waiting to be
//! published) and [`table`] (creating the table). [`item`] converts between stored items and the
//! domain's types, [`expr`] builds expressions, [`conflicts`] builds the client (single-item
//! writes that meet a transaction are retried), [`transient`] tells the failures worth making
//! again later from the others.

pub mod admin;
pub mod conflicts;
pub mod expr;
pub mod item;
pub mod outbox;
pub mod read;
pub mod reconcile;
pub mod rollup;
pub mod schema;
pub mod settings;
pub mod table;
pub mod transient;
pub mod write;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use thiserror::Error;
use uuid::Uuid;

/// Why a store operation failed. The event is then reported failed, so it is retried.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed")]
    Dynamo {
        operation: &'static str,
        /// Whether the same call may succeed in a moment ([`transient`]).
        transient: bool,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("could not build the DynamoDB request")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    #[error("DynamoDB cancelled the write: {0}")]
    Cancelled(String),
    #[error("the write of one occurrence of group {group} needs an expression over DynamoDB's 4 KB")]
    ExpressionTooLarge { group: Uuid },
    #[error("the write of group {group} still conflicted after {attempts} attempts")]
    Contention { group: Uuid, attempts: u32 },
    #[error("{what} still conflicting after {attempts} attempts")]
    Conflicting { what: &'static str, attempts: u32 },
    #[error("the write of group {group} stopped after {attempts} attempts: another would end past the invocation's deadline")]
    OutOfTime { group: Uuid, attempts: u32 },
    #[error("DynamoDB {operation} left {left} keys unprocessed after every retry")]
    Unprocessed { operation: &'static str, left: usize },
    #[error("a stored item could not be decoded")]
    Decode(#[from] serde_dynamo::Error),
}

impl StoreError {
    /// Whether the operation may succeed when made again in a moment: DynamoDB throttled it,
    /// or it kept meeting other writes of the same items, or no answer came back. Not: a
    /// request DynamoDB refuses as wrong, an item that cannot be decoded.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Dynamo { transient, .. } => *transient,
            Self::Contention { .. } | Self::Conflicting { .. } | Self::Unprocessed { .. } | Self::OutOfTime { .. } => {
                true
            }
            Self::Build(_) | Self::Cancelled(_) | Self::ExpressionTooLarge { .. } | Self::Decode(_) => false,
        }
    }
}

/// Wraps an SDK error of `operation` (for `map_err`).
pub(crate) fn dynamo<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata,
    aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
{
    move |e| {
        let transient = transient::is_transient(transient::failure_of(&e));
        StoreError::Dynamo { operation, transient, source: Box::new(aws_sdk_dynamodb::Error::from(e)) }
    }
}

/// The table of failure groups: the handle every view of the adapter works through.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
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

    /// A `Query` of one partition of the `byTime` index (the groups, or the outbox), oldest first.
    pub(crate) fn query_by_time(&self, partition: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(schema::BY_TIME.name)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", schema::BY_TIME.partition_key)
            .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
    }

    /// One page of a walk of the `byTime` partition of the groups, oldest first: at most `limit`
    /// groups after `cursor` (last seen before `before`, when given), and the cursor after them
    /// (`None`: the walk is through). What the maintenance jobs (the TTL re-stamp, a rebuild of
    /// the rollups) go through the groups with, a bounded number per run.
    pub(crate) async fn walk_groups(
        &self,
        limit: u32,
        cursor: Option<item::Item>,
        before: Option<time::OffsetDateTime>,
    ) -> Result<(Vec<item::Item>, Option<item::Item>), StoreError> {
        let mut query = self.query_by_time(schema::ALL_PARTITION);
        if let Some(before) = before {
            let bound = scan_failures_domain::time_fmt::format(before);
            // A cursor at or past the bound (saved by a walk before it was bounded) ends the
            // walk: DynamoDB refuses a start key outside the key condition, every run failing.
            let at = |c: &item::Item| c.get(schema::BY_TIME.sort_key.attribute()).and_then(|v| v.as_s().ok()).cloned();
            if cursor.as_ref().and_then(at).is_some_and(|t| t >= bound) {
                return Ok((Vec::new(), None));
            }
            // The sort key is the time, then `#` and the id: every key of an earlier time sorts first.
            query = query
                .key_condition_expression("#p = :p AND #t < :t")
                .expression_attribute_names("#t", schema::BY_TIME.sort_key.attribute())
                .expression_attribute_values(":t", AttributeValue::S(bound));
        }
        let out = query
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
            .set_exclusive_start_key(cursor)
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(dynamo("Query"))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// Where a walk that stopped after `item` (of a [`Self::walk_groups`] page) goes on from:
    /// its `byTime` key, as the page's `LastEvaluatedKey` would be had the page ended there.
    /// `None` for an item without one (no item of the index lacks it).
    pub(crate) fn walk_cursor_after(item: &item::Item) -> Option<item::Item> {
        [schema::PARTITION_KEY, schema::BY_TIME.partition_key, schema::BY_TIME.sort_key.attribute()]
            .into_iter()
            .map(|k| item.get(k).map(|v| (k.to_owned(), v.clone())))
            .collect()
    }

    /// The item whose key is `key`, read strongly consistent; `None` when there is none.
    pub(crate) async fn get_consistent(&self, key: impl Into<String>) -> Result<Option<item::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo("GetItem"))?;
        Ok(out.item)
    }

    /// Writes `item` whole (the settings and the jobs' progress: one writer each).
    pub(crate) async fn put_whole(&self, item: item::Item) -> Result<(), StoreError> {
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(dynamo("PutItem"))?;
        Ok(())
    }

    /// An `UpdateItem` of the item whose key is `key`, in this table.
    pub(crate) fn update_item(&self, key: impl Into<String>) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key(schema::PARTITION_KEY, AttributeValue::S(key.into()))
    }

    /// Records occurrences into their groups, making the transitions at `thresholds` (`None`:
    /// none are recorded).
    pub fn writer<'a>(&'a self, thresholds: Option<&'a [u64]>) -> write::GroupWriter<'a> {
        write::GroupWriter::new(self, thresholds)
    }

    /// Reads groups back.
    pub fn reader(&self) -> read::Reader<'_> {
        read::Reader::new(self)
    }

    /// The administrators' writes.
    pub fn admin(&self) -> admin::Admin<'_> {
        admin::Admin::new(self)
    }

    /// The live settings and the TTL re-stamp job.
    pub fn settings(&self) -> settings::Settings<'_> {
        settings::Settings::new(self)
    }

    /// The reconciler's progress.
    pub fn reconciliation(&self) -> reconcile::Reconciliation<'_> {
        reconcile::Reconciliation::new(self)
    }

    /// The maintained rollups behind the unfiltered count, summary and trend.
    pub fn rollups(&self) -> rollup::Rollups<'_> {
        rollup::Rollups::new(self)
    }

    /// Notifications waiting to be published.
    pub fn outbox(&self) -> outbox::Outbox<'_> {
        outbox::Outbox::new(self)
    }
}

/// A `Put` of the marker item `key` (kept until `expires`, epoch seconds, with `extra`
/// attributes) that succeeds only if no live marker has that key: what makes a write happen
/// once per envelope (`write`) or per stream record (`rollup`).
pub(crate) fn marker_put(
    table: &str,
    key: String,
    expires: i64,
    now: time::OffsetDateTime,
    extra: impl IntoIterator<Item = (String, AttributeValue)>,
) -> Result<aws_sdk_dynamodb::types::Put, StoreError> {
    let mut item: item::Item = extra.into_iter().collect();
    item.insert(schema::PARTITION_KEY.to_owned(), AttributeValue::S(key));
    item.insert(schema::TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires.to_string()));
    Ok(aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
        .expression_attribute_names("#pk", schema::PARTITION_KEY)
        .expression_attribute_names("#exp", schema::TTL_ATTRIBUTE)
        .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
        .build()?)
}

/// The prefix of a group's partition key.
pub const GROUP_KEY_PREFIX: &str = "g#";

pub fn group_key(id: &impl std::fmt::Display) -> String {
    format!("{GROUP_KEY_PREFIX}{id}")
}

/// Whether a conditional `UpdateItem` was applied: `Ok(false)` when its condition did not hold,
/// an error for any other failure.
pub(crate) fn applied(result: Result<UpdateItemOutput, SdkError<UpdateItemError>>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception) => Ok(false),
        Err(e) => Err(dynamo("UpdateItem")(e)),
    }
}
