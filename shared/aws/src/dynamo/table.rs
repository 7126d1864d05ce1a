//! Creating the table, its indexes and its stream (new and old images, for the rollups) from [`schema`], for local set-up and tests; production
//! creates it from the template, which the template test checks against the same schema.

use crate::dynamo::schema::{self, PARTITION_KEY, TTL_ATTRIBUTE};
use crate::dynamo::{dynamo, Store, StoreError};

/// Whether the table's TTL is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// As deployed: expired items are deleted (by DynamoDB Local within seconds of their
    /// `expiresAt` by the wall clock).
    Enabled,
    /// For tests whose clock is pinned in the past: their groups' `expiresAt` has passed by the
    /// wall clock, and DynamoDB Local would delete them mid-test. Visibility never depends on
    /// the deletion (it follows `lastOccurredAt` and the retention), so nothing else changes.
    Disabled,
}

/// Creates the table of `store`, its indexes and, with [`Ttl::Enabled`], its TTL; no stream
/// (DynamoDB Local records every write on a stream it keeps, which slows the tests that seed
/// many groups and read no stream).
pub async fn create(store: &Store, ttl: Ttl) -> Result<(), StoreError> {
    create_table(store, ttl, false).await
}

/// [`create`] with the stream of new and old images the rollup function reads, as deployed.
pub async fn create_with_stream(store: &Store, ttl: Ttl) -> Result<(), StoreError> {
    create_table(store, ttl, true).await
}

async fn create_table(store: &Store, ttl: Ttl, stream: bool) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, StreamSpecification, StreamViewType,
    };
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let mut req = store
        .client()
        .create_table()
        .table_name(store.table())
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?);
    if stream {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        );
    }
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
                .key_schema(key(index.sort_key.attribute(), KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(match index.projection {
                            schema::Projection::All => ProjectionType::All,
                            schema::Projection::KeysOnly => ProjectionType::KeysOnly,
                        })
                        .build(),
                )
                .build()?,
        );
    }
    req.send().await.map_err(dynamo("CreateTable"))?;
    if ttl == Ttl::Disabled {
        return Ok(());
    }
    store
        .client()
        .update_time_to_live()
        .table_name(store.table())
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
