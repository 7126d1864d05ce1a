//! The reconciler's progress (`pk = "config#reconcile"`, no index key, so in no index): the
//! pass over Inspector's coverage under way, where its next page starts and what it found, so a
//! run continues where the previous one stopped and a finished pass waits for its time. One
//! writer only: the maintenance function runs with a concurrency of one.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::{Store, StoreError};

/// The item holding the progress.
pub const RECONCILE_KEY: &str = "config#reconcile";

/// The DynamoDB operations of the progress.
pub mod actions {
    pub const PROGRESS: &[&str] = &["dynamodb:GetItem", "dynamodb:PutItem"];
}

/// One pass over the coverage, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileProgress {
    pub started_at: String,
    /// Inspector's token of the next page; `None` before the first page and once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub pages: u64,
    /// Coverage entries read.
    pub examined: u64,
    /// Failures stored that no event had brought.
    pub recorded: u64,
    /// Failures already stored (their event arrived, or an earlier pass found them).
    pub duplicates: u64,
    /// Entries that are not failures, or too old to keep.
    pub ignored: u64,
    /// Entries that cannot be read as a failure (a field past its bound); each is logged.
    #[serde(default)]
    pub refused: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub updated_at: String,
    /// Times this pass started over from its first page because Inspector refused its stored
    /// page token.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u64,
    /// The pass ended early, at `finished_at`: Inspector refused its page token again after it
    /// had started over. The next pass starts when due.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub given_up: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Reads and writes the progress of one [`Store`].
#[derive(Debug, Clone, Copy)]
pub struct Reconciliation<'a> {
    store: &'a Store,
}

impl<'a> Reconciliation<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// The stored progress (strongly consistent); `None` before the first pass.
    pub async fn progress(&self) -> Result<Option<ReconcileProgress>, StoreError> {
        Ok(match self.store.get_consistent(RECONCILE_KEY).await? {
            Some(item) => Some(crate::dynamo::item::decode(item)?),
            None => None,
        })
    }

    pub async fn save(&self, progress: &ReconcileProgress) -> Result<(), StoreError> {
        let mut item: crate::dynamo::item::Item = serde_dynamo::to_item(progress)?;
        item.insert(PARTITION_KEY.to_owned(), AttributeValue::S(RECONCILE_KEY.into()));
        self.store.put_whole(item).await?;
        Ok(())
    }
}
