//! The admin API on a real DynamoDB Local, through the api handler in-process.

use api::handler::Api;
use api::routes::ROUTES;
use integration_tests::{api_request, fresh_store, seed_groups, synthetic_group};
use lambda_http::Body;
use scan_failures::classify::Reason;
use scan_failures::config::{ApiConfig, RetentionDays};
use scan_failures::group::GroupRecord;
use scan_failures::params::{Filters, ListRequest, Page};
use scan_failures::store::Store;
use serde_json::Value;
use time::OffsetDateTime;

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const MALLORY: &str = "arn:aws:iam::123456789012:user/mallory";
const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/SecurityAdmin";
const ADMIN_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/SecurityAdmin/ci-run-42";
const AUDIT_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/AuditReadOnly/jo";

fn api(store: &Store, view: &str) -> Api {
    let vars = [("TABLE_NAME", store.table().to_owned()), ("ADMIN_VIEW_PRINCIPALS", view.to_owned())];
    let config = ApiConfig::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    Api::new(store.clone(), &config)
}

async fn call(api: &Api, path: &str, query: &str, caller: Option<&str>) -> (u16, Value) {
    call_shape(api, path, query, caller, false).await
}

async fn call_shape(api: &Api, path: &str, query: &str, caller: Option<&str>, rest: bool) -> (u16, Value) {
    let res = api.handle(api_request(path, query, caller, rest)).await;
    let status = res.status().as_u16();
    let body = match res.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    };
    (status, body)
}

fn ids(body: &Value) -> Vec<String> {
    body["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

/// Groups newest first, as the API orders them.
fn newest_first(mut groups: Vec<GroupRecord>) -> Vec<GroupRecord> {
    groups.sort_by(|a, b| {
        (b.last_occurred_at.as_str(), b.id.as_str()).cmp(&(a.last_occurred_at.as_str(), a.id.as_str()))
    });
    groups
}

fn mixed_groups(now: OffsetDateTime) -> Vec<GroupRecord> {
    let images =
        ["nginx:1.25", "nginx:1.27", "quay.io/acme/web:1.4", "quay.io/acme/web:1.5", "ghcr.io/acme/worker:main"];
    let reasons = [Reason::Timeout, Reason::RegistryUnauthorized, Reason::ImageNotFound];
    (0..60)
        .map(|n| {
            let image = if n % 10 == 9 {
                format!("quay.io/acme/db@sha256:{}", "c".repeat(64))
            } else {
                images[n % images.len()].to_owned()
            };
            // Two groups share each minute, so ties on time are ordered by id.
            synthetic_group(n, &image, reasons[n % reasons.len()], now, (n / 2) as i64 + 1)
        })
        .collect()
}

#[tokio::test]
async fn every_route_enforces_default_deny_authorization() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let group = synthetic_group(1, "nginx", Reason::Timeout, now, 5);
    seed_groups(&store, std::slice::from_ref(&group)).await;
    let listed = format!("{ALICE},{ADMIN_ROLE},arn:aws:iam::123456789012:role/Audit*");
    let granted = api(&store, &listed);
    let nobody = api(&store, "");
    for route in ROUTES {
        let path = route.path.replace("{id}", &group.id);
        for rest in [false, true] {
            let shape = if rest { "REST" } else { "HTTP" };
            assert_eq!(call_shape(&granted, &path, "", None, rest).await.0, 401, "{shape} {path} without identity");
            assert_eq!(
                call_shape(&granted, &path, "", Some(MALLORY), rest).await.0,
                403,
                "{shape} {path} unlisted user"
            );
            for caller in [ALICE, ADMIN_ROLE, ADMIN_SESSION, AUDIT_SESSION] {
                assert_eq!(
                    call_shape(&granted, &path, "", Some(caller), rest).await.0,
                    200,
                    "{shape} {path} as {caller}"
                );
                assert_eq!(
                    call_shape(&nobody, &path, "", Some(caller), rest).await.0,
                    403,
                    "{shape} {path} empty list, {caller}"
                );
            }
        }
    }
    let (status, body) = call(&granted, "/v1/administration/events", "", Some(MALLORY)).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], 403);
    assert_eq!(body["error"], "forbidden");
}

#[tokio::test]
async fn list_get_and_count_return_the_stored_groups_in_the_reference_shape() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups = mixed_groups(now);
    seed_groups(&store, &groups).await;
    let api = api(&store, ALICE);

    let (status, body) = call(&api, "/v1/administration/events", "pagination.limit=1000", Some(ALICE)).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), newest_first(groups.clone()).iter().map(|g| g.id.clone()).collect::<Vec<_>>());
    assert!(body.get("nextCursor").is_none());

    let g = &groups[9];
    let (status, body) = call(&api, &format!("/v1/administration/events/{}", g.id), "", Some(ALICE)).await;
    assert_eq!(status, 200);
    let e = &body["event"];
    assert_eq!(e["id"], g.id.as_str());
    assert_eq!(e["type"], "ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE");
    assert_eq!(e["level"], "ADMINISTRATION_EVENT_LEVEL_WARNING");
    assert_eq!(e["domain"], "Image Scanning");
    assert_eq!(
        e["resource"],
        serde_json::json!({"type": "Image", "id": format!("sha256:{}", "c".repeat(64)), "name": g.resource_name})
    );
    assert_eq!(e["numOccurrences"], g.num_occurrences.to_string());
    assert_eq!(e["lastOccurredAt"], g.last_occurred_at.as_str());
    assert_eq!(e["scanFailure"]["reason"], "TIMEOUT");
    assert_eq!(e["scanFailure"]["operationCounts"], serde_json::json!({"image scan": 1}));
    assert_eq!(e["hint"], Reason::Timeout.hint());

    let (status, body) =
        call(&api, "/v1/count/administration/events", "filter.repository=quay.io/acme/web", Some(ALICE)).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], groups.iter().filter(|g| g.repository == "quay.io/acme/web").count());

    let (status, body) =
        call(&api, "/v1/administration/events/00000000-0000-0000-0000-000000000000", "", Some(ALICE)).await;
    assert_eq!((status, body["code"].clone()), (404, Value::from(404)));
    assert_eq!(call(&api, "/v1/nothing", "", Some(ALICE)).await.0, 404);
    let (status, body) = call(&api, "/v1/administration/events", "filter.colour=red", Some(ALICE)).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("\"filter.colour\""), "{body}");
    let (status, _) =
        call_shape(&api, "/v1/administration/events", "filter.resourceName=nginx:1.25", Some(ALICE), true).await;
    assert_eq!(status, 200);
}

/// Each filter, walked page by page with a small limit, yields every matching group exactly
/// once, in order.
#[tokio::test]
async fn walking_every_page_returns_each_match_once_in_order_for_each_filter() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups = mixed_groups(now);
    seed_groups(&store, &groups).await;
    let api = api(&store, ALICE);
    let from = scan_failures::time_fmt::format(now - time::Duration::minutes(20));
    let until = scan_failures::time_fmt::format(now - time::Duration::minutes(5));
    let digest = format!("sha256:{}", "c".repeat(64));
    type Pred = Box<dyn Fn(&GroupRecord) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (String::new(), Box::new(|_| true)),
        (format!("filter.from={from}&filter.until={until}"), {
            let (f, u) = (from.clone(), until.clone());
            Box::new(move |g| g.last_occurred_at >= f && g.last_occurred_at <= u)
        }),
        ("filter.resourceName=nginx:1.25".into(), Box::new(|g| g.resource_name == "docker.io/library/nginx:1.25")),
        (
            "filter.resourceId=".to_owned() + &digest,
            Box::new(|g| {
                g.resource_id.as_deref()
                    == Some("sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc")
            }),
        ),
        ("filter.repository=nginx".into(), Box::new(|g| g.repository == "docker.io/library/nginx")),
        (
            "filter.reason=TIMEOUT&filter.reason=IMAGE_NOT_FOUND".into(),
            Box::new(|g| g.reason == "TIMEOUT" || g.reason == "IMAGE_NOT_FOUND"),
        ),
        (
            "filter.reason=TIMEOUT&filter.repository=quay.io/acme/web".into(),
            Box::new(|g| g.reason == "TIMEOUT" && g.repository == "quay.io/acme/web"),
        ),
        ("filter.cluster=cluster-1".into(), Box::new(|g| g.clusters.contains_key("cluster-1"))),
        ("filter.account=111122223333".into(), Box::new(|g| g.account == "111122223333")),
        ("filter.search=ACME/WEB".into(), Box::new(|g| g.resource_name.contains("acme/web"))),
    ];
    for reversed in [false, true] {
        for (query, pred) in &cases {
            let mut expected: Vec<String> =
                newest_first(groups.clone()).into_iter().filter(|g| pred(g)).map(|g| g.id).collect();
            if reversed {
                expected.reverse();
            }
            assert!(!expected.is_empty(), "{query} matches nothing");
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..100 {
                let mut q = format!("pagination.limit=7&pagination.sortOption.reversed={reversed}");
                if !query.is_empty() {
                    q = format!("{q}&{query}");
                }
                if let Some(c) = &cursor {
                    q = format!("{q}&pagination.cursor={c}");
                }
                let (status, body) = call(&api, "/v1/administration/events", &q, Some(ALICE)).await;
                assert_eq!(status, 200, "{q}: {body}");
                seen.extend(ids(&body));
                cursor = body.get("nextCursor").and_then(|c| c.as_str()).map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(seen, expected, "filter {query:?} reversed={reversed}");
            let (_, count) = call(&api, "/v1/count/administration/events", query, Some(ALICE)).await;
            assert_eq!(count["count"], expected.len(), "count for {query:?}");
        }
    }

    // An edited cursor, or one replayed under other filters, is a 400.
    let (_, first) = call(&api, "/v1/administration/events", "pagination.limit=7", Some(ALICE)).await;
    let c = first["nextCursor"].as_str().unwrap().to_owned();
    let mut edited = c.clone().into_bytes();
    edited[5] = if edited[5] == b'x' { b'y' } else { b'x' };
    let edited = String::from_utf8(edited).unwrap();
    let (status, body) =
        call(&api, "/v1/administration/events", &format!("pagination.limit=7&pagination.cursor={edited}"), Some(ALICE))
            .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("pagination.cursor "), "{body}");
    let (status, _) = call(
        &api,
        "/v1/administration/events",
        &format!("pagination.limit=7&filter.reason=TIMEOUT&pagination.cursor={c}"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn expired_groups_are_absent_from_list_get_and_count() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let fresh = synthetic_group(1, "nginx", Reason::Timeout, now, 10);
    // Last seen 5 days ago: past the default 4-day retention, but still in the table, as
    // DynamoDB deletes expired items late and DynamoDB Local never does.
    let expired = synthetic_group(2, "nginx", Reason::Timeout, now, 5 * 24 * 60);
    seed_groups(&store, &[fresh.clone(), expired.clone()]).await;
    assert!(store.get(&uuid::Uuid::parse_str(&expired.id).unwrap()).await.unwrap().is_some());
    let api = api(&store, ALICE);
    let (_, list) = call(&api, "/v1/administration/events", "", Some(ALICE)).await;
    assert_eq!(ids(&list), vec![fresh.id.clone()]);
    let (status, _) = call(&api, &format!("/v1/administration/events/{}", expired.id), "", Some(ALICE)).await;
    assert_eq!(status, 404);
    let (_, count) = call(&api, "/v1/count/administration/events", "filter.resourceName=nginx", Some(ALICE)).await;
    assert_eq!(count["count"], 1);
}

/// On 10,000 stored groups, one page of 50 under the time, image and reason filters reads at
/// most 100 items (DynamoDB's `ScannedCount`).
#[tokio::test]
async fn a_page_of_50_on_10000_groups_reads_at_most_100_items_under_indexed_filters() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let reasons = [Reason::Timeout, Reason::RegistryUnauthorized, Reason::ImageNotFound, Reason::RateLimited];
    let groups: Vec<GroupRecord> = (0..10_000)
        .map(|n| synthetic_group(n, &format!("quay.io/acme/svc{}:1", n % 50), reasons[n % 4], now, (n % 5000) as i64))
        .collect();
    seed_groups(&store, &groups).await;
    let window = |from: i64, until: i64| Filters {
        from: Some(now - time::Duration::minutes(from)),
        until: Some(now - time::Duration::minutes(until)),
        ..Filters::default()
    };
    let cases = [
        ("time", window(3000, 1000)),
        ("image", Filters { resource_name: vec!["quay.io/acme/svc7:1".into()], ..Filters::default() }),
        ("reason", Filters { reason: vec![Reason::RateLimited], ..Filters::default() }),
    ];
    for (name, filters) in cases {
        let req = ListRequest { filters, page: Page { limit: 50, ..Page::default() } };
        let page = store.list(&req, now, RetentionDays::default()).await.unwrap();
        assert_eq!(page.groups.len(), 50, "{name}");
        assert!(page.next_cursor.is_some(), "{name}");
        assert!(page.stats.items_read <= 100, "{name}: read {} items", page.stats.items_read);
    }
}

#[test]
fn the_local_principal_opt_in_refuses_to_start_inside_aws() {
    let bin = integration_tests::function_binary("api");
    let out = std::process::Command::new(bin)
        .env_clear()
        .env("TABLE_NAME", "t")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("LOCAL_PRINCIPAL", "arn:aws:iam::123456789012:user/local-admin")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LOCAL_PRINCIPAL is a local-development opt-in and is refused inside AWS Lambda (AWS_LAMBDA_INITIALIZATION_TYPE is set)"),
        "{stderr}"
    );
}
