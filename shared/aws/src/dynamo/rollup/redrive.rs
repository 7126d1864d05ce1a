//! A batch the rollup function gave up on, read back from the table's stream and applied: the
//! repair of lost changes while the stream still holds them (24 hours), exact and with no
//! restart. Each change is applied once whatever happened before (its marker, kept longer
//! than the stream keeps a record), and changes commute, so a batch replayed after later
//! changes of its groups, twice, or in part already applied, leaves the rollups as if it had
//! been applied in time.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use thiserror::Error;
use time::OffsetDateTime;

use scan_failures_domain::rollup::given_up::{GivenUp, SequenceNumber, MAX_BATCH_SIZE};

use super::plan::Change;
use super::record::{self, UnreadableRecord};
use super::{Applied, BatchError, Rollups};
use crate::dynamo::item::Item;

/// What a redrive calls on the stream (`Table.StreamArn`); its writes are [`super::actions::WRITE`].
pub mod actions {
    pub const READ_STREAM: &[&str] = &["dynamodb:GetShardIterator", "dynamodb:GetRecords"];
}

/// The most `GetRecords` pages read for one batch: its records lie between two sequence
/// numbers of one shard, among the records of other items (up to 1,000 a page).
pub const MAX_PAGES: usize = 100;
/// Empty pages in a row after which a batch whose last record was not reached is given up: an
/// open shard answers empty pages while its records are still there to read only briefly.
const MAX_EMPTY_PAGES: usize = 5;
/// The pause after an empty page, so as not to compete with the mapping's own reads of the
/// shard (a shard serves 5 `GetRecords` a second).
const EMPTY_PAGE_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

#[derive(Debug, Error)]
pub enum RedriveError {
    /// The records are gone: past the stream's 24 hours, or the shard or stream no longer
    /// exists. Only a restart of the rollups repairs their changes now.
    #[error("the stream no longer holds the batch's records (older than 24 hours, or the shard or stream is gone)")]
    Gone(#[source] Box<aws_sdk_dynamodbstreams::Error>),
    #[error("DynamoDB Streams {operation} failed")]
    Streams {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodbstreams::Error>,
    },
    #[error("the batch's last record was not reached within {MAX_PAGES} pages of its shard, or after {MAX_EMPTY_PAGES} empty ones")]
    Incomplete,
    #[error("the batch's range holds more changes of groups than a batch of the mapping can ({max})")]
    LargerThanABatch { max: u32 },
    #[error("a stream record of the batch's shard has no sequence number, or not one of digits")]
    NoSequenceNumber,
    /// A record of the batch cannot be read; the batch's other changes were applied (`done`).
    #[error("stream record {record} cannot be read")]
    Unreadable {
        record: String,
        done: Applied,
        #[source]
        source: UnreadableRecord,
    },
    #[error("stream record at {sequence} has no event id")]
    NoEventId { sequence: String },
    #[error("applying the batch failed")]
    Apply(#[source] BatchError),
    #[error("the rollups' live generations could not be read")]
    State(#[source] crate::dynamo::StoreError),
    /// The redrive's time ran out before its batch was read back: nothing of it applied here.
    #[error("the run's time ran out before the batch was read back from its shard")]
    OutOfTime,
}

impl RedriveError {
    /// Whether the redrive stopped at its time, not on a fault of the batch: it is whole to
    /// try again (what it applied before stopping is found applied, by its markers).
    pub fn out_of_time(&self) -> bool {
        matches!(self, Self::OutOfTime | Self::Apply(BatchError { source: super::ApplyError::OutOfTime, .. }))
    }
}

/// [`RedriveError::OutOfTime`] when `until` has come.
fn in_time(until: Option<Instant>) -> Result<(), RedriveError> {
    match until {
        Some(u) if Instant::now() >= u => Err(RedriveError::OutOfTime),
        _ => Ok(()),
    }
}

fn streams_error<E>(operation: &'static str) -> impl FnOnce(E) -> RedriveError
where
    aws_sdk_dynamodbstreams::Error: From<E>,
{
    move |e| classify(operation, aws_sdk_dynamodbstreams::Error::from(e))
}

/// A failed call of the stream: the records are gone (trimmed after 24 hours, or no such shard
/// or stream), which no retry mends, or another failure, which a later redrive may get past.
fn classify(operation: &'static str, e: aws_sdk_dynamodbstreams::Error) -> RedriveError {
    match e {
        aws_sdk_dynamodbstreams::Error::TrimmedDataAccessException(_)
        | aws_sdk_dynamodbstreams::Error::ResourceNotFoundException(_) => RedriveError::Gone(Box::new(e)),
        _ => RedriveError::Streams { operation, source: Box::new(e) },
    }
}

/// A stream image as the table's items are read: `Err` when it holds a type this build's SDK
/// does not know (its `Unknown`, as when DynamoDB adds one), which serde_dynamo's conversion
/// would panic on.
fn image(map: Option<&HashMap<String, StreamValue>>) -> Result<Option<Item>, UnknownType> {
    map.map(table_map).transpose()
}

fn table_map(m: &HashMap<String, StreamValue>) -> Result<Item, UnknownType> {
    m.iter().map(|(k, v)| Ok((k.clone(), table_value(v)?))).collect()
}

/// A stream value of a type this build's SDK does not know.
struct UnknownType;

fn table_value(v: &StreamValue) -> Result<aws_sdk_dynamodb::types::AttributeValue, UnknownType> {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    Ok(match v {
        StreamValue::B(b) => A::B(b.clone()),
        StreamValue::Bool(b) => A::Bool(*b),
        StreamValue::Bs(b) => A::Bs(b.clone()),
        StreamValue::L(l) => A::L(l.iter().map(table_value).collect::<Result<_, _>>()?),
        StreamValue::M(m) => A::M(table_map(m)?),
        StreamValue::N(n) => A::N(n.clone()),
        StreamValue::Ns(n) => A::Ns(n.clone()),
        StreamValue::Null(b) => A::Null(*b),
        StreamValue::S(s) => A::S(s.clone()),
        StreamValue::Ss(s) => A::Ss(s.clone()),
        _ => return Err(UnknownType),
    })
}

/// The change of a group one record of the stream reports (`None`: another item), or the
/// record's id and why it cannot be read.
fn change(r: &Record, sequence: &SequenceNumber) -> Result<Result<Option<Change>, Unread>, RedriveError> {
    let Some(id) = r.event_id() else { return Err(RedriveError::NoEventId { sequence: sequence.as_str().to_owned() }) };
    let unread = |source| Unread { record: id.to_owned(), source };
    let data = r.dynamodb();
    let images = (image(data.and_then(|d| d.old_image())), image(data.and_then(|d| d.new_image())));
    let keys = match image(data.and_then(|d| d.keys())) {
        Ok(keys) => keys.unwrap_or_default(),
        Err(UnknownType) => return Ok(Err(unread(UnreadableRecord::UnknownType))),
    };
    let (Ok(old), Ok(new)) = images else {
        // An item that is not a group has nothing to fold, whatever its attributes hold.
        return Ok(if record::is_group(&keys) { Err(unread(UnreadableRecord::UnknownType)) } else { Ok(None) });
    };
    let event = r.event_name().map_or("", |e| e.as_str());
    Ok(record::change(id, event, &keys, old, new).map_err(unread))
}

/// A record of a batch that cannot be read: its id, and why.
#[derive(Debug)]
pub struct Unread {
    pub record: String,
    pub source: UnreadableRecord,
}

/// A batch read back: the changes of groups among its records, in the stream's order, and the
/// first of its records that cannot be read. The others are read past it: changes commute and
/// each is applied once, so they need not wait for a record only a restart can repair.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub changes: Vec<Change>,
    pub unread: Option<Unread>,
}

/// The records of `batch`, read back from its shard; no call starts from `until` on.
pub async fn read(streams: &StreamsClient, batch: &GivenUp, until: Option<Instant>) -> Result<ReadBack, RedriveError> {
    in_time(until)?;
    let mut iterator = streams
        .get_shard_iterator()
        .stream_arn(&batch.stream_arn)
        .shard_id(&batch.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(batch.start.as_str())
        .send()
        .await
        .map_err(streams_error("GetShardIterator"))?
        .shard_iterator;
    // Bounded by the mapping's batch size, not the record's `batchSize`: Lambda may consolidate
    // the failures of one batch into one record, whose range then also holds changes applied
    // meanwhile (each found applied by its marker). A range within one batch never holds more.
    let most = MAX_BATCH_SIZE as usize;
    let (mut read, mut seen, mut empty) = (ReadBack::default(), 0, 0);
    for _ in 0..MAX_PAGES {
        // A closed shard read to its end: the batch's records were all before it.
        let Some(it) = iterator else { return Ok(read) };
        in_time(until)?;
        let page = streams.get_records().shard_iterator(it).send().await.map_err(streams_error("GetRecords"))?;
        for r in page.records() {
            let seq = r
                .dynamodb()
                .and_then(|d| d.sequence_number())
                .and_then(SequenceNumber::parse)
                .ok_or(RedriveError::NoSequenceNumber)?;
            if seq > batch.end {
                return Ok(read);
            }
            if !batch.covers(&seq) {
                continue;
            }
            let got = change(r, &seq)?;
            if !matches!(got, Ok(None)) {
                if seen == most {
                    return Err(RedriveError::LargerThanABatch { max: MAX_BATCH_SIZE });
                }
                seen += 1;
            }
            match got {
                Ok(Some(c)) => read.changes.push(c),
                Ok(None) => {}
                Err(unread) => {
                    read.unread.get_or_insert(unread);
                }
            }
            if seq == batch.end {
                return Ok(read);
            }
        }
        if page.records().is_empty() {
            empty += 1;
            if empty == MAX_EMPTY_PAGES {
                break;
            }
            tokio::time::sleep(EMPTY_PAGE_PAUSE).await;
        } else {
            empty = 0;
        }
        iterator = page.next_shard_iterator;
    }
    Err(RedriveError::Incomplete)
}

impl Rollups<'_> {
    /// Reads `batch` back from the stream and applies its changes, each once, to the
    /// generations live now (a generation started after a change holds none of its images, so
    /// folding it there adds nothing). A record that cannot be read fails the redrive after
    /// every other change of the batch is applied. No call of the stream, and no transaction,
    /// starts from `until` on ([`RedriveError::out_of_time`]): the caller keeps the time after
    /// it for a call under way and its own answer.
    pub async fn redrive(
        &self,
        streams: &StreamsClient,
        batch: &GivenUp,
        now: OffsetDateTime,
        until: Option<Instant>,
    ) -> Result<Applied, RedriveError> {
        let read = read(streams, batch, until).await?;
        in_time(until)?;
        let live = self.state().await.map_err(RedriveError::State)?.live.at(now);
        let done = self.apply(&read.changes, &live, now, until).await.map_err(RedriveError::Apply)?;
        match read.unread {
            Some(Unread { record, source }) => Err(RedriveError::Unreadable { record, done, source }),
            None => Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::error::{
        ExpiredIteratorException, LimitExceededException, ResourceNotFoundException, TrimmedDataAccessException,
    };

    /// The errors are built, not received: DynamoDB Local keeps its stream's records for the
    /// 24 hours a test cannot wait, so it never trims them.
    #[test]
    fn trimmed_records_and_missing_shards_are_gone_and_other_failures_may_pass() {
        use aws_sdk_dynamodbstreams::Error as E;
        let gone = |e: E| matches!(classify("GetRecords", e), RedriveError::Gone(_));
        assert!(gone(E::TrimmedDataAccessException(TrimmedDataAccessException::builder().build())));
        assert!(gone(E::ResourceNotFoundException(ResourceNotFoundException::builder().build())));
        assert!(!gone(E::LimitExceededException(LimitExceededException::builder().build())));
        assert!(!gone(E::ExpiredIteratorException(ExpiredIteratorException::builder().build())));
    }
}
