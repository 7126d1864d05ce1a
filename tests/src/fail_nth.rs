//! A fault on one request among hundreds: a DynamoDB client whose `n`th `UpdateItem` fails
//! before it is sent, once, or is held for a given time (a slow request). Neither DynamoDB Local nor the network proxy can single out one
//! request of a run, so an interceptor on the real client fails it; every other request reaches
//! DynamoDB Local as usual.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;

#[derive(Debug)]
enum Fault {
    Fail,
    /// Blocks the calling thread that long: the whole run waits, as behind one request that
    /// takes that long.
    Hold(std::time::Duration),
    /// The same, until the instant has passed.
    HoldUntil(std::time::Instant),
}

#[derive(Debug)]
struct NthUpdate {
    n: usize,
    seen: Arc<AtomicUsize>,
    fault: Fault,
}

impl Intercept for NthUpdate {
    fn name(&self) -> &'static str {
        "NthUpdate"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.input().downcast_ref::<UpdateItemInput>().is_none() {
            return Ok(());
        }
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 != self.n {
            return Ok(());
        }
        match self.fault {
            Fault::Fail => Err("injected fault: this UpdateItem was not sent".into()),
            Fault::Hold(time) => {
                std::thread::sleep(time);
                Ok(())
            }
            Fault::HoldUntil(until) => {
                std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
                Ok(())
            }
        }
    }
}

/// `client` with its `n`th `UpdateItem` (from 1) failing, not retried, and the count of the
/// `UpdateItem`s it was asked for (the proof the fault was reached: more than `n - 1`).
pub fn failing_nth_update(client: &aws_sdk_dynamodb::Client, n: usize) -> (aws_sdk_dynamodb::Client, Arc<AtomicUsize>) {
    with_fault(client, n, Fault::Fail)
}

/// `client` with its `n`th `UpdateItem` (from 1) held for `time` before it is sent, and the count
/// of the `UpdateItem`s it was asked for (counted before the hold).
pub fn holding_nth_update(
    client: &aws_sdk_dynamodb::Client,
    n: usize,
    time: std::time::Duration,
) -> (aws_sdk_dynamodb::Client, Arc<AtomicUsize>) {
    with_fault(client, n, Fault::Hold(time))
}

/// `client` with its `n`th `UpdateItem` (from 1) held until `until` has passed before it is sent,
/// and the count of the `UpdateItem`s it was asked for (counted before the hold).
pub fn holding_nth_update_until(
    client: &aws_sdk_dynamodb::Client,
    n: usize,
    until: std::time::Instant,
) -> (aws_sdk_dynamodb::Client, Arc<AtomicUsize>) {
    with_fault(client, n, Fault::HoldUntil(until))
}

fn with_fault(
    client: &aws_sdk_dynamodb::Client,
    n: usize,
    fault: Fault,
) -> (aws_sdk_dynamodb::Client, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let config = client.config().to_builder().interceptor(NthUpdate { n, seen: seen.clone(), fault }).build();
    (aws_sdk_dynamodb::Client::from_conf(config), seen)
}
