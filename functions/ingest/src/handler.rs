//! One envelope in, one logged result out. An event that cannot be stored is returned as an
//! error, so Lambda's retries and on-failure destination keep it.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_runtime::Diagnostic;
use scan_failures::config::RetentionDays;
use scan_failures::event::{self, Admission, EventError, Occurrence, Parsed};
use scan_failures::fingerprint;
use scan_failures::notify::{Notification, Notifier, Pending};
use scan_failures::settings::{self, RetentionCache};
use scan_failures::store::{Recorded, Store, StoreError, WriteCost, MAX_EVENTS_PER_WRITE};
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

/// Records accepted in one SQS batch (Lambda's own maximum batch size).
pub const MAX_BATCH_RECORDS: usize = 10_000;

/// Why an event was not stored.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("event rejected: {0}")]
    Rejected(#[from] EventError),
    #[error("SQS batch rejected: {0}")]
    Batch(#[source] serde_json::Error),
    #[error("SQS batch rejected: {got} records, at most {MAX_BATCH_RECORDS} are accepted")]
    BatchTooLarge { got: usize },
    #[error("event not stored: {0}")]
    Store(#[from] StoreError),
}

impl From<IngestError> for Diagnostic {
    fn from(e: IngestError) -> Self {
        let error_type = match e {
            IngestError::Rejected(_) | IngestError::Batch(_) | IngestError::BatchTooLarge { .. } => "EventRejected",
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

/// The answer to an invocation: one event's result, or the SQS batch response that lists only
/// the messages that failed (`ReportBatchItemFailures`).
#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Output {
    Event(Response),
    Batch(SqsBatchResponse),
}

pub struct Ingest {
    store: Store,
    retention: RetentionDays,
    /// The live retention setting (`None`: `retention` only), read at most every
    /// [`settings::INGEST_CACHE`].
    live_retention: Option<RetentionCache>,
    clock: fn() -> OffsetDateTime,
    notifier: Option<Notifier>,
    /// Set when outbox records may be waiting: at start, and after a failed publish.
    drain_needed: AtomicBool,
    last_drain: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often an instance looks for outbox records left by others, even when its own publishes
/// succeed.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Ingest {
    pub fn new(store: Store, retention: RetentionDays) -> Self {
        Self {
            store,
            retention,
            live_retention: None,
            clock: OffsetDateTime::now_utc,
            notifier: None,
            drain_needed: AtomicBool::new(true),
            last_drain: std::sync::Mutex::new(None),
        }
    }

    /// Applies the retention stored in the table (`PUT /v1/config/administration-events`),
    /// read at most every 60 s, falling back to `retention` (`RETENTION_DAYS`) when none is
    /// stored, and to the last value read when the table cannot be read.
    pub fn with_live_retention(self) -> Self {
        Self { live_retention: Some(RetentionCache::new(self.retention, settings::INGEST_CACHE)), ..self }
    }

    /// The retention to stamp and admit by.
    async fn retention(&self) -> RetentionDays {
        let Some(cache) = &self.live_retention else { return self.retention };
        match cache.get(&self.store).await {
            Ok(days) => days,
            Err(e) => {
                let days = cache.last_known();
                tracing::warn!(error = %e, retention_days = days.get(), "retention setting not read; using the last known");
                days
            }
        }
    }

    /// Publishes transitions through `notifier` (`None`: notifications off).
    pub fn with_notifier(self, notifier: Option<Notifier>) -> Self {
        Self { notifier, ..self }
    }

    /// Publishes outbox records this invocation holds the lease of, and deletes those
    /// EventBridge accepted; the others are released for a later invocation.
    async fn publish(&self, pending: &[Pending]) {
        let Some(notifier) = &self.notifier else { return };
        if pending.is_empty() {
            return;
        }
        match notifier.publish(pending).await {
            Ok(accepted) => {
                for (p, ok) in pending.iter().zip(accepted) {
                    if !ok {
                        self.drain_needed.store(true, Ordering::Relaxed);
                        tracing::warn!(outbox = %p.key, "notification not accepted by EventBridge; kept for retry");
                        self.release(p).await;
                        continue;
                    }
                    tracing::info!(outbox = %p.key, detail_type = %p.detail_type, "notification published");
                    if let Err(e) = self.store.delete_outbox(&p.key).await {
                        tracing::warn!(outbox = %p.key, error = %e, "published notification not removed from the outbox");
                    }
                }
            }
            Err(e) => {
                self.drain_needed.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, count = pending.len(), "notifications not published; kept for retry");
                for p in pending {
                    self.release(p).await;
                }
            }
        }
    }

    async fn release(&self, p: &Pending) {
        if let Err(e) = self.store.release_outbox(&p.key).await {
            tracing::warn!(outbox = %p.key, error = %e, "outbox lease not released; it lapses by itself");
        }
    }

    /// The records of `pending` this invocation could claim (another may be publishing the rest).
    async fn claim(&self, pending: Vec<Pending>) -> Vec<Pending> {
        let now = scan_failures::notify::wall_clock_seconds();
        let mut claimed = Vec::with_capacity(pending.len());
        for p in pending {
            match self.store.claim_outbox(&p.key, now).await {
                Ok(true) => claimed.push(p),
                Ok(false) => {}
                Err(e) => {
                    self.drain_needed.store(true, Ordering::Relaxed);
                    tracing::warn!(outbox = %p.key, error = %e, "outbox record not claimed");
                }
            }
        }
        claimed
    }

    /// Publishes outbox records left by earlier failures, when some may be waiting.
    async fn drain_if_needed(&self) {
        if self.notifier.is_none() {
            return;
        }
        let stale = self.last_drain.lock().map(|t| t.is_none_or(|t| t.elapsed() >= DRAIN_EVERY)).unwrap_or(true);
        if !self.drain_needed.swap(false, Ordering::Relaxed) && !stale {
            return;
        }
        if let Ok(mut t) = self.last_drain.lock() {
            *t = Some(std::time::Instant::now());
        }
        match self.store.pending_notifications(25).await {
            Ok(pending) => {
                let claimed = self.claim(pending).await;
                self.publish(&claimed).await;
            }
            Err(e) => {
                self.drain_needed.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, "outbox not read");
            }
        }
    }

    /// The same handler reading "now" from `clock` (tests pin it; production uses the system clock).
    pub fn with_clock(self, clock: fn() -> OffsetDateTime) -> Self {
        Self { clock, ..self }
    }

    /// Handles either payload: an EventBridge envelope (direct rule target) or an SQS event
    /// whose bodies are envelopes (buffered path).
    pub async fn handle_any(&self, payload: serde_json::Value) -> Result<Output, IngestError> {
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload).map_err(IngestError::Batch)?;
            Ok(Output::Batch(self.handle_batch(batch).await?))
        } else {
            Ok(Output::Event(self.handle(payload).await?))
        }
    }

    pub async fn handle(&self, payload: serde_json::Value) -> Result<Response, IngestError> {
        self.drain_if_needed().await;
        let event_id = payload.get("id").and_then(|v| v.as_str()).map(|s| event::truncate(s.to_owned(), 256));
        let parsed = match event::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(event_id = event_id.as_deref().unwrap_or(""), result = "rejected", field = e.field(), error = %e, "event rejected");
                return Err(e.into());
            }
        };
        let mut occurrence = match parsed {
            Parsed::Success { event_id } => {
                tracing::info!(event_id = %event_id, result = "ignored_success", "successful scan acknowledged");
                return Ok(Response { result: "ignored_success", event_id, group_id: None, reason: None });
            }
            Parsed::Ignored { event_id, why } => {
                tracing::info!(event_id = %event_id, result = "ignored", why = %why, "not a scan failure");
                return Ok(Response { result: "ignored", event_id, group_id: None, reason: None });
            }
            Parsed::Failure(o) => o,
        };
        let now = (self.clock)();
        let retention = self.retention().await;
        if occurrence.admit(now, retention.duration()) == Admission::Expired {
            let event_id = occurrence.envelope.id.clone();
            tracing::info!(event_id = %event_id, result = "ignored_expired", "occurrence older than the retention window");
            return Ok(Response { result: "ignored_expired", event_id, group_id: None, reason: None });
        }
        let group = fingerprint::group_id(&occurrence.image.normalized(), occurrence.reason, &occurrence.message);
        let reason = occurrence.reason.code();
        let event_id = occurrence.envelope.id.clone();
        match self.store.record_group(&[&occurrence], &group, retention, now).await {
            Ok(batch) => {
                let recorded = batch.outcomes.first().map_or(Recorded::Duplicate, |(_, r)| *r);
                let cost = batch.cost;
                self.publish(&batch.notifications.iter().map(Notification::pending).collect::<Vec<_>>()).await;
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

/// One SQS message, parsed.
struct Message {
    id: String,
    parsed: Result<Parsed, String>,
}

impl Ingest {
    /// Handles an SQS batch: occurrences of the same group are merged into one write per group
    /// (at most [`MAX_EVENTS_PER_WRITE`] envelopes each), and only the messages that failed,
    /// invalid or unwritten, are returned as batch item failures.
    pub async fn handle_batch(&self, batch: SqsEvent) -> Result<SqsBatchResponse, IngestError> {
        Ok(self.handle_batch_with_cost(batch).await?.0)
    }

    /// [`Self::handle_batch`], also returning what the writes cost.
    pub async fn handle_batch_with_cost(&self, batch: SqsEvent) -> Result<(SqsBatchResponse, WriteCost), IngestError> {
        self.drain_if_needed().await;
        let mut cost = WriteCost::default();
        if batch.records.len() > MAX_BATCH_RECORDS {
            return Err(IngestError::BatchTooLarge { got: batch.records.len() });
        }
        let now = (self.clock)();
        let retention = self.retention().await;
        let messages: Vec<Message> = batch
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let id = r.message_id.unwrap_or_else(|| format!("#{i}"));
                let parsed = match r.body.as_deref().map(serde_json::from_str::<serde_json::Value>) {
                    None => Err("body: must be an EventBridge envelope, got no body".to_owned()),
                    Some(Err(e)) => Err(format!("body: not JSON: {e}")),
                    Some(Ok(v)) => event::parse(v).map_err(|e| e.to_string()),
                };
                let parsed = parsed.map(|p| match p {
                    Parsed::Failure(mut o) => match o.admit(now, retention.duration()) {
                        Admission::Store => Parsed::Failure(o),
                        Admission::Expired => Parsed::Success { event_id: o.envelope.id },
                    },
                    other => other,
                });
                Message { id, parsed }
            })
            .collect();
        let mut failed: Vec<String> = Vec::new();
        let mut groups: BTreeMap<Uuid, Vec<(&Occurrence, &str)>> = BTreeMap::new();
        for m in &messages {
            match &m.parsed {
                Err(e) => {
                    tracing::warn!(message_id = %m.id, result = "rejected", error = %e, "message rejected");
                    failed.push(m.id.clone());
                }
                Ok(Parsed::Success { event_id }) => {
                    tracing::info!(message_id = %m.id, event_id = %event_id, result = "ignored_success", "successful scan acknowledged");
                }
                Ok(Parsed::Ignored { event_id, why }) => {
                    tracing::info!(message_id = %m.id, event_id = %event_id, result = "ignored", why = %why, "not a scan failure");
                }
                Ok(Parsed::Failure(o)) => {
                    let group = fingerprint::group_id(&o.image.normalized(), o.reason, &o.message);
                    groups.entry(group).or_default().push((o, &m.id));
                }
            }
        }
        for (group, members) in &groups {
            for chunk in chunks_by_envelope(members) {
                let occurrences: Vec<&Occurrence> = chunk.iter().map(|(o, _)| *o).collect();
                match self.store.record_group(&occurrences, group, retention, now).await {
                    Ok(recorded) => {
                        self.publish(&recorded.notifications.iter().map(Notification::pending).collect::<Vec<_>>())
                            .await;
                        cost.requests += recorded.cost.requests;
                        cost.write_capacity_units += recorded.cost.write_capacity_units;
                        for (event_id, result) in &recorded.outcomes {
                            tracing::info!(
                                event_id = %event_id,
                                group_id = %group,
                                reason = occurrences[0].reason.code(),
                                result = result.as_str(),
                                batch_events = chunk.len(),
                                requests = recorded.cost.requests,
                                wcu = recorded.cost.write_capacity_units,
                                "event processed"
                            );
                        }
                    }
                    Err(e) => {
                        tracing::error!(group_id = %group, result = "failed", events = chunk.len(), error = %e, "group write failed");
                        failed.extend(chunk.iter().map(|(_, id)| (*id).to_owned()));
                    }
                }
            }
        }
        let mut response = SqsBatchResponse::default();
        for id in failed {
            response.add_failure(id);
        }
        Ok((response, cost))
    }
}

/// Splits a group's members into chunks of at most [`MAX_EVENTS_PER_WRITE`] distinct envelope
/// ids, keeping every message of one envelope id in the same chunk.
fn chunks_by_envelope<'a>(members: &[(&'a Occurrence, &'a str)]) -> Vec<Vec<(&'a Occurrence, &'a str)>> {
    let mut chunks: Vec<Vec<(&Occurrence, &str)>> = Vec::new();
    let mut ids_in_chunk: Vec<&str> = Vec::new();
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    for &(o, msg) in members {
        let envelope = o.envelope.id.as_str();
        if let Some(&i) = placed.get(envelope) {
            chunks[i].push((o, msg));
            continue;
        }
        if chunks.is_empty() || ids_in_chunk.len() == MAX_EVENTS_PER_WRITE {
            chunks.push(Vec::new());
            ids_in_chunk.clear();
        }
        ids_in_chunk.push(envelope);
        let i = chunks.len() - 1;
        placed.insert(envelope, i);
        chunks[i].push((o, msg));
    }
    chunks
}
