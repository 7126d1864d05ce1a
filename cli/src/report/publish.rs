//! Putting reports on the bus: `PutEvents` in batches of ten, every entry checked.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use scan_failures_domain::event::DETAIL_TYPE;
use thiserror::Error;

use super::event::Report;
use crate::aws::{self, CredentialsProblem};
use crate::exit;

/// The most entries of one `PutEvents` request (EventBridge's limit).
pub const ENTRIES_PER_REQUEST: usize = 10;

/// Why reports were not (all) published. Each says what to do in one line.
#[derive(Debug, Error)]
pub enum PublishError {
    #[error(transparent)]
    Credentials(#[from] CredentialsProblem),
    #[error("cannot reach EventBridge (set the region, or AWS_ENDPOINT_URL_EVENTBRIDGE for a local bus)")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the event bus {bus:?} does not exist in this account and region (see --bus / SCANFAIL_BUS)")]
    NoSuchBus { bus: String },
    #[error("access denied: the caller may not events:PutEvents on the bus {bus:?}: {message}")]
    AccessDenied { bus: String, message: String },
    #[error("EventBridge throttled the request; try again later")]
    Throttled,
    #[error("EventBridge refused the request: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("{failed} of {total} events were not accepted: {code}: {message}")]
    EntriesFailed { failed: usize, total: usize, code: String, message: String },
    #[error("an event is not valid: {0}")]
    Invalid(#[source] scan_failures_domain::event::EventError),
}

impl PublishError {
    /// The documented exit code of `scanfail report` for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Credentials(_) => exit::NO_CREDENTIALS,
            Self::Unreachable(_) => exit::UNREACHABLE,
            Self::AccessDenied { .. } => exit::DENIED,
            Self::NoSuchBus { .. } | Self::Refused { .. } | Self::EntriesFailed { .. } | Self::Invalid(_) => {
                exit::REFUSED
            }
            Self::Throttled => exit::SERVER,
        }
    }
}

/// Where reports go.
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    config: SdkConfig,
    bus: String,
    source: String,
}

impl Publisher {
    pub fn new(config: &SdkConfig, bus: String, source: String) -> Self {
        Self { client: aws_sdk_eventbridge::Client::new(config), config: config.clone(), bus, source }
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// Publishes every report, each checked against the contract first; the number published.
    pub async fn publish(&self, reports: &[Report]) -> Result<usize, PublishError> {
        for report in reports {
            report.check(&self.source).map_err(PublishError::Invalid)?;
        }
        aws::credentials(&self.config).await?;
        for chunk in reports.chunks(ENTRIES_PER_REQUEST) {
            let entries: Vec<PutEventsRequestEntry> = chunk.iter().map(|r| self.entry(r)).collect();
            let out = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| self.refusal(e))?;
            let failed = usize::try_from(out.failed_entry_count()).unwrap_or(usize::MAX);
            if failed > 0 {
                let first = out.entries().iter().find(|e| e.error_code().is_some());
                return Err(PublishError::EntriesFailed {
                    failed,
                    total: chunk.len(),
                    code: first.and_then(|e| e.error_code()).unwrap_or("unknown").to_owned(),
                    message: first.and_then(|e| e.error_message()).unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(reports.len())
    }

    fn entry(&self, report: &Report) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(DETAIL_TYPE)
            .detail(report.detail().to_string())
            .time(DateTime::from_secs(report.occurred_at.unix_timestamp()))
            .build()
    }

    fn refusal<E, R>(&self, error: SdkError<E, R>) -> PublishError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let (code, message) =
            (error.code().unwrap_or_default().to_owned(), error.message().unwrap_or_default().to_owned());
        match error {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                PublishError::Unreachable(Box::new(error))
            }
            _ => match code.as_str() {
                "ResourceNotFoundException" => PublishError::NoSuchBus { bus: self.bus.clone() },
                "AccessDeniedException" | "NotAuthorizedForSourceException" | "UnrecognizedClientException" => {
                    PublishError::AccessDenied { bus: self.bus.clone(), message }
                }
                "ThrottlingException" | "LimitExceededException" => PublishError::Throttled,
                _ => PublishError::Refused { code: if code.is_empty() { "unknown".into() } else { code }, message },
            },
        }
    }
}
