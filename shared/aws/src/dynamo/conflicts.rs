//! Single-item writes that meet a transaction in flight on their item are sent again.
//!
//! DynamoDB refuses a `PutItem`, `UpdateItem` or `DeleteItem` of an item that a
//! `TransactWriteItems` is writing at that moment with `TransactionConflictException`, and the
//! SDK's standard retry strategy does not count that code as retryable. The product's
//! transactions (ingest's occurrences, the rollups' batches, the rebuild's marks) write the same
//! group and configuration items as its single-item writes (triage, cleanup, the TTL re-stamp,
//! the settings, the outbox, the rollups' state), so without this an administrator's triage
//! could fail with a 500 whenever an occurrence of the same group was being recorded. The
//! conflict is over once the transaction commits (milliseconds), so a retry within the SDK's
//! own budget (attempts, backoff, retry quota) is the fix; a conflict that outlasts it is still
//! an error. Transactions report their conflicts differently (a cancellation reason of
//! `TransactionConflict`), and their callers retry those themselves.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::InterceptorContext;
use aws_sdk_dynamodb::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::{config, Client};

/// The retry classifier that counts a single-item write's `TransactionConflictException` as a
/// transient error.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransactionConflicts;

impl ClassifyRetry for TransactionConflicts {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else { return RetryAction::NoActionIndicated };
        let Some(error) = error.as_operation_error() else { return RetryAction::NoActionIndicated };
        let conflict = error.downcast_ref::<UpdateItemError>().is_some_and(|e| e.is_transaction_conflict_exception())
            || error.downcast_ref::<DeleteItemError>().is_some_and(|e| e.is_transaction_conflict_exception())
            || error.downcast_ref::<PutItemError>().is_some_and(|e| e.is_transaction_conflict_exception());
        if conflict {
            RetryAction::transient_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "TransactionConflicts"
    }
}

/// `builder` with [`TransactionConflicts`] among its retry classifiers: what every client of
/// the product's table is built with (see [`client`]).
pub fn with_conflict_retries(builder: config::Builder) -> config::Builder {
    builder.retry_classifier(TransactionConflicts)
}

/// The DynamoDB client of the functions: `sdk`'s configuration, with
/// [`with_conflict_retries`].
pub fn client(sdk: &SdkConfig) -> Client {
    Client::from_conf(with_conflict_retries(config::Builder::from(sdk)).build())
}
