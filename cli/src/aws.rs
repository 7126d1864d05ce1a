//! The AWS configuration both ends use, loaded once: the SDK's default chain (environment,
//! profiles, SSO, web identity, container and instance roles) for region and credentials, over
//! the same rustls HTTPS client as the functions.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use thiserror::Error;

/// How long one attempt of a call (`PutEvents`, `DescribeStacks`) may take, and the call with
/// its retries: the SDK sets neither by default, and an endpoint that accepts the connection and
/// never answers (a proxy or firewall that holds it) held `scanfail run` in a CI job for ever.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The chain's configuration.
pub async fn load() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_TIMEOUT)
        .build();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http).timeout_config(timeouts).load().await
}

#[derive(Debug, Error)]
pub enum CredentialsProblem {
    /// The chain's list of what it tried is left out: it says the same at length.
    #[error("no AWS credentials found (environment, profile, SSO, web identity or instance role); sign in, e.g. `aws sso login`, or set AWS_PROFILE")]
    NotFound,
    #[error("the AWS credentials could not be loaded")]
    Failed(#[source] CredentialsError),
    /// Signing would send it in a header, which cannot hold a control character.
    #[error(
        "the AWS {what} holds a control character (a stray newline or carriage return in its variable or profile?)"
    )]
    Unfit { what: &'static str },
}

/// Whether an AWS error code (of a request, or of one `PutEvents` entry) is the service
/// throttling or failing, worth trying again later, rather than refusing the request.
pub fn transient(code: &str) -> bool {
    matches!(
        code,
        "Throttling" | "ThrottlingException" | "InternalFailure" | "InternalException" | "ServiceUnavailable"
    )
}

/// The chain's credentials, resolved now so that "none" is told apart from every other failure,
/// and [`signable`]: a stray newline in `AWS_ACCESS_KEY_ID`, which the chain does not trim,
/// aborted `run` (134, not the scanner's code) and the console.
pub async fn credentials(config: &SdkConfig) -> Result<Credentials, CredentialsProblem> {
    let provider = config.credentials_provider().ok_or(CredentialsProblem::NotFound)?;
    let credentials = provider.provide_credentials().await.map_err(|e| match e {
        CredentialsError::CredentialsNotLoaded(_) => CredentialsProblem::NotFound,
        other => CredentialsProblem::Failed(other),
    })?;
    signable("access key id", credentials.access_key_id())?;
    if let Some(token) = credentials.session_token() {
        signable("session token", token)?;
    }
    Ok(credentials)
}

/// Whether `value` (the `what` of a signature: access key id, session token, region) can be
/// sent in a header, as a signature sends it: the SDK's signer `unwrap`s those headers.
pub fn signable(what: &'static str, value: &str) -> Result<(), CredentialsProblem> {
    http::HeaderValue::from_str(value).map(|_| ()).map_err(|_| CredentialsProblem::Unfit { what })
}
