//! Running the scanner: its standard input and output are the terminal's, its standard error
//! reaches the terminal as it is written and its end is kept ([`Tail`]) to read what failed.

use std::process::Stdio;
use std::time::Duration;

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
    /// The stop signal (SIGHUP, SIGINT or SIGTERM) that `scanfail` caught while the scanner ran,
    /// or that ended the scanner: the scan was cancelled (a CI cancel, `docker stop`, Ctrl-C),
    /// which is no scan failure; or SIGPIPE, when it ended the scanner: what read the scanner's
    /// output stopped reading (`| head`), which is no scan failure either. A scanner that
    /// crashed (SIGSEGV) or was killed (SIGKILL, the kernel's out-of-memory killer among
    /// others) is not stopped: it failed.
    pub stopped: Option<i32>,
}

/// The numbers of the signals that stop a run: SIGHUP, SIGINT, SIGTERM.
pub const STOP_SIGNALS: [i32; 3] = [1, 2, 15];

/// The signal a process gets for writing to a pipe no one reads any more: what ends a Go
/// program (roxctl) whose standard output went to a reader that stopped.
pub const SIGPIPE: i32 = 13;

/// A stop signal's name, for the message.
pub fn signal_name(n: i32) -> &'static str {
    match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        SIGPIPE => "SIGPIPE",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot catch SIGTERM, SIGHUP and SIGINT to pass them on")]
    Signals {
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

/// How long the rest of the scanner's standard error is read once it has exited: a process it
/// left in the background may hold the pipe open for as long as it runs.
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// Runs `program` with `args` to its end. SIGTERM and SIGHUP sent to `scanfail` (caught by
/// `signals`, made before the scanner starts so that one sent as soon as it runs is passed on
/// too) are passed on to the scanner, and `scanfail` waits for it (a CI runner or `docker stop`
/// signals the process it started, not its children); so is SIGINT, unless it came from the
/// terminal `scanfail` runs in the foreground of, whose Ctrl-C reaches the scanner itself. A
/// signal after the scanner ended stays in `signals` for what runs next.
pub async fn run(program: &str, args: &[String], signals: &mut Signals) -> Result<Finished, RunError> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn { program: program.to_owned(), source })?;
    let io = |source| RunError::Io { program: program.to_owned(), source };
    let pid = child.id().and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).ok()?));
    let mut tail = Tail::new(CAPTURE_BYTES);
    let mut caught = None;
    let status = {
        let mut pump = std::pin::pin!(pump(child.stderr.take(), &mut tail));
        let mut pumped = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(io)?,
                done = &mut pump, if !pumped => {
                    done.map_err(io)?;
                    pumped = true;
                }
                (number, forward) = signals.next() => {
                    caught = caught.or(Some(number));
                    if let (Some(signal), Some(pid)) = (forward, pid) {
                        // The scanner may have exited already: nothing to do then.
                        let _ = rustix::process::kill_process(pid, signal);
                    }
                }
            }
        };
        if !pumped {
            if let Ok(done) = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut pump).await {
                done.map_err(io)?;
            }
        }
        status
    };
    let ended_by = {
        use std::os::unix::process::ExitStatusExt as _;
        status.signal().filter(|n| STOP_SIGNALS.contains(n) || *n == SIGPIPE)
    };
    Ok(Finished { code: exit_code(status), stderr: tail, stopped: caught.or(ended_by) })
}

/// Copies the scanner's standard error to ours as it comes, keeping its end in `tail`.
async fn pump(pipe: Option<tokio::process::ChildStderr>, tail: &mut Tail) -> std::io::Result<()> {
    let Some(mut pipe) = pipe else { return Ok(()) };
    let mut terminal = tokio::io::stderr();
    let mut buffer = vec![0_u8; 8192];
    loop {
        let n = pipe.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        tail.push(&buffer[..n]);
        // The terminal going away must not stop the scanner: its output is still kept.
        let _ = terminal.write_all(&buffer[..n]).await;
        let _ = terminal.flush().await;
    }
}

/// The stop signals (SIGHUP, SIGINT, SIGTERM) `scanfail run` catches, from before the scanner
/// starts to its end: one kept for its whole run, since once caught they no longer end the
/// process by themselves, and a receiver made later does not hear one sent before it (a
/// `docker stop` between the scanner's end and the report went unheard).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> Result<Self, RunError> {
        use tokio::signal::unix::{signal, SignalKind};
        let caught = |kind| signal(kind).map_err(|source| RunError::Signals { source });
        Ok(Self {
            term: caught(SignalKind::terminate())?,
            hup: caught(SignalKind::hangup())?,
            int: caught(SignalKind::interrupt())?,
        })
    }

    /// The number of the next signal caught, and what to send the scanner for it (`None`:
    /// nothing).
    pub async fn next(&mut self) -> (i32, Option<rustix::process::Signal>) {
        use rustix::process::Signal;
        tokio::select! {
            Some(()) = self.term.recv() => (15, Some(Signal::TERM)),
            Some(()) = self.hup.recv() => (1, Some(Signal::HUP)),
            Some(()) = self.int.recv() => (2, (!in_the_terminals_foreground()).then_some(Signal::INT)),
        }
    }
}

/// Whether `scanfail` runs in the foreground of its controlling terminal, whose Ctrl-C signals
/// the whole foreground process group, the scanner included: a SIGINT then is not passed on,
/// or the scanner would get it twice. Without a terminal (a CI job, a container), or in the
/// background, a SIGINT was sent to `scanfail` alone (a supervisor's `kill -INT`, a container's
/// `STOPSIGNAL SIGINT`) and is passed on. (A `kill -INT` to a foreground `scanfail` is taken
/// for a Ctrl-C: there is no telling them apart here.)
fn in_the_terminals_foreground() -> bool {
    let Ok(tty) = std::fs::File::open("/dev/tty") else { return false };
    rustix::termios::tcgetpgrp(&tty).is_ok_and(|foreground| foreground == rustix::process::getpgrp())
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status.code().or_else(|| status.signal().map(|n| 128 + n)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> Signals {
        Signals::new().unwrap()
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".to_owned(), script.to_owned()]
    }

    #[tokio::test]
    async fn the_exit_code_and_the_standard_error_are_the_scanners() {
        let done = run("sh", &sh("echo out; echo 'ERROR:\tboom' >&2; exit 3"), &mut signals()).await.unwrap();
        assert_eq!(done.code, 3);
        assert_eq!(done.stderr.text(), "ERROR:\tboom\n");
    }

    #[tokio::test]
    async fn a_scanner_killed_by_a_signal_exits_128_plus_its_number_and_only_a_stop_signal_stopped_it() {
        let done = run("sh", &sh("kill -TERM $$"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stopped), (128 + 15, Some(15)));
        let done = run("sh", &sh("kill -INT $$"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stopped), (128 + 2, Some(2)));
        // Killed (the out-of-memory killer's way) or crashed: a failure, not a cancel.
        let done = run("sh", &sh("kill -KILL $$"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stopped), (128 + 9, None));
        let done = run("sh", &sh("kill -SEGV $$"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stopped), (128 + 11, None));
        // Its reader went away: no failure either.
        let done = run("sh", &sh("kill -PIPE $$"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stopped), (128 + 13, Some(13)));
        let done = run("sh", &sh("exit 143"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stopped), (143, None));
    }

    #[tokio::test]
    async fn a_background_process_holding_the_standard_error_does_not_hold_the_run() {
        let started = std::time::Instant::now();
        let done = run("sh", &sh("echo first >&2; sleep 30 & exit 4"), &mut signals()).await.unwrap();
        assert_eq!((done.code, done.stderr.text().as_str()), (4, "first\n"));
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_missing_scanner_is_127_and_named() {
        let err = run("/nonexistent/roxctl", &[], &mut signals()).await.unwrap_err();
        assert_eq!((err.exit_code(), err.to_string()), (127, "cannot run /nonexistent/roxctl".to_owned()));
    }
}
