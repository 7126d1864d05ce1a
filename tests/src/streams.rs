//! The table's stream, locally: a poller that reads DynamoDB Local's stream and invokes a
//! function with it as Lambda's event source mapping for DynamoDB streams does:
//!
//! - each shard in order, a parent before its children; batches of up to `batch_size` records
//!   in Lambda's event format, after the mapping's filter (`pk` starting with `g#`, as the
//!   template's `FilterCriteria`): records filtered out are passed over;
//! - `ReportBatchItemFailures`: the records before the first reported failure are
//!   checkpointed, and the rest is retried whole from it, as one retry ("the batch is bisected
//!   at the returned sequence number and Lambda retries only the remaining records"); a
//!   reported failure that names no record of the part (empty, missing) fails the part whole;
//! - a part that fails with a function error is bisected (`BisectBatchOnFunctionError`) when it
//!   holds more than one record, and each half delivered, the first first;
//! - a part retried `max_retries` times is described on the failure destination (a JSON-lines
//!   file, and an SQS queue when one is given, as the template's) with Lambda's fields (stream,
//!   shard, first and last sequence numbers, batch size, when it gave up) and passed over
//!   (`MaximumRetryAttempts`, `DestinationConfig.OnFailure`), before any later record's
//!   checkpoint;
//! - at least once: the checkpoint (per shard, the last sequence number handled) is written to
//!   its file after each batch, so a poller killed between an invocation and its checkpoint
//!   delivers that batch again when restarted.
//!
//! `die_after_invocations` makes the poller exit (code 9) right after its n-th successful
//! invocation and before writing that checkpoint: the fault the exactness test injects.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::lambda::invoke_http;

/// How the poller runs.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub table: String,
    pub function: String,
    pub lambda_port: u16,
    /// The checkpoint file (shard id → last sequence number handled).
    pub state: PathBuf,
    /// The failure destination: one JSON line per batch given up.
    pub failures: PathBuf,
    /// The failure destination's queue (moto's), where each line is sent too.
    pub failure_queue_url: Option<String>,
    pub batch_size: i32,
    pub max_retries: u32,
    pub die_after_invocations: Option<u64>,
}

/// The batches given up so far on a poller's failure file (`PollerConfig::failures`): its
/// newline-ended lines, parsed; none when there is no file yet. A last line without its newline
/// is still being written and is left for the next read.
pub fn given_up(failures: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(failures).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", failures.display())))
        .collect()
}

/// One call of the DynamoDB Streams API of DynamoDB Local at `endpoint` (`http://host:port`),
/// as JSON over HTTP. (Not the SDK: DynamoDB Local 3.x writes an empty map of a stream image as
/// `{}` rather than `{"M": {}}`, which the SDK's strict union parser refuses; see
/// [`repair_empty_maps`].)
fn streams_call(endpoint: &str, operation: &str, body: &Value) -> Result<Value, String> {
    json_call(endpoint, &format!("DynamoDBStreams_20120810.{operation}"), body)
}

/// One call of DynamoDB Local's JSON API at `endpoint`, `target` naming the operation
/// (`DynamoDB_20120810.GetItem`): the answer as the wire has it, attribute values in DynamoDB's
/// JSON (what item sizes are computed from). DynamoDB Local checks no signature.
pub fn json_call(endpoint: &str, target: &str, body: &Value) -> Result<Value, String> {
    use std::io::{Read, Write};
    let operation = target.rsplit('.').next().unwrap_or(target);
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| format!("{operation}: connect {host}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: {target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("{operation}: {e}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("{operation}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, payload) = text.split_once("\r\n\r\n").ok_or_else(|| format!("{operation}: no HTTP response"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{operation}: {} {payload}", head.lines().next().unwrap_or_default()));
    }
    serde_json::from_str(payload).map_err(|e| format!("{operation}: {e}: {payload}"))
}

/// Writes every attribute value `{}` of a stream image as the empty map it stands for.
pub fn repair_empty_maps(image: &mut Value) {
    fn value(v: &mut Value) {
        if v.as_object().is_some_and(|o| o.is_empty()) {
            *v = json!({"M": {}});
        } else if let Some(m) = v.get_mut("M").and_then(Value::as_object_mut) {
            m.values_mut().for_each(value);
        } else if let Some(l) = v.get_mut("L").and_then(Value::as_array_mut) {
            l.iter_mut().for_each(value);
        }
    }
    if let Some(attributes) = image.as_object_mut() {
        attributes.values_mut().for_each(value);
    }
}

/// One stream record in the event format Lambda delivers: the record as the stream gives it,
/// with its images repaired and the stream's ARN.
pub fn record_json(record: &Value, stream_arn: &str) -> Value {
    let mut r = record.clone();
    for image in ["Keys", "NewImage", "OldImage"] {
        if let Some(i) = r["dynamodb"].get_mut(image) {
            repair_empty_maps(i);
        }
    }
    r["eventSourceARN"] = json!(stream_arn);
    r["awsRegion"] = json!("us-east-1");
    r
}

/// The template's filter: records of group items only.
fn passes_filter(r: &Value) -> bool {
    r["dynamodb"]["Keys"]["pk"]["S"].as_str().is_some_and(|pk| pk.starts_with("g#"))
}

fn sequence(r: &Value) -> String {
    r["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default().to_owned()
}

/// The shards of stream `arn`, every page of them.
pub fn shards(endpoint: &str, arn: &str) -> Result<Vec<Value>, String> {
    let mut shards: Vec<Value> = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let mut body = json!({"StreamArn": arn});
        if let Some(s) = start.take() {
            body["ExclusiveStartShardId"] = json!(s);
        }
        let out = streams_call(endpoint, "DescribeStream", &body)?;
        let d = &out["StreamDescription"];
        shards.extend(d["Shards"].as_array().cloned().unwrap_or_default());
        start = d["LastEvaluatedShardId"].as_str().map(str::to_owned);
        if start.is_none() {
            return Ok(shards);
        }
    }
}

/// Every record of stream `arn` so far, of every shard from its start, that passes the
/// template's filter, in Lambda's event format: for reading a finished workload's stream whole
/// (a benchmark), where [`Poller`] follows it as it grows.
pub fn records_so_far(endpoint: &str, arn: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for shard in shards(endpoint, arn)?.iter().filter_map(|s| s["ShardId"].as_str()) {
        let body = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
        let mut iterator =
            streams_call(endpoint, "GetShardIterator", &body)?["ShardIterator"].as_str().map(str::to_owned);
        while let Some(it) = iterator {
            let page = streams_call(endpoint, "GetRecords", &json!({"ShardIterator": it, "Limit": 1000}))?;
            let records = page["Records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                break;
            }
            out.extend(records.iter().filter(|r| passes_filter(r)).map(|r| record_json(r, arn)));
            iterator = page["NextShardIterator"].as_str().map(str::to_owned);
        }
    }
    Ok(out)
}

/// What the poller did, for its log.
#[derive(Debug, Default)]
struct Tally {
    invocations: u64,
    bisections: u64,
}

pub struct Poller {
    config: PollerConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    endpoint: String,
    checkpoints: BTreeMap<String, String>,
    done: HashSet<String>,
    tally: Tally,
    /// The stream and shard being delivered, and the batches given up, to describe.
    delivering: (String, String),
    given_up: Vec<Value>,
}

impl Poller {
    pub fn new(config: PollerConfig, endpoint: &str) -> Self {
        let checkpoints =
            std::fs::read_to_string(&config.state).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        Self {
            config,
            dynamodb: crate::stack::dynamodb_client(endpoint),
            endpoint: endpoint.to_owned(),
            checkpoints,
            done: HashSet::new(),
            tally: Tally::default(),
            delivering: Default::default(),
            given_up: Vec::new(),
        }
    }

    /// Polls until the process is stopped.
    pub async fn run(mut self) -> Result<(), String> {
        let arn = self
            .dynamodb
            .describe_table()
            .table_name(&self.config.table)
            .send()
            .await
            .map_err(|e| format!("DescribeTable: {e:?}"))?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or("the table has no stream")?;
        eprintln!("poller: reading {arn}; checkpoints {:?}", self.checkpoints);
        loop {
            // As the event source mapping, a failed read of the stream is retried, never fatal
            // (DynamoDB Local answers TrimmedDataAccessException now and then on a fresh shard).
            let busy = self.poll_once(&arn).await.unwrap_or_else(|e| {
                eprintln!("poller: {e}; retrying");
                false
            });
            if !busy {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// One pass over the shards; whether any record was delivered.
    async fn poll_once(&mut self, arn: &str) -> Result<bool, String> {
        let shards = shards(&self.endpoint, arn)?;
        let ids: HashSet<String> = shards.iter().filter_map(|s| s["ShardId"].as_str().map(str::to_owned)).collect();
        let mut busy = false;
        for shard in &shards {
            let Some(id) = shard["ShardId"].as_str() else { continue };
            let parent_pending =
                shard["ParentShardId"].as_str().is_some_and(|p| ids.contains(p) && !self.done.contains(p));
            if self.done.contains(id) || parent_pending {
                continue;
            }
            let closed = shard["SequenceNumberRange"]["EndingSequenceNumber"].is_string();
            let delivered = self.poll_shard(arn, id).await?;
            busy |= delivered;
            if closed && !delivered {
                self.done.insert(id.to_owned());
            }
        }
        Ok(busy)
    }

    /// Reads the next records of one shard after its checkpoint and delivers them.
    async fn poll_shard(&mut self, arn: &str, shard: &str) -> Result<bool, String> {
        let mut body = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
        if let Some(seq) = self.checkpoints.get(shard) {
            body["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
            body["SequenceNumber"] = json!(seq);
        }
        let out = streams_call(&self.endpoint, "GetShardIterator", &body)?;
        let Some(iterator) = out["ShardIterator"].as_str() else { return Ok(false) };
        let out = streams_call(
            &self.endpoint,
            "GetRecords",
            &json!({"ShardIterator": iterator, "Limit": self.config.batch_size}),
        )?;
        let records = out["Records"].as_array().cloned().unwrap_or_default();
        let Some(last) = records.last().map(sequence) else { return Ok(false) };
        let wanted: Vec<&Value> = records.iter().filter(|r| passes_filter(r)).collect();
        if !wanted.is_empty() {
            self.deliver(arn, shard, &wanted).await?;
        }
        self.checkpoint(shard, &last);
        Ok(true)
    }

    /// Delivers one batch until every record is handled, retrying and bisecting as the event
    /// source mapping does.
    async fn deliver(&mut self, arn: &str, shard: &str, batch: &[&Value]) -> Result<(), String> {
        self.delivering = (arn.to_owned(), shard.to_owned());
        // Parts still to deliver, the next on top, each with its retries so far.
        let mut parts: Vec<(Vec<&Value>, u32)> = vec![(batch.to_vec(), 0)];
        while let Some((part, retries)) = parts.pop() {
            let payload = json!({"Records": part.iter().map(|r| record_json(r, arn)).collect::<Vec<_>>()});
            match invoke_http(self.config.lambda_port, &self.config.function, &payload) {
                Ok(response) => {
                    self.tally.invocations += 1;
                    if self.config.die_after_invocations == Some(self.tally.invocations) {
                        eprintln!("poller: dying after invocation {} before its checkpoint", self.tally.invocations);
                        std::process::exit(9);
                    }
                    // Each reported failure's place in the part. One that names no record of
                    // it (empty, missing, another batch's) fails the part whole, as Lambda reads
                    // such an answer: counted a success, it would pass over a record unhandled.
                    let places: Vec<Option<usize>> = response["batchItemFailures"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .map(|f| {
                                    f["itemIdentifier"]
                                        .as_str()
                                        .and_then(|seq| part.iter().position(|r| sequence(r) == seq))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if places.iter().any(Option::is_none) {
                        eprintln!("poller: a failure report names no record of the batch: {response}");
                        self.retry_or_give_up(&mut parts, part, retries, "a failure report naming no record");
                        self.describe_given_up().await;
                        continue;
                    }
                    match places.into_iter().flatten().min() {
                        None => {
                            if let Some(r) = part.last() {
                                self.checkpoint(shard, &sequence(r));
                            }
                        }
                        Some(at) => {
                            if at > 0 {
                                self.checkpoint(shard, &sequence(part[at - 1]));
                            }
                            self.retry_or_give_up(&mut parts, part[at..].to_vec(), retries, "a reported failure");
                        }
                    }
                }
                Err(error) => {
                    eprintln!("poller: function error on {} records: {error}", part.len());
                    self.bisect_or_retry(&mut parts, part, retries, &error);
                }
            }
            // Described before any later part moves the checkpoint past what was given up, as
            // Lambda sends its on-failure record before going on: a poller stopped after that
            // checkpoint would never see those records again, nor say they were lost.
            self.describe_given_up().await;
        }
        Ok(())
    }

    /// Writes the parts given up so far to the failure destination.
    async fn describe_given_up(&mut self) {
        for line in std::mem::take(&mut self.given_up) {
            self.describe(&line).await;
        }
    }

    /// Writes one given-up batch to the failure destination: its file, and its queue if any.
    /// The line goes in one `write` (a `writeln!` of the value is dozens of small ones), so a
    /// test reading the file while the poller runs sees whole lines or a torn last one, which
    /// [`given_up`] leaves out.
    async fn describe(&self, line: &Value) {
        use std::io::Write as _;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.failures)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            eprintln!("poller: cannot write the failure destination: {e}");
        }
        let Some(url) = &self.config.failure_queue_url else { return };
        let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        let sqs = aws_sdk_sqs::Client::new(&crate::bus::moto_config(&origin));
        if let Err(e) = sqs.send_message().queue_url(url).message_body(line.to_string()).send().await {
            eprintln!("poller: cannot send to the failure queue: {e:?}");
        }
    }

    /// A part that failed with a function error: halved when it holds more than one record
    /// (the first half delivered first), else retried or given up.
    fn bisect_or_retry<'r>(
        &mut self,
        parts: &mut Vec<(Vec<&'r Value>, u32)>,
        part: Vec<&'r Value>,
        retries: u32,
        why: &str,
    ) {
        if part.len() > 1 {
            self.tally.bisections += 1;
            eprintln!("poller: bisecting {} records ({why})", part.len());
            let half = part.len() / 2;
            // A halving is not a retry: only a single record's retries count.
            parts.push((part[half..].to_vec(), retries));
            parts.push((part[..half].to_vec(), retries));
        } else {
            self.retry_or_give_up(parts, part, retries, why);
        }
    }

    /// A failed part delivered again, one retry more; after `max_retries`, given up whole.
    fn retry_or_give_up<'r>(
        &mut self,
        parts: &mut Vec<(Vec<&'r Value>, u32)>,
        part: Vec<&'r Value>,
        retries: u32,
        why: &str,
    ) {
        if retries < self.config.max_retries {
            parts.push((part, retries + 1));
            return;
        }
        let (arn, shard) = &self.delivering;
        self.given_up.push(json!({
            "requestContext": {"condition": "RetryAttemptsExhausted", "why": why},
            "timestamp": scan_failures_domain::time_fmt::format(time::OffsetDateTime::now_utc()),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": part.first().map(|r| sequence(r)),
                "endSequenceNumber": part.last().map(|r| sequence(r)),
                "batchSize": part.len(),
                "streamArn": arn,
            },
        }));
        eprintln!("poller: gave up on {} records after {retries} retries", part.len());
    }

    fn checkpoint(&mut self, shard: &str, seq: &str) {
        self.checkpoints.insert(shard.to_owned(), seq.to_owned());
        let text = serde_json::to_string(&self.checkpoints).unwrap_or_default();
        let tmp = self.config.state.with_extension("tmp");
        if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &self.config.state)).is_err() {
            eprintln!("poller: cannot write the checkpoint {}", self.config.state.display());
        }
    }
}
