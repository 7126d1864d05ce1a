//! Putting reports on the bus: `PutEvents` in batches of ten at most, within EventBridge's
//! request size, every entry checked.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use scan_failures_domain::event::DETAIL_TYPE;
use thiserror::Error;

use super::event::Report;
use crate::aws::{self, transient, CredentialsProblem};
use crate::exit;

/// The most entries of one `PutEvents` request (EventBridge's limit).
pub const ENTRIES_PER_REQUEST: usize = 10;

/// The most bytes of entries in one `PutEvents` request, as EventBridge counts them (its
/// limit, 256 KiB): a run's reports carry its message, up to 64 KiB, ten of which would not fit.
pub const REQUEST_BYTES: usize = 256 * 1024;

/// What EventBridge counts of an entry with a `Time`, besides its detail: the time (14 bytes),
/// the detail-type and the source. <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>
fn entry_bytes(detail: usize, source: &str) -> usize {
    14 + DETAIL_TYPE.len() + source.len() + detail
}

/// The reports of each `PutEvents` request, in order, given each entry's size: at most
/// [`ENTRIES_PER_REQUEST`] entries and [`REQUEST_BYTES`] in all (an entry past it alone is a
/// request of its own, which EventBridge refuses by name; [`super::event::MAX_MESSAGE_JSON`]
/// keeps a report's within it).
pub fn requests(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (i - start == ENTRIES_PER_REQUEST || bytes.saturating_add(*size) > REQUEST_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(*size);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

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
    #[error("EventBridge failed: {code}: {message}; try again later")]
    Unavailable { code: String, message: String },
    #[error("EventBridge refused the request: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("{failed} of {total} events were not accepted: {code}: {message}")]
    EntriesFailed { failed: usize, total: usize, code: String, message: String },
    #[error("an event is not valid: {0}")]
    Invalid(#[source] scan_failures_domain::event::EventError),
}

/// The code of an entry the bus's answer gives no event id for (nor an error code): not known
/// to be on the bus, so not counted as reported.
const NO_EVENT_ID: &str = "NoEventId";
const NO_EVENT_ID_MESSAGE: &str = "the bus answered no event id and no error for it";

/// Publishing that stopped on `error` once `sent` reports were on the bus: those of the
/// requests before, and the entries of the last one that EventBridge accepted.
#[derive(Debug)]
pub struct Stopped {
    pub sent: usize,
    pub error: PublishError,
}

impl From<PublishError> for Stopped {
    /// Stopped before anything was sent.
    fn from(error: PublishError) -> Self {
        Self { sent: 0, error }
    }
}

impl PublishError {
    /// The documented exit code of `scanfail report` for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Credentials(_) => exit::NO_CREDENTIALS,
            Self::Unreachable(_) => exit::UNREACHABLE,
            Self::AccessDenied { .. } => exit::DENIED,
            Self::EntriesFailed { code, .. } if transient(code) => exit::SERVER,
            Self::EntriesFailed { code, .. } if denied(code) => exit::DENIED,
            Self::NoSuchBus { .. } | Self::Refused { .. } | Self::EntriesFailed { .. } | Self::Invalid(_) => {
                exit::REFUSED
            }
            Self::Throttled | Self::Unavailable { .. } => exit::SERVER,
        }
    }
}

/// Whether an error `code`, of a request or of one entry, says IAM or the bus's policy refused
/// the caller (exit [`exit::DENIED`], as the documented exit codes say).
fn denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDeniedException"
            | "NotAuthorizedForSourceException"
            | "NotAuthorizedForDetailTypeException"
            | "UnrecognizedClientException"
    )
}

/// How many times an entry that failed on its own for a transient cause is sent (the SDK
/// retries whole requests, not the entries a `PutEvents` answer lists as failed).
const ENTRY_ATTEMPTS: u32 = 3;

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
    pub async fn publish(&self, reports: &[Report]) -> Result<usize, Stopped> {
        for report in reports {
            report.check(&self.source).map_err(PublishError::Invalid)?;
        }
        aws::credentials(&self.config).await.map_err(PublishError::from)?;
        if let Some(region) = self.config.region() {
            aws::signable("region", region.as_ref()).map_err(PublishError::from)?;
        }
        let details: Vec<String> = reports.iter().map(|r| r.detail().to_string()).collect();
        let sizes: Vec<usize> = details.iter().map(|d| entry_bytes(d.len(), &self.source)).collect();
        for range in requests(&sizes) {
            let chunk: Vec<(&Report, &String)> = reports[range.clone()].iter().zip(&details[range.clone()]).collect();
            let mut pending: Vec<(&Report, &String)> = chunk.clone();
            for attempt in 1..=ENTRY_ATTEMPTS {
                let entries: Vec<PutEventsRequestEntry> = pending.iter().map(|(r, d)| self.entry(r, d)).collect();
                let sent = range.start + (chunk.len() - pending.len());
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| Stopped { sent, error: self.refusal(e) })?;
                // The answer's entries are in the order sent; one accepted has an event id and
                // no error code. An entry the answer lacks, or one with neither, was not.
                let failed: Vec<(usize, &str, &str)> = (0..pending.len())
                    .filter_map(|i| match out.entries().get(i).map(|e| (e.error_code(), e.event_id(), e)) {
                        Some((None, Some(_), _)) => None,
                        Some((Some(code), _, e)) => Some((i, code, e.error_message().unwrap_or_default())),
                        _ => Some((i, NO_EVENT_ID, NO_EVENT_ID_MESSAGE)),
                    })
                    .collect();
                let Some(&(_, code, message)) = failed.first() else { break };
                if attempt == ENTRY_ATTEMPTS || !failed.iter().all(|(_, c, _)| transient(c)) {
                    // Those of this request, and every report after it (not sent).
                    let unsent = reports.len().saturating_sub(range.end);
                    let not_accepted = failed.len() + unsent;
                    return Err(Stopped {
                        sent: reports.len().saturating_sub(not_accepted),
                        error: PublishError::EntriesFailed {
                            failed: not_accepted,
                            total: reports.len(),
                            code: code.to_owned(),
                            message: message.to_owned(),
                        },
                    });
                }
                pending = failed.iter().filter_map(|(i, _, _)| pending.get(*i).copied()).collect();
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
        }
        Ok(reports.len())
    }

    fn entry(&self, report: &Report, detail: &str) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(DETAIL_TYPE)
            .detail(detail)
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
                c if denied(c) => PublishError::AccessDenied { bus: self.bus.clone(), message },
                "ThrottlingException" | "LimitExceededException" => PublishError::Throttled,
                c if transient(c) => PublishError::Unavailable { code, message },
                _ => PublishError::Refused { code: if code.is_empty() { "unknown".into() } else { code }, message },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's reports each carry its message, up to 64 KiB: ten to a request were past
    /// EventBridge's 256 KiB, refused whole.
    #[test]
    fn requests_hold_ten_entries_and_256_kib_at_most() {
        let kib = 1024;
        assert_eq!(requests(&[100; 12]), [0..10, 10..12]);
        assert_eq!(requests(&[100 * kib; 5]), [0..2, 2..4, 4..5]);
        assert_eq!(requests(&[128 * kib, 128 * kib, 1]), [0..2, 2..3]);
        // One past the limit alone is a request of its own (EventBridge names it refused).
        assert_eq!(requests(&[10, 300 * kib, 10]), [0..1, 1..2, 2..3]);
        assert_eq!(requests(&[]), Vec::<std::ops::Range<usize>>::new());
        // A report at the longest message its JSON allows fits a request alone, with the
        // detail's other fields (each bounded: their JSON about 20 KiB at most).
        let largest = entry_bytes(super::super::event::MAX_MESSAGE_JSON + 32 * kib, "scanfail");
        assert!(largest <= REQUEST_BYTES, "{largest}");
    }

    fn entries_failed(code: &str) -> PublishError {
        PublishError::EntriesFailed { failed: 1, total: 1, code: code.into(), message: String::new() }
    }

    #[test]
    fn transient_failures_exit_as_the_service_failing_and_the_others_as_refused() {
        for code in ["ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"] {
            assert!(transient(code), "{code}");
            assert_eq!(entries_failed(code).exit_code(), exit::SERVER, "{code}");
        }
        for code in ["MalformedDetail", "InvalidArgument"] {
            assert!(!transient(code), "{code}");
            assert_eq!(entries_failed(code).exit_code(), exit::REFUSED, "{code}");
        }
        // One entry refused by the bus's policy (another account's bus) is IAM's answer too.
        for code in ["AccessDeniedException", "NotAuthorizedForSourceException", "NotAuthorizedForDetailTypeException"]
        {
            assert!(!transient(code), "{code}");
            assert_eq!(entries_failed(code).exit_code(), exit::DENIED, "{code}");
        }
        let failed = PublishError::Unavailable { code: "InternalException".into(), message: "oops".into() };
        assert_eq!(failed.exit_code(), exit::SERVER);
        assert_eq!(failed.to_string(), "EventBridge failed: InternalException: oops; try again later");
    }
}
