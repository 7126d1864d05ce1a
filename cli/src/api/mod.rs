//! The admin side's way to the API: where it is, who signs, and one request at a time.

pub mod client;
pub mod endpoint;
pub mod query;
pub mod retry;
pub mod sign;
pub mod stack;

use thiserror::Error;

use crate::args::ApiArgs;
use crate::aws::{self, CredentialsProblem};
use crate::exit;
use client::{ApiError, Client};
use endpoint::{Endpoint, EndpointError};

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Credentials(#[from] CredentialsProblem),
    #[error("no region: neither the endpoint's host nor the configuration names one; set AWS_REGION or the profile's region")]
    NoRegion,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Stack(#[from] stack::StackError),
}

impl ConnectError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Endpoint(_) | Self::NoRegion => exit::USAGE,
            Self::Credentials(_) => exit::NO_CREDENTIALS,
            Self::Api(e) => e.exit_code(),
            Self::Stack(e) => e.exit_code(),
        }
    }
}

/// A client for `args`' endpoint (or the `ApiUrl` output of its stack) with the chain's
/// credentials; the region is the endpoint's (`execute-api.<region>.amazonaws.com`), else the
/// chain's.
pub async fn connect(args: &ApiArgs) -> Result<Client, ConnectError> {
    let config = aws::load().await;
    let url = match &args.stack {
        // The stack is looked up in a region: without one, CloudFormation's endpoint cannot be
        // resolved, which the SDK reports as a failure to reach it.
        Some(_) if config.region().is_none() => return Err(ConnectError::NoRegion),
        Some(name) => Some(stack::api_url(&config, name).await?),
        None => args.endpoint.clone(),
    };
    let endpoint = Endpoint::parse(url.as_deref())?;
    let region = endpoint
        .region
        .clone()
        .or_else(|| config.region().map(|r| r.as_ref().to_owned()))
        .ok_or(ConnectError::NoRegion)?;
    aws::signable("region", &region)?;
    let credentials = aws::credentials(&config).await?;
    let client = Client::new(endpoint, credentials, region)?;
    Ok(match config.credentials_provider() {
        Some(provider) => client.refreshing(provider),
        None => client,
    })
}
