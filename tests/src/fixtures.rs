//! Test data: the sample events of `events/`, the envelope builder, the tests' fixed clock and
//! synthetic stored groups.

use std::collections::HashMap;

use scan_failures_domain::classify::Reason;
use scan_failures_domain::group::GroupRecord;
use scan_failures_domain::time_fmt;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::stack::repo_root;

/// The sample events in `events/` whose file name starts with `prefix`, sorted by file name.
pub fn samples(prefix: &str) -> Vec<(String, Value)> {
    let dir = repo_root().join("events");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()));
            (p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The tests' "now" for the ingest clock (`Ingest::with_clock`): events are dated shortly
/// before it, so the suite behaves the same whatever day it runs.
pub fn fixed_now() -> OffsetDateTime {
    time::macros::datetime!(2026-11-25 12:00 UTC)
}

// ---------------------------------------------------------------------------------- events

/// An SQS event as Lambda delivers the buffer queue's messages: each `(message id, body)` one
/// record.
pub fn sqs_event(messages: &[(String, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": "rh", "body": body, "attributes": {}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:scan-failures-buffer", "awsRegion": "eu-west-1"})
        })
        .collect();
    json!({ "Records": records })
}

/// An EventBridge "Image Scan Failed" envelope as a producer publishes it: from `source` at
/// `time`, account 123456789012, region eu-west-1, no resources, with `detail` (see
/// [`failure`]). A test that sends another account or leaves a field out changes the JSON
/// after building it.
pub fn envelope(id: &str, source: &str, time: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": scan_failures_domain::event::DETAIL_TYPE, "source": source,
        "account": "123456789012", "time": time, "region": "eu-west-1", "resources": [], "detail": detail
    })
}

/// The `detail` of a failure with its required fields: `operation` by `origin` on `image`,
/// failing with `message`. The optional fields (`occurredAt`, `cluster`, `error.code`, ...)
/// are set on the value returned.
pub fn failure(operation: &str, origin: &str, image: &str, message: &str) -> Value {
    json!({"operation": operation, "origin": origin, "image": {"name": image}, "error": {"message": message}})
}

/// [`failure`] occurred at `occurred_at`.
pub fn failure_at(operation: &str, origin: &str, image: &str, message: &str, occurred_at: &str) -> Value {
    let mut detail = failure(operation, origin, image, message);
    detail["occurredAt"] = occurred_at.into();
    detail
}

// ---------------------------------------------------------------------------------- stored groups

/// What a synthetic group holds besides its key fields. The two differ in size, and the
/// benchmarks' read figures (items read, RCU) depend on the size of their groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupDetail {
    /// The read-side tests' group: a short message, source `test`, one operation and one
    /// origin counted once, one cluster, no deployment, initiator or user agent. Id from
    /// `synthetic-{n}`.
    Minimal,
    /// The benchmarks' group, as the ingest path stores a roxctl failure: a registry error
    /// message of about 300 bytes, source `com.example.roxctl`, operation and origin counted
    /// `numOccurrences` times, a cluster, a deployment, an initiator and a user agent. Id from
    /// `bench-{n}`.
    Realistic,
}

/// A [`GroupDetail::Minimal`] group: `minutes_ago` sets `lastOccurredAt` relative to `now`.
pub fn synthetic_group(n: usize, image: &str, reason: Reason, now: OffsetDateTime, minutes_ago: i64) -> GroupRecord {
    synthetic_group_of(GroupDetail::Minimal, n, image, reason, now, minutes_ago)
}

/// The groups of a cleanup whose matches lie on both sides of a read bound of 100, and in a
/// second filter value. Repository `quay.io/acme/big`, newest first: 10 groups failing
/// `TIMEOUT`, 100 `RATE_LIMITED`, 10 more `TIMEOUT` (each run in 10-minute buckets of its own,
/// since the filter indexes sort by bucket, then by id); `quay.io/acme/small`: 5 `TIMEOUT`. A
/// cleanup of `TIMEOUT` over both repositories reading 100 entries a request finds 10 matches in
/// its first reading and 15 after it; the 100 others stay.
pub fn matches_across_a_read_bound(now: OffsetDateTime) -> Vec<GroupRecord> {
    (0..125)
        .map(|n| {
            let (image, reason, minutes_ago) = match n {
                0..10 => ("big", Reason::Timeout, n as i64 + 1),
                10..110 => ("big", Reason::RateLimited, n as i64 + 20),
                110..120 => ("big", Reason::Timeout, n as i64 + 200),
                _ => ("small", Reason::Timeout, n as i64),
            };
            synthetic_group(n, &format!("quay.io/acme/{image}:{n}"), reason, now, minutes_ago)
        })
        .collect()
}

/// Synthetic group `n` of `image` failing with `reason`, last seen `minutes_ago` before `now`,
/// created an hour before that, expiring 4 days after it; account and clusters alternate with
/// `n`, and every third is in us-east-2 (the others in eu-west-1). `detail` says what else it
/// holds.
pub fn synthetic_group_of(
    detail: GroupDetail,
    n: usize,
    image: &str,
    reason: Reason,
    now: OffsetDateTime,
    minutes_ago: i64,
) -> GroupRecord {
    let parsed = scan_failures_domain::image::ImageRef::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
    let last = now - time::Duration::minutes(minutes_ago);
    let t = time_fmt::format(last);
    let one = |k: String| HashMap::from([(k, t.clone())]);
    let occurrences = 1 + n as u64 % 7;
    let mut group = GroupRecord {
        id: String::new(),
        domain: "Image Scanning".into(),
        resource_type: "Image".into(),
        resource_name: parsed.normalized(),
        resource_id: parsed.digest.clone(),
        repository: parsed.repository(),
        registry: parsed.registry.clone(),
        reason: reason.code().into(),
        level: reason.level().as_str().into(),
        message: String::new(),
        num_occurrences: occurrences,
        created_at: time_fmt::format(last - time::Duration::hours(1)),
        last_occurred_at: t.clone(),
        expires_at: (last + time::Duration::days(4)).unix_timestamp(),
        account: if n.is_multiple_of(2) { "123456789012".into() } else { "111122223333".into() },
        region: if n.is_multiple_of(3) { "us-east-2".into() } else { "eu-west-1".into() },
        source: String::new(),
        op_counts: HashMap::new(),
        origin_counts: HashMap::new(),
        clusters: one(format!("cluster-{}", n % 3)),
        deployments: HashMap::new(),
        initiators: HashMap::new(),
        user_agents: HashMap::new(),
    };
    let id_of = |name: String| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string();
    match detail {
        GroupDetail::Minimal => {
            group.id = id_of(format!("synthetic-{n}"));
            group.message = format!("synthetic failure {n} of {image}");
            group.source = "test".into();
            group.op_counts = HashMap::from([("image_scan".to_owned(), 1)]);
            group.origin_counts = HashMap::from([("api".to_owned(), 1)]);
        }
        GroupDetail::Realistic => {
            group.id = id_of(format!("bench-{n}"));
            group.message = format!(
                "image enrichment error: error getting metadata for image: {image} error: getting metadata from \
                 registry: \"Public Quay.io\": failed to get the manifest digest: Head \"https://quay.io/v2/acme/\
                 manifests/{n}\": http: non-successful response (status=401 body=\"\")"
            );
            group.source = "com.example.roxctl".into();
            group.op_counts = HashMap::from([("image_scan".to_owned(), occurrences)]);
            group.origin_counts = HashMap::from([("roxctl".to_owned(), occurrences)]);
            group.deployments = one(format!("shop/web-{}", n % 11));
            group.initiators = one("arn:aws:iam::123456789012:role/ci-scanner".into());
            group.user_agents = one("roxctl/4.7.0".into());
        }
    }
    group
}

/// A sample sent as if it happened now, so it is inside the retention window whatever the date.
pub fn as_of_now(mut event: Value) -> Value {
    event["time"] = Value::from(time_fmt::format(OffsetDateTime::now_utc()));
    if let Some(d) = event["detail"].as_object_mut() {
        d.remove("occurredAt");
    }
    event
}
