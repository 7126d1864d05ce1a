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
