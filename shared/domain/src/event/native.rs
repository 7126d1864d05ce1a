//! The product's own event, `detail-type: "Image Scan Failed"` (contract v1), as `scanfail run`,
//! CI pipelines and the StackRox API publish it: validated, normalized and classified into an
//! [`Occurrence`].

use serde::Deserialize;

use super::envelope::{
    bounds, deserialize, invalid, optional, producer_key, required, stored_message, timestamp, validate_envelope,
    Deployment, EventError, FieldProblem, Initiator, Occurrence, Operation, Origin, Parsed, RawEnvelope,
};
use crate::classify;
use crate::image::{validate_digest, ImageRef, ImageRefError};

/// The `detail-type` of the product's own event.
pub const DETAIL_TYPE: &str = "Image Scan Failed";

/// An "Image Scan Failed" envelope.
pub fn parse(value: serde_json::Value) -> Result<Parsed, EventError> {
    validate(deserialize(value)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    #[default]
    Failure,
    Success,
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
    #[serde(default)]
    occurrence_id: Option<String>,
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

fn validate(mut raw: RawEnvelope<RawDetail>) -> Result<Parsed, EventError> {
    let mut envelope = validate_envelope(&mut raw, DETAIL_TYPE)?;
    let time = envelope.time;
    let detail = raw.detail;
    if detail.outcome == Outcome::Success {
        return Ok(Parsed::Success { event_id: envelope.id });
    }
    let occurrence_id = match detail.occurrence_id {
        Some(id) => Some(required("detail.occurrenceId", id, bounds::OCCURRENCE_ID)?),
        None => None,
    };

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
                Some(_) => image,
                // A name without a tag given with its digest is that digest's image, as
                // `name@digest` is: not `:latest` (which parsing the name alone supplies), or
                // one image was two groups by how the producer spelled it.
                None => {
                    let tagged = detail.image.name.rsplit('/').next().is_some_and(|last| last.contains(':'));
                    let tag = if tagged { image.tag } else { None };
                    let with_digest = ImageRef { digest: Some(d), tag, ..image };
                    let got = with_digest.normalized().len();
                    if got > crate::image::MAX_REFERENCE_BYTES {
                        let max = crate::image::MAX_REFERENCE_BYTES;
                        return Err(invalid("detail.image.name", FieldProblem::TooLong { max, got }));
                    }
                    with_digest
                }
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
    // Redacted before anything reads it: what is stored, classified and grouped has no secret.
    let redacted = crate::redact::secrets(error.message.trim()).into_owned();
    // Classified whole, as it is grouped: classified on the stored cut, a phrase past it filed
    // one failure under two reasons, by the length of what came before (an attempt number).
    let reason = classify::classify(code.as_deref(), &redacted);
    // Only an UNKNOWN failure's group is named by its message.
    let uncut_message =
        (redacted.len() > bounds::MESSAGE_STORED && reason == classify::Reason::Unknown).then(|| redacted.clone());
    let message = stored_message(redacted);
    if let Some(id) = occurrence_id {
        let scan = (image.normalized(), detail.operation, detail.origin, reason);
        envelope.key = producer_key(&envelope.account, &envelope.source, (&scan.0, scan.1, scan.2, scan.3), &id);
    }

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
        uncut_message,
        reason,
        initiator,
        occurred_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Reason;
    use crate::event::envelope::MAX_SHAPE_BYTES;
    use crate::event::{parse, Admission, TRUNCATION_MARKER};
    use crate::time_fmt;
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

    /// A scanner's output with a registry password in a URL is stored without it (it was
    /// stored, and shown to every viewer, as sent).
    fn occurrence_with_message(message: &str) -> Occurrence {
        let mut detail = failure();
        detail["error"]["message"] = json!(message);
        match parse(envelope(detail)) {
            Ok(Parsed::Failure(o)) => *o,
            other => panic!("{other:?}"),
        }
    }

    /// Two long unrecognised failures that differ only in a number before the 4 KiB cut are one
    /// group: the whole message is masked, then named. Masked after the cut (what is stored),
    /// the longer number pushed the cut 6 bytes back, and the two were two groups.
    #[test]
    fn long_unknown_messages_differing_in_a_variable_part_before_the_cut_are_one_group() {
        let text = |n: &str| format!("weird failure {n}: {}", "the frobnicator sputtered; ".repeat(200));
        let (a, b) = (occurrence_with_message(&text("7")), occurrence_with_message(&text("1234567")));
        assert_eq!((a.reason, b.reason), (Reason::Unknown, Reason::Unknown));
        assert!(a.message.ends_with(TRUNCATION_MARKER) && a.uncut_message.is_some());
        let name = a.image.normalized();
        assert_ne!(
            crate::fingerprint::group_id(&name, a.reason, &a.message),
            crate::fingerprint::group_id(&name, b.reason, &b.message),
            "masked after the cut, they differ"
        );
        assert_eq!(a.group_id(), b.group_id());
        // A message that was not cut names its group as it always did.
        let short = occurrence_with_message("weird failure 7");
        assert_eq!(short.uncut_message, None);
        assert_eq!(short.group_id(), crate::fingerprint::group_id(&name, Reason::Unknown, "weird failure 7"));
        // A known reason's group ignores the message: no whole text is kept for it.
        let known = occurrence_with_message(&format!("context deadline exceeded {}", "x ".repeat(3000)));
        assert_eq!((known.reason, known.uncut_message), (Reason::Timeout, None));
    }

    /// A digest given beside a name without a tag names the same image as `name@digest`: one
    /// group, not `:latest` (which no one gave) for the first; a tag given stays the name.
    #[test]
    fn a_digest_beside_an_untagged_name_is_the_image_named_by_that_digest() {
        let digest = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
        let with = |name: &str, field: Option<&str>| {
            let mut detail = failure();
            detail["image"] = json!({"name": name});
            if let Some(d) = field {
                detail["image"]["digest"] = json!(d);
            }
            match parse(envelope(detail)) {
                Ok(Parsed::Failure(o)) => *o,
                other => panic!("{other:?}"),
            }
        };
        let (beside, inside) =
            (with("quay.io/acme/web", Some(digest)), with(&format!("quay.io/acme/web@{digest}"), None));
        assert_eq!(beside.image.normalized(), format!("quay.io/acme/web@{digest}"));
        assert_eq!(beside.group_id(), inside.group_id());
        let tagged = with("localhost:5000/acme/web:1.4", Some(digest));
        assert_eq!(
            (tagged.image.normalized(), tagged.image.digest.as_deref()),
            ("localhost:5000/acme/web:1.4".to_owned(), Some(digest))
        );
        let ported = with("localhost:5000/acme/web", Some(digest));
        assert_eq!(ported.image.normalized(), format!("localhost:5000/acme/web@{digest}"));
        // The bound events.md states: 934 bytes always fit (docker.io/library/ and @digest added).
        let longest = with(&"a".repeat(934), Some(digest));
        assert_eq!(longest.image.normalized().len(), 1024);
        let mut detail = failure();
        detail["image"] = json!({"name": "a".repeat(935), "digest": digest});
        let refused = parse(envelope(detail)).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(refused, Err("detail.image.name: must be at most 1024 bytes, got 1025".to_owned()));
    }

    /// A failure whose telling phrase lies past the 4 KiB cut is classified by its whole text:
    /// cut first, a longer attempt number before it pushed the phrase out of what was read, and
    /// one timeout was filed under TIMEOUT and UNKNOWN by that number alone.
    #[test]
    fn a_phrase_past_the_cut_classifies_the_failure_whatever_came_before() {
        let text = |n: &str| format!("scan failed at attempt {n}: {}context deadline exceeded", "x".repeat(4045));
        let (a, b) = (occurrence_with_message(&text("7")), occurrence_with_message(&text("1234567")));
        assert_eq!((text("7").len(), text("1234567").len()), (4096, 4102));
        assert!(b.message.ends_with(TRUNCATION_MARKER) && !b.message.contains("deadline"), "{}", b.message.len());
        assert_eq!((a.reason, b.reason), (Reason::Timeout, Reason::Timeout));
        assert_eq!(b.uncut_message, None);
        assert_eq!(a.group_id(), b.group_id());
    }

    #[test]
    fn a_secret_in_the_message_is_stored_redacted() {
        let mut d = failure();
        d["error"]["message"] = json!("Get \"https://robot:s3cr3t@registry.example.com/v2/\": dial tcp: i/o timeout");
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("a failure") };
        assert_eq!(o.message, "Get \"https://robot:***@registry.example.com/v2/\": dial tcp: i/o timeout");
    }

    #[test]
    fn a_rejection_quotes_a_huge_value_cut_so_that_its_message_stays_bounded() {
        let mut detail = failure();
        detail["operation"] = json!("x".repeat(140 * 1024));
        let text = err_text(envelope(detail));
        assert!(text.starts_with("detail.operation: unknown variant `xxx"), "{}", &text[..60]);
        assert!(text.ends_with("xx…"), "{}", &text[text.len() - 10..]);
        assert_eq!(text.len(), "detail.operation: ".len() + MAX_SHAPE_BYTES + "…".len());
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

        // serde quotes the refused value: a secret in it is redacted, as in a stored message.
        let mut d = failure();
        d["error"] = json!("Get \"https://robot:s3cr3t@registry.example.com/v2/\": i/o timeout, token=abc123");
        assert_eq!(
            err_text(envelope(d)),
            "detail.error: invalid type: string \"Get \\\"https://robot:***@registry.example.com/v2/\\\": i/o timeout, \
             token=***\", expected struct RawError"
        );

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

    /// A message its producer cut at its start to keep the error it ends on (`scanfail run`'s
    /// last lines of another scanner) is stored by its end: stored by its start, the 4 KiB kept
    /// were the lines before the error. Classified whole either way.
    #[test]
    fn a_message_cut_at_its_start_by_its_producer_is_stored_by_its_end() {
        let tail = "FATAL: unauthorized: authentication required";
        let mut d = failure();
        d["error"]["message"] = json!(format!("{}{}\n{tail}", super::super::CUT_START, "progress é ".repeat(2_000)));
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("not a failure") };
        assert!(o.message.len() <= bounds::MESSAGE_STORED && o.message.len() > bounds::MESSAGE_STORED - 4);
        assert!(o.message.starts_with(super::super::CUT_START) && o.message.ends_with(tail), "{}", o.message);
        assert_eq!(o.message.matches(super::super::CUT_START).count(), 1);
        assert_eq!(o.reason, classify::Reason::RegistryUnauthorized);
        // Any other long message keeps its start.
        let mut d = failure();
        d["error"]["message"] = json!(format!("{}\n{tail}", "progress é ".repeat(2_000)));
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("not a failure") };
        assert!(o.message.starts_with("progress é") && o.message.ends_with(TRUNCATION_MARKER));
        assert_eq!(o.reason, classify::Reason::RegistryUnauthorized, "classified whole");
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

    fn key_of(v: serde_json::Value) -> String {
        match parse(v) {
            Ok(Parsed::Failure(o)) => o.envelope.key,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn a_producers_occurrence_id_makes_two_envelopes_one_occurrence_within_its_account_and_source() {
        let mut d = failure();
        d["occurrenceId"] = json!("ci-4711-scan");
        let first = envelope(d.clone());
        let mut retried = first.clone();
        retried["id"] = json!("0f4c1e2a-8d1b-4b5e-9a51-3c2e1d0b9a77");
        let key = key_of(first.clone());
        let scan = ("docker.io/library/nginx:latest", Operation::ImageScan, Origin::Roxctl, Reason::Timeout);
        assert_eq!(key, producer_key("123456789012", "com.example.roxctl", scan, "ci-4711-scan"));
        assert!(key.starts_with("producer:") && key.len() == "producer:".len() + 36, "{key}");
        assert_eq!(key_of(retried), key, "a new EventBridge id, the same occurrence");

        let mut other_account = first.clone();
        other_account["account"] = json!("210987654321");
        let mut other_source = first.clone();
        other_source["source"] = json!("com.example.ci");
        let mut other_id = first.clone();
        other_id["detail"]["occurrenceId"] = json!("ci-4712-scan");
        // One id given to every image of a job still counts each image.
        let mut other_image = first.clone();
        other_image["detail"]["image"]["name"] = json!("redis");
        // And each scan of one image: a job that checks after it scans, or reports through the API too.
        let mut other_operation = first.clone();
        other_operation["detail"]["operation"] = json!("image check");
        let mut other_origin = first.clone();
        other_origin["detail"]["origin"] = json!("api");
        // And a re-run under the same id that failed for another reason: another failure, in
        // another group (before, it was taken for a retry of the first, and dropped).
        let mut other_reason = first.clone();
        other_reason["detail"]["error"] = json!({"code": "REGISTRY_UNAUTHORIZED", "message": "unauthorized"});
        for other in [other_account, other_source, other_id, other_image, other_operation, other_origin, other_reason] {
            assert_ne!(key_of(other), key);
        }
        let mut same_image = first.clone();
        same_image["detail"]["image"]["name"] = json!("docker.io/library/nginx:latest");
        assert_eq!(key_of(same_image), key, "the image as normalized");
        // The lengths keep a source or an image ending in the next part's start apart from it.
        let k = |source: &str, image: &str, id: &str| {
            producer_key("123456789012", source, (image, Operation::ImageScan, Origin::Roxctl, Reason::Timeout), id)
        };
        assert_ne!(k("a\nb", "i", "c"), k("a", "b\ni", "c"));
        assert_ne!(k("a", "i\nc", "d"), k("a", "i", "c\nd"));
        assert_eq!(key_of(envelope(failure())), "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "no id: EventBridge's");
    }

    #[test]
    fn an_occurrence_id_that_is_empty_or_too_long_is_refused_rather_than_cut() {
        let mut d = failure();
        d["occurrenceId"] = json!(" ");
        assert_eq!(err_text(envelope(d.clone())), "detail.occurrenceId: must not be empty");
        d["occurrenceId"] = json!("x".repeat(129));
        assert_eq!(err_text(envelope(d.clone())), "detail.occurrenceId: must be at most 128 bytes, got 129");
        d["occurrenceId"] = json!(42);
        assert_eq!(err_text(envelope(d)), "detail.occurrenceId: invalid type: integer `42`, expected a string");
    }

    #[test]
    fn occurred_at_overrides_the_envelope_time() {
        let mut d = failure();
        d["occurredAt"] = json!("2026-11-24T08:30:00.250+01:00");
        let Ok(Parsed::Failure(o)) = parse(envelope(d)) else { panic!("not a failure") };
        assert_eq!(time_fmt::format(o.occurred_at), "2026-11-24T07:30:00.250Z");
    }
}
