//! Organization-wide intake on moto's EventBridge: an Amazon ECR failure published on the default
//! bus of member account B in region R2 is forwarded by `infra/member.yaml`'s rule to the
//! central bus (account A, us-east-1), routed there by the main template's forwarded rule to
//! the buffer queue, stored by the ingest handler, and found by `filter.account` and
//! `filter.region` through the api handler.
//!
//! moto 5.2.5 forwards across accounts and regions (a rule whose target is another account's
//! bus), but re-stamps what it forwards: the receiving account and region replace the sender's,
//! and `resources` is dropped (its `send_to_targets` puts only source, detail-type and detail).
//! EventBridge delivers a forwarded event as it was put, with the sender's `account`, `region`
//! and `resources` (the AWS guide "Sending and receiving events between AWS accounts" matches
//! receiver rules on the sender's `account`). The test asserts moto's re-stamping as it is, so
//! it fails the day moto keeps those fields, and puts them back before the ingest handler reads
//! the envelope; the rest of the path is moto's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ingest::handler::Ingest;
use integration_tests::bus::{LocalBus, CENTRAL_ACCOUNT};
use integration_tests::{api_from_env, api_request, free_port, fresh_store, respond, samples, unique_name, Moto};
use scan_failures_domain::retention::RetentionDays;
use serde_json::{json, Value};

const MEMBER: &str = "210987654321";
const MEMBER_REGION: &str = "eu-central-1";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

/// `name`'s sample as AWS would publish it in the member account and region.
fn member_sample(name: &str) -> Value {
    let (_, mut event) = samples(name).remove(0);
    event["account"] = json!(MEMBER);
    event["region"] = json!(MEMBER_REGION);
    event["resources"] = json!([format!("arn:aws:ecr:{MEMBER_REGION}:{MEMBER}:repository/team/api")]);
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecr_failure_forwarded_from_another_account_and_region_is_stored_with_them_and_found_by_their_filters() {
    let store = fresh_store().await;
    let moto = Moto::start(free_port());
    let bus =
        LocalBus::create_with(&moto.endpoint, &unique_name("central"), 1, &[("OrganizationId", "o-a1b2c3d4e5")]).await;
    let member = bus.add_member(&moto.endpoint, MEMBER, MEMBER_REGION).await;
    let failure = member_sample("aws-ecr-02-unsupported-image");
    member.put(&failure).await;
    // A scan that did not fail: the member's rule does not forward it.
    member.put(&member_sample("aws-ecr-05-complete")).await;

    let delivered: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    let keep = |event: &Value| {
        let mut got = delivered.lock().unwrap();
        for record in event["Records"].as_array().into_iter().flatten() {
            got.push(serde_json::from_str(record["body"].as_str().unwrap()).unwrap());
        }
        Ok(json!({ "batchItemFailures": [] }))
    };
    let started = Instant::now();
    while delivered.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing was forwarded to the central bus");
        bus.poll_once(&keep).await;
    }
    bus.poll_once(&keep).await;
    let mut envelope = {
        let got = delivered.lock().unwrap();
        assert_eq!(got.len(), 1, "only the failure is forwarded: {got:?}");
        got[0].clone()
    };
    assert_eq!(envelope["detail"], failure["detail"]);
    assert_eq!((&envelope["source"], &envelope["detail-type"]), (&json!("aws.ecr"), &json!("ECR Image Scan")));
    // moto's re-stamping (see the module comment), then the envelope EventBridge delivers.
    assert_eq!(
        (&envelope["account"], &envelope["region"], &envelope["resources"]),
        (&json!(CENTRAL_ACCOUNT), &json!("us-east-1"), &json!([])),
        "moto now keeps a forwarded event's account, region and resources: drop the restoring below"
    );
    for field in ["account", "region", "resources"] {
        envelope[field] = failure[field].clone();
    }

    let ingest = Ingest::new(store.clone(), RetentionDays::default());
    let stored = ingest.handle(envelope).await.unwrap();
    assert_eq!(stored.result, "created");

    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE)]);
    let list = |query: &str| respond(&api, api_request("/v1/administration/events", query, Some(ALICE), false));
    let (status, body) = list(&format!("filter.account={MEMBER}&filter.region={MEMBER_REGION}")).await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["resource"]["name"], format!("{MEMBER}.dkr.ecr.{MEMBER_REGION}.amazonaws.com/team/api:v1.2"));
    assert_eq!(events[0]["scanFailure"]["reason"], "UNSUPPORTED_IMAGE");
    for other in [format!("filter.account={CENTRAL_ACCOUNT}"), "filter.region=us-east-1".to_owned()] {
        let (_, body) = list(&other).await;
        assert_eq!(body["events"], json!([]), "{other}");
    }
    // The summary's drill-down: account, then region.
    let (_, summary) = respond(&api, api_request("/v1/administration/events/summary", "", Some(ALICE), false)).await;
    assert_eq!(summary["accounts"][0]["account"], MEMBER);
    assert_eq!(summary["accounts"][0]["regions"], json!([{ "region": MEMBER_REGION, "groups": 1, "occurrences": 1 }]));
    assert_eq!(summary["byRegion"], json!({ MEMBER_REGION: { "groups": 1, "occurrences": 1 } }));
}
