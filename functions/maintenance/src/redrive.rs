//! The batches on the rollup failure queue, each read back from the table's stream and applied
//! to the rollups (`Rollups::redrive`), on every scheduled run and at an operator's
//! `{"redriveRollups": true}`. The repair for a batch given up on a cause that has passed
//! (DynamoDB failing for longer than the retries, a fault fixed by a deploy), within the
//! stream's 24 hours, exactly and without the restart's period of reading the groups.
//!
//! A message is deleted once its batch is applied, or unread once the rollups' start supersedes
//! it: given up (its record's `timestamp`) or sent (SQS's `SentTimestamp`) before the time they
//! are kept since, their last restart or when they started. A deletion that fails does not end
//! the run: the message shows again later and is found applied (`undeleted`). One whose batch cannot
//! be applied (the stream no longer holds it, a record still fails, the message is not an
//! on-failure record) is left on the queue, visible again at once, and named in the answer: the
//! alarm keeps firing until an operator restarts the rollups, after which the next redrive
//! deletes the batches given up before the restart and keeps those given up after it.

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use aws_sdk_sqs::Client as SqsClient;
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

use scan_failures_aws::dynamo::rollup::redrive::RedriveError;
use scan_failures_aws::dynamo::rollup::Applied;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::rollup::given_up::{superseded, GivenUp, GivenUpError};
use scan_failures_domain::text;

/// What a redrive calls on the failure queue (`RollupFailureQueue.Arn`).
pub const QUEUE_ACTIONS: &[&str] = &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"];

/// Messages handled per invocation: each batch is at most 100 records (the mapping's batch
/// size), so this stays well inside the function's 5 minutes.
pub const MAX_MESSAGES: usize = 100;
/// Messages named in the answer, of those left on the queue.
pub const MAX_NAMED: usize = 20;
/// How long a received message stays hidden while this invocation works: it sees each message
/// once, and hands back the ones it leaves when it is done.
const VISIBILITY_SECONDS: i32 = 300;
/// No message is received after this long (within the function's 5 minutes, after a scheduled
/// run's other work, and before the received ones show again): the rest waits for the next run.
const BUDGET: std::time::Duration = std::time::Duration::from_secs(120);

/// How long a receive waits for messages (a long poll: a short one samples some of the queue's
/// servers and can answer empty with messages waiting).
const RECEIVE_WAIT_SECONDS: i32 = 1;

/// The attempt timeout of a receive: its wait and a round trip. The function's own attempt
/// timeout (`SDK_ATTEMPT_TIMEOUT_MS`, at most 2 s, for calls that answer at once) would cut
/// every poll of an empty queue at 1 s or less, and fail the run.
const RECEIVE_ATTEMPT: std::time::Duration = std::time::Duration::from_secs(RECEIVE_WAIT_SECONDS as u64 + 2);
/// The longest reason given for a message left (a parser's message may quote the message).
pub const MAX_WHY_BYTES: usize = 500;

/// Kept before the deadline by a message's own calls: none starts after the deadline less this,
/// so that one under way then ([`scan_failures_aws::sdk::call_bound`], 9 s at the longest
/// attempt timeout) still ends, and the messages left are shown again and the run answers, before
/// the function's timeout. Under [`crate::STOP_RESERVE`], before which a message is taken up.
pub const CALL_RESERVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The time from which a message's redrive starts no call, for a run whose `deadline` is known.
pub fn calls_until(deadline: Option<std::time::Instant>) -> Option<std::time::Instant> {
    deadline.map(|d| d.checked_sub(CALL_RESERVE).unwrap_or_else(std::time::Instant::now))
}

/// Whether an invocation's payload asks for a redrive alone (`{"redriveRollups": true}`), sent
/// by an operator, never by the schedules (whose runs redrive after their other work).
pub fn asks_redrive(payload: &serde_json::Value) -> bool {
    payload.get("redriveRollups") == Some(&serde_json::Value::Bool(true))
}

#[derive(Debug, Error)]
pub enum RedriveFailed {
    #[error("ROLLUP_FAILURE_QUEUE_URL is not set: the function does not know the rollup failure queue")]
    NoQueue,
    #[error("SQS {operation} on the rollup failure queue failed")]
    Queue {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_sqs::Error>,
    },
}

fn queue_error<E>(operation: &'static str) -> impl FnOnce(E) -> RedriveFailed
where
    aws_sdk_sqs::Error: From<E>,
{
    move |e| RedriveFailed::Queue { operation, source: Box::new(aws_sdk_sqs::Error::from(e)) }
}

/// What became of one message.
#[derive(Debug)]
pub enum Fate {
    Applied(Applied),
    /// Deleted unread: given up before the time the rollups are kept since (their last restart,
    /// or when they started), whose reading of the groups covers it.
    Superseded,
    /// Left: the stream no longer holds the batch; a restart is the repair.
    Gone(String),
    /// Left: a record still cannot be read or applied; the changes applied now (every other
    /// change of the batch when a record cannot be read, those before it when one cannot be
    /// applied).
    Failing(String, Applied),
    /// Left: not an on-failure record.
    Unreadable(String),
    /// Left, whole to redrive again: the run's time ran out during its redrive (what it applied
    /// is found applied next time).
    Unfinished(Applied),
}

fn why(e: &dyn std::error::Error) -> String {
    text::prefix(&text::error_chain(e), MAX_WHY_BYTES).to_owned()
}

impl Fate {
    /// The fate of a batch from the result of its redrive.
    pub fn of(result: Result<Applied, RedriveError>) -> Self {
        match result {
            Ok(done) => Self::Applied(done),
            Err(e) if e.out_of_time() => match e {
                RedriveError::Apply(e) => Self::Unfinished(e.done),
                _ => Self::Unfinished(Applied::default()),
            },
            Err(e @ RedriveError::Gone(_)) => Self::Gone(why(&e)),
            Err(RedriveError::Apply(e)) => {
                let done = e.done;
                Self::Failing(why(&RedriveError::Apply(e)), done)
            }
            Err(e @ RedriveError::Unreadable { done, .. }) => Self::Failing(why(&e), done),
            Err(e) => Self::Failing(why(&e), Applied::default()),
        }
    }

    /// The fate of a message that is not an on-failure record.
    pub fn unreadable(e: &GivenUpError) -> Self {
        Self::Unreadable(why(e))
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Applied(_) => "applied",
            Self::Superseded => "superseded",
            Self::Gone(_) => "gone",
            Self::Failing(..) => "failing",
            Self::Unreadable(_) => "unreadable",
            Self::Unfinished(_) => "unfinished",
        }
    }
}

/// A message left on the queue, as the answer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Left {
    pub message_id: String,
    /// `gone`, `failing`, `unreadable` or `unfinished`.
    pub fate: &'static str,
    pub why: String,
}

/// The answer to a redrive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    /// Messages received.
    pub messages: usize,
    /// Batches applied whole, their messages deleted.
    pub batches_applied: usize,
    /// Messages given up or sent before the time the rollups are kept since, deleted unread.
    pub superseded: usize,
    /// Changes added to the rollups now (of a batch left, those of its records but the one that
    /// cannot be read, or those before the one that cannot be applied).
    pub changes_applied: usize,
    /// Changes found applied before (their marker): a batch given up after part of it had been
    /// applied, or redriven twice.
    pub changes_already_applied: usize,
    /// Messages left on the queue, by fate.
    pub gone: usize,
    pub failing: usize,
    pub unreadable: usize,
    /// Messages left because the run's time ran out during their redrive (`more` is then true):
    /// the next run takes them up whole.
    pub unfinished: usize,
    /// Messages whose batch was applied or superseded and whose deletion failed: each shows
    /// again after its visibility timeout, and the next redrive finds its changes applied.
    pub undeleted: usize,
    /// Up to [`MAX_NAMED`] of the messages left.
    pub left: Vec<Left>,
    /// Whether the invocation stopped at [`MAX_MESSAGES`] or its time budget (the rest waits for
    /// the next run, or invoke again).
    pub more: bool,
}

impl RedriveReport {
    /// Counts one message's fate; whether its message is to be deleted.
    pub fn count(&mut self, message_id: &str, fate: Fate) -> bool {
        self.messages += 1;
        let why = match fate {
            Fate::Applied(done) => {
                self.batches_applied += 1;
                self.changes_applied += done.applied;
                self.changes_already_applied += done.redelivered;
                return true;
            }
            Fate::Superseded => {
                self.superseded += 1;
                return true;
            }
            Fate::Gone(ref why) => {
                self.gone += 1;
                why.clone()
            }
            Fate::Failing(ref why, done) => {
                self.failing += 1;
                self.changes_applied += done.applied;
                self.changes_already_applied += done.redelivered;
                why.clone()
            }
            Fate::Unreadable(ref why) => {
                self.unreadable += 1;
                why.clone()
            }
            Fate::Unfinished(done) => {
                self.unfinished += 1;
                self.changes_applied += done.applied;
                self.changes_already_applied += done.redelivered;
                self.more = true;
                "the run's time ran out: it is redriven whole by the next run".to_owned()
            }
        };
        if self.left.len() < MAX_NAMED {
            self.left.push(Left { message_id: message_id.to_owned(), fate: fate.name(), why });
        }
        false
    }
}

/// When SQS received `m` (`SentTimestamp`, milliseconds since the epoch, on SQS's clock), if it
/// says so.
fn sent_at(m: &Message) -> Option<OffsetDateTime> {
    let ms: i64 = m.attributes()?.get(&MessageSystemAttributeName::SentTimestamp)?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Redrives the batches on the failure queue at `queue_url`, up to [`MAX_MESSAGES`], taking up
/// none with less than [`crate::STOP_RESERVE`] left before `deadline` (`None`: unknown): one
/// message may read up to 100 pages of its shard and apply its batch, and the messages left
/// must still be shown again. A message received but not taken up is shown again at once,
/// uncounted, and the answer says `more`.
pub async fn run(
    store: &Store,
    streams: &StreamsClient,
    sqs: &SqsClient,
    queue_url: Option<&str>,
    now: OffsetDateTime,
    deadline: Option<std::time::Instant>,
) -> Result<RedriveReport, RedriveFailed> {
    let url = queue_url.ok_or(RedriveFailed::NoQueue)?;
    // Read once: a restart during this invocation only leaves more to the next one. Unread,
    // nothing is superseded and every batch is redriven as before.
    let since = match store.rollups().since().await {
        Ok(since) => since,
        Err(e) => {
            tracing::warn!(error = %text::error_chain(&e), "the rollups' start is unread: no message is taken as superseded");
            None
        }
    };
    let mut report = RedriveReport::default();
    let mut left = Vec::new();
    let started = std::time::Instant::now();
    // When a message's calls stop: no call of it starts from here on.
    let until = calls_until(deadline);
    let in_time =
        || deadline.is_none_or(|d| d.saturating_duration_since(std::time::Instant::now()) >= crate::STOP_RESERVE);
    let outcome = async {
        while report.messages < MAX_MESSAGES && started.elapsed() < BUDGET && in_time() {
            let want = (MAX_MESSAGES - report.messages).min(10) as i32;
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(want)
                .visibility_timeout(VISIBILITY_SECONDS)
                .wait_time_seconds(RECEIVE_WAIT_SECONDS)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .customize()
                // The whole timeout configuration (it replaces the client's): the connect
                // timeout kept, the attempt's lengthened.
                .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(
                    scan_failures_aws::sdk::timeout_config(scan_failures_aws::config::SdkTimeouts {
                        attempt: RECEIVE_ATTEMPT,
                    }),
                ))
                .send()
                .await
                .map_err(queue_error("ReceiveMessage"))?;
            if received.messages().is_empty() {
                return Ok(());
            }
            for m in received.messages() {
                let (id, receipt) = (m.message_id().unwrap_or_default(), m.receipt_handle().unwrap_or_default());
                if !in_time() {
                    left.push(receipt.to_owned());
                    continue;
                }
                let fate = match GivenUp::parse(m.body().unwrap_or_default()) {
                    // Sent after its batch was given up: whatever it says, sent before the start.
                    _ if superseded(sent_at(m), since) => Fate::Superseded,
                    Ok(batch) if batch.superseded_by(since) => Fate::Superseded,
                    Ok(batch) => Fate::of(store.rollups().redrive(streams, &batch, now, until).await),
                    Err(e) => Fate::unreadable(&e),
                };
                tracing::info!(message = id, fate = fate.name(), "rollup failure redriven");
                if report.count(id, fate) {
                    // Not the end of the run: the batch is applied, and a message shown again is
                    // redriven again with nothing to add. Nor is its time: a deletion started
                    // past it could run past the deadline.
                    if until.is_some_and(|u| std::time::Instant::now() >= u) {
                        report.undeleted += 1;
                        tracing::warn!(message = id, "a message done with is left undeleted, the run's time having come: it shows again after its visibility timeout");
                        continue;
                    }
                    let deleted = sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await;
                    if let Err(e) = deleted {
                        report.undeleted += 1;
                        tracing::warn!(message = id, error = %text::error_chain(&e), "a message done with could not be deleted: it shows again after its visibility timeout");
                    }
                } else {
                    left.push(receipt.to_owned());
                }
            }
        }
        report.more = true;
        Ok(())
    }
    .await;
    // The messages left are visible again at once: to the alarm, and to the next redrive.
    for receipt in &left {
        let shown =
            sqs.change_message_visibility().queue_url(url).receipt_handle(receipt).visibility_timeout(0).send().await;
        if let Err(e) = shown {
            tracing::warn!(error = %text::error_chain(&e), "a message left on the failure queue stays hidden until its timeout");
        }
    }
    outcome?;
    tracing::info!(
        messages = report.messages,
        batches_applied = report.batches_applied,
        superseded = report.superseded,
        changes_applied = report.changes_applied,
        gone = report.gone,
        failing = report.failing,
        unreadable = report.unreadable,
        unfinished = report.unfinished,
        undeleted = report.undeleted,
        left = %serde_json::to_string(&report.left).unwrap_or_default(),
        "rollups redrive"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_redrive_rollups_true_redrives() {
        assert!(asks_redrive(&serde_json::json!({"redriveRollups": true})));
        for other in [
            serde_json::json!({}),
            serde_json::json!({"redriveRollups": "true"}),
            serde_json::json!({"restartRollups": true}),
            serde_json::json!({"detail": {"redriveRollups": true}}),
        ] {
            assert!(!asks_redrive(&other), "{other}");
        }
    }

    #[test]
    fn the_report_deletes_only_applied_and_superseded_batches_and_names_at_most_twenty_left() {
        let mut r = RedriveReport::default();
        let applied = Applied { applied: 3, redelivered: 2, transactions: 1, write_capacity_units: 0.0 };
        assert!(r.count("m0", Fate::Applied(applied)));
        assert!(!r.count("m1", Fate::Gone("trimmed".into())));
        assert!(!r.count("m2", Fate::Unreadable("not a record".into())));
        assert!(r.count("m-old", Fate::Superseded));
        let before_poison = Applied { applied: 1, ..Applied::default() };
        for n in 3..30 {
            assert!(!r.count(&format!("m{n}"), Fate::Failing("poison".into(), before_poison)));
        }
        assert_eq!(
            (
                r.messages,
                r.batches_applied,
                r.superseded,
                r.changes_applied,
                r.changes_already_applied,
                r.gone,
                r.failing,
                r.unreadable
            ),
            (31, 1, 1, 30, 2, 1, 27, 1)
        );
        assert_eq!(r.left.len(), MAX_NAMED);
        assert_eq!(r.left[0], Left { message_id: "m1".into(), fate: "gone", why: "trimmed".into() });
        assert_eq!(r.left[1].fate, "unreadable");
    }

    /// A call started just before a message's time still ends before the deadline, with time
    /// left to show the messages again and answer; a message taken up at the run's reserve has
    /// time to work.
    #[test]
    fn a_messages_calls_stop_a_call_and_more_before_the_deadline_and_after_the_runs_reserve() {
        use scan_failures_aws::config::{SdkTimeouts, SDK_ATTEMPT_TIMEOUT_MS_RANGE};
        let longest = SdkTimeouts { attempt: std::time::Duration::from_millis(*SDK_ATTEMPT_TIMEOUT_MS_RANGE.end()) };
        let bound = scan_failures_aws::sdk::call_bound(longest);
        assert_eq!(bound, std::time::Duration::from_secs(9));
        assert!(bound + std::time::Duration::from_secs(5) <= CALL_RESERVE && CALL_RESERVE < crate::STOP_RESERVE);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        assert_eq!(calls_until(Some(deadline)), Some(deadline - CALL_RESERVE));
        assert_eq!(calls_until(None), None);
    }

    #[test]
    fn a_reason_quoting_a_long_message_is_cut_to_500_bytes() {
        let huge = format!(r#"{{"DDBStreamBatchInfo": {{"batchSize": "{}"}}}}"#, "é".repeat(100_000));
        let Err(e) = GivenUp::parse(&huge) else { panic!("parsed") };
        let Fate::Unreadable(why) = Fate::unreadable(&e) else { panic!("not unreadable") };
        assert!(why.len() <= MAX_WHY_BYTES && why.len() > 400, "{}", why.len());
        assert!(why.starts_with("the message is not an on-failure record of a DynamoDB stream: invalid type"), "{why}");
    }
}
