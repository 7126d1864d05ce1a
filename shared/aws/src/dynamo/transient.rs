//! Which failed DynamoDB calls are worth making again later: throttling, a write that met a
//! transaction, DynamoDB's own 5xx, and requests that got no answer (a timeout, a refused or
//! reset connection, an answer cut short).
//!
//! By the time a failure reaches the store's caller the SDK has already retried it within its
//! own budget (attempts, backoff, retry quota), so this is the caller's judgement, not a retry:
//! the api answers such a failure with 503 and a `Retry-After` instead of a 500, since the
//! request was right and the table is only busy or out of reach for now. The codes are the
//! SDK's own lists (`aws-runtime`'s throttling and transient codes) and the conflict of
//! [`super::conflicts`], so the two judgements cannot drift apart.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::ErrorKind;

/// The code of a single-item write refused because a transaction is writing its item.
pub const TRANSACTION_CONFLICT: &str = "TransactionConflictException";

/// The cancellation reasons of a transaction that the same transaction may pass in a moment:
/// another transaction on one of its items, and the two throttles (on-demand capacity, or
/// provisioned capacity on the table, an index or a key range).
pub const RETRYABLE_CANCELLATIONS: [&str; 3] =
    ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];

/// Whether a cancelled transaction whose reasons are `codes` is worth sending again after a
/// backoff ([`RETRYABLE_CANCELLATIONS`]).
pub fn retryable_cancellation<'a>(mut codes: impl Iterator<Item = &'a str>) -> bool {
    codes.any(|c| RETRYABLE_CANCELLATIONS.contains(&c))
}

/// How a DynamoDB call failed, as far as sending it again is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The request was never sent: it could not be built or signed.
    NotSent,
    /// Sent, and no complete answer came back: a timeout, an I/O error, an answer cut short (the
    /// connection closed before a whole answer, which the SDK's HTTP client counts transient).
    NoAnswer,
    /// The client could not send it as configured (a bad endpoint, a TLS setting).
    Unsendable,
    /// DynamoDB answered with an error: its HTTP status and error code.
    Answered { status: u16, code: Option<&'a str> },
}

/// Whether a call that failed this way may succeed when made again in a moment.
pub fn is_transient(failure: Failure<'_>) -> bool {
    match failure {
        Failure::NotSent | Failure::Unsendable => false,
        Failure::NoAnswer => true,
        Failure::Answered { status, code } => {
            status >= 500
                || code.is_some_and(|c| {
                    c == TRANSACTION_CONFLICT || THROTTLING_ERRORS.contains(&c) || TRANSIENT_ERRORS.contains(&c)
                })
        }
    }
}

/// How `error` failed.
pub fn failure_of<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Failure<'_> {
    match error {
        SdkError::ConstructionFailure(_) => Failure::NotSent,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::NoAnswer,
        SdkError::DispatchFailure(d)
            if d.is_io()
                || d.is_timeout()
                || matches!(
                    d.as_other(),
                    Some(ErrorKind::TransientError | ErrorKind::ThrottlingError | ErrorKind::ServerError)
                ) =>
        {
            Failure::NoAnswer
        }
        SdkError::DispatchFailure(_) => Failure::Unsendable,
        SdkError::ServiceError(e) => Failure::Answered { status: e.raw().status().as_u16(), code: error.code() },
        // `SdkError` is non-exhaustive: a kind the SDK adds later is not assumed to pass.
        _ => Failure::Unsendable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, code: &str) -> bool {
        is_transient(Failure::Answered { status, code: Some(code) })
    }

    #[test]
    fn throttling_a_conflict_and_5xx_are_transient() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "TransactionInProgressException",
            "TransactionConflictException",
        ] {
            assert!(answered(400, code), "{code}");
        }
        assert!(answered(500, "InternalServerError"));
        assert!(is_transient(Failure::Answered { status: 503, code: None }));
        assert!(is_transient(Failure::NoAnswer));
    }

    #[test]
    fn the_sdks_errors_are_read_as_how_the_call_failed() {
        use aws_sdk_dynamodb::config::http::HttpResponse;
        use aws_sdk_dynamodb::error::ErrorMetadata;
        use aws_sdk_dynamodb::operation::get_item::GetItemError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;

        type E = SdkError<GetItemError, HttpResponse>;
        let boxed = || Box::<dyn std::error::Error + Send + Sync>::from("x");
        let throttled = GetItemError::generic(ErrorMetadata::builder().code("ThrottlingException").build());
        let response = |status: u16| HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let cases: [(E, Failure<'static>); 7] = [
            (E::construction_failure(boxed()), Failure::NotSent),
            (E::timeout_error(boxed()), Failure::NoAnswer),
            (E::dispatch_failure(ConnectorError::io(boxed())), Failure::NoAnswer),
            (E::dispatch_failure(ConnectorError::other(boxed(), Some(ErrorKind::TransientError))), Failure::NoAnswer),
            (E::dispatch_failure(ConnectorError::other(boxed(), None)), Failure::Unsendable),
            (E::dispatch_failure(ConnectorError::user(boxed())), Failure::Unsendable),
            (
                E::service_error(throttled, response(400)),
                Failure::Answered { status: 400, code: Some("ThrottlingException") },
            ),
        ];
        for (error, expected) in &cases {
            assert_eq!(failure_of(error), *expected, "{error:?}");
        }
    }

    #[test]
    fn a_request_dynamodb_refuses_as_wrong_or_that_cannot_be_sent_is_not() {
        for code in [
            "ValidationException",
            "ConditionalCheckFailedException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "UnrecognizedClientException",
            "ItemCollectionSizeLimitExceededException",
        ] {
            assert!(!answered(400, code), "{code}");
        }
        assert!(!is_transient(Failure::Answered { status: 400, code: None }));
        assert!(!is_transient(Failure::NotSent));
        assert!(!is_transient(Failure::Unsendable));
    }
}
