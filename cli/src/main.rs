//! `scanfail`: parses the command line and hands over; the exit code is the command's.

use std::process::ExitCode;

use scan_failures_domain::text::error_chain;
use scanfail::args::{Cli, Command};
use scanfail::{admin, console, report};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let code: i32 = match cli.command {
        Command::Run(args) => report::run(args).await,
        Command::Report(args) => report::report(args).await,
        Command::Events(args) => done(admin::events(*args).await),
        Command::Retention(args) => done(admin::retention(args).await),
        Command::Console(args) => match console::console(args).await {
            Ok(()) => 0,
            Err(e) => {
                scanfail::say(&error_chain(&e));
                i32::from(e.exit_code())
            }
        },
    };
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// The exit code of an admin command, with its error on one line.
fn done(result: Result<(), admin::AdminError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            scanfail::say(&error_chain(&e));
            i32::from(e.exit_code())
        }
    }
}
