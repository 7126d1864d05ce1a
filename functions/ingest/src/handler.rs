//! One envelope in, one logged result out. An event that cannot be stored is returned as an
//! error, so Lambda's retries and on-failure destination keep it.

use lambda_runtime::Diagnostic;
use scan_failures::config::RetentionDays;
use scan_failures::event::{self, EventError, Parsed};
use scan_failures::fingerprint;
use scan_failures::store::{Recorded, Store, StoreError};
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

/// Why an event was not stored.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("event rejected: {0}")]
    Rejected(#[from] EventError),
    #[error("event not stored: {0}")]
    Store(#[from] StoreError),
}

impl From<IngestError> for Diagnostic {
    fn from(e: IngestError) -> Self {
        let error_type = match e {
            IngestError::Rejected(_) => "EventRejected",
            IngestError::Store(_) => "StoreUnavailable",
        };
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e).and_then(std::error::Error::source);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Diagnostic { error_type: error_type.into(), error_message: message }
    }
}

/// What the function answers for one event (useful to `cargo lambda invoke` and tests).
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub result: &'static str,
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

pub struct Ingest {
    store: Store,
    retention: RetentionDays,
}

impl Ingest {
    pub fn new(store: Store, retention: RetentionDays) -> Self {
        Self { store, retention }
    }

    pub async fn handle(&self, payload: serde_json::Value) -> Result<Response, IngestError> {
        let event_id = payload.get("id").and_then(|v| v.as_str()).map(|s| event::truncate(s.to_owned(), 256));
        let parsed = match event::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(event_id = event_id.as_deref().unwrap_or(""), result = "rejected", field = e.field(), error = %e, "event rejected");
                return Err(e.into());
            }
        };
        let occurrence = match parsed {
            Parsed::Success { event_id } => {
                tracing::info!(event_id = %event_id, result = "ignored_success", "successful scan acknowledged");
                return Ok(Response { result: "ignored_success", event_id, group_id: None, reason: None });
            }
            Parsed::Failure(o) => o,
        };
        let group = fingerprint::group_id(&occurrence.image.normalized(), occurrence.reason, &occurrence.message);
        let reason = occurrence.reason.code();
        let event_id = occurrence.envelope.id.clone();
        match self.store.record(&occurrence, &group, self.retention, OffsetDateTime::now_utc()).await {
            Ok((recorded, cost)) => {
                tracing::info!(
                    event_id = %event_id,
                    group_id = %group,
                    reason,
                    result = recorded.as_str(),
                    requests = cost.requests,
                    wcu = cost.write_capacity_units,
                    "event processed"
                );
                let result = match recorded {
                    Recorded::Created => "created",
                    Recorded::Updated => "updated",
                    Recorded::Duplicate => "duplicate",
                };
                Ok(Response { result, event_id, group_id: Some(group.to_string()), reason: Some(reason) })
            }
            Err(e) => {
                tracing::error!(event_id = %event_id, group_id = %group, reason, result = "failed", error = %e, "event not stored");
                Err(e.into())
            }
        }
    }
}
