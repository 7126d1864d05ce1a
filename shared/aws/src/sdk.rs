//! The AWS SDK's configuration, loaded once per process by each function's `main`.
//!
//! HTTPS is rustls with the `ring` provider rather than the SDK's default aws-lc: both are
//! rustls, but `ring` keeps each bootstrap within its 8 MiB size budget (the figures are in
//! BENCHMARKS.md) and has no entropy self-test at start-up. Every client of the product, the
//! tests' and the benchmarks' included, gets its HTTP client here, so they run what is deployed.
//! The functions' configuration also bounds every attempt ([`timeout_config`]); the tests' own
//! clients (seeding, assertions) do without, so a loaded DynamoDB Local never fails a set-up.

use std::time::Duration;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

use crate::config::SdkTimeouts;

/// The SDK's own default connect timeout, kept: setting a timeout configuration replaces the
/// default one whole.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

/// The HTTPS client every SDK client uses.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The timeouts of every call: connect as the SDK's default, each attempt bounded by `timeouts`.
pub fn timeout_config(timeouts: SdkTimeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeouts.attempt))
        .operation_attempt_timeout(timeouts.attempt)
        .build()
}

/// Attempts the SDK's standard retry makes at one call (its default, kept).
pub const CALL_ATTEMPTS: u32 = 3;

/// The standard retry's back-off before each retry of a call: up to 1 s, then up to 2 s
/// (exponential with jitter from an initial 1 s), 3 s in all.
pub const CALL_BACKOFF: Duration = Duration::from_secs(3);

/// The longest one call can take once started: [`CALL_ATTEMPTS`] attempts, each bounded by
/// `timeouts` ([`timeout_config`]), and the back-off between them. What a caller keeps before a
/// deadline when it must not start a call that could still be under way there.
pub fn call_bound(timeouts: SdkTimeouts) -> Duration {
    timeouts.attempt * CALL_ATTEMPTS + CALL_BACKOFF
}

/// The configuration from the environment (region, credentials), as `aws_config::load_from_env`
/// reads it, with [`http_client`] and [`timeout_config`]. Stalled-stream protection is off: the
/// attempt timeout already bounds every response whole (the functions' are a few KB), and the
/// protection's throughput monitor polls a timer on every body of every request.
pub async fn load(timeouts: SdkTimeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeout_config(timeouts))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_bounded_by_three_attempts_and_three_seconds_of_back_off() {
        assert_eq!(call_bound(SdkTimeouts::default()), Duration::from_secs(9));
        assert_eq!(call_bound(SdkTimeouts { attempt: Duration::from_millis(100) }), Duration::from_millis(3_300));
    }
}
