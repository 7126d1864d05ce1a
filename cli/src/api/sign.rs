//! The SigV4 signature of an API request, for `execute-api`, with the caller's own credentials.
//! aws-sigv4 (the SDK's signer) computes it; a test checks it against botocore's.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningError, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use thiserror::Error;

/// The service name API Gateway's IAM authorization expects.
pub const SERVICE: &str = "execute-api";

#[derive(Debug, Error)]
pub enum SignError {
    #[error("incomplete signing parameters")]
    Params(#[source] v4::signing_params::BuildError),
    #[error("the request cannot be signed")]
    Sign(#[source] SigningError),
}

/// Adds the signature headers (`authorization`, `x-amz-date`, and `x-amz-security-token` for
/// temporary credentials) to `request`, whose `host` header must already be set.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), SignError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(SignError::Params)?
        .into();
    let uri = request.uri().to_string();
    let headers = request.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    let signable = SignableRequest::new(request.method().as_str(), &uri, headers, SignableBody::Bytes(request.body()))
        .map_err(SignError::Sign)?;
    let (instructions, _signature) = sign(signable, &params).map_err(SignError::Sign)?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}
