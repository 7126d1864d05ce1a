//! The bus, locally: moto's EventBridge with the template's rules (their event patterns read
//! from `infra/template.yaml`, not copied) targeting an SQS buffer queue with its dead-letter
//! queue, and a poller that hands the queue to the ingest function as Lambda's SQS event source
//! mapping does with `ReportBatchItemFailures`: the messages that succeeded are deleted, the
//! others come back after the visibility timeout, and a message received
//! `BufferMaxReceiveCount` times moves to the dead-letter queue (moto's redrive).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Value};

use crate::cfn;

/// The envelope EventBridge delivers to a target, as an input transformer: moto 5.2.5's default
/// target input leaves out `account`, which EventBridge always sends and the contract requires.
/// `<time>` is unquoted: moto holds it as epoch seconds until its SQS delivery writes the
/// ISO 8601 form EventBridge sends.
const ENVELOPE_TEMPLATE: &str = r#"{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", "account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}"#;

/// The SDK configuration for moto at `endpoint`.
pub fn moto_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "static",
        )))
        .endpoint_url(endpoint)
        .http_client(scan_failures_aws::sdk::http_client())
        .build()
}

/// The template's rules with its default parameters, each as (logical id, bus, event
/// pattern): the product's own rule on the product's bus, the AWS sources' rules on `default`.
pub fn template_rules(bus: &str) -> Vec<(String, String, Value)> {
    template_rules_of(bus, &[])
}

/// The rules of the template deployed with `parameters` (others at their defaults).
pub fn template_rules_of(bus: &str, parameters: &[(&str, &str)]) -> Vec<(String, String, Value)> {
    let raw = cfn::template();
    let t = cfn::resolve(&raw, &cfn::Variant::of(&raw, parameters));
    let mut rules: Vec<(String, String, Value)> = t["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
        .map(|(id, r)| {
            let props = &r["Properties"];
            let on = if props["EventBusName"] == "default" { "default" } else { bus };
            (id.clone(), on.to_owned(), props["EventPattern"].clone())
        })
        .collect();
    rules.sort_by(|a, b| a.0.cmp(&b.0));
    rules
}

/// A template parameter's default, as a number.
fn parameter(name: &str) -> i32 {
    let t = cfn::template();
    let value = &t["Parameters"][name]["Default"];
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).map_or_else(
        || panic!("the template has no numeric default for {name}"),
        |v| i32::try_from(v).unwrap_or_else(|_| panic!("{name} out of range")),
    )
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

/// The messages of a batch to deliver again, from the function's answer, as Lambda's event
/// source mapping reads it (`ReportBatchItemFailures`): none for a missing, null or empty
/// `batchItemFailures`; the ones named; and the whole batch, with why, for an answer Lambda
/// takes as a failure of the whole batch (a list that is not one, an entry without a string
/// `itemIdentifier`, an empty one, or one naming no message of the batch). Before, the poller
/// skipped such entries and deleted the rest: an answer AWS retries whole passed as a partial
/// success.
pub fn failures_in(answer: &Value, batch: &[&str]) -> Result<Vec<String>, String> {
    let failures = match &answer["batchItemFailures"] {
        Value::Null => return Ok(Vec::new()),
        Value::Array(failures) => failures,
        other => return Err(format!("batchItemFailures is not a list: {other}")),
    };
    failures
        .iter()
        .map(|f| match f.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if batch.contains(&id) => Ok(id.to_owned()),
            _ => Err(format!("not a message of the batch: {f}")),
        })
        .collect()
}

/// The bus, its rules, the buffer queue and its dead-letter queue on moto.
pub struct LocalBus {
    pub events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    pub bus: String,
    pub queue_url: String,
    queue_arn: String,
    pub dead_letter_url: String,
    /// Messages per batch: the template's `BufferBatchSize`, at most SQS's 10 per receive.
    pub batch_size: i32,
    /// How long a failed message stays invisible before it comes back.
    pub visibility_seconds: i32,
}

impl LocalBus {
    /// Creates the bus `bus`, the queues (prefixed `bus`) and every template rule targeting the
    /// buffer queue. `visibility_seconds` stands for the template's 420 s, which a local run
    /// cannot wait for.
    pub async fn create(endpoint: &str, bus: &str, visibility_seconds: i32) -> Self {
        Self::create_with(endpoint, bus, visibility_seconds, &[]).await
    }

    /// [`Self::create`] with the rules of the template deployed with `parameters`.
    pub async fn create_with(endpoint: &str, bus: &str, visibility_seconds: i32, parameters: &[(&str, &str)]) -> Self {
        let config = moto_config(endpoint);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        events.create_event_bus().name(bus).send().await.unwrap_or_else(|e| panic!("create bus {bus}: {e:?}"));
        let dead_letter_url = create_queue(&sqs, &format!("{bus}-dead-letters"), None).await;
        let dead_letter_arn = queue_arn(&sqs, &dead_letter_url).await;
        let redrive =
            json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": parameter("BufferMaxReceiveCount")});
        let queue_url =
            create_queue(&sqs, &format!("{bus}-buffer"), Some((visibility_seconds, redrive.to_string()))).await;
        let queue_arn = queue_arn(&sqs, &queue_url).await;
        for (id, on, pattern) in template_rules_of(bus, parameters) {
            events
                .put_rule()
                .name(&id)
                .event_bus_name(&on)
                .event_pattern(pattern.to_string())
                .send()
                .await
                .unwrap_or_else(|e| panic!("put rule {id}: {e:?}"));
            let paths = ["id", "detail-type", "source", "account", "time", "region", "resources", "detail"];
            let transformer = aws_sdk_eventbridge::types::InputTransformer::builder()
                .set_input_paths_map(Some(paths.iter().map(|p| ((*p).to_owned(), format!("$.{p}"))).collect()))
                .input_template(ENVELOPE_TEMPLATE)
                .build()
                .unwrap();
            let target = aws_sdk_eventbridge::types::Target::builder()
                .id("buffer")
                .arn(&queue_arn)
                .input_transformer(transformer)
                .build()
                .unwrap();
            events.put_targets().rule(&id).event_bus_name(&on).targets(target).send().await.unwrap();
        }
        Self {
            events,
            sqs,
            bus: bus.to_owned(),
            queue_url,
            queue_arn,
            dead_letter_url,
            batch_size: parameter("BufferBatchSize").min(10),
            visibility_seconds,
        }
    }

    /// Receives one batch and delivers it with `deliver` (the ingest function's invocation:
    /// the SQS event in, its `batchItemFailures` answer or an error out).
    pub async fn poll_once(&self, deliver: &(dyn Fn(&Value) -> Result<Value, String> + Sync)) -> Polled {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(_) => return Polled::default(),
        };
        if messages.is_empty() {
            return Polled::default();
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> =
                    m.attributes().into_iter().flatten().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect();
                json!({
                    "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                    "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs", "eventSourceARN": self.queue_arn, "awsRegion": "us-east-1",
                })
            })
            .collect();
        let ids: Vec<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
        let failed: Vec<String> = match deliver(&json!({ "Records": records })).map(|a| failures_in(&a, &ids)) {
            Ok(Ok(failed)) => failed,
            // An answer Lambda cannot take fails the whole batch: said, since a handler that
            // gives one would be retried whole, forever, in AWS.
            Ok(Err(why)) => {
                eprintln!("the ingest function's answer fails its whole batch: {why}");
                ids.iter().map(|id| (*id).to_owned()).collect()
            }
            // A failed invocation fails the whole batch, as the event source mapping treats it.
            Err(_) => ids.iter().map(|id| (*id).to_owned()).collect(),
        };
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| !failed.iter().any(|f| f == id)))
            .enumerate()
            .filter_map(|(n, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        // What SQS deleted, not what was asked: a delete that failed is a redelivery to come,
        // which a test would otherwise blame on the function.
        let deleted = if done.is_empty() {
            0
        } else {
            match self.sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(done)).send().await {
                Ok(out) => {
                    for f in out.failed() {
                        eprintln!("the poller's delete of message {} failed: {:?}", f.id(), f.message());
                    }
                    out.successful().len()
                }
                Err(e) => {
                    eprintln!("the poller's delete failed: {e}");
                    0
                }
            }
        };
        Polled { received: messages.len(), deleted, failed: failed.len() }
    }

    /// Polls until `stop` is set.
    pub async fn run(&self, deliver: &(dyn Fn(&Value) -> Result<Value, String> + Sync), stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            let polled = self.poll_once(deliver).await;
            if polled.received == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// How many messages wait in `queue_url` (visible and in flight).
    pub async fn depth(&self, queue_url: &str) -> usize {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap_or_else(|e| panic!("queue attributes: {e:?}"));
        out.attributes().into_iter().flatten().filter_map(|(_, v)| v.parse::<usize>().ok()).sum()
    }

    /// The bus's ARN: moto's default account and region are the central stack's.
    pub fn arn(&self) -> String {
        format!("arn:aws:events:us-east-1:{CENTRAL_ACCOUNT}:event-bus/{}", self.bus)
    }

    /// Member account `account` in `region`: `infra/member.yaml`'s rules (its default
    /// parameters) on that account's default bus, each targeting this bus.
    pub async fn add_member(&self, endpoint: &str, account: &str, region: &str) -> MemberBus {
        let config = moto_config(endpoint).into_builder().region(Region::new(region.to_owned())).build();
        let member = MemberBus {
            events: aws_sdk_eventbridge::Client::new(&config),
            account: account.to_owned(),
            region: region.to_owned(),
        };
        let raw = cfn::member_template();
        let t = cfn::resolve(&raw, &cfn::Variant::of(&raw, &[]));
        for (id, rule) in
            t["Resources"].as_object().into_iter().flatten().filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
        {
            let props = &rule["Properties"];
            assert_eq!(props["EventBusName"], "default", "{id}");
            member
                .events
                .put_rule()
                .name(id)
                .event_bus_name("default")
                .event_pattern(props["EventPattern"].to_string())
                .customize()
                .mutate_request(as_account(account))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put rule {id} in {account}: {e:?}"));
            let target = aws_sdk_eventbridge::types::Target::builder()
                .id("central")
                .arn(self.arn())
                .role_arn(format!("arn:aws:iam::{account}:role/ForwardRole"))
                .build()
                .unwrap();
            member
                .events
                .put_targets()
                .rule(id)
                .event_bus_name("default")
                .targets(target)
                .customize()
                .mutate_request(as_account(account))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put target of {id} in {account}: {e:?}"));
        }
        member
    }
}

/// moto serves the account a request names in `x-moto-account-id` (its default otherwise).
fn as_account(
    account: &str,
) -> impl Fn(&mut aws_smithy_runtime_api::client::orchestrator::HttpRequest) + Send + Sync + 'static {
    let account = account.to_owned();
    move |request| {
        request.headers_mut().insert("x-moto-account-id", account.clone());
    }
}

/// moto's default account: the central stack's in these tests.
pub const CENTRAL_ACCOUNT: &str = "123456789012";

/// A member account and region on moto (see [`LocalBus::add_member`]).
pub struct MemberBus {
    events: aws_sdk_eventbridge::Client,
    pub account: String,
    pub region: String,
}

impl MemberBus {
    /// Puts `event` on the member's default bus, as AWS would publish it there.
    pub async fn put(&self, event: &Value) {
        let resources: Vec<String> =
            event["resources"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_owned)).collect();
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name("default")
            .source(event["source"].as_str().unwrap_or_default())
            .detail_type(event["detail-type"].as_str().unwrap_or_default())
            .detail(event["detail"].to_string())
            .set_resources(Some(resources))
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .customize()
            .mutate_request(as_account(&self.account))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put events in {}: {e:?}", self.account));
        assert_eq!(out.failed_entry_count(), 0, "{out:?}");
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, buffer: Option<(i32, String)>) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    if let Some((visibility, redrive)) = buffer {
        request = request
            .attributes(QueueAttributeName::VisibilityTimeout, visibility.to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive);
    }
    let out = request.send().await.unwrap_or_else(|e| panic!("create queue {name}: {e:?}"));
    out.queue_url.unwrap_or_else(|| panic!("moto answered no URL for {name}"))
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("queue arn of {url}: {e:?}"));
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_else(|| panic!("moto answered no ARN for {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_as_lambdas_event_source_mapping_reads_it() {
        let batch = ["m-1", "m-2"];
        for success in [json!({}), json!({"batchItemFailures": null}), json!({"batchItemFailures": []}), json!(null)] {
            assert_eq!(failures_in(&success, &batch), Ok(vec![]), "{success}");
        }
        let named = json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]});
        assert_eq!(failures_in(&named, &batch), Ok(vec!["m-2".to_owned()]));
        for whole in [
            json!({"batchItemFailures": {"itemIdentifier": "m-2"}}),
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"itemIdentifer": "m-2"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "#1"}]}),
        ] {
            assert!(failures_in(&whole, &batch).is_err(), "{whole}");
        }
    }
}
