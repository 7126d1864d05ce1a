//! `--stack NAME`: the API's URL from the stack's `ApiUrl` output (`DescribeStacks`), so an
//! admin names the deployment rather than copying its URL.

use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;

use crate::aws::{self, transient, CredentialsProblem};
use crate::exit;

/// The output of `infra/template.yaml` that holds the API's URL.
pub const API_URL_OUTPUT: &str = "ApiUrl";

#[derive(Debug, Error)]
pub enum StackError {
    #[error(transparent)]
    Credentials(#[from] CredentialsProblem),
    #[error("cannot reach CloudFormation to read the stack {name:?}")]
    Unreachable {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no stack {name:?} in this account and region (set AWS_REGION or the profile's region)")]
    NoSuchStack { name: String },
    #[error("access denied: the caller may not cloudformation:DescribeStacks on {name:?}: {message}")]
    Denied { name: String, message: String },
    #[error("CloudFormation refused to describe {name:?}: {code}: {message}")]
    Refused { name: String, code: String, message: String },
    #[error("CloudFormation failed or throttled describing {name:?}: {code}: {message}; try again later")]
    Unavailable { name: String, code: String, message: String },
    #[error("the stack {name:?} has no {API_URL_OUTPUT} output: is it a scan-failures stack?")]
    NoApiUrl { name: String },
}

impl StackError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Credentials(_) => exit::NO_CREDENTIALS,
            Self::Unreachable { .. } => exit::UNREACHABLE,
            Self::Denied { .. } => exit::DENIED,
            Self::NoSuchStack { .. } | Self::Refused { .. } | Self::NoApiUrl { .. } => exit::REFUSED,
            Self::Unavailable { .. } => exit::SERVER,
        }
    }
}

/// The `ApiUrl` output of the stack `name`. The region and the credentials are checked first:
/// the SDK's signer `unwrap`s their headers (see [`aws::signable`]).
pub async fn api_url(config: &SdkConfig, name: &str) -> Result<String, StackError> {
    if let Some(region) = config.region() {
        aws::signable("region", region.as_ref())?;
    }
    aws::credentials(config).await?;
    let client = aws_sdk_cloudformation::Client::new(config);
    let out = client.describe_stacks().stack_name(name).send().await.map_err(|e| refusal(name, e))?;
    out.stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(API_URL_OUTPUT))
        .and_then(|o| o.output_value())
        .map(str::to_owned)
        .ok_or_else(|| StackError::NoApiUrl { name: name.to_owned() })
}

fn refusal<E, R>(name: &str, error: SdkError<E, R>) -> StackError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let name = name.to_owned();
    let (code, message) = (error.code().unwrap_or_default().to_owned(), error.message().unwrap_or_default().to_owned());
    match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StackError::Unreachable { name, source: Box::new(error) }
        }
        // CloudFormation answers a missing stack with a ValidationError "Stack with id … does not exist".
        _ if message.contains("does not exist") => StackError::NoSuchStack { name },
        _ if code == "AccessDenied" || code == "AccessDeniedException" => StackError::Denied { name, message },
        _ if transient(&code) => StackError::Unavailable { name, code, message },
        _ => StackError::Refused { name, code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_internal_failures_exit_as_the_service_failing() {
        for code in ["Throttling", "ThrottlingException", "InternalFailure", "ServiceUnavailable"] {
            assert!(transient(code), "{code}");
        }
        assert!(!transient("ValidationError"));
        let e =
            StackError::Unavailable { name: "prod".into(), code: "Throttling".into(), message: "Rate exceeded".into() };
        assert_eq!(
            (e.exit_code(), e.to_string()),
            (
                exit::SERVER,
                "CloudFormation failed or throttled describing \"prod\": Throttling: Rate exceeded; try again later"
                    .to_owned()
            )
        );
    }
}
