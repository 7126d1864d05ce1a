//! The floor of issue 19's CPU ratio: the Python peer's work (`bench/peer/ingest_peer.py`),
//! written by hand in Rust with the least machinery that can do it. Blocking sockets kept alive
//! to the Runtime API and to DynamoDB (no async runtime, no HTTP client library), the envelope
//! parsed into a `serde_json::Value` as the peer's `json.loads`, its substrings classifier and
//! `uuid` v5 key, the same `TransactWriteItems` (the marker's conditional put and the group
//! update) serialized by `serde_json` and signed by `aws-sigv4` (the SDK's own signer), a
//! redelivery told by the cancellation reason. No logging, no retries, no configuration, no
//! validation beyond what the peer does.
//!
//! With `FLOOR_DYNAMODB=sdk` the same transaction goes through the AWS SDK instead (the product's
//! client configuration, `scan_failures_aws::sdk::load`, on a one-thread tokio runtime), all else
//! equal: the difference between the two is what the SDK costs per call. With `FLOOR_RUNTIME=lambda`
//! as well, the invocations come through AWS's runtime client (`lambda_runtime`, as the product's
//! functions run) instead of the blocking loop: the difference is what the runtime client costs.
//!
//! Not a function of the product: it does less than `ingest` (no history, no aggregates, no
//! normalization, no metrics, no log line) and nothing a real function must (retries,
//! credential refresh, error classification). Its CPU per event, measured beside `ingest` and
//! the peer in `bench process-cpu`, shows what a rewrite of `ingest` on this machine could hope
//! for: a rewrite does at least this work (one implementation of it, not a proven minimum).

#[path = "../http.rs"]
#[allow(dead_code)]
mod http;

use std::io::BufReader;
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{json, Value};
use uuid::Uuid;

const RETENTION_SECONDS: u64 = 4 * 86_400;
const MARKER_SECONDS: u64 = 20 * 86_400;
/// The peer's `NAMESPACE` (`uuid.NAMESPACE_URL`).
const NAMESPACE: Uuid = Uuid::NAMESPACE_URL;
const REASONS: [(&str, &str); 7] = [
    ("unauthorized", "REGISTRY_UNAUTHORIZED"),
    ("not found", "IMAGE_NOT_FOUND"),
    ("deadline exceeded", "TIMEOUT"),
    ("timeout", "TIMEOUT"),
    ("too many requests", "RATE_LIMITED"),
    ("no image integration", "NO_REGISTRY_INTEGRATION"),
    ("scanner", "SCANNER_UNAVAILABLE"),
];

/// One kept-alive connection: requests written whole, responses read whole.
struct Connection {
    host: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(host: &str) -> Self {
        let stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
        let _ = stream.set_nodelay(true);
        let reader = BufReader::new(stream.try_clone().unwrap_or_else(|e| panic!("{e}")));
        Self { host: host.to_owned(), reader, writer: stream }
    }

    fn exchange(&mut self, start: &str, mut headers: Vec<(String, String)>, body: &[u8]) -> Option<http::Message> {
        headers.push(("host".to_owned(), self.host.clone()));
        http::write_message(&mut self.writer, start, &headers, body).ok()?;
        http::read_message(&mut self.reader, true).ok().flatten()
    }
}

fn classify(message: &str) -> &'static str {
    let lower = message.to_lowercase();
    REASONS.iter().find(|(needle, _)| lower.contains(needle)).map_or("UNKNOWN", |(_, reason)| reason)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap_or("")
}

fn truncated(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// Where the transaction goes: hand-signed over a kept-alive socket, or through the SDK.
enum DynamoDb {
    ByHand { connection: Connection, identity: Identity, region: String },
    Sdk { runtime: tokio::runtime::Runtime, client: aws_sdk_dynamodb::Client },
}

/// What the transaction's outcome was, as the peer tells it.
enum Written {
    Recorded,
    Duplicate,
}

/// The transaction's two items, as the peer's fields give them.
struct Transaction<'a> {
    table: &'a str,
    event_id: &'a str,
    group: String,
    occurred: &'a str,
    image: &'a str,
    reason: &'a str,
    message: &'a str,
    operation: &'a str,
    origin: &'a str,
    now: u64,
}

const UPDATE: &str = "ADD numOccurrences :one SET lastOccurredAt = :t, \
    firstOccurredAt = if_not_exists(firstOccurredAt, :t), image = :image, reason = :reason, \
    message = :message, #op = :op, origin = :origin, expiresAt = :expires";

impl DynamoDb {
    fn write(&mut self, t: &Transaction) -> Result<Written, String> {
        match self {
            Self::ByHand { connection, identity, region } => by_hand(connection, identity, region, t),
            Self::Sdk { runtime, client } => runtime.block_on(through_sdk(client, t)),
        }
    }
}

async fn through_sdk(client: &aws_sdk_dynamodb::Client, t: &Transaction<'_>) -> Result<Written, String> {
    use aws_sdk_dynamodb::types::{AttributeValue as V, Put, ReturnConsumedCapacity, TransactWriteItem, Update};
    let s = |v: &str| V::S(v.to_owned());
    let n = |v: u64| V::N(v.to_string());
    let put = Put::builder()
        .table_name(t.table)
        .item("pk", s(&format!("peer-seen#{}", t.event_id)))
        .item("expiresAt", n(t.now + MARKER_SECONDS))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| e.to_string())?;
    let update = Update::builder()
        .table_name(t.table)
        .key("pk", s(&format!("peer-group#{}", t.group)))
        .update_expression(UPDATE)
        .expression_attribute_names("#op", "operation")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":t", s(t.occurred))
        .expression_attribute_values(":image", s(t.image))
        .expression_attribute_values(":reason", s(t.reason))
        .expression_attribute_values(":message", s(t.message))
        .expression_attribute_values(":op", s(t.operation))
        .expression_attribute_values(":origin", s(t.origin))
        .expression_attribute_values(":expires", n(t.now + RETENTION_SECONDS))
        .build()
        .map_err(|e| e.to_string())?;
    let result = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(update).build())
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await;
    match result {
        Ok(_) => Ok(Written::Recorded),
        Err(e) => {
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
            let duplicate = matches!(e.as_service_error(), Some(E::TransactionCanceledException(c))
                if c.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed"));
            if duplicate {
                Ok(Written::Duplicate)
            } else {
                Err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            }
        }
    }
}

fn by_hand(dynamodb: &mut Connection, identity: &Identity, region: &str, t: &Transaction) -> Result<Written, String> {
    let body = json!({
        "TransactItems": [
            {"Put": {
                "TableName": t.table,
                "Item": {"pk": {"S": format!("peer-seen#{}", t.event_id)}, "expiresAt": {"N": (t.now + MARKER_SECONDS).to_string()}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Update": {
                "TableName": t.table,
                "Key": {"pk": {"S": format!("peer-group#{}", t.group)}},
                "UpdateExpression": UPDATE,
                "ExpressionAttributeNames": {"#op": "operation"},
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":t": {"S": t.occurred},
                    ":image": {"S": t.image},
                    ":reason": {"S": t.reason},
                    ":message": {"S": t.message},
                    ":op": {"S": t.operation},
                    ":origin": {"S": t.origin},
                    ":expires": {"N": (t.now + RETENTION_SECONDS).to_string()},
                },
            }},
        ],
        "ReturnConsumedCapacity": "TOTAL",
    })
    .to_string();
    let mut headers = vec![
        ("content-type".to_owned(), "application/x-amz-json-1.0".to_owned()),
        ("x-amz-target".to_owned(), "DynamoDB_20120810.TransactWriteItems".to_owned()),
    ];
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("dynamodb")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = format!("http://{}/", dynamodb.host);
    let signable = SignableRequest::new(
        "POST",
        &uri,
        std::iter::once(("host", dynamodb.host.as_str())).chain(headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    headers.extend(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())));
    let response = dynamodb.exchange("POST / HTTP/1.1", headers, body.as_bytes()).ok_or("no response from DynamoDB")?;
    if response.status() == 200 {
        return Ok(Written::Recorded);
    }
    let error: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let canceled = error["__type"].as_str().is_some_and(|t| t.ends_with("TransactionCanceledException"));
    if canceled && error["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed" {
        return Ok(Written::Duplicate);
    }
    Err(format!("DynamoDB answered {}: {}", response.status(), String::from_utf8_lossy(&response.body)))
}

/// What the peer's handler decides before it writes: nothing to write for a success, else the
/// transaction.
enum Plan<'a> {
    Ignored(Value),
    Write(Transaction<'a>),
}

fn plan<'a>(event: &'a Value, table: &'a str) -> Plan<'a> {
    let detail = &event["detail"];
    let id = text(event, &["id"]);
    if detail.get("error").is_none() {
        return Plan::Ignored(json!({"result": "ignored_success", "eventId": id}));
    }
    let image = truncated(text(detail, &["image", "name"]), 1024);
    let message = truncated(text(detail, &["error", "message"]), 2048);
    let reason = classify(message);
    let group = Uuid::new_v5(&NAMESPACE, format!("{image}\n{reason}\n{message}").as_bytes()).to_string();
    let occurred = match text(detail, &["occurredAt"]) {
        "" => text(event, &["time"]),
        t => t,
    };
    Plan::Write(Transaction {
        table,
        event_id: id,
        group,
        occurred,
        image,
        reason,
        message,
        operation: text(detail, &["operation"]),
        origin: text(detail, &["origin"]),
        now: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    })
}

/// The peer's answer once the transaction is written.
fn answer(t: &Transaction, written: Written) -> Value {
    match written {
        Written::Recorded => {
            json!({"result": "recorded", "eventId": t.event_id, "groupId": t.group, "reason": t.reason})
        }
        Written::Duplicate => json!({"result": "duplicate", "eventId": t.event_id, "groupId": t.group}),
    }
}

/// The peer's handler on the blocking loop.
fn handle(event: &Value, table: &str, dynamodb: &mut DynamoDb) -> Result<Value, String> {
    match plan(event, table) {
        Plan::Ignored(answer) => Ok(answer),
        Plan::Write(t) => Ok(answer(&t, dynamodb.write(&t)?)),
    }
}

/// The same behind AWS's runtime client, through the SDK.
fn with_runtime_client(table: String) -> ! {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("tokio: {e}"));
    let result = runtime.block_on(async {
        let config = scan_failures_aws::sdk::load(Default::default()).await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        let (client, table) = (&client, table.as_str());
        lambda_runtime::run(lambda_runtime::service_fn(move |e: lambda_runtime::LambdaEvent<Value>| async move {
            match plan(&e.payload, table) {
                Plan::Ignored(answer) => Ok::<Value, lambda_runtime::Error>(answer),
                Plan::Write(t) => Ok(answer(&t, through_sdk(client, &t).await?)),
            }
        }))
        .await
    });
    panic!("the runtime client stopped: {result:?}")
}

fn main() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let api = env("AWS_LAMBDA_RUNTIME_API");
    let table = env("TABLE_NAME");
    let region = env("AWS_REGION");
    let endpoint = env("AWS_ENDPOINT_URL_DYNAMODB");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    if std::env::var("FLOOR_RUNTIME").as_deref() == Ok("lambda") {
        with_runtime_client(table);
    }
    let mut dynamodb = if std::env::var("FLOOR_DYNAMODB").as_deref() == Ok("sdk") {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("tokio: {e}"));
        let config = runtime.block_on(scan_failures_aws::sdk::load(Default::default()));
        DynamoDb::Sdk { runtime, client: aws_sdk_dynamodb::Client::new(&config) }
    } else {
        let identity: Identity =
            Credentials::new(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), None, None, "environment").into();
        DynamoDb::ByHand { connection: Connection::open(host), identity, region }
    };
    let mut runtime = Connection::open(&api);
    loop {
        let Some(next) = runtime.exchange("GET /2018-06-01/runtime/invocation/next HTTP/1.1", vec![], b"") else {
            return;
        };
        let id = next.header("lambda-runtime-aws-request-id").unwrap_or("").to_owned();
        let event: Value = serde_json::from_slice(&next.body).unwrap_or_default();
        let (start, headers, body) = match handle(&event, &table, &mut dynamodb) {
            Ok(answer) => (format!("POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1"), vec![], answer),
            Err(message) => (
                format!("POST /2018-06-01/runtime/invocation/{id}/error HTTP/1.1"),
                vec![("lambda-runtime-function-error-type".to_owned(), "Unhandled".to_owned())],
                json!({"errorType": "Unhandled", "errorMessage": message}),
            ),
        };
        if runtime.exchange(&start, headers, body.to_string().as_bytes()).is_none() {
            return;
        }
    }
}
