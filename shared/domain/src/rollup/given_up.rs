//! A batch of the table's stream that the rollup function's event source mapping gave up on, as
//! Lambda describes it on the mapping's on-failure destination: the stream, the shard and the
//! first and last sequence numbers of the batch, not its records. The records stay in the
//! stream for 24 hours, so within that time the batch can be read again and applied
//! (`Rollups::redrive`); markers make a change applied before a no-op.
//!
//! The message comes from a queue anyone allowed `sqs:SendMessage` can write to: every field
//! is checked and bounded here, and a message that is not such a record is named as such.

use std::cmp::Ordering;

use serde::Deserialize;
use thiserror::Error;
use time::OffsetDateTime;

/// The largest message SQS carries (256 KiB); a longer body is not read.
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// The longest stream ARN and shard id accepted (an ARN is at most 2,048 characters).
pub const MAX_ID_CHARS: usize = 2_048;
/// The most digits of a sequence number accepted (DynamoDB's have 21 to 40).
pub const MAX_SEQUENCE_DIGITS: usize = 48;
/// The largest batch the stack's event source mapping delivers to the rollup function: its
/// `BatchSize` (the template test checks the two agree). A description claiming more is refused
/// unread: the redrive would hold that many changes, both images each, in a 128 MB function,
/// for a message anyone allowed to send to the queue could write.
pub const MAX_BATCH_SIZE: u32 = 100;

/// A stream record's sequence number: decimal digits as the stream wrote them (DynamoDB Local's
/// have leading zeros, and the stream wants them back as written), equal and ordered as the
/// numbers they write.
#[derive(Debug, Clone)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// `None` unless `text` is 1 to [`MAX_SEQUENCE_DIGITS`] ASCII digits.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (1..=MAX_SEQUENCE_DIGITS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Self(text.to_owned()))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number without its leading zeros ("0" for zero).
    fn significant(&self) -> &str {
        let t = self.0.trim_start_matches('0');
        if t.is_empty() {
            "0"
        } else {
            t
        }
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SequenceNumber {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SequenceNumber {}

impl std::hash::Hash for SequenceNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.significant().hash(state);
    }
}

/// One given-up batch: the records of `shard_id` from `start` to `end`, both included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    pub stream_arn: String,
    pub shard_id: String,
    pub start: SequenceNumber,
    pub end: SequenceNumber,
    /// How many records the mapping delivered in the batch (those its filter let through).
    pub batch_size: u32,
    /// When the mapping gave the batch up (the record's `timestamp`), after every one of its
    /// records was written; `None` when the message does not say, or not as an RFC 3339 time
    /// (the batch is still redriven: only its supersession needs the time).
    pub given_up_at: Option<OffsetDateTime>,
}

#[derive(Debug, Error)]
pub enum GivenUpError {
    #[error("the message is {0} bytes, more than an on-failure record's {MAX_MESSAGE_BYTES}")]
    TooLong(usize),
    #[error("the message is not an on-failure record of a DynamoDB stream")]
    NotARecord(#[source] serde_json::Error),
    #[error("DDBStreamBatchInfo.{field} is {why}")]
    Invalid { field: &'static str, why: &'static str },
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "DDBStreamBatchInfo")]
    info: Info,
    timestamp: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    stream_arn: String,
    shard_id: String,
    start_sequence_number: String,
    end_sequence_number: String,
    batch_size: u32,
}

fn id(field: &'static str, value: String) -> Result<String, GivenUpError> {
    if value.is_empty() || value.chars().count() > MAX_ID_CHARS || value.chars().any(char::is_control) {
        return Err(GivenUpError::Invalid { field, why: "empty, longer than 2048 characters or not printable" });
    }
    Ok(value)
}

fn sequence(field: &'static str, value: &str) -> Result<SequenceNumber, GivenUpError> {
    SequenceNumber::parse(value).ok_or(GivenUpError::Invalid { field, why: "not 1 to 48 decimal digits" })
}

/// Whether a message known to have been written at `at` or later than its batch was given up
/// (the record's `timestamp`, or the queue's `SentTimestamp`) is superseded by the rollups kept
/// since `since` (their last restart, or when they started), so that reading its batch again is
/// needless: the batch's changes were written before `since`, and the api trusts no bucket
/// they could have touched (`rollup::ready`). Never without both times.
pub fn superseded(at: Option<OffsetDateTime>, since: Option<OffsetDateTime>) -> bool {
    matches!((at, since), (Some(at), Some(since)) if at < since)
}

impl GivenUp {
    /// Reads the body of an on-failure record (Lambda's for a DynamoDB stream, or the local
    /// poller's, which writes the same fields).
    pub fn parse(body: &str) -> Result<Self, GivenUpError> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(GivenUpError::TooLong(body.len()));
        }
        let message: Message = serde_json::from_str(body).map_err(GivenUpError::NotARecord)?;
        let given_up_at = message.timestamp.as_ref().and_then(|t| t.as_str()).and_then(crate::time_fmt::parse);
        let info = message.info;
        let start = sequence("startSequenceNumber", &info.start_sequence_number)?;
        let end = sequence("endSequenceNumber", &info.end_sequence_number)?;
        if end < start {
            return Err(GivenUpError::Invalid { field: "endSequenceNumber", why: "before startSequenceNumber" });
        }
        if !(1..=MAX_BATCH_SIZE).contains(&info.batch_size) {
            return Err(GivenUpError::Invalid {
                field: "batchSize",
                why: "not from 1 to the mapping's BatchSize, 100",
            });
        }
        Ok(Self {
            stream_arn: id("streamArn", info.stream_arn)?,
            shard_id: id("shardId", info.shard_id)?,
            start,
            end,
            batch_size: info.batch_size,
            given_up_at,
        })
    }

    /// Whether the batch was given up before `since` (the time the rollups are kept since:
    /// their last restart, or when they started); see [`superseded`].
    pub fn superseded_by(&self, since: Option<OffsetDateTime>) -> bool {
        superseded(self.given_up_at, since)
    }

    /// Whether the record numbered `seq` is one of the batch's.
    pub fn covers(&self, seq: &SequenceNumber) -> bool {
        self.start <= *seq && *seq <= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-04T00:00:00.000";

    /// Lambda's on-failure record for a DynamoDB stream, as its documentation gives it.
    fn lambdas(start: &str, end: &str, size: u32) -> String {
        serde_json::json!({
            "requestContext": {
                "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:rollup",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 11
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-12-04T00:38:06.021Z",
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000001573689847184-864758bb",
                "startSequenceNumber": start,
                "endSequenceNumber": end,
                "approximateArrivalOfFirstRecord": "2026-12-04T00:38:04Z",
                "approximateArrivalOfLastRecord": "2026-12-04T00:38:04Z",
                "batchSize": size,
                "streamArn": ARN
            }
        })
        .to_string()
    }

    #[test]
    fn lambdas_on_failure_record_names_the_stream_shard_and_sequence_range() {
        let g = GivenUp::parse(&lambdas("800000000003126276362", "800000000003126276370", 2)).unwrap();
        assert_eq!(g.stream_arn, ARN);
        assert_eq!(g.shard_id, "shardId-00000001573689847184-864758bb");
        assert_eq!(
            (g.start.as_str(), g.end.as_str(), g.batch_size),
            ("800000000003126276362", "800000000003126276370", 2)
        );
        assert_eq!(g.given_up_at, Some(time::macros::datetime!(2026-12-04 00:38:06.021 UTC)));
    }

    #[test]
    fn only_a_restart_after_the_batch_was_given_up_supersedes_it() {
        use time::macros::datetime;
        let g = GivenUp::parse(&lambdas("1", "2", 1)).unwrap();
        let superseded = [
            None,
            Some(datetime!(2026-12-04 00:38:06.020 UTC)),
            Some(datetime!(2026-12-04 00:38:06.021 UTC)),
            Some(datetime!(2026-12-04 00:38:06.022 UTC)),
        ]
        .map(|since| g.superseded_by(since));
        assert_eq!(superseded, [false, false, false, true]);
        let mut untimed: serde_json::Value = serde_json::from_str(&lambdas("1", "2", 1)).unwrap();
        untimed.as_object_mut().unwrap().remove("timestamp");
        let untimed = GivenUp::parse(&untimed.to_string()).unwrap();
        assert_eq!(untimed.given_up_at, None);
        assert!(!untimed.superseded_by(Some(datetime!(2100-01-01 0:00 UTC))), "a message that does not say when");
        for bad in ["\"yesterday\"", "17", "{}"] {
            let body = lambdas("1", "2", 1).replace("\"2026-12-04T00:38:06.021Z\"", bad);
            let g = GivenUp::parse(&body).unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert_eq!((g.given_up_at, g.batch_size), (None, 1), "{bad}: still redriven, never superseded");
        }
    }

    #[test]
    fn sequence_numbers_order_as_numbers_not_as_text() {
        let n = |t: &str| SequenceNumber::parse(t).unwrap();
        assert!(n("900") < n("1000"));
        assert!(n("0099") < n("100"));
        assert_eq!(n("000"), n("0"));
        assert_eq!(n("000123").as_str(), "000123", "written back as the stream wrote it");
        let g = GivenUp::parse(&lambdas("900", "1000", 2)).unwrap();
        let covered: Vec<bool> = ["899", "900", "950", "1000", "1001"].iter().map(|s| g.covers(&n(s))).collect();
        assert_eq!(covered, [false, true, true, true, false]);
    }

    #[test]
    fn a_message_that_is_not_a_valid_record_is_named_and_never_read_past_its_bounds() {
        let err = |body: &str| crate::text::error_chain(&GivenUp::parse(body).unwrap_err());
        assert_eq!(
            err(r#"{"hello": 1}"#),
            "the message is not an on-failure record of a DynamoDB stream: missing field `DDBStreamBatchInfo` at line 1 column 12"
        );
        assert_eq!(
            err(&lambdas("12a", "13", 1)),
            "DDBStreamBatchInfo.startSequenceNumber is not 1 to 48 decimal digits"
        );
        assert_eq!(
            err(&lambdas(&"1".repeat(49), &"1".repeat(49), 1)),
            "DDBStreamBatchInfo.startSequenceNumber is not 1 to 48 decimal digits"
        );
        assert_eq!(err(&lambdas("20", "19", 1)), "DDBStreamBatchInfo.endSequenceNumber is before startSequenceNumber");
        let refused = "DDBStreamBatchInfo.batchSize is not from 1 to the mapping's BatchSize, 100";
        assert_eq!(err(&lambdas("1", "2", 0)), refused);
        assert_eq!(err(&lambdas("1", "2", MAX_BATCH_SIZE + 1)), refused);
        assert!(GivenUp::parse(&lambdas("1", "2", MAX_BATCH_SIZE)).is_ok());
        let long_shard = lambdas("1", "2", 1).replace("shardId-00000001573689847184-864758bb", &"s".repeat(2_049));
        assert_eq!(
            err(&long_shard),
            "DDBStreamBatchInfo.shardId is empty, longer than 2048 characters or not printable"
        );
        assert_eq!(
            err(&" ".repeat(MAX_MESSAGE_BYTES + 1)),
            "the message is 262145 bytes, more than an on-failure record's 262144"
        );
    }
}
