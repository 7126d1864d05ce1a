//! One function process measured over a stream of invocations: started on its own Runtime API
//! (as Lambda starts an execution environment), timed from exec to its first poll, then fed
//! `payloads` one at a time; its CPU (user + system, every thread, from `/proc`) is read at the
//! first poll and after the last answer, its peak RSS before it is stopped. With
//! `BENCH_PERF_DIR` set, `perf record` samples it over the same window (`make profile`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::function::{self, Function};
use crate::ingest::drive;
use crate::report::ms;
use crate::runtime_api::{RuntimeApi, Seen};

/// How to start the process.
pub struct Spec {
    pub label: String,
    /// The Lambda function name it plays (`ingest`, `api`).
    pub function: &'static str,
    pub program: PathBuf,
    pub args: Vec<&'static str>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(&'static str, String)>,
}

impl Spec {
    /// A release binary of this workspace.
    pub fn binary(label: &str, function: &'static str, env: Vec<(&'static str, String)>) -> Self {
        Self { label: label.to_owned(), function, program: function::binary(function), args: vec![], dir: None, env }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub init_ms: f64,
    /// User and system CPU over the run; `system_s` is the system part alone.
    pub cpu_s: f64,
    pub system_s: f64,
    pub invocations: usize,
    pub peak_rss_kib: u64,
    pub wall: Duration,
    pub log: PathBuf,
    /// Failed invocations, by error type.
    pub errors: usize,
    pub first_error: Option<String>,
}

impl Measured {
    /// CPU per invocation, in microseconds.
    pub fn cpu_us_per_invocation(&self) -> f64 {
        self.cpu_s * 1e6 / self.invocations.max(1) as f64
    }

    /// The kernel's part of [`Self::cpu_us_per_invocation`].
    pub fn system_us_per_invocation(&self) -> f64 {
        self.system_s * 1e6 / self.invocations.max(1) as f64
    }
}

/// `perf record` of process `pid` into `out` (frame-pointer call graphs), until SIGINT: only
/// with `BENCH_PERF_DIR` set (`make profile`), over the same window as the CPU figure.
fn profile(pid: u32, out: &Path) -> std::process::Child {
    let child = std::process::Command::new("perf")
        .args(["record", "-q", "-F", "1999", "--call-graph", "fp", "-p", &pid.to_string(), "-o"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("perf record: {e}"));
    // Let perf attach before the first invocation.
    std::thread::sleep(Duration::from_millis(300));
    child
}

pub fn measure(spec: &Spec, payloads: &[Arc<Vec<u8>>], logs: &Path) -> Measured {
    let api = RuntimeApi::start(spec.function).unwrap_or_else(|e| panic!("runtime api: {e}"));
    let mut env = spec.env.clone();
    env.extend(function::runtime_env(spec.function, &api.address()));
    let log = logs.join(format!("{}.log", spec.label));
    let start = Instant::now();
    let mut p = Function::spawn_with(&spec.program, &spec.args, spec.dir.as_deref(), &env, &log);
    let polled = loop {
        match api.next_seen(Duration::from_millis(50)) {
            Some(Seen::Poll { at }) => break at,
            Some(Seen::InitError { body }) => panic!("{} failed to start: {body}", spec.label),
            None => {
                if let Some(status) = p.exited() {
                    panic!("{} exited before polling ({status}); see {}", spec.label, log.display());
                }
                assert!(start.elapsed() < Duration::from_secs(60), "{} did not poll within 60 s", spec.label);
            }
        }
    };
    let perf = std::env::var_os("BENCH_PERF_DIR")
        .map(|dir| profile(p.pid(), &Path::new(&dir).join(format!("{}.data", spec.label))));
    let before = p.cpu_seconds().unwrap_or_else(|| panic!("no /proc figures for {}", spec.label));
    let run = drive(&api, payloads, 1);
    let after = p.cpu_seconds().unwrap_or_else(|| panic!("no /proc figures for {}", spec.label));
    if let Some(mut perf) = perf {
        // perf writes its data on SIGINT.
        let _ = std::process::Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
        let _ = perf.wait();
    }
    let peak_rss_kib = p.peak_rss_kib().unwrap_or(0);
    p.stop();
    Measured {
        init_ms: ms(polled - start),
        cpu_s: (after.0 + after.1) - (before.0 + before.1),
        system_s: after.1 - before.1,
        invocations: payloads.len(),
        peak_rss_kib,
        wall: run.wall,
        log,
        errors: run.errors.values().sum(),
        first_error: run.first_error,
    }
}
