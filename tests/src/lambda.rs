//! cargo-lambda serving the built function binaries as Lambda runs them.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::net::{free_port, wait_for_listener};
use crate::stack::{dynamodb_endpoint, local_env, repo_root, unique_name, INSTALL_HINT};

/// The `cargo-lambda` installed by `scripts/tools.sh`.
pub fn cargo_lambda() -> PathBuf {
    let bin = repo_root().join(".tools/venv/bin/cargo-lambda");
    assert!(bin.is_file(), "cargo-lambda is not installed at {}: {INSTALL_HINT}", bin.display());
    bin
}

/// The debug build of a function binary, built on first use.
pub fn function_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "ingest", "-p", "api", "-p", "rollup", "--bins"])
            .current_dir(repo_root())
            .status()
            .unwrap_or_else(|e| panic!("cargo build: {e}"));
        assert!(status.success(), "cargo build of the function binaries failed");
        // Apart: built with the others, its `inspector` feature would be compiled into theirs.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "maintenance", "--bins"])
            .current_dir(repo_root())
            .status()
            .unwrap_or_else(|e| panic!("cargo build: {e}"));
        assert!(status.success(), "cargo build of the maintenance binary failed");
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

/// The JSON lines of a function's log written by [`Watch::start_logged`] (EMF documents and
/// log lines alike; tracing's fields under `fields`).
pub fn json_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
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
        // Owned before anything can panic: a failed start stops what it started (Drop).
        let mut this = Self { watch, functions: Vec::new(), port };
        if let Err(why) = wait_for_listener(&mut this.watch, port, Duration::from_secs(120)) {
            panic!("cargo lambda watch did not start: {why}; {INSTALL_HINT}");
        }
        let endpoint = endpoint.map_or_else(|| dynamodb_endpoint().to_owned(), str::to_owned);
        for name in functions {
            this.functions.push(
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
                    .unwrap_or_else(|e| panic!("start {name}: {e}")),
            );
        }
        this
    }

    /// Invokes `ingest` with `cargo lambda invoke`.
    pub fn invoke(&self, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        self.invoke_function("ingest", payload)
    }

    /// Invokes a function with `cargo lambda invoke`; `Err` carries the function's error.
    pub fn invoke_function(&self, function: &str, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        let file = std::env::temp_dir().join(format!("{}.json", unique_name("invoke")));
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
        invoke_http(self.port, function, payload)
    }
}

/// Invokes `function` through the Lambda Invoke API of the `cargo lambda watch` on `port`.
/// `Err` carries a function error or an HTTP failure.
pub fn invoke_http(port: u16, function: &str, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
    use std::io::{Read, Write};
    let body = payload.to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
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
    let text =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_owned() };
    let value: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| format!("{e}: {head} {text}"))?;
    if ok && value.get("errorType").is_none() {
        Ok(value)
    } else {
        Err(value.to_string())
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
