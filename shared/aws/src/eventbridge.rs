//! Publishing notifications to EventBridge: the outbox records a write left
//! ([`crate::dynamo::outbox`]), ten per `PutEvents` request, each checked for acceptance.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use thiserror::Error;

use crate::dynamo::outbox::Pending;

/// The EventBridge operations the notifier calls (see `write::actions`).
pub mod actions {
    pub const PUBLISH: &[&str] = &["events:PutEvents"];
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

/// Entries of one `PutEvents` request at most: EventBridge's limit.
pub const PUT_EVENTS_ENTRIES: usize = 10;

impl Notifier {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self { client, bus: bus.into(), source: source.into() }
    }

    /// Publishes pending records (at most 10 per request, EventBridge's limit), in order, until
    /// a request fails. Never fails as a whole: the records of the requests answered before a
    /// failure keep their acceptance, so that a caller deletes those and releases only the rest
    /// (releasing them all would publish the accepted ones again).
    pub async fn publish(&self, pending: &[Pending]) -> Publish {
        let mut done = Publish { accepted: Vec::with_capacity(pending.len()), failed: None };
        for chunk in pending.chunks(PUT_EVENTS_ENTRIES) {
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
            let out = match self.client.put_events().set_entries(Some(entries)).send().await {
                Ok(out) => out,
                Err(e) => {
                    done.failed = Some(PublishError::PutEvents(Box::new(e.into())));
                    break;
                }
            };
            let results = out.entries();
            for i in 0..chunk.len() {
                // An entry without an event id, or with an error code, was not accepted.
                let ok = results.get(i).is_some_and(|r| r.error_code().is_none() && r.event_id().is_some());
                done.accepted.push(ok);
            }
        }
        done.accepted.resize(pending.len(), false);
        done
    }
}

/// What [`Notifier::publish`] did.
#[derive(Debug)]
pub struct Publish {
    /// Per record, in order, whether EventBridge accepted it (`false` from a failed request on).
    pub accepted: Vec<bool>,
    /// The request failure that stopped the publish, if one did.
    pub failed: Option<PublishError>,
}
