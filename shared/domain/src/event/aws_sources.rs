//! Scan failures reported by AWS itself: Amazon ECR basic scanning (`ECR Image Scan`) and
//! Amazon Inspector enhanced scanning (`Inspector2 Coverage`). Neither carries a message, so
//! each status maps to a reason code; statuses that are not failures are ignored.
//!
//! `aws_lambda_events::ecr_scan::EcrScanEvent` is not used: it requires
//! `finding-severity-counts` and `image-tags`, which real failure events omit.

use serde::Deserialize;
use time::OffsetDateTime;

use super::envelope::{
    bounds, deserialize, invalid, required, truncate, validate_envelope, Envelope, EventError, FieldProblem, Initiator,
    Occurrence, Operation, Origin, Parsed, RawEnvelope,
};
use crate::classify::Reason;
use crate::fingerprint;
use crate::image::{validate_digest, ImageRef};
use crate::partition;
use crate::time_fmt;

pub const ECR_DETAIL_TYPE: &str = "ECR Image Scan";
pub const ECR_SOURCE: &str = "aws.ecr";
pub const INSPECTOR_DETAIL_TYPE: &str = "Inspector2 Coverage";
pub const INSPECTOR_SOURCE: &str = "aws.inspector2";
/// The Inspector coverage status whose reasons may be failures.
pub const INACTIVE: &str = "INACTIVE";
/// Why an Inspector coverage event of anything but an ECR image (an EC2 instance, a Lambda
/// function) is ignored; the template's Inspector rules leave those events out already.
pub const NOT_AN_ECR_IMAGE: &str = "resource is not an Amazon ECR container image";
/// Tags read from an event at most.
const MAX_TAGS: usize = 1000;
const MAX_REPOSITORY_NAME: usize = 256;
const MAX_STATUS: usize = 64;

/// ECR basic-scan statuses that are failures, and their reasons. Every other status
/// (`IN_PROGRESS`, `COMPLETE`, `ACTIVE`, `PENDING`, `IMAGE_ARCHIVED`, ...) is ignored.
pub const ECR_FAILURES: [(&str, Reason); 5] = [
    ("FAILED", Reason::ScanFailed),
    ("UNSUPPORTED_IMAGE", Reason::UnsupportedImage),
    ("SCAN_ELIGIBILITY_EXPIRED", Reason::ScanEligibilityExpired),
    ("FINDINGS_UNAVAILABLE", Reason::FindingsUnavailable),
    ("LIMIT_EXCEEDED", Reason::ScanQuotaExceeded),
];

/// Inspector `INACTIVE` reasons that are failures, and their reasons.
pub const INSPECTOR_FAILURES: [(&str, Reason); 13] = [
    ("ACCESS_DENIED", Reason::AccessDenied),
    ("ACCESS_DENIED_TO_ENCRYPTION_KEY", Reason::EncryptionKeyAccessDenied),
    ("INTERNAL_ERROR", Reason::InternalError),
    ("UNSUPPORTED_OS", Reason::UnsupportedImage),
    ("UNSUPPORTED_MEDIA_TYPE", Reason::UnsupportedImage),
    ("UNSUPPORTED_CONFIG_FILE", Reason::UnsupportedImage),
    ("UNSUPPORTED_LANGUAGE", Reason::UnsupportedImage),
    ("IMAGE_SIZE_EXCEEDED", Reason::ImageTooLarge),
    ("SCAN_ELIGIBILITY_EXPIRED", Reason::ScanEligibilityExpired),
    ("NO_RESOURCES_FOUND", Reason::UnsupportedImage),
    ("INVALID_ARTIFACT", Reason::UnsupportedImage),
    ("STORAGE_LIMIT_EXCEEDED", Reason::ImageTooLarge),
    ("EXTRACTION_COLLECTION_TIME_LIMIT_EXCEEDED", Reason::Timeout),
];

/// Inspector `INACTIVE` reasons that are not failures. An `INACTIVE` reason in neither list is
/// stored as `UNKNOWN`, so a cause AWS adds later is seen rather than dropped.
pub const INSPECTOR_NOT_FAILURES: [&str; 14] = [
    "PENDING_INITIAL_SCAN",
    "SCAN_FREQUENCY_MANUAL",
    "SCAN_FREQUENCY_SCAN_ON_PUSH",
    "EXCLUDED_BY_TAG",
    "RESOURCE_TERMINATED",
    "SUCCESSFUL",
    "PENDING_DISABLE",
    "SCAN_IN_PROGRESS",
    "IMAGE_ARCHIVED",
    "PENDING_REVIVAL_SCAN",
    "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED",
    "DEEP_INSPECTION_NO_INVENTORY",
    "STALE_INVENTORY",
    "NO_INVENTORY",
];

#[derive(Debug, Deserialize)]
struct EcrDetail {
    #[serde(rename = "scan-status")]
    scan_status: String,
    #[serde(rename = "repository-name")]
    repository_name: String,
    #[serde(rename = "image-digest")]
    image_digest: String,
    #[serde(rename = "image-tags", default)]
    image_tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InspectorDetail {
    scan_status: InspectorStatus,
    #[serde(default)]
    scan_type: Option<String>,
    #[serde(default)]
    event_timestamp: Option<serde_json::Value>,
    #[serde(default)]
    ecr_image_tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InspectorStatus {
    status_code_value: String,
    #[serde(default)]
    reason: Option<String>,
}

/// An AWS service's detail-type is accepted from that service's source only: EventBridge lets
/// no one else put an `aws.*` source, so any other source with it is someone's imitation (the
/// rules match the source too; this holds for whatever reaches the function another way, a
/// replayed dead letter or a direct invocation).
fn from_aws(envelope: Envelope, source: &'static str) -> Result<Envelope, EventError> {
    if envelope.source != source {
        return Err(invalid(
            "source",
            FieldProblem::NotExpected { expected: source, got: truncate(envelope.source, 128) },
        ));
    }
    Ok(envelope)
}

fn bounded(field: &'static str, value: String, max: usize) -> Result<String, EventError> {
    required(field, value, max)
}

/// `<account>.dkr.ecr.<region>.<suffix>/<repo>:<tag>` (or `@<digest>` without a tag; the DNS
/// suffix of the region's [`partition`]), with the digest kept as the resource id.
fn ecr_image(
    field: &'static str,
    account: &str,
    region: &str,
    repository: &str,
    tag: Option<&str>,
    digest: &str,
) -> Result<ImageRef, EventError> {
    let registry = format!("{account}.dkr.ecr.{region}.{}", partition::of_region(region).dns_suffix);
    let reference = match tag {
        Some(t) => format!("{registry}/{repository}:{t}@{digest}"),
        None => format!("{registry}/{repository}@{digest}"),
    };
    ImageRef::parse(&reference).map_err(|e| invalid(field, FieldProblem::Image(e)))
}

/// The tag that names the image: the same whatever order AWS lists the tags in (an event and
/// Inspector's coverage list them independently, and the tag is part of the group id): the
/// first in sorted order, `latest` only when there is no other. A tag no reference can carry
/// (ECR accepts up to 300 characters, a reference 128) is passed over: the digest names the
/// image all the same, and its failure is not lost to a tag.
fn first_tag(field: &'static str, tags: Option<Vec<String>>) -> Result<Option<String>, EventError> {
    let tags = tags.unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(invalid(field, FieldProblem::TooMany { max: MAX_TAGS, got: tags.len() }));
    }
    Ok(tags
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| crate::image::valid_tag(t))
        .min_by(|a, b| (a == "latest").cmp(&(b == "latest")).then_with(|| a.cmp(b))))
}

/// The idempotency key of an AWS-sourced occurrence ([`Envelope::key`]): the origin and a UUID
/// v5 over the image's repository and digest, the reason and the scan time, so the same failure
/// reported by its event and found again by the reconciler is counted once, while EventBridge's
/// id (different for each delivery path) is not part of it.
pub fn occurrence_key(origin: Origin, image: &ImageRef, reason: Reason, scanned_at: Option<OffsetDateTime>) -> String {
    let at = scanned_at.map_or_else(|| "never".to_owned(), time_fmt::format);
    let name = format!(
        "{}\n{}@{}\n{}\n{at}",
        origin.as_str(),
        image.repository(),
        image.digest.as_deref().unwrap_or_default(),
        reason.code()
    );
    format!("{}:{}", origin.as_str(), uuid::Uuid::new_v5(&fingerprint::namespace(), name.as_bytes()))
}

/// The occurrence, keyed by [`occurrence_key`] with `scanned_at` (`at` is when it happened).
fn occurrence(
    mut envelope: Envelope,
    origin: Origin,
    image: ImageRef,
    reason: Reason,
    message: String,
    at: OffsetDateTime,
    scanned_at: Option<OffsetDateTime>,
) -> Parsed {
    envelope.key = occurrence_key(origin, &image, reason, scanned_at);
    Parsed::Failure(Box::new(Occurrence {
        envelope,
        operation: Operation::RegistryScan,
        origin,
        image,
        deployment: None,
        cluster: None,
        // AWS's status texts are short: never cut.
        message: truncate(message, bounds::MESSAGE_STORED),
        uncut_message: None,
        reason,
        initiator: Initiator::default(),
        occurred_at: at,
    }))
}

/// An Amazon ECR basic-scan event.
pub fn parse_ecr(value: serde_json::Value) -> Result<Parsed, EventError> {
    let mut raw: RawEnvelope<EcrDetail> = deserialize(value)?;
    let envelope = from_aws(validate_envelope(&mut raw, ECR_DETAIL_TYPE)?, ECR_SOURCE)?;
    let status = bounded("detail.scan-status", std::mem::take(&mut raw.detail.scan_status), MAX_STATUS)?;
    let Some(reason) = ECR_FAILURES.iter().find(|(s, _)| *s == status).map(|(_, r)| *r) else {
        return Ok(Parsed::Ignored {
            event_id: envelope.id,
            why: format!("ECR scan status {status} is not a failure"),
        });
    };
    let repository =
        bounded("detail.repository-name", std::mem::take(&mut raw.detail.repository_name), MAX_REPOSITORY_NAME)?;
    let digest = std::mem::take(&mut raw.detail.image_digest);
    validate_digest(&digest).map_err(|e| invalid("detail.image-digest", FieldProblem::Digest(e)))?;
    let tag = first_tag("detail.image-tags", raw.detail.image_tags.take())?;
    // The repository ARN names the registry's account and region; fall back to the envelope's.
    let (account, region) = raw
        .resources
        .iter()
        .find_map(|r| ecr_arn(r).map(|a| (a.account.to_owned(), a.region.to_owned())))
        .unwrap_or_else(|| (envelope.account.clone(), envelope.region.clone()));
    let image = ecr_image("detail.repository-name", &account, &region, &repository, tag.as_deref(), &digest)?;
    let message = format!("Amazon ECR basic scan of {repository}@{digest} ended with status {status}");
    let at = envelope.time;
    Ok(occurrence(envelope, Origin::Ecr, image, reason, message, at, Some(at)))
}

struct EcrArn<'a> {
    region: &'a str,
    account: &'a str,
    /// What follows `repository/`.
    path: &'a str,
}

fn ecr_arn(arn: &str) -> Option<EcrArn<'_>> {
    let rest = arn.strip_prefix("arn:")?;
    let (id, rest) = rest.split_once(':')?;
    partition::by_id(id)?;
    let rest = rest.strip_prefix("ecr:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let path = rest.strip_prefix("repository/")?;
    (crate::text::is_account_id(account) && !region.is_empty()).then_some(EcrArn { region, account, path })
}

/// Inspector's `eventTimestamp` comes as RFC 3339, as an ISO 8601 date-time with an offset or
/// without one (UTC), or as epoch seconds or milliseconds; anything else yields `None`. The
/// milliseconds are kept: the reconciler derives the same scan's key from `ListCoverage`'s
/// `lastScannedAt` to the millisecond, and the two must meet. A time before
/// [`INSPECTOR_FLOOR`] is no scan's (a zero, a placeholder year 1) and yields `None` too: taken as
/// the failure's time, it would have the occurrence acknowledged as expired and never stored.
fn inspector_time(value: &serde_json::Value) -> Option<OffsetDateTime> {
    let t = match value {
        serde_json::Value::String(s) if s.len() <= 64 => time_fmt::parse(s).or_else(|| {
            let iso = time::format_description::well_known::Iso8601::DEFAULT;
            // With an offset first: parsed as a primitive date-time, an offset is read and dropped.
            let t = OffsetDateTime::parse(s, &iso)
                .ok()
                .or_else(|| time::PrimitiveDateTime::parse(s, &iso).ok().map(time::PrimitiveDateTime::assume_utc))?
                .checked_to_offset(time::UtcOffset::UTC)?;
            (0..=9999).contains(&t.year()).then_some(t)
        }),
        serde_json::Value::Number(n) => {
            let secs = n.as_f64()?;
            let millis = if secs > 1e11 { secs } else { secs * 1000.0 };
            if !millis.is_finite() || millis.abs() > 1e15 {
                return None;
            }
            // Cut to the millisecond as a string's digits are (`….1236` is `.123` both ways),
            // but for the binary fraction's error: 1795575598.12 × 1000 is 1795575598119.99998.
            let whole = millis.floor();
            let millis = if millis - whole > 0.999 { whole + 1.0 } else { whole };
            OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000).ok()
        }
        _ => None,
    };
    t.filter(|t| t.unix_timestamp() >= INSPECTOR_FLOOR)
}

/// 2017-01-01T00:00:00Z, epoch seconds: before Amazon Inspector scanned container images (2021).
const INSPECTOR_FLOOR: i64 = 1_483_228_800;

/// An Amazon Inspector coverage event.
pub fn parse_inspector(value: serde_json::Value) -> Result<Parsed, EventError> {
    let mut raw: RawEnvelope<InspectorDetail> = deserialize(value)?;
    let envelope = from_aws(validate_envelope(&mut raw, INSPECTOR_DETAIL_TYPE)?, INSPECTOR_SOURCE)?;
    let status = bounded(
        "detail.scanStatus.statusCodeValue",
        std::mem::take(&mut raw.detail.scan_status.status_code_value),
        MAX_STATUS,
    )?;
    let reason_text = raw.detail.scan_status.reason.take().map(|r| truncate(r, MAX_STATUS)).unwrap_or_default();
    let Some(arn) = raw.resources.iter().find_map(|r| ecr_arn(r).filter(|a| a.path.contains("/sha256:"))) else {
        return Ok(Parsed::Ignored { event_id: envelope.id, why: NOT_AN_ECR_IMAGE.into() });
    };
    let scanned_at = raw.detail.event_timestamp.as_ref().and_then(inspector_time);
    let found = Inactive {
        status,
        reason_text,
        tags: raw.detail.ecr_image_tags.take(),
        tags_field: "detail.ecrImageTags",
        scan_type: raw.detail.scan_type.take(),
        at: scanned_at.unwrap_or(envelope.time),
        scanned_at: Some(scanned_at.unwrap_or(envelope.time)),
    };
    inactive(envelope, &arn, found)
}

/// What Inspector says of one ECR image's coverage, from its event or from `ListCoverage`.
struct Inactive {
    status: String,
    reason_text: String,
    tags: Option<Vec<String>>,
    tags_field: &'static str,
    scan_type: Option<String>,
    /// When the failure happened.
    at: OffsetDateTime,
    /// The scan time the key is derived from (`None`: never scanned).
    scanned_at: Option<OffsetDateTime>,
}

/// A coverage status of an ECR image as a failure, or why it is none.
fn inactive(envelope: Envelope, arn: &EcrArn<'_>, found: Inactive) -> Result<Parsed, EventError> {
    let Inactive { status, reason_text, tags, tags_field, scan_type, at, scanned_at } = found;
    if status != INACTIVE {
        return Ok(Parsed::Ignored { event_id: envelope.id, why: format!("Inspector coverage status {status}") });
    }
    if INSPECTOR_NOT_FAILURES.contains(&reason_text.as_str()) {
        return Ok(Parsed::Ignored {
            event_id: envelope.id,
            why: format!("Inspector reason {reason_text} is not a failure"),
        });
    }
    let reason =
        INSPECTOR_FAILURES.iter().find(|(r, _)| *r == reason_text).map_or(Reason::Unknown, |(_, reason)| *reason);
    let Some((repository, digest)) = arn.path.rsplit_once('/') else {
        return Err(invalid(
            "resources",
            FieldProblem::NotExpected { expected: "an ECR image ARN", got: truncate(arn.path.to_owned(), 128) },
        ));
    };
    validate_digest(digest).map_err(|e| invalid("resources", FieldProblem::Digest(e)))?;
    let tag = first_tag(tags_field, tags)?;
    let image = ecr_image("resources", arn.account, arn.region, repository, tag.as_deref(), digest)?;
    let scan_type = scan_type.map(|t| truncate(t, MAX_STATUS)).unwrap_or_else(|| "PACKAGE".into());
    let message = format!(
        "Amazon Inspector stopped scanning {repository}@{digest}: coverage INACTIVE, reason {reason_text} (scan type {scan_type})"
    );
    Ok(occurrence(envelope, Origin::Inspector, image, reason, message, at, scanned_at))
}

/// One entry of Amazon Inspector's coverage (`inspector2:ListCoverage`'s `CoveredResource`),
/// reduced to what a failure needs (the account is the image ARN's); the reconciler fills it
/// from the SDK's type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coverage {
    /// The ECR image's ARN (`arn:aws:ecr:<region>:<account>:repository/<name>/sha256:<hex>`).
    pub resource_id: String,
    pub status_code: String,
    pub reason: Option<String>,
    pub scan_type: Option<String>,
    pub last_scanned_at: Option<OffsetDateTime>,
    pub image_tags: Vec<String>,
}

/// A coverage entry found by the reconciler at `now`, as the event Inspector would have sent
/// for it: the same reason, image, message and idempotency key (the scan time is
/// `lastScannedAt`), with the account and region of the image's ARN. An image never scanned
/// is keyed without a time and dated `now`.
pub fn parse_coverage(c: Coverage, now: OffsetDateTime) -> Result<Parsed, EventError> {
    let resource = bounded("resourceId", c.resource_id, bounds::RESOURCE)?;
    let Some(arn) = ecr_arn(&resource).filter(|a| a.path.contains("/sha256:")) else {
        return Ok(Parsed::Ignored { event_id: truncate(resource.clone(), 128), why: NOT_AN_ECR_IMAGE.into() });
    };
    let envelope = Envelope {
        id: format!("reconciled:{}", truncate(resource.clone(), 512)),
        key: String::new(),
        source: INSPECTOR_SOURCE.into(),
        account: arn.account.to_owned(),
        region: arn.region.to_owned(),
        time: now,
    };
    let found = Inactive {
        status: bounded("scanStatus.statusCode", c.status_code, MAX_STATUS)?,
        reason_text: c.reason.map(|r| truncate(r, MAX_STATUS)).unwrap_or_default(),
        tags: Some(c.image_tags),
        tags_field: "resourceMetadata.ecrImage.tags",
        scan_type: c.scan_type,
        at: c.last_scanned_at.unwrap_or(now).min(now),
        scanned_at: c.last_scanned_at,
    };
    inactive(envelope, &arn, found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";

    fn ecr(status: &str) -> serde_json::Value {
        json!({"version": "0", "id": "85fc3613-e913-7fc4-a80c-a3753e4aa9ae", "detail-type": "ECR Image Scan",
            "source": "aws.ecr", "account": "123456789012", "time": "2026-11-25T02:36:48Z", "region": "us-east-1",
            "resources": ["arn:aws:ecr:us-east-1:123456789012:repository/team/api"],
            "detail": {"scan-status": status, "repository-name": "team/api", "image-digest": DIGEST}})
    }

    fn inspector(status: &str, reason: &str, resource: &str) -> serde_json::Value {
        json!({"version": "0", "id": "3f6e3b9c-4c1a-4d0e-9a55-2a8f1f0c1d11", "detail-type": "Inspector2 Coverage",
            "source": "aws.inspector2", "account": "123456789012", "time": "2026-11-25T03:00:00Z", "region": "us-east-1",
            "resources": [resource],
            "detail": {"scanStatus": {"statusCodeValue": status, "reason": reason}, "scanType": "PACKAGE",
                "eventTimestamp": "2026-11-25T02:59:58.120000"}})
    }

    fn failure(p: Result<Parsed, EventError>) -> Box<Occurrence> {
        match p {
            Ok(Parsed::Failure(o)) => o,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    /// The registry's host in China is `amazonaws.com.cn` (before, the group was named after a
    /// host that does not exist there, apart from the same image reported by a scanner).
    #[test]
    fn an_ecr_image_in_a_china_region_is_named_after_the_registrys_host_there() {
        let mut event = ecr("UNSUPPORTED_IMAGE");
        event["region"] = json!("cn-north-1");
        event["resources"] = json!(["arn:aws-cn:ecr:cn-north-1:123456789012:repository/team/api"]);
        let o = failure(parse_ecr(event));
        assert_eq!(o.image.normalized(), format!("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/api@{DIGEST}"));
    }

    /// Every partition's images are named after their registry's host (before, an image in the
    /// ISO partitions or the European Sovereign Cloud was ignored as "not an ECR image").
    #[test]
    fn an_ecr_image_in_any_partition_is_named_after_the_registrys_host_there() {
        for (partition, region, host_suffix) in [
            ("aws", "eu-west-1", "amazonaws.com"),
            ("aws-us-gov", "us-gov-west-1", "amazonaws.com"),
            ("aws-eusc", "eusc-de-east-1", "amazonaws.eu"),
            ("aws-iso", "us-iso-east-1", "c2s.ic.gov"),
            ("aws-iso-b", "us-isob-east-1", "sc2s.sgov.gov"),
            ("aws-iso-e", "eu-isoe-west-1", "cloud.adc-e.uk"),
            ("aws-iso-f", "us-isof-south-1", "csp.hci.ic.gov"),
        ] {
            let mut event = ecr("UNSUPPORTED_IMAGE");
            event["region"] = json!(region);
            event["resources"] = json!([format!("arn:{partition}:ecr:{region}:123456789012:repository/team/api")]);
            let o = failure(parse_ecr(event));
            assert_eq!(o.image.normalized(), format!("123456789012.dkr.ecr.{region}.{host_suffix}/team/api@{DIGEST}"));
        }
    }

    #[test]
    fn an_arn_of_an_unknown_partition_or_another_service_names_no_ecr_image() {
        assert!(ecr_arn("arn:aws-mars:ecr:mars-1:123456789012:repository/team/api").is_none());
        assert!(ecr_arn("arn:aws:s3:eu-west-1:123456789012:repository/team/api").is_none());
        assert!(ecr_arn("arn:aws:ecr:eu-west-1:123456789012:repository/team/api").is_some());
    }

    #[test]
    fn each_ecr_failure_status_maps_to_its_reason_and_others_are_ignored() {
        for (status, reason) in ECR_FAILURES {
            let o = failure(parse_ecr(ecr(status)));
            assert_eq!(o.reason, reason, "{status}");
            assert_eq!(o.operation, Operation::RegistryScan);
            assert_eq!(o.origin, Origin::Ecr);
            assert_eq!(o.image.normalized(), format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api@{DIGEST}"));
            assert_eq!(o.image.digest.as_deref(), Some(DIGEST));
        }
        for status in ["COMPLETE", "IN_PROGRESS", "ACTIVE", "PENDING", "IMAGE_ARCHIVED"] {
            assert!(matches!(parse_ecr(ecr(status)), Ok(Parsed::Ignored { .. })), "{status}");
        }
    }

    #[test]
    fn an_ecr_tag_a_reference_can_carry_names_the_image_and_malformed_ecr_events_are_rejected() {
        let mut e = ecr("FAILED");
        e["detail"]["image-tags"] = json!(["v1.2", "latest"]);
        let o = failure(parse_ecr(e));
        assert_eq!(o.image.normalized(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:v1.2");
        // Tags ECR accepts and a reference cannot carry (past 128 characters, a leading `.`) are
        // passed over; with none left, the digest names the image.
        let mut e = ecr("FAILED");
        e["detail"]["image-tags"] = json!(["a".repeat(129), ".hidden", "v2"]);
        let o = failure(parse_ecr(e));
        assert_eq!(o.image.normalized(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:v2");
        let mut e = ecr("FAILED");
        e["detail"]["image-tags"] = json!(["a".repeat(300)]);
        let o = failure(parse_ecr(e));
        assert_eq!(o.image.normalized(), format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api@{DIGEST}"));
        let mut e = ecr("FAILED");
        e["detail"]["image-digest"] = json!("sha256:nope");
        assert_eq!(parse_ecr(e).unwrap_err().field(), "detail.image-digest");
        let mut e = ecr("FAILED");
        e["detail"].as_object_mut().map(|d| d.remove("repository-name"));
        assert_eq!(parse_ecr(e).unwrap_err().to_string(), "detail: missing field `repository-name`");
        let mut e = ecr("FAILED");
        e["detail"]["repository-name"] = json!("Team/API");
        assert_eq!(parse_ecr(e).unwrap_err().field(), "detail.repository-name");
    }

    /// Before, the detail-type alone chose the parser: any producer could report an ECR or
    /// Inspector failure of any account's image.
    #[test]
    fn an_aws_detail_type_from_another_source_is_rejected_naming_the_source() {
        let image = format!("arn:aws:ecr:us-east-1:123456789012:repository/team/api/{DIGEST}");
        for (mut event, expected) in
            [(ecr("FAILED"), ECR_SOURCE), (inspector("INACTIVE", "ACCESS_DENIED", &image), INSPECTOR_SOURCE)]
        {
            event["source"] = json!("com.example.ci");
            let e = crate::event::parse(event).unwrap_err();
            assert_eq!(e.to_string(), format!("source: must be {expected:?}, got \"com.example.ci\""));
        }
    }

    /// Inspector's `ScanStatusReason` values (botocore's inspector2 model, 2020-06-08, as
    /// `make tools` installs it with sam) that an ECR image can have are each a failure or
    /// ignored, by their exact name (`PENDING_REVIVAL` was listed, which AWS never sends, and
    /// `PENDING_REVIVAL_SCAN` was a failure of unknown cause).
    #[test]
    fn every_scan_status_reason_inspector_has_for_images_is_placed_by_its_exact_name() {
        const FOR_OTHER_RESOURCES: [&str; 12] = [
            "UNMANAGED_EC2_INSTANCE",
            "EC2_INSTANCE_STOPPED",
            "UNSUPPORTED_RUNTIME",
            "DEEP_INSPECTION_DAILY_SSM_INVENTORY_LIMIT_EXCEEDED",
            "DEEP_INSPECTION_COLLECTION_TIME_LIMIT_EXCEEDED",
            "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED",
            "AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED",
            "INTEGRATION_CONNECTION_LOST",
            "NO_SCAN_CONFIGURATION_ASSOCIATED",
            "UNSUPPORTED_CODE_ARTIFACTS",
            "RESOURCE_UNMANAGED",
            "RESOURCE_STOPPED",
        ];
        const MODEL: [&str; 39] = [
            "PENDING_INITIAL_SCAN",
            "ACCESS_DENIED",
            "INTERNAL_ERROR",
            "UNMANAGED_EC2_INSTANCE",
            "UNSUPPORTED_OS",
            "SCAN_ELIGIBILITY_EXPIRED",
            "RESOURCE_TERMINATED",
            "SUCCESSFUL",
            "NO_RESOURCES_FOUND",
            "IMAGE_SIZE_EXCEEDED",
            "SCAN_FREQUENCY_MANUAL",
            "SCAN_FREQUENCY_SCAN_ON_PUSH",
            "EC2_INSTANCE_STOPPED",
            "PENDING_DISABLE",
            "NO_INVENTORY",
            "STALE_INVENTORY",
            "EXCLUDED_BY_TAG",
            "UNSUPPORTED_RUNTIME",
            "UNSUPPORTED_MEDIA_TYPE",
            "UNSUPPORTED_CONFIG_FILE",
            "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED",
            "DEEP_INSPECTION_DAILY_SSM_INVENTORY_LIMIT_EXCEEDED",
            "DEEP_INSPECTION_COLLECTION_TIME_LIMIT_EXCEEDED",
            "DEEP_INSPECTION_NO_INVENTORY",
            "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED",
            "AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED",
            "PENDING_REVIVAL_SCAN",
            "INTEGRATION_CONNECTION_LOST",
            "ACCESS_DENIED_TO_ENCRYPTION_KEY",
            "UNSUPPORTED_LANGUAGE",
            "NO_SCAN_CONFIGURATION_ASSOCIATED",
            "SCAN_IN_PROGRESS",
            "IMAGE_ARCHIVED",
            "UNSUPPORTED_CODE_ARTIFACTS",
            "RESOURCE_UNMANAGED",
            "RESOURCE_STOPPED",
            "EXTRACTION_COLLECTION_TIME_LIMIT_EXCEEDED",
            "STORAGE_LIMIT_EXCEEDED",
            "INVALID_ARTIFACT",
        ];
        let placed: Vec<&str> = INSPECTOR_FAILURES.iter().map(|(r, _)| *r).chain(INSPECTOR_NOT_FAILURES).collect();
        let unplaced: Vec<&str> =
            MODEL.into_iter().filter(|r| !FOR_OTHER_RESOURCES.contains(r) && !placed.contains(r)).collect();
        assert_eq!(unplaced, Vec::<&str>::new());
        let unknown: Vec<&str> = placed.into_iter().filter(|r| !MODEL.contains(r)).collect();
        assert_eq!(unknown, Vec::<&str>::new());
    }

    #[test]
    fn inspector_inactive_failures_on_ecr_images_are_failures_and_the_rest_is_ignored() {
        let image = format!("arn:aws:ecr:us-east-1:123456789012:repository/team/api/{DIGEST}");
        for (reason_text, reason) in INSPECTOR_FAILURES {
            let o = failure(parse_inspector(inspector("INACTIVE", reason_text, &image)));
            assert_eq!(o.reason, reason, "{reason_text}");
            assert_eq!(o.origin, Origin::Inspector);
            assert_eq!(time_fmt::format(o.occurred_at), "2026-11-25T02:59:58.120Z");
        }
        for reason_text in INSPECTOR_NOT_FAILURES {
            assert!(matches!(parse_inspector(inspector("INACTIVE", reason_text, &image)), Ok(Parsed::Ignored { .. })));
        }
        assert!(matches!(parse_inspector(inspector("ACTIVE", "SUCCESSFUL", &image)), Ok(Parsed::Ignored { .. })));
        let ec2 = "arn:aws:ec2:us-east-1:123456789012:instance/i-0c2a343f1948d5205";
        assert!(matches!(parse_inspector(inspector("INACTIVE", "ACCESS_DENIED", ec2)), Ok(Parsed::Ignored { .. })));
        assert_eq!(failure(parse_inspector(inspector("INACTIVE", "SOMETHING_NEW", &image))).reason, Reason::Unknown);
    }

    fn coverage(reason: &str, scanned: Option<&str>, tags: &[&str]) -> Coverage {
        Coverage {
            resource_id: format!("arn:aws:ecr:us-east-1:123456789012:repository/team/api/{DIGEST}"),
            status_code: "INACTIVE".into(),
            reason: Some(reason.into()),
            scan_type: Some("PACKAGE".into()),
            last_scanned_at: scanned.and_then(time_fmt::parse),
            image_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn an_inspector_event_and_the_coverage_entry_of_the_same_scan_are_one_occurrence() {
        let image = format!("arn:aws:ecr:us-east-1:123456789012:repository/team/api/{DIGEST}");
        let mut event = inspector("INACTIVE", "ACCESS_DENIED", &image);
        event["detail"]["ecrImageTags"] = json!(["v1.2", "latest", "build-7"]);
        let from_event = failure(parse_inspector(event));
        let now = time::macros::datetime!(2026-11-26 00:00 UTC);
        let scanned = Some("2026-11-25T02:59:58.120Z");
        let from_coverage =
            failure(parse_coverage(coverage("ACCESS_DENIED", scanned, &["latest", "v1.2", "build-7"]), now));
        assert_eq!(from_event.envelope.key, from_coverage.envelope.key);
        // The same scan with its time in epoch milliseconds: still the same key.
        let mut in_ms = inspector("INACTIVE", "ACCESS_DENIED", &image);
        in_ms["detail"]["eventTimestamp"] = json!(1795575598120u64);
        assert_eq!(failure(parse_inspector(in_ms)).envelope.key, from_coverage.envelope.key);
        assert!(from_event.envelope.key.starts_with("inspector:"), "{}", from_event.envelope.key);
        assert_ne!(from_event.envelope.key, from_event.envelope.id);
        // The same group: image (its tag chosen whatever the order), reason and message.
        assert_eq!(from_event.image.normalized(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:build-7");
        assert_eq!(from_event.image, from_coverage.image);
        assert_eq!((from_event.reason, &from_event.message), (from_coverage.reason, &from_coverage.message));
        assert_eq!(from_event.occurred_at, from_coverage.occurred_at);
        assert_eq!(
            (from_coverage.envelope.account.as_str(), from_coverage.envelope.region.as_str()),
            ("123456789012", "us-east-1")
        );
        // Another scan time, or another reason, is another occurrence.
        let later = failure(parse_coverage(coverage("ACCESS_DENIED", Some("2026-11-25T09:00:00Z"), &[]), now));
        assert_ne!(later.envelope.key, from_event.envelope.key);
        let other = failure(parse_coverage(coverage("INTERNAL_ERROR", scanned, &[]), now));
        assert_ne!(other.envelope.key, from_event.envelope.key);
        // Never scanned: keyed without a time, so every run finds the same occurrence.
        let never = failure(parse_coverage(coverage("ACCESS_DENIED", None, &[]), now));
        assert_eq!(never.occurred_at, now);
        assert_eq!(
            never.envelope.key,
            failure(parse_coverage(coverage("ACCESS_DENIED", None, &[]), now + time::Duration::hours(6))).envelope.key
        );
    }

    #[test]
    fn coverage_that_is_not_a_failure_or_not_an_ecr_image_is_ignored_and_a_bad_arn_refused() {
        let now = time::macros::datetime!(2026-11-26 00:00 UTC);
        let mut c = coverage("PENDING_INITIAL_SCAN", None, &[]);
        assert!(matches!(parse_coverage(c.clone(), now), Ok(Parsed::Ignored { .. })));
        c.reason = Some("ACCESS_DENIED".into());
        c.status_code = "ACTIVE".into();
        assert!(matches!(parse_coverage(c.clone(), now), Ok(Parsed::Ignored { .. })));
        c.status_code = "INACTIVE".into();
        c.resource_id = "i-0c2a343f1948d5205".into();
        assert!(matches!(parse_coverage(c.clone(), now), Ok(Parsed::Ignored { .. })));
        c.resource_id = "arn:aws:ecr:us-east-1:123456789012:repository/team/api/sha256:nope".into();
        assert_eq!(parse_coverage(c.clone(), now).unwrap_err().field(), "resources");
        c.resource_id = "x".repeat(3000);
        assert_eq!(parse_coverage(c, now).unwrap_err().field(), "resourceId");
    }

    #[test]
    fn inspector_timestamps_are_parsed_in_every_format_or_fall_back_to_the_envelope() {
        assert_eq!(
            inspector_time(&json!("2026-11-25T02:59:58Z")).map(time_fmt::format).as_deref(),
            Some("2026-11-25T02:59:58.000Z")
        );
        assert_eq!(
            inspector_time(&json!("2026-11-25T02:59:58.120000")).map(time_fmt::format).as_deref(),
            Some("2026-11-25T02:59:58.120Z")
        );
        assert_eq!(
            inspector_time(&json!(1795575598)).map(time_fmt::format).as_deref(),
            Some("2026-11-25T02:59:58.000Z")
        );
        assert_eq!(
            inspector_time(&json!(1795575598000u64)).map(time_fmt::format).as_deref(),
            Some("2026-11-25T02:59:58.000Z")
        );
        assert_eq!(inspector_time(&json!("yesterday")), None);
        // No scan's time: the envelope's is used (before, the occurrence was dated then and
        // acknowledged as expired, never stored).
        for placeholder in
            [json!(0), json!(-1), json!(1000), json!("0001-01-01T00:00:00Z"), json!("1970-01-01T00:00:00")]
        {
            assert_eq!(inspector_time(&placeholder), None, "{placeholder}");
        }
        assert_eq!(
            inspector_time(&json!(INSPECTOR_FLOOR)).map(time_fmt::format).as_deref(),
            Some("2017-01-01T00:00:00.000Z")
        );
        assert_eq!(inspector_time(&json!(1e300)), None);
        assert_eq!(inspector_time(&json!(-1e300)), None);
    }

    #[test]
    fn inspector_timestamps_keep_their_milliseconds_and_their_offset() {
        let at = |v: serde_json::Value| inspector_time(&v).map(time_fmt::format);
        assert_eq!(at(json!(1795575598120u64)).as_deref(), Some("2026-11-25T02:59:58.120Z"));
        assert_eq!(at(json!(1795575598.12)).as_deref(), Some("2026-11-25T02:59:58.120Z"));
        // Digits past the millisecond are cut, as the same time as a string has them cut.
        assert_eq!(at(json!(1795575598.1236)).as_deref(), Some("2026-11-25T02:59:58.123Z"));
        assert_eq!(at(json!("2026-11-25T02:59:58.1236Z")).as_deref(), Some("2026-11-25T02:59:58.123Z"));
        assert_eq!(at(json!(1795575598123.6)).as_deref(), Some("2026-11-25T02:59:58.123Z"));
        // Not RFC 3339 (an hour-only offset), ISO 8601 all the same: 5 hours ahead of UTC.
        assert_eq!(at(json!("2026-11-25T07:59:58.1+05")).as_deref(), Some("2026-11-25T02:59:58.100Z"));
        assert_eq!(at(json!("2026-11-25T02:59:58.1")).as_deref(), Some("2026-11-25T02:59:58.100Z"));
        let image = format!("arn:aws:ecr:us-east-1:123456789012:repository/team/api/{DIGEST}");
        let mut e = inspector("INACTIVE", "ACCESS_DENIED", &image);
        e["detail"]["eventTimestamp"] = json!("garbage");
        assert_eq!(time_fmt::format(failure(parse_inspector(e)).occurred_at), "2026-11-25T03:00:00.000Z");
    }
}
