//! Function processes under test: the release binaries started as Lambda starts a custom
//! runtime, pointed at the local Runtime API, each stopped by its own pid.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where the release binaries are (`BENCH_BIN_DIR`, default `target/release`).
pub fn bin_dir() -> PathBuf {
    std::env::var("BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| integration_tests::repo_root().join("target/release"))
}

pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.is_file(), "{} is missing: build it with `cargo build --release -p ingest -p api -p bench`", p.display());
    p
}

/// The environment Lambda gives a custom runtime.
pub fn runtime_env(function: &str, runtime_api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
}

pub struct Function {
    pub child: Child,
    pub log: PathBuf,
}

impl Function {
    /// Starts `binary` with a clean environment plus `env`; stdout and stderr go to `log`.
    pub fn spawn(binary: &Path, env: &[(&str, String)], log: &Path) -> Self {
        Self::spawn_with(binary, &[], None, env, log)
    }

    /// [`Self::spawn`] with arguments and a working directory (an interpreter and its module).
    pub fn spawn_with(binary: &Path, args: &[&str], dir: Option<&Path>, env: &[(&str, String)], log: &Path) -> Self {
        let out = File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(binary);
        cmd.args(args);
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Self { child, log: log.to_owned() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_field(self.pid(), "VmHWM:")
    }

    /// CPU time the process has used so far, every thread, as (user, system) seconds
    /// (`/proc/<pid>/stat` fields 14 and 15, in clock ticks): system is the kernel's work on
    /// the process's behalf (its sockets, its waits), which no change in user space removes
    /// short of making fewer or cheaper system calls.
    pub fn cpu_seconds(&self) -> Option<(f64, f64)> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // The command name (field 2) may hold spaces: count from the closing parenthesis.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let (user, system): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
        Some((user as f64 / clock_ticks_per_second(), system as f64 / clock_ticks_per_second()))
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process (SIGKILL, as Lambda ends an execution environment) and reaps it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `getconf CLK_TCK` (100 on Linux unless the kernel says otherwise).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The JSON log lines a function wrote (tracing's JSON format: event fields under `fields`).
pub fn log_events(log: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| match v.get("fields") {
            Some(f) if f.is_object() => f.clone(),
            _ => v,
        })
        .collect()
}
