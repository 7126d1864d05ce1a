//! The `scanfail` binary (built on first use) run as a user runs it: a clean environment with
//! only what a test gives it, and its exit code, standard output and standard error.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::stack::repo_root;

/// The debug build of `scanfail`.
pub fn scanfail_binary() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "scanfail", "--bin", "scanfail"])
            .current_dir(repo_root())
            .status()
            .unwrap_or_else(|e| panic!("cargo build: {e}"));
        assert!(status.success(), "cargo build of scanfail failed");
    });
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join("target"));
    target.join("debug").join("scanfail")
}

/// How a run ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `scanfail args…` with exactly `env` (plus `PATH`, with `path_first` in front), so no
/// credentials or configuration of the machine reach it: the AWS config files point nowhere
/// and the instance metadata service is off.
pub fn command(args: &[&str], env: &[(&str, String)], path_first: Option<&std::path::Path>) -> Command {
    let path = std::env::var("PATH").unwrap_or_default();
    let path = match path_first {
        Some(dir) => format!("{}:{path}", dir.display()),
        None => path,
    };
    let mut command = Command::new(scanfail_binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

/// Runs [`command`] to its end.
pub fn scanfail(args: &[&str], env: &[(&str, String)], path_first: Option<&std::path::Path>) -> Ran {
    let out = command(args, env, path_first).output().unwrap_or_else(|e| panic!("run scanfail: {e}"));
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
