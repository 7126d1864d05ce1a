//! Running the scanner: its standard input and output are the terminal's, its standard error
//! reaches the terminal as it is written and its end is kept ([`Tail`]) to read what failed.

use std::process::Stdio;

use thiserror::Error;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::stderr::{Tail, CAPTURE_BYTES};

/// How the scanner ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit code, or 128 + n when signal n ended it (as shells report it).
    pub code: i32,
    /// The end of its standard error.
    pub stderr: Tail,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost the standard error of {program}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// The shell's codes: 127 for a command not found, 126 for one that cannot be run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }
}

/// Runs `program` with `args` to its end.
pub async fn run(program: &str, args: &[String]) -> Result<Finished, RunError> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn { program: program.to_owned(), source })?;
    let io = |source| RunError::Io { program: program.to_owned(), source };
    let mut tail = Tail::new(CAPTURE_BYTES);
    if let Some(mut pipe) = child.stderr.take() {
        let mut terminal = tokio::io::stderr();
        let mut buffer = vec![0_u8; 8192];
        loop {
            let n = pipe.read(&mut buffer).await.map_err(io)?;
            if n == 0 {
                break;
            }
            tail.push(&buffer[..n]);
            // The terminal going away must not stop the scanner: its output is still kept.
            let _ = terminal.write_all(&buffer[..n]).await;
            let _ = terminal.flush().await;
        }
    }
    let status = child.wait().await.map_err(io)?;
    Ok(Finished { code: exit_code(status), stderr: tail })
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status.code().or_else(|| status.signal().map(|n| 128 + n)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".to_owned(), script.to_owned()]
    }

    #[tokio::test]
    async fn the_exit_code_and_the_standard_error_are_the_scanners() {
        let done = run("sh", &sh("echo out; echo 'ERROR:\tboom' >&2; exit 3")).await.unwrap();
        assert_eq!(done.code, 3);
        assert_eq!(done.stderr.text(), "ERROR:\tboom\n");
    }

    #[tokio::test]
    async fn a_scanner_killed_by_a_signal_exits_128_plus_its_number() {
        let done = run("sh", &sh("kill -TERM $$")).await.unwrap();
        assert_eq!(done.code, 128 + 15);
    }

    #[tokio::test]
    async fn a_missing_scanner_is_127_and_named() {
        let err = run("/nonexistent/roxctl", &[]).await.unwrap_err();
        assert_eq!((err.exit_code(), err.to_string()), (127, "cannot run /nonexistent/roxctl".to_owned()));
    }
}
