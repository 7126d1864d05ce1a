//! Amazon ECR and Amazon Inspector scan-status events on a real DynamoDB Local, through the
//! ingest handler in-process.

use ingest::handler::Ingest;
use integration_tests::{fixed_now, fresh_store, samples};
use scan_failures_domain::retention::RetentionDays;

#[tokio::test]
async fn ecr_and_inspector_failures_create_groups_with_their_reasons_and_other_statuses_none() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let mut seen = Vec::new();
    for (name, event) in samples("aws-") {
        let r = ingest.handle(event).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let name = name.trim_end_matches(".json").to_owned();
        let group = match &r.group_id {
            Some(id) => store.reader().get(&uuid::Uuid::parse_str(id).unwrap()).await.unwrap(),
            None => None,
        };
        seen.push((name, r.result, group.map(|g| (g.reason, g.resource_name, g.op_counts, g.origin_counts))));
    }
    let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api";
    let digest = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
    let expect = |reason: &str, name: String, origin: &str| {
        Some((
            reason.to_owned(),
            name,
            std::collections::HashMap::from([("registry_scan".to_owned(), 1)]),
            std::collections::HashMap::from([(origin.to_owned(), 1)]),
        ))
    };
    assert_eq!(
        seen,
        vec![
            ("aws-ecr-01-failed".into(), "created", expect("SCAN_FAILED", format!("{ecr}@{digest}"), "ecr")),
            (
                "aws-ecr-02-unsupported-image".into(),
                "created",
                expect("UNSUPPORTED_IMAGE", format!("{ecr}:v1.2"), "ecr")
            ),
            (
                "aws-ecr-03-limit-exceeded".into(),
                "created",
                expect("SCAN_QUOTA_EXCEEDED", format!("{ecr}@{digest}"), "ecr")
            ),
            (
                "aws-ecr-04-scan-eligibility-expired".into(),
                "created",
                expect("SCAN_ELIGIBILITY_EXPIRED", format!("{ecr}@{digest}"), "ecr")
            ),
            ("aws-ecr-05-complete".into(), "ignored", None),
            ("aws-ecr-06-in-progress".into(), "ignored", None),
            (
                "aws-inspector-01-access-denied".into(),
                "created",
                expect(
                    "ACCESS_DENIED",
                    format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/worker@{digest}"),
                    "inspector"
                )
            ),
            ("aws-inspector-02-pending-initial-scan".into(), "ignored", None),
            ("aws-inspector-03-ec2-instance".into(), "ignored", None),
        ]
    );
}

#[tokio::test]
async fn malformed_aws_events_are_rejected_naming_the_field() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let (_, mut ecr) = samples("aws-ecr-01").remove(0);
    ecr["detail"]["image-digest"] = serde_json::json!(42);
    let err = ingest.handle(ecr).await.unwrap_err().to_string();
    assert_eq!(err, "event rejected: detail.image-digest: invalid type: integer `42`, expected a string");
    let (_, mut inspector) = samples("aws-inspector-01").remove(0);
    inspector["detail"].as_object_mut().map(|d| d.remove("scanStatus"));
    let err = ingest.handle(inspector).await.unwrap_err().to_string();
    assert_eq!(err, "event rejected: detail: missing field `scanStatus`");
}
