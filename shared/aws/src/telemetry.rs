//! Logging set-up shared by every function: JSON lines on stdout (CloudWatch's JSON log format),
//! level from `RUST_LOG`, `info` by default.

/// Installs the JSON subscriber once; a second call does nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

/// Reports a start-up failure as one JSON log line and exits non-zero, so Lambda reports an
/// init error naming the cause instead of a panic.
pub fn fail_start(function: &str, error: &dyn std::error::Error) -> ! {
    tracing::error!(function, error = %error, "start-up failed");
    eprintln!("{function}: start-up failed: {error}");
    std::process::exit(1)
}
