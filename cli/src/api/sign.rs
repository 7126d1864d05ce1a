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
    /// The signer's `apply` unwraps each header it makes: checked first, never a panic.
    #[error("the signature's {header} header cannot be sent: the credentials or the region hold a control character (a stray newline in AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN or AWS_REGION?)")]
    Unfit { header: String },
}

/// The header a session token is sent in.
const SECURITY_TOKEN: &str = "x-amz-security-token";

/// Adds the signature headers (`authorization`, `x-amz-date`, and `x-amz-security-token` for
/// temporary credentials) to `request`, whose `host` header must already be set.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), SignError> {
    // The signer refuses a session token that is no header value itself, as a signing error:
    // named here as the credentials' problem, as a key or region holding one is.
    if credentials.session_token().is_some_and(|t| http::HeaderValue::from_str(t).is_err()) {
        return Err(SignError::Unfit { header: SECURITY_TOKEN.to_owned() });
    }
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
    if let Some((name, _)) = instructions.headers().find(|(_, v)| http::HeaderValue::from_str(v).is_err()) {
        return Err(SignError::Unfit { header: name.to_owned() });
    }
    instructions.apply_to_request_http1x(request);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A newline in the access key id or the region (a secret pasted with one, a CRLF `.env`)
    /// is an error naming the header, not the signer's panic.
    #[test]
    fn credentials_or_a_region_with_a_control_character_are_an_error_not_a_panic() {
        let request = || {
            http::Request::builder()
                .uri("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/count/administration/events")
                .header("host", "abc123.execute-api.eu-west-1.amazonaws.com")
                .body(Vec::new())
                .unwrap()
        };
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        for (key, region) in [("AKID\n", "eu-west-1"), ("AKID", "eu-west-1\r")] {
            let credentials = Credentials::new(key, "secret", None, None, "test");
            let signed = sign_request(&mut request(), &credentials, region, time);
            assert!(matches!(&signed, Err(SignError::Unfit { header }) if header == "authorization"), "{signed:?}");
        }
        // A session token is sent as a header of its own (a `credential_process` printing a
        // CRLF one): the signer refused it as a signing error, the CLI's exit 7 "the service
        // failed", where the key's is 3, the credentials'.
        for bad in ["token\u{7}", "token\r"] {
            let token = Credentials::new("AKID", "secret", Some(bad.into()), None, "test");
            let signed = sign_request(&mut request(), &token, "eu-west-1", time);
            assert!(matches!(&signed, Err(SignError::Unfit { header }) if header == SECURITY_TOKEN), "{signed:?}");
        }
        let fine = Credentials::new("AKID", "secret", Some("token".into()), None, "test");
        assert!(sign_request(&mut request(), &fine, "eu-west-1", time).is_ok());
    }
}
