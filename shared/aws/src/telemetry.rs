//! Logging set-up shared by every function: JSON lines on stdout (CloudWatch's JSON log format),
//! level from `RUST_LOG`, `info` by default.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::Layer;

/// Installs the JSON subscriber once; a second call does nothing. `RUST_LOG` is a level
/// (`debug`) or `target=level` directives (`ingest=debug,aws_smithy_runtime=warn`), as
/// tracing-subscriber's `Targets` reads them; one it cannot read is `info`. Not `EnvFilter`,
/// whose span and field filters no function needs and whose regular-expression engine was in
/// every bootstrap (with `lambda_runtime`'s `tracing` feature, which brought it too).
pub fn init_logging() {
    let _ = tracing::subscriber::set_global_default(
        filter(std::env::var("RUST_LOG").ok().as_deref()).with_subscriber(
            tracing_subscriber::fmt()
                .json()
                .with_max_level(LevelFilter::TRACE)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false)
                .finish(),
        ),
    );
}

/// The filter `RUST_LOG`'s value asks for: `info` when unset or unreadable.
fn filter(value: Option<&str>) -> Targets {
    value.and_then(|v| v.parse().ok()).unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Reports a start-up failure as one JSON log line and exits non-zero, so Lambda reports an
/// init error naming the cause instead of a panic.
pub fn fail_start(function: &str, error: &dyn std::error::Error) -> ! {
    tracing::error!(function, error = %error, "start-up failed");
    eprintln!("{function}: start-up failed: {error}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_is_a_level_or_target_directives_and_anything_else_is_info() {
        let enabled = |f: &Targets, target: &str, level: Level| f.would_enable(target, &level);
        let default = filter(None);
        assert!(enabled(&default, "ingest", Level::INFO) && !enabled(&default, "ingest", Level::DEBUG));
        let debug = filter(Some("debug"));
        assert!(enabled(&debug, "aws_smithy_runtime", Level::DEBUG));
        let directives = filter(Some("ingest=debug,aws_smithy_runtime=warn"));
        assert!(enabled(&directives, "ingest::handler", Level::DEBUG));
        assert!(!enabled(&directives, "aws_smithy_runtime::client", Level::INFO));
        for unreadable in ["ingest=loud", "ingest=debug,aws=loud"] {
            let f = filter(Some(unreadable));
            assert!(enabled(&f, "ingest", Level::INFO) && !enabled(&f, "ingest", Level::DEBUG), "{unreadable}");
        }
    }
}
