//! Event contract v1: the EventBridge envelope with `detail-type: "Image Scan Failed"`, parsed
//! and validated into an [`Occurrence`]. Every string and collection from outside is bounded
//! here; a required field past its bound is a rejection, an optional or free-text field is
//! truncated with [`TRUNCATION_MARKER`].

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::classify::{self, Reason};
use crate::image::{validate_digest, DigestError, ImageRef, ImageRefError};
use crate::time_fmt;

/// The `detail-type` of the product's own event.
pub const DETAIL_TYPE: &str = "Image Scan Failed";
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
}

/// Which scan was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    #[default]
    Failure,
    Success,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDetail {
    operation: Operation,
    origin: Origin,
    #[serde(default)]
    outcome: Outcome,
    image: RawImage,
    #[serde(default)]
    deployment: Option<RawDeployment>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    error: Option<RawError>,
    #[serde(default)]
    initiator: Option<RawInitiator>,
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawImage {
    name: String,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawDeployment {
    name: String,
    namespace: String,
}

#[derive(Debug, Deserialize)]
struct RawError {
    message: String,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInitiator {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
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
    pub id: String,
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
    #[error("{path}: {source}")]
    Shape {
        path: String,
        #[source]
        source: serde_json::Error,
    },
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

/// Parses an envelope given as JSON. The error names the field and the rule.
pub fn parse(value: serde_json::Value) -> Result<Parsed, EventError> {
    if !value.is_object() {
        return Err(invalid(".", FieldProblem::NotAnObject));
    }
    match value.get("detail-type").and_then(|d| d.as_str()) {
        Some(crate::aws_sources::ECR_DETAIL_TYPE) => crate::aws_sources::parse_ecr(value),
        Some(crate::aws_sources::INSPECTOR_DETAIL_TYPE) => crate::aws_sources::parse_inspector(value),
        _ => validate(deserialize(value)?),
    }
}

/// Deserializes with the path of the offending field in the error.
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| EventError::Shape { path: e.path().to_string(), source: e.into_inner() })
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

/// Cuts `value` to at most `max` bytes on a character boundary, marker included.
pub fn truncate(mut value: String, max: usize) -> String {
    if value.len() <= max {
        return value;
    }
    let mut cut = max.saturating_sub(TRUNCATION_MARKER.len());
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    value.truncate(cut);
    value.push_str(TRUNCATION_MARKER);
    value
}

fn optional(value: Option<String>, max: usize) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).map(|v| truncate(v, max))
}

fn timestamp(field: &'static str, value: &str) -> Result<OffsetDateTime, EventError> {
    time_fmt::parse(value).ok_or_else(|| invalid(field, FieldProblem::Timestamp))
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
    if raw.account.len() != 12 || !raw.account.bytes().all(|b| b.is_ascii_digit()) {
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
    Ok(Envelope { id, source, account: std::mem::take(&mut raw.account), region, time })
}

fn validate(mut raw: RawEnvelope<RawDetail>) -> Result<Parsed, EventError> {
    let envelope = validate_envelope(&mut raw, DETAIL_TYPE)?;
    let time = envelope.time;
    let detail = raw.detail;
    if detail.outcome == Outcome::Success {
        return Ok(Parsed::Success { event_id: envelope.id });
    }

    let image = ImageRef::parse(&detail.image.name).map_err(|e| match e {
        ImageRefError::Empty => invalid("detail.image.name", FieldProblem::Empty),
        ImageRefError::TooLong(got) => {
            invalid("detail.image.name", FieldProblem::TooLong { max: crate::image::MAX_REFERENCE_BYTES, got })
        }
        other => invalid("detail.image.name", FieldProblem::Image(other)),
    })?;
    let image = match detail.image.digest {
        None => image,
        Some(d) => {
            validate_digest(&d).map_err(|e| invalid("detail.image.digest", FieldProblem::Digest(e)))?;
            match &image.digest {
                Some(own) if *own != d => {
                    return Err(invalid("detail.image.digest", FieldProblem::DigestMismatch(own.clone())))
                }
                _ => ImageRef { digest: Some(d), ..image },
            }
        }
    };

    let error = detail.error.ok_or_else(|| invalid("detail.error", FieldProblem::RequiredForFailure))?;
    if error.message.len() > bounds::MESSAGE_ACCEPTED {
        return Err(invalid(
            "detail.error.message",
            FieldProblem::TooLong { max: bounds::MESSAGE_ACCEPTED, got: error.message.len() },
        ));
    }
    let code = optional(error.code, bounds::ERROR_CODE);
    if error.message.trim().is_empty() && code.is_none() {
        return Err(invalid("detail.error.message", FieldProblem::Empty));
    }
    let message = truncate(error.message.trim().to_owned(), bounds::MESSAGE_STORED);
    let reason = classify::classify(code.as_deref(), &message);

    let deployment = match detail.deployment {
        None => None,
        Some(d) => Some(Deployment {
            name: required("detail.deployment.name", d.name, bounds::DEPLOYMENT_NAME)?,
            namespace: required("detail.deployment.namespace", d.namespace, bounds::NAMESPACE)?,
        }),
    };
    let initiator = detail.initiator.map_or_else(Initiator::default, |i| Initiator {
        id: optional(i.id, bounds::INITIATOR_ID),
        user_agent: optional(i.user_agent, bounds::USER_AGENT),
    });
    let occurred_at = match detail.occurred_at.as_deref() {
        Some(t) => timestamp("detail.occurredAt", t)?,
        None => time,
    };

    Ok(Parsed::Failure(Box::new(Occurrence {
        envelope,
        operation: detail.operation,
        origin: detail.origin,
        image,
        deployment,
        cluster: optional(detail.cluster, bounds::CLUSTER),
        message,
        reason,
        initiator,
        occurred_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(detail: serde_json::Value) -> serde_json::Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "Image Scan Failed",
            "source": "com.example.roxctl",
            "account": "123456789012",
            "time": "2026-11-25T10:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": detail
        })
    }

    fn failure() -> serde_json::Value {
        json!({
            "operation": "image scan",
            "origin": "roxctl",
            "image": {"name": "nginx"},
            "error": {"message": "context deadline exceeded"}
        })
    }

    fn err_text(v: serde_json::Value) -> String {
        match parse(v) {
            Ok(p) => panic!("expected a rejection, got {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_minimal_failure_is_parsed_normalized_and_classified() {
        let Ok(Parsed::Failure(o)) = parse(envelope(failure())) else { panic!("not a failure") };
        assert_eq!(o.image.normalized(), "docker.io/library/nginx:latest");
        assert_eq!(o.reason, Reason::Timeout);
        assert_eq!(o.operation, Operation::ImageScan);
        assert_eq!(o.origin, Origin::Roxctl);
        assert_eq!(o.occurred_at, o.envelope.time);
        assert_eq!(o.envelope.account, "123456789012");
    }

    #[test]
    fn a_success_is_acknowledged_without_an_occurrence() {
        let mut d = failure();
        d["outcome"] = json!("success");
        d.as_object_mut().map(|m| m.remove("error"));
        assert_eq!(
            parse(envelope(d)).ok(),
            Some(Parsed::Success { event_id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718".into() })
        );
    }

    #[test]
    fn malformed_events_are_rejected_naming_the_field_and_rule() {
        let mut no_detail = envelope(json!({}));
        no_detail.as_object_mut().map(|m| m.remove("detail"));
        assert_eq!(err_text(no_detail), ".: missing field `detail`");

        let mut d = failure();
        d["image"]["name"] = json!(42);
        assert_eq!(err_text(envelope(d)), "detail.image.name: invalid type: integer `42`, expected a string");

        let mut d = failure();
        d["operation"] = json!("image scna");
        assert_eq!(
            err_text(envelope(d)),
            "detail.operation: unknown variant `image scna`, expected one of `image scan`, `image check`, `image sbom`, `deployment check`"
        );

        let mut d = failure();
        d["image"]["name"] = json!("");
        assert_eq!(err_text(envelope(d)), "detail.image.name: must not be empty");

        let mut d = failure();
        d["image"]["digest"] = json!("sha256:xyz");
        assert_eq!(
            err_text(envelope(d)),
            "detail.image.digest: must be \"sha256:\" followed by 64 lower-case hex characters"
        );

        let mut d = failure();
        d["error"]["message"] = json!("x".repeat(300 * 1024));
        assert_eq!(err_text(envelope(d)), "detail.error.message: must be at most 65536 bytes, got 307200");

        assert_eq!(err_text(json!(["not", "an", "envelope"])), ".: must be a JSON object: an EventBridge envelope");
        assert_eq!(err_text(json!({"Records": []})), ".: missing field `id`");

        let mut d = failure();
        d.as_object_mut().map(|m| m.remove("error"));
        assert_eq!(err_text(envelope(d)), "detail.error: is required when outcome is \"failure\"");

        let mut e = envelope(failure());
        e["account"] = json!("12345");
        assert_eq!(err_text(e), "account: must be a 12-digit AWS account id");

        let mut e = envelope(failure());
        e["detail-type"] = json!("Something Else");
        assert_eq!(err_text(e), "detail-type: must be \"Image Scan Failed\", got \"Something Else\"");
    }

    #[test]
    fn free_text_past_its_bound_is_truncated_with_a_marker() {
        let mut d = failure();
        d["error"]["message"] = json!("é".repeat(5000));
        d["cluster"] = json!("c".repeat(300));
        d["initiator"] = json!({"id": "arn:aws:iam::123456789012:user/alice", "userAgent": "u".repeat(600)});
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("not a failure") };
        assert!(o.message.len() <= bounds::MESSAGE_STORED && o.message.ends_with(TRUNCATION_MARKER));
        assert_eq!(o.cluster.as_deref().map(str::len), Some(253 - TRUNCATION_MARKER.len() + TRUNCATION_MARKER.len()));
        assert_eq!(o.initiator.user_agent.as_deref().map(str::len), Some(bounds::USER_AGENT));
        assert_eq!(o.initiator.id.as_deref(), Some("arn:aws:iam::123456789012:user/alice"));
    }

    #[test]
    fn a_digest_field_becomes_the_resource_id_and_must_agree_with_the_name() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let mut d = failure();
        d["image"]["digest"] = json!(digest);
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("not a failure") };
        assert_eq!(o.image.digest.as_deref(), Some(digest.as_str()));

        let mut d = failure();
        d["image"]["name"] = json!(format!("nginx@sha256:{}", "b".repeat(64)));
        d["image"]["digest"] = json!(digest);
        assert!(err_text(envelope(d)).starts_with("detail.image.digest: must equal the digest"));
    }

    #[test]
    fn future_times_are_clamped_and_times_past_retention_are_not_stored() {
        let Ok(Parsed::Failure(mut o)) = parse(envelope(failure())) else { panic!("not a failure") };
        let now = time_fmt::parse("2026-11-25T10:00:00Z").unwrap();
        let days = time::Duration::days(4);
        o.occurred_at = time_fmt::parse("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(o.admit(now, days), Admission::Store);
        assert_eq!(o.occurred_at, now);
        o.occurred_at = now + time::Duration::minutes(4);
        assert_eq!(o.admit(now, days), Admission::Store);
        assert_eq!(o.occurred_at, now + time::Duration::minutes(4));
        o.occurred_at = now - days;
        assert_eq!(o.admit(now, days), Admission::Expired);
        o.occurred_at = time_fmt::parse("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(o.admit(now, days), Admission::Expired);
        o.occurred_at = now - days + time::Duration::seconds(1);
        assert_eq!(o.admit(now, days), Admission::Store);
    }

    #[test]
    fn occurred_at_overrides_the_envelope_time() {
        let mut d = failure();
        d["occurredAt"] = json!("2026-11-24T08:30:00.250+01:00");
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("not a failure") };
        assert_eq!(time_fmt::format(o.occurred_at), "2026-11-24T07:30:00.250Z");
    }
}
