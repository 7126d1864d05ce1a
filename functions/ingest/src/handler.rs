//! Envelopes in, logged results out, through one pipeline for both deliveries: the direct path
//! (an EventBridge rule invokes with one envelope) is a batch of one; the buffered path (an SQS
//! batch) is the same pipeline over its messages. An event that cannot be stored is returned as
//! an error (direct) or a batch item failure (SQS), so retries and dead-letter queues keep it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Re-exported: tests and tools build the SQS events they hand to the handler.
pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::Diagnostic;
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use scan_failures_aws::dynamo::outbox::{self, Pending};
use scan_failures_aws::dynamo::settings::RetentionCache;
use scan_failures_aws::dynamo::write::{Recorded, WriteCost};
use scan_failures_aws::dynamo::{Store, StoreError};
use scan_failures_aws::eventbridge::Notifier;
use scan_failures_aws::metrics::Sink;
use scan_failures_domain::event::{self, Admission, EventError, Occurrence, Parsed};
use scan_failures_domain::retention::{RetentionDays, INGEST_CACHE, INGEST_CACHE_ON_FAILURE};
use scan_failures_domain::text;

use crate::metrics::{Published, Tally};
use crate::order;
pub use crate::outcome::Outcome;
use scan_failures_aws::publisher::{Publisher, RESPONSE_MARGIN};

/// Records accepted in one SQS batch (Lambda's own maximum batch size).
pub const MAX_BATCH_RECORDS: usize = 10_000;

/// How long before the invocation's deadline (less the response margin) an SQS batch stops
/// starting group writes: a write's attempts (three of at most 2 s) and its conflict retries end
/// before the deadline, so the batch answers, its unwritten messages reported failed, instead
/// of being cut off and delivered again whole.
pub const WRITE_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// When a list of messages stops writing: the groups not started from `defer_from` on are
/// deferred (reported failed, unwritten), a group's write starts no further attempt (a
/// conflict's retry, a half of a write too large) from `retry_until` on, and each one started
/// ends by `end_by`, the time to answer ([`scan_failures_aws::dynamo::write::GroupWriter::ending_by`]).
#[derive(Debug, Clone, Copy)]
struct WriteCutoffs {
    defer_from: Option<Instant>,
    retry_until: Option<Instant>,
    end_by: Option<Instant>,
}

/// The outcome of a message the pipeline left without one (a defect): it fails, so it is retried.
const NOT_PROCESSED: &str = "not processed";

/// The `eventSource` of an SQS message delivered by an event source mapping.
pub const SQS_SOURCE: &str = "aws:sqs";

/// Why an event was not stored.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("event rejected: {0}")]
    Rejected(#[from] EventError),
    /// Not the shape of an SQS event, or not from SQS (its error redacted and bounded as an
    /// envelope's: serde quotes what it refused).
    #[error("SQS batch rejected: {0}")]
    Batch(#[source] EventError),
    #[error("SQS batch rejected: {got} records, at most {MAX_BATCH_RECORDS} are accepted")]
    BatchTooLarge { got: usize },
    /// Shared by every message of the failed write.
    #[error("event not stored: {0}")]
    Store(#[source] Arc<StoreError>),
    #[error("event not stored: the invocation's deadline was too near to start its write")]
    Deadline,
    /// The pipeline gave the event no outcome it could answer (a defect): answered as an error
    /// so that the event is retried, never as handled.
    #[error("event not stored: {0}")]
    Unprocessed(String),
}

impl From<IngestError> for Diagnostic {
    fn from(e: IngestError) -> Self {
        let error_type = match e {
            IngestError::Rejected(_) | IngestError::Batch(_) | IngestError::BatchTooLarge { .. } => "EventRejected",
            IngestError::Store(_) | IngestError::Deadline | IngestError::Unprocessed(_) => "StoreUnavailable",
        };
        Diagnostic { error_type: error_type.into(), error_message: text::error_chain(&e) }
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

impl Response {
    fn ignored(result: &'static str, event_id: String) -> Self {
        Self { result, event_id, group_id: None, reason: None }
    }
}

/// The answer to an invocation: one event's result, or the SQS batch response that lists only
/// the messages that failed (`ReportBatchItemFailures`).
#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Output {
    Event(Response),
    Batch(SqsBatchResponse),
}

/// What an SQS batch did: the response, the writes' cost, and each message's result.
#[derive(Debug)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    pub cost: WriteCost,
    /// `(message id, result)` in the batch's order.
    pub results: Vec<(String, &'static str)>,
}

pub struct Ingest {
    store: Store,
    retention: RetentionDays,
    /// The live retention setting (`None`: `retention` only), read at most every
    /// [`INGEST_CACHE`], and how old a value read may be to stand in when it cannot be read
    /// again ([`INGEST_CACHE_ON_FAILURE`]).
    live_retention: Option<(RetentionCache, Duration)>,
    clock: fn() -> OffsetDateTime,
    /// Occurrence counts whose crossing is a transition; `None`: no transitions are recorded.
    thresholds: Option<Vec<u64>>,
    publisher: Option<Publisher>,
    /// Where each invocation's metrics go (`None`: no metric lines, as in-process tests want).
    metrics: Option<Sink>,
}

/// What the pipeline did with a list of messages.
struct Processed {
    /// Every message's outcome, in the order given.
    outcomes: Vec<(String, Outcome)>,
    cost: WriteCost,
    published: Published,
}

impl Ingest {
    pub fn new(store: Store, retention: RetentionDays) -> Self {
        Self {
            store,
            retention,
            live_retention: None,
            clock: OffsetDateTime::now_utc,
            thresholds: None,
            publisher: None,
            metrics: None,
        }
    }

    /// Writes each invocation's CloudWatch metrics (EMF) to `sink`.
    pub fn with_metrics(self, sink: Sink) -> Self {
        Self { metrics: Some(sink), ..self }
    }

    fn emit(&self, tally: &Tally) {
        if let Some(sink) = &self.metrics {
            sink.emit(&tally.documents(sink.config(), (self.clock)()));
        }
    }

    /// Applies the retention stored in the table (`PUT /v1/config/administration-events`),
    /// read at most every 60 s, falling back to `retention` (`RETENTION_DAYS`) when none is
    /// stored, and to the last value read, up to 120 s old, when the table cannot be read
    /// (failing the occurrences, for a retry, when this instance has no value that recent).
    /// Refusing an occurrence as expired and starting an expired group anew are decided by the
    /// setting read again at that moment: a cached value may predate a longer retention.
    pub fn with_live_retention(self) -> Self {
        self.with_live_retention_ages(INGEST_CACHE, INGEST_CACHE_ON_FAILURE)
    }

    /// [`Self::with_live_retention`] with other ages than [`INGEST_CACHE`] and
    /// [`INGEST_CACHE_ON_FAILURE`] (tests: the ages are what they exercise).
    pub fn with_live_retention_ages(self, max_age: Duration, on_failure: Duration) -> Self {
        Self { live_retention: Some((RetentionCache::new(self.retention, max_age), on_failure)), ..self }
    }

    /// Records transitions (group opened, `thresholds` crossed, reopened) in the outbox of the
    /// same write.
    pub fn with_transitions(self, thresholds: Vec<u64>) -> Self {
        Self { thresholds: Some(thresholds), ..self }
    }

    /// Publishes transitions through `notifier` (`None`: notifications off).
    pub fn with_notifier(self, notifier: Option<Notifier>) -> Self {
        Self { publisher: notifier.map(Publisher::new), ..self }
    }

    /// The same handler reading "now" from `clock` (tests pin it; production uses the system clock).
    pub fn with_clock(self, clock: fn() -> OffsetDateTime) -> Self {
        Self { clock, ..self }
    }

    /// The retention to stamp and admit by: when the setting cannot be read, the last value
    /// this instance read within [`INGEST_CACHE_ON_FAILURE`]; an error without one, since the
    /// default may be shorter than the stored setting and would drop (or restart) what the
    /// setting keeps, and an older value may have changed since, with the re-stamp job's
    /// correction of the TTLs already done behind it.
    async fn retention(&self) -> Result<RetentionDays, StoreError> {
        let Some((cache, on_failure)) = &self.live_retention else { return Ok(self.retention) };
        match cache.get(&self.store).await {
            Ok(days) => Ok(days),
            Err(e) => match cache.last_known_within(*on_failure) {
                Some(days) => {
                    tracing::warn!(error = %text::error_chain(&e), retention_days = days.get(), "retention setting not read; using the last known");
                    Ok(days)
                }
                None => Err(e),
            },
        }
    }

    /// The retention as stored now, for a decision that cannot be undone (refusing an
    /// occurrence as expired): the cached value can be up to [`INGEST_CACHE`] older than a
    /// longer retention, under which the occurrence is kept. No stand-in when it cannot be read.
    async fn confirmed_retention(&self) -> Result<RetentionDays, StoreError> {
        match &self.live_retention {
            Some((cache, _)) => cache.read(&self.store).await,
            None => Ok(self.retention),
        }
    }

    /// Handles either payload: an EventBridge envelope (direct rule target) or an SQS event
    /// whose bodies are envelopes (buffered path).
    pub async fn handle_any(&self, payload: serde_json::Value) -> Result<Output, IngestError> {
        self.handle_any_until(payload, None).await
    }

    /// [`Self::handle_any`] for an invocation that must answer by `deadline` (the Lambda
    /// context's): the writes come first, and publishing stops [`RESPONSE_MARGIN`] before it.
    pub async fn handle_any_until(
        &self,
        payload: serde_json::Value,
        deadline: Option<Instant>,
    ) -> Result<Output, IngestError> {
        let until = deadline.map(|d| d.checked_sub(RESPONSE_MARGIN).unwrap_or(d));
        if payload.get("Records").is_some() {
            let batch: SqsEvent =
                scan_failures_domain::event::envelope::deserialize(payload).map_err(IngestError::Batch)?;
            // Answered with its failed items, which only an event source mapping reads: a batch
            // of records from elsewhere, invoked directly (asynchronously), would have them
            // dropped with the invocation a success.
            if let Some(at) = batch.records.iter().position(|r| r.event_source.as_deref() != Some(SQS_SOURCE)) {
                return Err(IngestError::Batch(EventError::Shape {
                    path: format!("Records[{at}].eventSource"),
                    message: format!("not {SQS_SOURCE}: only the buffer queue's event source mapping sends batches"),
                }));
            }
            Ok(Output::Batch(self.handle_batch_until(batch, until).await?.response))
        } else {
            Ok(Output::Event(self.handle_until(payload, until).await?))
        }
    }

    /// The direct path: one envelope, a batch of one through [`Self::process`].
    pub async fn handle(&self, payload: serde_json::Value) -> Result<Response, IngestError> {
        self.handle_until(payload, None).await
    }

    /// [`Self::handle`], publishing notifications until `until` at the latest. The event's
    /// write is the invocation's first work and always starts; its retries (conflicts, a
    /// throttled transaction) end by `until`, none starting from then on, so that a write
    /// that cannot be made answers an error, logged, counted and retried by Lambda, where it
    /// ran into the function's timeout (no log line, no metrics, the sandbox lost).
    pub async fn handle_until(
        &self,
        payload: serde_json::Value,
        until: Option<Instant>,
    ) -> Result<Response, IngestError> {
        let event_id = payload
            .get("id")
            .and_then(|v| v.as_str())
            .map(|s| event::truncate(s.to_owned(), event::bounds::EVENT_ID))
            .unwrap_or_default();
        let parsed = match event::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(event_id = %event_id, result = "rejected", field = e.field(), error = %e, "event rejected");
                self.emit(&Tally::rejected());
                return Err(e.into());
            }
        };
        // One event: its write is the invocation's first work, never deferred.
        let writes = WriteCutoffs { defer_from: None, retry_until: until, end_by: until };
        let mut processed = self.process(vec![(event_id.clone(), 1, Ok(parsed))], until, writes).await;
        self.emit(&Tally::of(processed.outcomes.iter().map(|(_, o)| o), processed.cost, processed.published));
        // One message in, one outcome out.
        answer(processed.outcomes.pop().map(|(_, o)| o))
    }

    /// Handles an SQS batch: occurrences of the same group are merged into one write per group
    /// (at most [`scan_failures_aws::dynamo::write::GroupWriter::max_events`] envelopes each), and only the messages that failed,
    /// invalid or unwritten, are returned as batch item failures.
    pub async fn handle_batch(&self, batch: SqsEvent) -> Result<SqsBatchResponse, IngestError> {
        Ok(self.handle_batch_report(batch).await?.response)
    }

    /// [`Self::handle_batch`], also returning what the writes cost.
    pub async fn handle_batch_with_cost(&self, batch: SqsEvent) -> Result<(SqsBatchResponse, WriteCost), IngestError> {
        let report = self.handle_batch_report(batch).await?;
        Ok((report.response, report.cost))
    }

    /// [`Self::handle_batch`], with the writes' cost and every message's result.
    pub async fn handle_batch_report(&self, batch: SqsEvent) -> Result<BatchReport, IngestError> {
        self.handle_batch_until(batch, None).await
    }

    /// [`Self::handle_batch_report`], publishing notifications until `until` at the latest.
    pub async fn handle_batch_until(
        &self,
        batch: SqsEvent,
        until: Option<Instant>,
    ) -> Result<BatchReport, IngestError> {
        if batch.records.len() > MAX_BATCH_RECORDS {
            return Err(IngestError::BatchTooLarge { got: batch.records.len() });
        }
        let messages = batch
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let id = r.message_id.unwrap_or_else(|| format!("#{i}"));
                let receives = order::receives(r.attributes.get("ApproximateReceiveCount").map(String::as_str));
                let parsed = match r.body.as_deref().map(serde_json::from_str::<serde_json::Value>) {
                    None => Err("body: must be an EventBridge envelope, got no body".to_owned()),
                    Some(Err(e)) => Err(format!("body: not JSON: {e}")),
                    Some(Ok(v)) => event::parse(v).map_err(|e| e.to_string()),
                };
                (id, receives, parsed)
            })
            .collect();
        let write_until = until.and_then(|u| u.checked_sub(WRITE_MARGIN));
        let writes = WriteCutoffs { defer_from: write_until, retry_until: write_until, end_by: until };
        let Processed { outcomes, cost, published } = self.process(messages, until, writes).await;
        let mut response = SqsBatchResponse::default();
        let mut results = Vec::with_capacity(outcomes.len());
        for (id, outcome) in &outcomes {
            if matches!(outcome, Outcome::Rejected(_) | Outcome::Failed { .. } | Outcome::Deferred { .. }) {
                response.add_failure(id.clone());
            }
            results.push((id.clone(), outcome.label()));
        }
        let failed = response.batch_item_failures.len() as u64;
        self.emit(&Tally::of(outcomes.iter().map(|(_, o)| o), cost, published).with_sqs(outcomes.len() as u64, failed));
        Ok(BatchReport { response, cost, results })
    }

    /// The pipeline: admit each parsed message by the retention, merge the occurrences of each
    /// group into writes of at most [`scan_failures_aws::dynamo::write::GroupWriter::max_events`]
    /// envelopes, write them, then publish the transitions they made (and what a due drain
    /// finds) until `until`, and log one line per message; writes stop as `writes` says. Each message comes with how many
    /// times it was delivered ([`order::write_order`]). Returns every message's outcome in the
    /// order given, what the writes cost and what was published.
    async fn process(
        &self,
        messages: Vec<(String, u32, Result<Parsed, String>)>,
        until: Option<Instant>,
        writes: WriteCutoffs,
    ) -> Processed {
        let now = (self.clock)();
        let mut retention = self.retention().await.map_err(Arc::new);
        let mut ids = Vec::with_capacity(messages.len());
        let mut receives = Vec::with_capacity(messages.len());
        let mut parsed = Vec::with_capacity(messages.len());
        for (id, received, p) in messages {
            ids.push(id);
            receives.push(received);
            parsed.push(p);
        }
        if let Ok(days) = &retention {
            let expired = |p: &mut Result<Parsed, String>| match p {
                Ok(Parsed::Failure(o)) => matches!(o.admit(now, days.duration()), Admission::Expired),
                _ => false,
            };
            if self.live_retention.is_some() && parsed.iter_mut().any(expired) {
                retention = self.confirmed_retention().await.map_err(Arc::new);
            }
        }
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(ids.len());
        let mut occurrences: Vec<(usize, Box<Occurrence>)> = Vec::new();
        for (i, parsed) in parsed.into_iter().enumerate() {
            let outcome = match parsed {
                Err(e) => {
                    tracing::warn!(message_id = %ids[i], result = "rejected", error = %e, "message rejected");
                    Outcome::Rejected(e)
                }
                Ok(Parsed::Success { event_id }) => Outcome::IgnoredSuccess { event_id },
                Ok(Parsed::Ignored { event_id, why }) => Outcome::Ignored { event_id, why },
                Ok(Parsed::Failure(mut o)) => match &retention {
                    Err(error) => Outcome::Failed {
                        event_id: o.envelope.id.clone(),
                        group: group_of(&o),
                        reason: o.reason.code(),
                        error: error.clone(),
                    },
                    Ok(days) => match o.admit(now, days.duration()) {
                        Admission::Store => {
                            occurrences.push((i, o));
                            outcomes.push(None);
                            continue;
                        }
                        Admission::Expired => Outcome::IgnoredExpired { event_id: o.envelope.id },
                    },
                },
            };
            outcomes.push(Some(outcome));
        }
        let mut groups: BTreeMap<Uuid, Vec<(&Occurrence, usize)>> = BTreeMap::new();
        for (i, o) in &occurrences {
            groups.entry(group_of(o)).or_default().push((o, *i));
        }
        let members: Vec<(Uuid, Vec<usize>)> =
            groups.iter().map(|(g, m)| (*g, m.iter().map(|(_, i)| *i).collect())).collect();
        let mut cost = WriteCost::default();
        let mut made = Vec::new();
        // Every outbox record the writes below make is leased from now on, or later.
        let leased_at = outbox::wall_clock_seconds();
        let confirm = self.live_retention.as_ref().map(|(cache, _)| cache);
        let writer = self
            .store
            .writer(self.thresholds.as_deref())
            .until(writes.retry_until)
            .ending_by(writes.end_by)
            .confirming_expiry(confirm);
        // Every occurrence here was admitted by the retention read (none is when it failed).
        let retention = retention.unwrap_or(self.retention);
        for group in &order::write_order(&members, &receives) {
            let Some(members) = groups.get(group) else { continue };
            for chunk in chunks_by_envelope(members, writer.max_events()) {
                if writes.defer_from.is_some_and(|w| Instant::now() >= w) {
                    for (o, i) in &chunk {
                        outcomes[*i] = Some(Outcome::Deferred {
                            event_id: o.envelope.id.clone(),
                            group: *group,
                            reason: o.reason.code(),
                        });
                    }
                    continue;
                }
                let batch: Vec<&Occurrence> = chunk.iter().map(|(o, _)| *o).collect();
                let reason = batch[0].reason.code();
                match writer.record_group(&batch, group, retention, now).await {
                    Ok(written) => {
                        made.extend(written.notifications.iter().cloned());
                        cost += written.cost;
                        let by_event: BTreeMap<&str, Recorded> =
                            written.outcomes.iter().map(|(e, r)| (e.as_str(), *r)).collect();
                        // A second message of one envelope id in the chunk is a redelivery.
                        let mut seen = std::collections::BTreeSet::new();
                        for (o, i) in &chunk {
                            let first = seen.insert(o.envelope.key.as_str());
                            let recorded = by_event.get(o.envelope.key.as_str()).copied().filter(|_| first);
                            outcomes[*i] = Some(Outcome::Recorded {
                                event_id: o.envelope.id.clone(),
                                group: *group,
                                reason,
                                origin: o.origin,
                                operation: o.operation,
                                recorded: recorded.unwrap_or(Recorded::Duplicate),
                                batch_events: chunk.len(),
                                cost: written.cost,
                            });
                        }
                    }
                    Err(e) => {
                        let error = Arc::new(e);
                        for (o, i) in &chunk {
                            outcomes[*i] = Some(Outcome::Failed {
                                event_id: o.envelope.id.clone(),
                                group: *group,
                                reason,
                                error: error.clone(),
                            });
                        }
                    }
                }
            }
        }
        let published = match &self.publisher {
            Some(p) => {
                let made: Vec<Pending> = made.iter().map(outbox::pending).collect();
                p.publish_until(&self.store, &made, leased_at, until).await
            }
            None => Published::default(),
        };
        let done: Vec<(String, Outcome)> = ids
            .into_iter()
            .zip(outcomes)
            .map(|(id, o)| (id, o.unwrap_or_else(|| Outcome::Rejected(NOT_PROCESSED.to_owned()))))
            .collect();
        for (id, o) in &done {
            log(id, o);
        }
        Processed { outcomes: done, cost, published }
    }
}

/// The direct path's answer for its one event: a stored or acknowledged event is answered `Ok`;
/// anything else is an error, so that Lambda retries it and its dead-letter queue keeps it.
fn answer(outcome: Option<Outcome>) -> Result<Response, IngestError> {
    let Some(outcome) = outcome else {
        tracing::error!(result = "failed", "the pipeline gave the event no outcome: answered as an error to retry");
        return Err(IngestError::Unprocessed("the pipeline gave it no outcome".to_owned()));
    };
    let label = outcome.label();
    match outcome {
        Outcome::Recorded { event_id, group, reason, recorded, .. } => Ok(Response {
            result: recorded.as_str(),
            event_id,
            group_id: Some(group.to_string()),
            reason: Some(reason),
        }),
        Outcome::Failed { error, .. } => Err(IngestError::Store(error)),
        Outcome::Deferred { .. } => Err(IngestError::Deadline),
        Outcome::IgnoredSuccess { event_id }
        | Outcome::Ignored { event_id, .. }
        | Outcome::IgnoredExpired { event_id } => Ok(Response::ignored(label, event_id)),
        // Parse errors are answered before the pipeline; one here is not the event's fault.
        Outcome::Rejected(why) => {
            tracing::error!(result = "failed", error = %why, "the pipeline left the event unprocessed: answered as an error to retry");
            Err(IngestError::Unprocessed(why))
        }
    }
}

/// The one log line of a message's outcome (rejections are logged where they are found).
fn log(message_id: &str, o: &Outcome) {
    let result = o.label();
    match o {
        Outcome::Rejected(_) => {}
        Outcome::IgnoredSuccess { event_id } => {
            tracing::info!(message_id, event_id = %event_id, result, "successful scan acknowledged")
        }
        Outcome::Ignored { event_id, why } => {
            tracing::info!(message_id, event_id = %event_id, result, why = %why, "not a scan failure")
        }
        Outcome::IgnoredExpired { event_id } => {
            tracing::info!(message_id, event_id = %event_id, result, "occurrence older than the retention window")
        }
        Outcome::Recorded { event_id, group, reason, batch_events, cost, .. } => tracing::info!(
            message_id,
            event_id = %event_id,
            group_id = %group,
            reason,
            result,
            batch_events,
            requests = cost.requests,
            wcu = cost.write_capacity_units,
            "event processed"
        ),
        Outcome::Failed { event_id, group, reason, error } => tracing::error!(
            message_id,
            event_id = %event_id,
            group_id = %group,
            reason,
            result,
            error = %error,
            "event not stored"
        ),
        Outcome::Deferred { event_id, group, reason } => tracing::warn!(
            message_id,
            event_id = %event_id,
            group_id = %group,
            reason,
            result,
            "not written: the invocation's deadline was too near; reported failed, to be delivered again"
        ),
    }
}

/// The group an occurrence belongs to.
fn group_of(o: &Occurrence) -> Uuid {
    o.group_id()
}

/// Splits a group's members into chunks of at most `max` distinct envelope ids, keeping every
/// message of one envelope id in the same chunk.
fn chunks_by_envelope<'a>(members: &[(&'a Occurrence, usize)], max: usize) -> Vec<Vec<(&'a Occurrence, usize)>> {
    let mut chunks: Vec<Vec<(&Occurrence, usize)>> = Vec::new();
    let mut ids_in_chunk: Vec<&str> = Vec::new();
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    for &(o, msg) in members {
        let envelope = o.envelope.key.as_str();
        if let Some(&i) = placed.get(envelope) {
            chunks[i].push((o, msg));
            continue;
        }
        if chunks.is_empty() || ids_in_chunk.len() == max {
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

#[cfg(test)]
mod tests {
    //! The pipeline's decisions that need no table: an occurrence older than the retention
    //! window is answered before any write, so these tests run against a client that is never
    //! called (an unroutable endpoint would fail them).

    use super::*;
    use serde_json::json;

    fn at_noon() -> OffsetDateTime {
        time::macros::datetime!(2026-11-25 12:00 UTC)
    }

    fn ingest() -> Ingest {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(config), "unused");
        Ingest::new(store, RetentionDays::default()).with_clock(at_noon)
    }

    /// A failure that occurred three weeks before the handler's clock (retention: 4 days).
    fn expired(id: &str) -> serde_json::Value {
        json!({
            "version": "0", "id": id, "detail-type": "Image Scan Failed", "source": "test.producer",
            "account": "123456789012", "time": "2026-11-25T12:00:00Z", "region": "eu-west-1",
            "detail": {"operation": "image scan", "origin": "roxctl", "image": {"name": "nginx"},
                "error": {"message": "context deadline exceeded"}, "occurredAt": "2026-11-04T12:00:00Z"}
        })
    }

    /// A message the pipeline left without an outcome is retried on the direct path too (it
    /// answered `Ok`, labelled `rejected`, and the event was lost); unreachable today, so shown
    /// at the answer.
    #[test]
    fn the_direct_path_answers_an_event_left_without_an_outcome_as_an_error_to_retry() {
        for outcome in [None, Some(Outcome::Rejected(NOT_PROCESSED.to_owned()))] {
            let e = answer(outcome).unwrap_err();
            assert_eq!(Diagnostic::from(e).error_type, "StoreUnavailable");
        }
        let e = answer(Some(Outcome::Rejected(NOT_PROCESSED.to_owned()))).unwrap_err();
        assert_eq!(e.to_string(), "event not stored: not processed");
    }

    /// The SQS path's margin holds a write started just before it: one call at the longest
    /// attempt timeout the configuration accepts ends before the batch must answer.
    #[test]
    fn the_sqs_paths_write_margin_holds_one_call_at_the_longest_attempt_timeout() {
        let longest = scan_failures_aws::config::SdkTimeouts {
            attempt: Duration::from_millis(*scan_failures_aws::config::SDK_ATTEMPT_TIMEOUT_MS_RANGE.end()),
        };
        assert_eq!(scan_failures_aws::sdk::call_bound(longest), Duration::from_secs(9));
        assert!(WRITE_MARGIN >= scan_failures_aws::sdk::call_bound(longest));
    }

    /// Before the one pipeline, the SQS path labelled this `ignored_success`.
    #[tokio::test]
    async fn an_expired_occurrence_is_labelled_ignored_expired_on_both_paths() {
        let ingest = ingest();
        let direct = ingest.handle(expired("old-1")).await.unwrap();
        assert_eq!((direct.result, direct.event_id.as_str(), direct.group_id), ("ignored_expired", "old-1", None));

        let batch: SqsEvent = serde_json::from_value(json!({"Records": [
            {"messageId": "m-1", "body": expired("old-2").to_string()},
            {"messageId": "m-2", "body": "{"}
        ]}))
        .unwrap();
        let report = ingest.handle_batch_report(batch).await.unwrap();
        assert_eq!(report.results, [("m-1".to_owned(), "ignored_expired"), ("m-2".to_owned(), "rejected")]);
        let failed: Vec<&str> =
            report.response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m-2"]);
        assert_eq!(report.cost, WriteCost::default());
    }
}
