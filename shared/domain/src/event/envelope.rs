//! The parts of event contract v1 that every source shares: the EventBridge envelope, the
//! validated [`Occurrence`] every source produces, the bounds on fields from outside, and the
//! errors that name the offending field. Every string and collection from outside is bounded;
//! a required field past its bound is a rejection, an optional or free-text field is truncated
//! with [`TRUNCATION_MARKER`].

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::classify::Reason;
use crate::image::{DigestError, ImageRef, ImageRefError};
use crate::text;
use crate::time_fmt;

/// Appended to a free-text field that was cut to its bound.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Bounds on fields from outside, in bytes (collections: in entries).
pub mod bounds {
    pub const EVENT_ID: usize = 256;
    pub const SOURCE: usize = 256;
    pub const REGION: usize = 64;
    pub const RESOURCES: usize = 64;
    pub const RESOURCE: usize = 2048;
    pub const MESSAGE_STORED: usize = 4096;
    /// A message longer than this is refused rather than truncated: no real scanner error is
    /// this long, and EventBridge's own entry limit is 256 KiB.
    pub const MESSAGE_ACCEPTED: usize = 65_536;
    pub const ERROR_CODE: usize = 64;
    pub const CLUSTER: usize = 253;
    pub const DEPLOYMENT_NAME: usize = 253;
    pub const NAMESPACE: usize = 63;
    pub const INITIATOR_ID: usize = 2048;
    pub const USER_AGENT: usize = 512;
    /// A producer's own id of an occurrence: refused past it rather than cut, since two ids cut
    /// to the same prefix would count as one occurrence.
    pub const OCCURRENCE_ID: usize = 128;
}

/// Which scan was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    #[serde(rename = "image scan")]
    ImageScan,
    #[serde(rename = "image check")]
    ImageCheck,
    #[serde(rename = "image sbom")]
    ImageSbom,
    #[serde(rename = "deployment check")]
    DeploymentCheck,
    /// A scan run by the registry itself (Amazon ECR, Amazon Inspector); not part of the
    /// "Image Scan Failed" contract, so never deserialized from it.
    #[serde(rename = "registry scan", skip_deserializing)]
    RegistryScan,
}

impl Operation {
    pub const ALL: [Operation; 5] =
        [Self::ImageScan, Self::ImageCheck, Self::ImageSbom, Self::DeploymentCheck, Self::RegistryScan];
    /// The operations of the "Image Scan Failed" contract.
    pub const NATIVE: [Operation; 4] = [Self::ImageScan, Self::ImageCheck, Self::ImageSbom, Self::DeploymentCheck];

    /// The contract's spelling (`image scan`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageScan => "image scan",
            Self::ImageCheck => "image check",
            Self::ImageSbom => "image sbom",
            Self::DeploymentCheck => "deployment check",
            Self::RegistryScan => "registry scan",
        }
    }

    /// A spelling safe inside an attribute name (`image_scan`).
    pub fn key(self) -> &'static str {
        match self {
            Self::ImageScan => "image_scan",
            Self::ImageCheck => "image_check",
            Self::ImageSbom => "image_sbom",
            Self::DeploymentCheck => "deployment_check",
            Self::RegistryScan => "registry_scan",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Where the scan was started from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Roxctl,
    Api,
    /// Amazon ECR basic scanning.
    #[serde(skip_deserializing)]
    Ecr,
    /// Amazon Inspector enhanced scanning.
    #[serde(skip_deserializing)]
    Inspector,
}

impl Origin {
    pub const ALL: [Origin; 4] = [Self::Roxctl, Self::Api, Self::Ecr, Self::Inspector];
    /// The origins of the "Image Scan Failed" contract.
    pub const NATIVE: [Origin; 2] = [Self::Roxctl, Self::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Roxctl => "roxctl",
            Self::Api => "api",
            Self::Ecr => "ecr",
            Self::Inspector => "inspector",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawEnvelope<D> {
    #[serde(default)]
    version: Option<String>,
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    account: String,
    time: String,
    region: String,
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    pub(crate) detail: D,
}

/// A deployment that referenced the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
}

impl Deployment {
    /// `namespace/name`, the key under which the group remembers it.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Who started the scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Initiator {
    pub id: Option<String>,
    pub user_agent: Option<String>,
}

/// Where an event came from, as EventBridge recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// EventBridge's id, for the logs.
    pub id: String,
    /// The idempotency key: what makes two deliveries the same occurrence, so that it is
    /// counted once. For the contract's events, the producer's `detail.occurrenceId` when it
    /// gives one ([`producer_key`]), else the EventBridge id; for AWS-sourced ones, derived
    /// from the resource, the reason and the scan time ([`super::aws_sources::occurrence_key`]),
    /// so the reconciler's copy of an occurrence that also arrived as an event has the same.
    pub key: String,
    pub source: String,
    pub account: String,
    pub region: String,
    pub time: OffsetDateTime,
}

/// One failed scan, validated and classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub envelope: Envelope,
    pub operation: Operation,
    pub origin: Origin,
    pub image: ImageRef,
    pub deployment: Option<Deployment>,
    pub cluster: Option<String>,
    /// The scanner's text, truncated to [`bounds::MESSAGE_STORED`].
    pub message: String,
    /// The whole text (its secrets redacted) of an UNKNOWN failure whose [`Self::message`] is a
    /// cut of it, which names its group ([`Self::group_id`]); `None` otherwise.
    pub uncut_message: Option<String>,
    pub reason: Reason,
    pub initiator: Initiator,
    pub occurred_at: OffsetDateTime,
}

/// How far in the future an occurrence may claim to be before it is clamped to the present
/// (producer clock skew).
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// Whether an occurrence is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Store,
    /// Older than the retention window: storing it would create an already expired group.
    Expired,
}

impl Occurrence {
    /// The group this failure belongs to: its image, its reason, and for an UNKNOWN one its
    /// whole message, masked before any cut. Masked after the cut, two long messages that
    /// differ only in the length of a variable part before it (`failure 7` / `failure 1234567`)
    /// were cut at different text, and were two groups.
    pub fn group_id(&self) -> uuid::Uuid {
        let message = self.uncut_message.as_deref().unwrap_or(&self.message);
        crate::fingerprint::group_id(&self.image.normalized(), self.reason, message)
    }

    /// Applies the timestamp rules: a time more than [`MAX_CLOCK_SKEW`] ahead of `now` is
    /// clamped to `now`; a time at or before `now - retention` is not stored.
    pub fn admit(&mut self, now: OffsetDateTime, retention: time::Duration) -> Admission {
        if self.occurred_at > now + MAX_CLOCK_SKEW {
            self.occurred_at = now;
        }
        if self.occurred_at + retention <= now {
            Admission::Expired
        } else {
            Admission::Store
        }
    }
}

/// What an incoming event turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Failure(Box<Occurrence>),
    /// A successful scan: acknowledged, never stored.
    Success {
        event_id: String,
    },
    /// An AWS scan status that is not a failure, or a resource out of scope: never stored.
    Ignored {
        event_id: String,
        why: String,
    },
}

/// Why an event was refused. The message names the field (as a JSON path) and the rule.
#[derive(Debug, Error)]
pub enum EventError {
    /// A field of the wrong type or an unknown value. Kept as text cut to [`MAX_SHAPE_BYTES`]
    /// (path and message each): serde's message quotes the offending value whole, and the
    /// message of a rejected event travels in the function's error, its log line and its
    /// on-failure record, which must stay within Lambda's and EventBridge's limits.
    #[error("{path}: {message}")]
    Shape { path: String, message: String },
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        #[source]
        problem: FieldProblem,
    },
}

impl EventError {
    /// The JSON path of the offending field (`.` for the whole event).
    pub fn field(&self) -> &str {
        match self {
            Self::Shape { path, .. } => path,
            Self::Invalid { field, .. } => field,
        }
    }
}

/// The rule a field broke.
#[derive(Debug, Error)]
pub enum FieldProblem {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} bytes, got {got}")]
    TooLong { max: usize, got: usize },
    #[error("must have at most {max} entries, got {got}")]
    TooMany { max: usize, got: usize },
    #[error("must be {expected:?}, got {got:?}")]
    NotExpected { expected: &'static str, got: String },
    #[error("must be a JSON object: an EventBridge envelope")]
    NotAnObject,
    #[error("must be a 12-digit AWS account id")]
    Account,
    #[error("must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z")]
    Timestamp,
    #[error("is required when outcome is \"failure\"")]
    RequiredForFailure,
    #[error("is not a valid image reference: {0}")]
    Image(#[source] ImageRefError),
    #[error("{0}")]
    Digest(#[source] DigestError),
    #[error("must equal the digest in detail.image.name ({0})")]
    DigestMismatch(String),
}

pub(crate) fn invalid(field: &'static str, problem: FieldProblem) -> EventError {
    EventError::Invalid { field, problem }
}

/// How much of a shape error's path, and of its message, an [`EventError`] keeps.
pub const MAX_SHAPE_BYTES: usize = 512;

/// `s` cut to [`MAX_SHAPE_BYTES`], marked with `…` where cut.
fn bounded(s: String) -> String {
    if s.len() <= MAX_SHAPE_BYTES {
        return s;
    }
    format!("{}…", text::prefix(&s, MAX_SHAPE_BYTES))
}

/// Deserializes with the path of the offending field in the error. serde's message quotes the
/// value it refused (`invalid type: string "…"`), and a rejection is logged and returned to
/// Lambda, so the path and message are redacted as a stored message is, before the cut. (Public
/// for the batches that carry envelopes, an SQS event's shape refused the same way.)
pub fn deserialize<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| EventError::Shape {
        path: bounded(crate::redact::secrets(&e.path().to_string()).into_owned()),
        message: bounded(crate::redact::secrets(&e.into_inner().to_string()).into_owned()),
    })
}

pub(crate) fn required(field: &'static str, value: String, max: usize) -> Result<String, EventError> {
    if value.trim().is_empty() {
        return Err(invalid(field, FieldProblem::Empty));
    }
    if value.len() > max {
        return Err(invalid(field, FieldProblem::TooLong { max, got: value.len() }));
    }
    Ok(value)
}

/// Marks a message its producer cut at its start to keep its end (the error a scanner ends on,
/// `scanfail run`'s last lines): such a message is stored by its end too ([`stored_message`]).
pub const CUT_START: &str = "[truncated]…";

/// `text` if within `max` bytes, else its end on a character boundary, marked [`CUT_START`]
/// (once, however often it is cut again), marker included.
pub fn keep_end(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let rest = text.strip_prefix(CUT_START).unwrap_or(&text);
    let mut start = rest.len().saturating_sub(max.saturating_sub(CUT_START.len()));
    while !rest.is_char_boundary(start) {
        start += 1;
    }
    format!("{CUT_START}{}", &rest[start..])
}

/// A failure's message as stored, at most [`bounds::MESSAGE_STORED`] bytes: its start, or its
/// end when its producer cut its start ([`CUT_START`]), which keeps the error it ends on.
pub fn stored_message(message: String) -> String {
    if message.starts_with(CUT_START) {
        keep_end(message, bounds::MESSAGE_STORED)
    } else {
        truncate(message, bounds::MESSAGE_STORED)
    }
}

/// Cuts `value` to at most `max` bytes on a character boundary, marker included.
pub fn truncate(mut value: String, max: usize) -> String {
    if value.len() <= max {
        return value;
    }
    let cut = text::prefix(&value, max.saturating_sub(TRUNCATION_MARKER.len())).len();
    value.truncate(cut);
    value.push_str(TRUNCATION_MARKER);
    value
}

pub(crate) fn optional(value: Option<String>, max: usize) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).map(|v| truncate(v, max))
}

pub(crate) fn timestamp(field: &'static str, value: &str) -> Result<OffsetDateTime, EventError> {
    time_fmt::parse(value).ok_or_else(|| invalid(field, FieldProblem::Timestamp))
}

/// The idempotency key of an occurrence its producer named (`detail.occurrenceId`): a retried
/// `PutEvents` (its response lost, say) is a second event with a new EventBridge id, and only the
/// producer's id makes it the same occurrence. Scoped to the sending account and source, so one
/// producer's ids cannot stand for another's occurrences, and to the scan (the image, normalized,
/// its operation and origin) and its reason, so one id given to every scan a job reports
/// (`$GITHUB_RUN_ID-$GITHUB_JOB`) still counts each image and each operation, and a job run again
/// under the same id that fails for another reason is another failure; a retry carries the same
/// detail. A UUID v5, so the key is bounded whatever the parts' lengths.
pub fn producer_key(
    account: &str,
    source: &str,
    scan: (&str, Operation, Origin, Reason),
    occurrence_id: &str,
) -> String {
    let (image, operation, origin, reason) = scan;
    // The lengths make the name unambiguous: a source or an id may hold any character (the
    // operation, origin and reason are closed sets without a line break).
    let name = format!(
        "{account}\n{}\n{source}\n{}\n{image}\n{}\n{}\n{}\n{occurrence_id}",
        source.len(),
        image.len(),
        operation.as_str(),
        origin.as_str(),
        reason.code()
    );
    format!("producer:{}", uuid::Uuid::new_v5(&crate::fingerprint::namespace(), name.as_bytes()))
}

/// Checks the envelope fields every event shares; `expected` is the detail-type it must have.
pub(crate) fn validate_envelope<D>(raw: &mut RawEnvelope<D>, expected: &'static str) -> Result<Envelope, EventError> {
    let id = required("id", std::mem::take(&mut raw.id), bounds::EVENT_ID)?;
    if raw.detail_type != expected {
        return Err(invalid(
            "detail-type",
            FieldProblem::NotExpected { expected, got: truncate(std::mem::take(&mut raw.detail_type), 128) },
        ));
    }
    if let Some(v) = raw.version.as_deref() {
        if v != "0" {
            return Err(invalid(
                "version",
                FieldProblem::NotExpected { expected: "0", got: truncate(v.to_owned(), 16) },
            ));
        }
    }
    let source = required("source", std::mem::take(&mut raw.source), bounds::SOURCE)?;
    if !text::is_account_id(&raw.account) {
        return Err(invalid("account", FieldProblem::Account));
    }
    let region = required("region", std::mem::take(&mut raw.region), bounds::REGION)?;
    let time = timestamp("time", &raw.time)?;
    if raw.resources.len() > bounds::RESOURCES {
        return Err(invalid("resources", FieldProblem::TooMany { max: bounds::RESOURCES, got: raw.resources.len() }));
    }
    if let Some(r) = raw.resources.iter().find(|r| r.len() > bounds::RESOURCE) {
        return Err(invalid("resources", FieldProblem::TooLong { max: bounds::RESOURCE, got: r.len() }));
    }
    Ok(Envelope { key: id.clone(), id, source, account: std::mem::take(&mut raw.account), region, time })
}
