//! The admin API on a real DynamoDB Local, through the api handler in-process.

use api::handler::Api;
use api::routes::{Action, ROUTES};
use integration_tests::{
    api_from_env, api_request, api_request_with, fixed_now, fixtures, fresh_store, respond, seed_groups,
    seed_groups_parallel, synthetic_group,
};
use scan_failures_aws::dynamo::schema::SortKey;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::group::GroupRecord;
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::time_fmt;
use scan_failures_http::auth::Permission;
use scan_failures_http::params::{CleanupRequest, Filters, ListRequest, Page};
use serde_json::{json, Value};
use time::OffsetDateTime;

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const MALLORY: &str = "arn:aws:iam::123456789012:user/mallory";
const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/SecurityAdmin";
const ADMIN_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/SecurityAdmin/ci-run-42";
const AUDIT_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/AuditReadOnly/jo";

fn api(store: &Store, view: &str) -> Api {
    api_from_env(store, &[("ADMIN_VIEW_PRINCIPALS", view)])
}

async fn call(api: &Api, path: &str, query: &str, caller: Option<&str>) -> (u16, Value) {
    call_shape(api, path, query, caller, false).await
}

async fn call_shape(api: &Api, path: &str, query: &str, caller: Option<&str>, rest: bool) -> (u16, Value) {
    respond(api, api_request(path, query, caller, rest)).await
}

fn ids(body: &Value) -> Vec<String> {
    body["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

/// Groups newest first, as a listing served by an index with sort key `key` orders them: by the
/// last occurrence (exact, or its bucket), then id.
fn newest_first(mut groups: Vec<GroupRecord>, key: SortKey) -> Vec<GroupRecord> {
    groups.sort_by_cached_key(|g| std::cmp::Reverse(key.value_of(&g.last_occurred_at, &g.id).unwrap()));
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
            // Two groups share each minute and twenty each sort bucket, so ties are ordered by id.
            synthetic_group(n, &image, reasons[n % reasons.len()], now, (n / 2) as i64 + 1)
        })
        .collect()
}

/// An api granting `view` and `write` (comma-separated patterns).
fn api_with(store: &Store, view: &str, write: &str) -> Api {
    api_from_env(store, &[("ADMIN_VIEW_PRINCIPALS", view), ("ADMIN_WRITE_PRINCIPALS", write)])
}

async fn send(
    api: &Api,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&str>,
    caller: Option<&str>,
    rest: bool,
) -> (u16, Value) {
    respond(api, api_request_with(method, path, query, body, caller, rest)).await
}

/// A valid request of each route: (query, body).
fn valid_request(route: &api::routes::Route) -> (&'static str, Option<&'static str>) {
    match route.action {
        Action::Delete => ("filter.resourceName=docker.io/library/nothing:1", None),
        Action::Triage => ("", Some(r#"{"state": "acknowledged", "note": "seen"}"#)),
        Action::PutConfig => ("", Some(r#"{"retentionDays": 4}"#)),
        _ => ("", None),
    }
}

#[tokio::test]
async fn every_route_enforces_default_deny_authorization_with_writes_for_writers_only() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let group = synthetic_group(1, "nginx", Reason::Timeout, now, 5);
    seed_groups(&store, std::slice::from_ref(&group)).await;
    let viewers = format!("{ALICE},arn:aws:iam::123456789012:role/Audit*");
    let granted = api_with(&store, &viewers, ADMIN_ROLE);
    let nobody = api_with(&store, "", "");
    for route in ROUTES {
        let path = route.path.replace("{id}", &group.id);
        let (query, body) = valid_request(route);
        let write = route.permission == Permission::Write;
        for rest in [false, true] {
            let shape = if rest { "REST" } else { "HTTP" };
            let what = format!("{shape} {} {path}", route.method);
            let call = |api, caller| send(api, route.method, &path, query, body, caller, rest);
            assert_eq!(call(&granted, None).await.0, 401, "{what} without identity");
            assert_eq!(call(&granted, Some(MALLORY)).await.0, 403, "{what} unlisted user");
            for viewer in [ALICE, AUDIT_SESSION] {
                let (status, answer) = call(&granted, Some(viewer)).await;
                assert_eq!(status, if write { 403 } else { 200 }, "{what} as viewer {viewer}: {answer}");
                if write {
                    assert_eq!(
                        answer["message"],
                        format!("{viewer} lacks the \"Administration write\" permission: add it (or a pattern matching it) to ADMIN_WRITE_PRINCIPALS")
                    );
                }
            }
            for writer in [ADMIN_ROLE, ADMIN_SESSION] {
                let (status, answer) = call(&granted, Some(writer)).await;
                assert_eq!(status, 200, "{what} as writer {writer}: {answer}");
            }
            for caller in [ALICE, ADMIN_ROLE, ADMIN_SESSION, AUDIT_SESSION] {
                assert_eq!(call(&nobody, Some(caller)).await.0, 403, "{what} empty lists, {caller}");
            }
        }
    }
    let (status, body) = call(&granted, "/v1/administration/events", "", Some(MALLORY)).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], 403);
    assert_eq!(body["error"], "forbidden");
    // A method a path does not take is a 405 naming the ones it does.
    let (status, body) = send(&granted, "POST", "/v1/administration/events", "", None, Some(ADMIN_ROLE), false).await;
    assert_eq!((status, body["message"].as_str()), (405, Some("/v1/administration/events accepts GET, DELETE only")));
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
    assert_eq!(
        ids(&body),
        newest_first(groups.clone(), SortKey::Exact).iter().map(|g| g.id.clone()).collect::<Vec<_>>()
    );
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
    let from = scan_failures_domain::time_fmt::format(now - time::Duration::minutes(20));
    let until = scan_failures_domain::time_fmt::format(now - time::Duration::minutes(5));
    let digest = format!("sha256:{}", "c".repeat(64));
    type Pred = Box<dyn Fn(&GroupRecord) -> bool>;
    // Each case with the order of the index that serves it: `byTime` exact, the filter indexes
    // bucketed.
    let cases: Vec<(String, Pred, SortKey)> = vec![
        (String::new(), Box::new(|_| true), SortKey::Exact),
        (
            format!("filter.from={from}&filter.until={until}"),
            {
                let (f, u) = (from.clone(), until.clone());
                Box::new(move |g| g.last_occurred_at >= f && g.last_occurred_at <= u)
            },
            SortKey::Exact,
        ),
        (
            "filter.resourceName=nginx:1.25".into(),
            Box::new(|g| g.resource_name == "docker.io/library/nginx:1.25"),
            SortKey::Bucketed,
        ),
        (
            "filter.resourceId=".to_owned() + &digest,
            Box::new(|g| {
                g.resource_id.as_deref()
                    == Some("sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc")
            }),
            SortKey::Bucketed,
        ),
        ("filter.repository=nginx".into(), Box::new(|g| g.repository == "docker.io/library/nginx"), SortKey::Bucketed),
        (
            "filter.reason=TIMEOUT&filter.reason=IMAGE_NOT_FOUND".into(),
            Box::new(|g| g.reason == "TIMEOUT" || g.reason == "IMAGE_NOT_FOUND"),
            SortKey::Bucketed,
        ),
        (
            "filter.reason=TIMEOUT&filter.repository=quay.io/acme/web".into(),
            Box::new(|g| g.reason == "TIMEOUT" && g.repository == "quay.io/acme/web"),
            SortKey::Bucketed,
        ),
        ("filter.cluster=cluster-1".into(), Box::new(|g| g.clusters.contains_key("cluster-1")), SortKey::Exact),
        ("filter.account=111122223333".into(), Box::new(|g| g.account == "111122223333"), SortKey::Exact),
        ("filter.region=us-east-2".into(), Box::new(|g| g.region == "us-east-2"), SortKey::Exact),
        (
            "filter.account=111122223333&filter.region=eu-west-1".into(),
            Box::new(|g| g.account == "111122223333" && g.region == "eu-west-1"),
            SortKey::Exact,
        ),
        ("filter.search=ACME/WEB".into(), Box::new(|g| g.resource_name.contains("acme/web")), SortKey::Exact),
    ];
    for reversed in [false, true] {
        for (query, pred, key) in &cases {
            let mut expected: Vec<String> =
                newest_first(groups.clone(), *key).into_iter().filter(|g| pred(g)).map(|g| g.id).collect();
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
    // DynamoDB deletes expired items late; the tests' tables have TTL off (`table::Ttl::Disabled`).
    let expired = synthetic_group(2, "nginx", Reason::Timeout, now, 5 * 24 * 60);
    seed_groups(&store, &[fresh.clone(), expired.clone()]).await;
    assert!(store.reader().get(&uuid::Uuid::parse_str(&expired.id).unwrap()).await.unwrap().is_some());
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
        let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
        assert_eq!(page.groups.len(), 50, "{name}");
        assert!(page.next_cursor.is_some(), "{name}");
        assert!(page.stats.items_read <= 100, "{name}: read {} items", page.stats.items_read);
    }
}

/// 600 groups seen one second apart, inside one 10-minute bucket: a time window ending in its
/// middle reads only the groups inside the window, newest first in exact order, and none of
/// the 300 newer groups of the same bucket (with `byTime` sorted on the bucket, they were read
/// and dropped, and the page was in id order: this test fails so). A page reads its 50 and two more (whether more
/// follow, and the look-ahead a cursor resumes from).
#[tokio::test]
async fn a_time_window_ending_inside_a_busy_bucket_reads_only_groups_inside_it() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let bucket = scan_failures_aws::dynamo::schema::bucket_start(now - time::Duration::hours(1));
    let groups: Vec<GroupRecord> = (0..600)
        .map(|n| {
            let mut g = synthetic_group(n, "quay.io/acme/busy:1", Reason::Timeout, now, 0);
            g.last_occurred_at = scan_failures_domain::time_fmt::format(bucket + time::Duration::seconds(n as i64));
            g
        })
        .collect();
    seed_groups(&store, &groups).await;
    let until = bucket + time::Duration::seconds(299);
    let filters = Filters { from: Some(bucket), until: Some(until), ..Filters::default() };
    let req = ListRequest { filters, page: Page { limit: 50, ..Page::default() } };
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    let expected: Vec<String> = (250..300).rev().map(|n| groups[n].id.clone()).collect();
    assert_eq!(page.groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>(), expected);
    assert_eq!((page.stats.items_read, page.stats.requests), (52, 1));
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

/// Every answer, a page and each kind of refusal, is JSON that no cache between the caller and
/// the API keeps (`Cache-Control: no-store`).
#[tokio::test]
async fn every_answer_is_json_that_no_cache_keeps() {
    let store = fresh_store().await;
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE)]);
    for (path, query, caller, status) in [
        ("/v1/administration/events", "", Some(ALICE), 200),
        ("/v1/administration/events", "pagination.limit=0", Some(ALICE), 400),
        ("/v1/administration/events", "", None, 401),
        ("/v1/administration/events", "", Some("arn:aws:iam::123456789012:user/mallory"), 403),
        ("/v1/nowhere", "", Some(ALICE), 404),
    ] {
        let answer = api.handle(api_request(path, query, caller, false)).await;
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(
            (answer.status().as_u16(), header("cache-control").as_deref(), header("content-type").as_deref()),
            (status, Some("no-store"), Some("application/json")),
            "{path}?{query}"
        );
    }
}

/// A value whose escapes are not UTF-8 (`%FF`, Latin-1's `%E9` for é) is a 400 naming the
/// parameter: decoded lossily, it became U+FFFD and the answer a wrong empty page.
#[tokio::test]
async fn a_value_whose_escapes_are_not_utf8_is_a_400_naming_its_parameter() {
    let store = fresh_store().await;
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE)]);
    let (status, body) = call(&api, "/v1/administration/events", "filter.search=%E9chec", Some(ALICE)).await;
    assert_eq!(
        (status, &body["message"]),
        (400, &Value::from("filter.search: its percent-escapes must spell UTF-8 text (é is %C3%A9)"))
    );
    let (status, _) = call(&api, "/v1/administration/events", "filter.search=%C3%A9chec", Some(ALICE)).await;
    assert_eq!(status, 200);
}

/// A request still at work `ANSWER_RESERVE` before its invocation's deadline is answered 503
/// with `Retry-After` and the api's own message, rather than cut by Lambda's timeout, which API
/// Gateway answers with a 5xx of its own, without a body or a request id (a read can outlast the
/// bound's estimate on a throttled table). Here the deadline leaves no time past the reserve, so
/// the answer comes before the first read's; with a minute left, the same request is answered.
#[tokio::test]
async fn a_request_still_at_work_near_the_invocations_deadline_is_answered_503_in_time() {
    use lambda_http::RequestExt as _;
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<GroupRecord> =
        (0..20).map(|n| synthetic_group(n, &format!("quay.io/acme/late{n}:1"), Reason::Timeout, now, 1)).collect();
    seed_groups(&store, &groups).await;
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE)]);
    let with_left = |left: std::time::Duration| {
        let now_ms = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
        let deadline = now_ms + u64::try_from(left.as_millis()).unwrap();
        let mut context = lambda_http::Context::default();
        (context.request_id, context.deadline) = ("r-late".into(), deadline);
        api_request("/v1/count/administration/events", "filter.search=late", Some(ALICE), false)
            .with_lambda_context(context)
    };
    let late = api.handle(with_left(api::handler::ANSWER_RESERVE)).await;
    let retry_after = late.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = match late.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (late.status().as_u16(), retry_after.as_deref(), &body["error"]),
        (503, Some("30"), &Value::from("unavailable"))
    );
    assert_eq!(
        body["message"],
        "the request did not finish in the api's time: narrow it (a shorter window, filter.reason, filter.repository, \
         filter.resourceName) or send it again later, when the table may be less busy; what a cleanup deleted before \
         stays deleted"
    );
    let (status, body) = respond(&api, with_left(std::time::Duration::from_secs(60))).await;
    assert_eq!((status, &body["count"]), (200, &Value::from(20)), "{body}");
}

/// A window holding exactly the read bound is answered, whether it fills one partition or ends
/// in an empty one; one group more is past it.
#[tokio::test]
async fn a_count_of_exactly_the_read_bound_is_answered_and_one_more_is_too_broad() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let group = |n: usize| {
        let reason = if n < 50 { Reason::Timeout } else { Reason::ImageNotFound };
        synthetic_group(n, &format!("quay.io/acme/bound{n}:1"), reason, now, (n / 10) as i64 + 1)
    };
    seed_groups(&store, &(0..100).map(group).collect::<Vec<_>>()).await;
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE), ("API_MAX_ITEMS_READ", "100")]);
    let three = "filter.reason=TIMEOUT&filter.reason=IMAGE_NOT_FOUND&filter.reason=REGISTRY_UNAUTHORIZED";
    for query in ["", three] {
        let (status, body) = call(&api, "/v1/count/administration/events", query, Some(ALICE)).await;
        assert_eq!((status, &body["count"]), (200, &Value::from(100)), "{query}: {body}");
    }
    seed_groups(&store, &[group(100)]).await;
    let (status, body) = call(&api, "/v1/count/administration/events", "", Some(ALICE)).await;
    assert_eq!((status, &body["error"]), (400, &Value::from("too broad")), "{body}");
}

/// A count, summary or trend that would read more than `API_MAX_ITEMS_READ` records answers a
/// 400 naming the filters that narrow the reading, after reading no more than the bound; one
/// narrowed by an indexed filter answers exactly; the list, paged, is not affected.
#[tokio::test]
async fn a_count_summary_or_trend_past_the_read_bound_answers_400_naming_the_filters_that_narrow_it() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<GroupRecord> = (0..300)
        .map(|n| {
            let reason = if n < 50 { Reason::Timeout } else { Reason::ImageNotFound };
            synthetic_group(n, &format!("quay.io/acme/app{n}:1"), reason, now, (n / 10) as i64 + 1)
        })
        .collect();
    seed_groups(&store, &groups).await;
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE), ("API_MAX_ITEMS_READ", "100")]);
    let message = concat!(
        "this request matches more than the 100 failure groups one request may read: narrow the window ",
        "(filter.from, or days for the trend) or filter on an indexed field (filter.reason, filter.repository, ",
        "filter.resourceName or filter.resourceId); filter.account, filter.region and the other filters ",
        "are checked on the groups read and do not reduce the reading"
    );
    for (path, query) in [
        ("/v1/count/administration/events", ""),
        ("/v1/administration/events/summary", ""),
        ("/v1/administration/events/trend", "days=7"),
        ("/v1/count/administration/events", "filter.account=123456789012"),
    ] {
        let (status, body) = call(&api, path, query, Some(ALICE)).await;
        assert_eq!(status, 400, "{path}?{query}: {body}");
        assert_eq!((&body["error"], &body["message"]), (&Value::from("too broad"), &Value::from(message)), "{path}");
    }
    // It stopped at the bound: the reader reports what it read, the bound and the one entry
    // that showed more were left.
    let err = store.reader().bounded(100).count(&Filters::default(), now, RetentionDays::default()).await.unwrap_err();
    assert!(matches!(err, scan_failures_aws::dynamo::read::QueryError::TooBroad { max: 100, read: 101 }), "{err:?}");
    // Narrowed by an indexed filter (50 groups, read through byReason): exact answers.
    let (status, body) = call(&api, "/v1/count/administration/events", "filter.reason=TIMEOUT", Some(ALICE)).await;
    assert_eq!((status, &body["count"]), (200, &Value::from(50)), "{body}");
    let (status, body) = call(&api, "/v1/administration/events/summary", "filter.reason=TIMEOUT", Some(ALICE)).await;
    assert_eq!((status, &body["totals"]["groups"]), (200, &Value::from(50)), "{body}");
    // Pages have their own bound: the whole list is served.
    let (status, body) = call(&api, "/v1/administration/events", "pagination.limit=1000", Some(ALICE)).await;
    assert_eq!((status, body["events"].as_array().map(Vec::len)), (200, Some(300)));
}

/// An offset still skipping matches when its page reaches the read bound answers 400: a cursor
/// cannot carry the rest of the offset, and the next page, from that cursor, would have served
/// the matches the offset was to skip. And a page over 63 repositories (63 partitions of the
/// `byRepository` index) reads exactly its bound, not what one round of the old `want` from each
/// came to (1,002 asked of each: every one of the 21,000 entries), then goes on from its cursor.
#[tokio::test]
async fn an_offset_still_skipping_at_the_pages_read_bound_answers_400_and_no_page_reads_past_it() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let bound = scan_failures_aws::dynamo::read::MAX_ITEMS_READ_PER_PAGE as usize;
    // 30 matches among the newest, then more than a page may read of others, over 63 repositories.
    let groups: Vec<GroupRecord> = (0..bound + 1000)
        .map(|n| {
            let image = format!("quay.io/acme/svc{}:{n}", n % 63);
            let mut g = synthetic_group(n, &image, Reason::Timeout, now, 1 + n as i64 / 10);
            if n < 30 {
                g.message = "a rare failure".to_owned();
            }
            g
        })
        .collect();
    seed_groups_parallel(&store, &groups, 4).await;
    let api = api(&store, ALICE);
    let (status, body) =
        call(&api, "/v1/administration/events", "filter.search=rare&pagination.offset=50", Some(ALICE)).await;
    assert_eq!((status, &body["error"]), (400, &Value::from("too broad")), "{body}");
    assert_eq!(
        body["message"],
        "pagination.offset skips more matching events than one page may read (20000 records) to find: page with \
         pagination.cursor instead, or narrow the filters"
    );
    // Within the matches, the offset is served.
    let (status, body) =
        call(&api, "/v1/administration/events", "filter.search=rare&pagination.offset=20", Some(ALICE)).await;
    assert_eq!((status, body["events"].as_array().map(Vec::len)), (200, Some(10)), "{body}");

    let filters = Filters {
        repository: (0..63).map(|r| format!("quay.io/acme/svc{r}")).collect(),
        search: vec!["rare".to_owned()],
        ..Filters::default()
    };
    let mut req = ListRequest { filters, page: Page { limit: 1000, ..Page::default() } };
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!((page.groups.len(), page.stats.items_read), (30, bound as u64));
    req.page.cursor = Some(page.next_cursor.expect("a page cut at its bound has a cursor"));
    let rest = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!((rest.groups.len(), rest.next_cursor), (0, None));
    assert!(rest.stats.items_read >= 1000, "the rest read again: {}", rest.stats.items_read);
}

/// A page over 20 repositories asks each for a share of what it wants (3 of 52), then reads
/// again only the partitions it drains, each for what the page still wants: 125 entries for the
/// 50 newest groups and the one that shows more (before, 52 from each: 1,040). The 20 groups of
/// each round of the merge are one from each repository, newest first: the first round's 60
/// serve 40 of the page; then each of ten partitions, drained in turn, is read for the 11, 10,
/// …, 2 the page still wants (65). The next page goes on in order.
#[tokio::test]
async fn a_page_over_many_partitions_reads_a_share_of_each_and_again_only_the_ones_it_drains() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    // Ten minutes apart: one group in each bucket of the filter indexes' sort key, so the merged
    // order is the groups' order.
    let groups: Vec<GroupRecord> = (0..500)
        .map(|n| {
            synthetic_group(n, &format!("quay.io/acme/part{}:{n}", n % 20), Reason::Timeout, now, 10 * n as i64 + 1)
        })
        .collect();
    seed_groups_parallel(&store, &groups, 4).await;
    let filters =
        Filters { repository: (0..20).map(|r| format!("quay.io/acme/part{r}")).collect(), ..Filters::default() };
    let mut req = ListRequest { filters, page: Page { limit: 50, ..Page::default() } };
    let ids =
        |page: &scan_failures_aws::dynamo::read::Page| page.groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>();
    let newest = |range: std::ops::Range<usize>| groups[range].iter().map(|g| g.id.clone()).collect::<Vec<_>>();
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!(ids(&page), newest(0..50));
    assert_eq!(
        (page.stats.items_read, page.stats.requests),
        (125, 60),
        "20 Queries and their BatchGetItems, then 10 of each"
    );
    req.page.cursor = page.next_cursor.clone();
    let next = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!(ids(&next), newest(50..100));
}

/// A page of a filter no entry passes reads in rounds that grow as its entries fail: 3,000
/// groups of other accounts, a page of one, read in 7 `Query` calls (3, 12, 48, 192, 768, then
/// a thousand a call) to the end, where it asked 3 a call (1,000 calls; 6,667 at the read
/// bound, past the api's deadline).
#[tokio::test]
async fn a_page_of_a_filter_no_entry_passes_reads_in_growing_rounds() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<GroupRecord> =
        (0..3_000).map(|n| synthetic_group(n, &format!("nginx:{n}"), Reason::Timeout, now, n as i64 + 1)).collect();
    seed_groups_parallel(&store, &groups, 4).await;
    let filters = Filters { account: vec!["999999999999".into()], ..Filters::default() };
    let req = ListRequest { filters, page: Page { limit: 1, ..Page::default() } };
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!((page.groups.len(), page.next_cursor.is_none()), (0, true));
    assert_eq!((page.stats.items_read, page.stats.requests), (3_000, 7));
}

/// A round of a page whose entries' groups were all deleted between the index `Query` and their
/// `BatchGetItem` (a cleanup or TTL racing the read) passes over them and reads on: the page
/// holds the group after them (before, it ended there, empty and without a cursor, as if the
/// listing were through). Mocked: DynamoDB Local cannot be made to delete between the two calls
/// of one page.
#[tokio::test]
async fn a_round_whose_groups_were_all_deleted_before_their_hydration_is_passed_over_and_the_page_reads_on() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use scan_failures_aws::dynamo::item::GroupItem as _;
    use std::collections::HashMap;

    let now = OffsetDateTime::now_utc();
    let image = "quay.io/acme/racing:1";
    let [a, b, c] = [1, 2, 3].map(|n| synthetic_group(n, image, Reason::Timeout, now, 10 * n as i64));
    let entry = |g: &GroupRecord, minute: usize| {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(format!("g#{}", g.id))),
            ("resourceName".to_owned(), AttributeValue::S(g.resource_name.clone())),
            ("lastSk".to_owned(), AttributeValue::S(format!("2026-12-04T05:{minute:02}:00.000Z#{}", g.id))),
        ])
    };
    let first = vec![entry(&a, 50), entry(&b, 40)];
    let last_key = first[1].clone();
    let second = vec![entry(&c, 30)];
    let mut stored = c.to_item().unwrap();
    stored.extend(second[0].clone());
    let query = mock!(aws_sdk_dynamodb::Client::query)
        .sequence()
        .output(move || {
            let (items, key) = (first.clone(), last_key.clone());
            QueryOutput::builder()
                .set_items(Some(items))
                .count(2)
                .scanned_count(2)
                .set_last_evaluated_key(Some(key))
                .build()
        })
        .output(move || QueryOutput::builder().set_items(Some(second.clone())).count(1).scanned_count(1).build())
        .build();
    let hydrate = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .sequence()
        .output(|| BatchGetItemOutput::builder().responses("mocked", Vec::new()).build())
        .output(move || BatchGetItemOutput::builder().responses("mocked", vec![stored.clone()]).build())
        .build();
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query, &hydrate]), "mocked");

    let filters = Filters { resource_name: vec![image.to_owned()], ..Filters::default() };
    let req = ListRequest { filters, page: Page { limit: 10, ..Page::default() } };
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!(page.groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), [c.id.as_str()]);
    assert_eq!((page.next_cursor, query.num_calls(), hydrate.num_calls()), (None, 2, 2));
}

/// A group a write moves between a filtered page's index `Query` and its `BatchGetItem` keeps
/// the place its index entry was read at, and the cursor after it holds that place, not the
/// newer time the table already has: a cursor past the newer time would serve the page's groups
/// again (newest first) or skip the ones between (oldest first). Mocked: DynamoDB Local cannot
/// be made to write between the two calls of one page.
#[tokio::test]
async fn a_group_moved_between_the_index_read_and_its_hydration_keeps_its_place_and_the_cursor() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use scan_failures_aws::dynamo::item::GroupItem as _;
    use std::collections::HashMap;

    let now = OffsetDateTime::now_utc();
    let image = "quay.io/acme/moving:1";
    let (a, b) =
        (synthetic_group(1, image, Reason::Timeout, now, 30), synthetic_group(2, image, Reason::Timeout, now, 60));
    let (read_a, moved_a, read_b) =
        ("2026-12-04T05:00:00.000Z#a", "2026-12-04T05:50:00.000Z#a", "2026-12-04T04:30:00.000Z#b");
    let entry = |g: &GroupRecord, sk: &str| {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(format!("g#{}", g.id))),
            ("resourceName".to_owned(), AttributeValue::S(g.resource_name.clone())),
            ("lastSk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    };
    let item = |g: &GroupRecord, sk: &str| {
        let mut item = g.to_item().unwrap();
        item.extend(entry(g, sk));
        item
    };
    let entries = vec![entry(&a, read_a), entry(&b, read_b)];
    let items = vec![item(&a, moved_a), item(&b, read_b)];
    let query = mock!(aws_sdk_dynamodb::Client::query)
        .then_output(move || QueryOutput::builder().set_items(Some(entries.clone())).count(2).scanned_count(2).build());
    let hydrate = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .then_output(move || BatchGetItemOutput::builder().responses("mocked", items.clone()).build());
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query, &hydrate]), "mocked");

    let filters = Filters { resource_name: vec![image.to_owned()], ..Filters::default() };
    let req = ListRequest { filters: filters.clone(), page: Page { limit: 1, ..Page::default() } };
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    assert_eq!(page.groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), [a.id.as_str()]);
    let query_id = scan_failures_http::cursor::query_hash(&format!("{}|false", filters.canonical()));
    let after = scan_failures_http::cursor::decode(page.next_cursor.as_deref().unwrap(), &query_id).unwrap();
    assert_eq!(after, read_a);
}

/// A count reads oldest first and counts each group once: a group an occurrence moves while the
/// count reads (here `c`, read at 03:00 in the first page of the index, then met again at its
/// new place 05:50 in the second) is counted once, and one not yet read that moves is met ahead
/// (newest first, a group below the read that moved above it was never met, and the count came
/// out short). A page likewise holds a group once. Mocked: DynamoDB Local cannot be made to
/// write between two `Query` pages of one read.
#[tokio::test]
async fn a_count_and_a_page_meet_a_group_moved_during_their_read_once() {
    use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use scan_failures_aws::dynamo::item::GroupItem as _;

    let now = OffsetDateTime::now_utc();
    let group = |n: usize| synthetic_group(n, &format!("quay.io/acme/moved{n}:1"), Reason::Timeout, now, 30);
    let (a, b, c) = (group(1), group(2), group(3));
    let item = |g: &GroupRecord, sk: &str| {
        let mut item = g.to_item().unwrap();
        item.insert("timeSk".to_owned(), AttributeValue::S(format!("{sk}#{}", g.id)));
        item.insert("lastSk".to_owned(), AttributeValue::S(format!("{sk}#{}", g.id)));
        item
    };
    let first = vec![item(&a, "2026-12-04T01:00:00.000Z"), item(&c, "2026-12-04T03:00:00.000Z")];
    let second = vec![item(&b, "2026-12-04T04:00:00.000Z"), item(&c, "2026-12-04T05:50:00.000Z")];
    let last = first[1].clone();
    let pages = || {
        let (first, second, last) = (first.clone(), second.clone(), last.clone());
        mock!(aws_sdk_dynamodb::Client::query)
            .match_requests(|q: &QueryInput| q.scan_index_forward() == Some(true))
            .sequence()
            .output(move || {
                QueryOutput::builder()
                    .set_items(Some(first.clone()))
                    .last_evaluated_key("pk", last["pk"].clone())
                    .build()
            })
            .output(move || QueryOutput::builder().set_items(Some(second.clone())).build())
            .build()
    };
    let query = pages();
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query]), "mocked");
    let (count, _) = store.reader().count(&Filters::default(), now, RetentionDays::default()).await.unwrap();
    assert_eq!((count, query.num_calls()), (3, 2), "oldest first, each group once");

    let query = pages();
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query]), "mocked");
    let req = ListRequest { filters: Filters::default(), page: Page { limit: 10, reversed: true, ..Page::default() } };
    let page = store.reader().list(&req, now, RetentionDays::default()).await.unwrap();
    let ids: Vec<&str> = page.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str(), c.id.as_str(), b.id.as_str()]);
}

/// A page of 1,000 events whose messages are 4 KiB of quotes (each escaped in the body, and its
/// escape escaped again in the function's answer) would pass the 6 MB Lambda carries, and API
/// Gateway would answer a bare 500: the page stops short of its limit at 5 MiB carried, with a
/// cursor that goes on from its last event, and the pages together hold every event once.
#[tokio::test]
async fn a_page_stops_short_of_its_limit_where_its_answer_would_pass_what_lambda_carries() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<GroupRecord> = (0..1000)
        .map(|n| {
            let mut g = synthetic_group(n, &format!("quay.io/acme/big{n}:1"), Reason::Timeout, now, n as i64 + 1);
            g.message = "\"".repeat(4096);
            g
        })
        .collect();
    seed_groups_parallel(&store, &groups, 4).await;
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE)]);
    let (mut seen, mut pages, mut cursor) = (std::collections::BTreeSet::new(), 0, None::<String>);
    loop {
        let query = match &cursor {
            Some(c) => format!("pagination.limit=1000&pagination.cursor={c}"),
            None => "pagination.limit=1000".to_owned(),
        };
        let (status, body) = call(&api, "/v1/administration/events", &query, Some(ALICE)).await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap();
        assert!(api::payload::carried_len(&body) <= api::payload::MAX_EVENTS_BYTES + 1024, "page {pages}");
        for e in events {
            assert!(seen.insert(e["id"].as_str().unwrap().to_owned()), "{} twice", e["id"]);
        }
        pages += 1;
        match body["nextCursor"].as_str() {
            Some(c) => {
                assert!(events.len() < 1000 || seen.len() == 1000);
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000);
    assert!(pages >= 4, "{pages} pages");
}

/// The 400 message of a cursor given to another request than the one that answered it.
fn other_query_message() -> Value {
    Value::from(
        "pagination.cursor was issued for other filters or another sort order; repeat the request that returned it",
    )
}

/// A cleanup reads at most `API_MAX_ITEMS_READ` index entries: the matches among them are
/// deleted, and `nextCursor` goes on where the reading stopped, through the request's other
/// filter values, until the reading ends within the bound. Before, the answer had no cursor: the
/// repeat read the same newest groups again, and with the matches left past the bound answered
/// 400 `too broad`, after a first answer of `"more": true`.
#[tokio::test]
async fn a_cleanup_past_the_read_bound_answers_a_cursor_that_goes_on_where_its_reading_stopped() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    seed_groups(&store, &fixtures::matches_across_a_read_bound(now)).await;
    // One request reads the bound's 100 entries of `big` and no more (before, a Query of 1,000
    // read all 120 of them): its 10 newest matches among them.
    let filters = Filters {
        repository: vec!["quay.io/acme/big".into(), "quay.io/acme/small".into()],
        reason: vec![Reason::Timeout],
        ..Filters::default()
    };
    let (found, reading) = store.admin().matching(&CleanupRequest { filters, cursor: None }, 1000, 100).await.unwrap();
    assert_eq!((found.len(), reading.read.items_read, reading.more), (10, 100, true));
    let api = api_from_env(&store, &[("ADMIN_WRITE_PRINCIPALS", ADMIN_ROLE), ("API_MAX_ITEMS_READ", "100")]);
    let query = "filter.repository=quay.io/acme/big&filter.repository=quay.io/acme/small&filter.reason=TIMEOUT";
    let delete = |query: String| {
        let api = &api;
        async move { send(api, "DELETE", "/v1/administration/events", &query, None, Some(ADMIN_ROLE), false).await }
    };
    // The first 100 entries of `big`: its 10 newest matches.
    let (status, first) = delete(query.to_owned()).await;
    assert_eq!((status, &first["deleted"], &first["more"]), (200, &Value::from(10), &Value::from(true)), "{first}");
    let cursor = first["nextCursor"].as_str().expect("a reading cut at its bound answers a cursor").to_owned();
    // From there: the rest of `big` (10 others, 10 matches), then `small` (5): through.
    let (status, rest) = delete(format!("{query}&pagination.cursor={cursor}")).await;
    assert_eq!(
        (status, &rest["deleted"], &rest["kept"], &rest["more"], rest.get("nextCursor")),
        (200, &Value::from(15), &Value::from(0), &Value::from(false), None),
        "{rest}"
    );
    let left = integration_tests::all_groups(&store).await;
    assert_eq!((left.len(), left.iter().all(|g| g.reason == "RATE_LIMITED")), (100, true));
    // A cursor continues the cleanup it came from only: not another one, not a list.
    let (status, body) = delete(format!("filter.repository=quay.io/acme/big&pagination.cursor={cursor}")).await;
    assert_eq!((status, &body["message"]), (400, &other_query_message()), "{body}");
    let (status, page) = call(&api, "/v1/administration/events", "pagination.limit=1", Some(ADMIN_ROLE)).await;
    let listed = page["nextCursor"].as_str().map(str::to_owned);
    assert_eq!((status, listed.is_some()), (200, true), "{page}");
    let (status, body) =
        delete(format!("filter.reason=TIMEOUT&pagination.cursor={}", listed.unwrap_or_default())).await;
    assert_eq!((status, &body["message"]), (400, &other_query_message()), "{body}");
}

// ------------------------------------------------------------------ summary and trend

/// One failure as the test sends it, with what the test expects of it.
struct Sent {
    account: &'static str,
    region: &'static str,
    image: &'static str,
    reason: &'static str,
    operation: &'static str,
    origin: &'static str,
    cluster: Option<String>,
    at: OffsetDateTime,
}

/// 90 failures over 6 days, 3 accounts, 3 registries, 5 images and 4 reasons.
fn mixed_failures() -> Vec<Sent> {
    let accounts = ["111111111111", "222222222222", "333333333333"];
    let images = [
        "quay.io/acme/web:1",
        "quay.io/acme/web:2",
        "quay.io/acme/api:1",
        "ghcr.io/acme/worker:main",
        "docker.io/library/nginx:1.25",
    ];
    let reasons = ["TIMEOUT", "REGISTRY_UNAUTHORIZED", "IMAGE_NOT_FOUND", "RATE_LIMITED"];
    let operations = ["image scan", "image check", "image sbom", "deployment check"];
    (0..90usize)
        .map(|i| Sent {
            account: accounts[(i / 7) % 3],
            region: ["eu-west-1", "us-east-2"][(i / 11) % 2],
            image: images[i % 5],
            reason: reasons[(i / 3) % 4],
            operation: operations[i % 4],
            origin: ["roxctl", "api"][(i / 2) % 2],
            cluster: (i % 5 != 0).then(|| format!("prod-{}", i % 4)),
            at: fixed_now() - time::Duration::days((i % 6) as i64) - time::Duration::minutes(i as i64 + 1),
        })
        .collect()
}

async fn ingest_all(store: &Store, sent: &[Sent]) {
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(30).unwrap()).with_clock(fixed_now);
    for (i, s) in sent.iter().enumerate() {
        let t = scan_failures_domain::time_fmt::format(s.at);
        let mut detail = fixtures::failure_at(s.operation, s.origin, s.image, "scan failed", &t);
        detail["error"]["code"] = s.reason.into();
        if let Some(c) = &s.cluster {
            detail["cluster"] = serde_json::json!(c);
        }
        let mut envelope = fixtures::envelope(&format!("mixed-{i}"), "test.mixed", &t, detail);
        envelope["account"] = s.account.into();
        envelope["region"] = s.region.into();
        ingest.handle(envelope).await.unwrap();
    }
}

/// A group as the test recomputes it from the failures it sent.
#[derive(Default)]
struct Expected {
    image: String,
    repository: String,
    registry: String,
    reason: String,
    count: u64,
    latest: Option<OffsetDateTime>,
    account: String,
    region: String,
    first: Option<OffsetDateTime>,
    ops: std::collections::BTreeMap<String, u64>,
    origins: std::collections::BTreeMap<String, u64>,
    clusters: std::collections::BTreeSet<String>,
    days: std::collections::BTreeMap<String, u64>,
}

fn expected_groups(sent: &[Sent]) -> Vec<Expected> {
    let mut groups: std::collections::BTreeMap<(String, String), Expected> = Default::default();
    for s in sent {
        let image = scan_failures_domain::image::ImageRef::parse(s.image).unwrap();
        let g = groups.entry((image.normalized(), s.reason.to_owned())).or_default();
        g.image = image.normalized();
        g.repository = image.repository();
        g.registry = image.registry.clone();
        g.reason = s.reason.to_owned();
        g.count += 1;
        if g.latest.is_none_or(|l| s.at > l) {
            g.latest = Some(s.at);
            g.account = s.account.to_owned();
            g.region = s.region.to_owned();
        }
        g.first = Some(g.first.map_or(s.at, |f| f.min(s.at)));
        *g.ops.entry(s.operation.to_owned()).or_default() += 1;
        *g.origins.entry(s.origin.to_owned()).or_default() += 1;
        g.clusters.extend(s.cluster.clone());
        *g.days.entry(scan_failures_domain::group::daily::day_key(s.at)).or_default() += 1;
    }
    groups.into_values().collect()
}

/// `{"groups": n, "occurrences": m}` per key, over `groups`, keyed by `key` (several keys per group
/// allowed, each with its own occurrences).
fn tallies(groups: &[&Expected], key: impl Fn(&Expected) -> Vec<(String, u64)>) -> Value {
    let mut out: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for g in groups {
        for (k, n) in key(g) {
            let e = out.entry(k).or_default();
            e.0 += 1;
            e.1 += n;
        }
    }
    Value::Object(out.into_iter().map(|(k, (g, o))| (k, serde_json::json!({"groups": g, "occurrences": o}))).collect())
}

/// Heaviest first (occurrences, then groups, then name), as the summary orders its lists.
fn heaviest_first(mut entries: Vec<(String, u64, u64)>) -> Vec<(String, u64, u64)> {
    entries.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then_with(|| a.0.cmp(&b.0)));
    entries
}

fn grouped<'a>(groups: &[&'a Expected], key: impl Fn(&Expected) -> String) -> Vec<(String, Vec<&'a Expected>)> {
    let mut map: std::collections::BTreeMap<String, Vec<&Expected>> = Default::default();
    for g in groups {
        map.entry(key(g)).or_default().push(g);
    }
    let weights: Vec<(String, u64, u64)> =
        map.iter().map(|(k, gs)| (k.clone(), gs.len() as u64, gs.iter().map(|g| g.count).sum::<u64>())).collect();
    heaviest_first(weights).into_iter().map(|(k, _, _)| (k.clone(), map.remove(&k).unwrap_or_default())).collect()
}

fn expected_summary(groups: &[&Expected], top: usize) -> Value {
    let total = |gs: &[&Expected]| gs.iter().map(|g| g.count).sum::<u64>();
    let level = |g: &Expected| {
        let reason = Reason::from_code(&g.reason).unwrap();
        format!("ADMINISTRATION_EVENT_LEVEL_{}", reason.level().as_str())
    };
    let mut clusters: std::collections::BTreeMap<String, u64> = Default::default();
    for g in groups {
        for c in &g.clusters {
            *clusters.entry(c.clone()).or_default() += 1;
        }
    }
    let images: Vec<(String, u64, u64)> =
        grouped(groups, |g| g.image.clone()).into_iter().map(|(k, gs)| (k, gs.len() as u64, total(&gs))).collect();
    let node = |gs: &[&Expected]| (gs.len() as u64, total(gs));
    let accounts: Vec<Value> = grouped(groups, |g| g.account.clone())
        .into_iter()
        .map(|(account, gs)| {
            let registries: Vec<Value> = grouped(&gs, |g| g.registry.clone())
                .into_iter()
                .map(|(registry, rs)| {
                    let repositories: Vec<Value> = grouped(&rs, |g| g.repository.clone())
                        .into_iter()
                        .map(|(repository, ps)| {
                            let (g, o) = node(&ps);
                            serde_json::json!({"repository": repository, "groups": g, "occurrences": o})
                        })
                        .collect();
                    let (g, o) = node(&rs);
                    serde_json::json!({"registry": registry, "groups": g, "occurrences": o, "repositories": repositories})
                })
                .collect();
            let regions: Vec<Value> = grouped(&gs, |g| g.region.clone())
                .into_iter()
                .map(|(region, rs)| {
                    let (g, o) = node(&rs);
                    serde_json::json!({"region": region, "groups": g, "occurrences": o})
                })
                .collect();
            let (g, o) = node(&gs);
            serde_json::json!({"account": account, "groups": g, "occurrences": o, "regions": regions, "registries": registries})
        })
        .collect();
    serde_json::json!({
        "totals": {"groups": groups.len(), "occurrences": total(groups)},
        "byReason": tallies(groups, |g| vec![(g.reason.clone(), g.count)]),
        "byLevel": tallies(groups, |g| vec![(level(g), g.count)]),
        "byOperation": tallies(groups, |g| g.ops.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        "byOrigin": tallies(groups, |g| g.origins.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        "byCluster": Value::Object(clusters.into_iter().map(|(k, n)| (k, serde_json::json!({"groups": n}))).collect()),
        "byAccount": tallies(groups, |g| vec![(g.account.clone(), g.count)]),
        "byRegion": tallies(groups, |g| vec![(g.region.clone(), g.count)]),
        "topImages": images.into_iter().take(top)
            .map(|(k, g, o)| serde_json::json!({"resourceName": k, "groups": g, "occurrences": o})).collect::<Vec<_>>(),
        "accounts": accounts,
        "truncated": [],
    })
}

fn expected_trend(groups: &[&Expected], days: i64) -> Value {
    let dates: Vec<String> = (0..days)
        .rev()
        .map(|back| scan_failures_domain::group::daily::day_key(fixed_now() - time::Duration::days(back)))
        .collect();
    let mut series = Vec::new();
    let (mut occurrences, mut new_groups) = (0u64, 0u64);
    for date in &dates {
        let mut by_reason: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for g in groups {
            let n = g.days.get(date).copied().unwrap_or(0);
            let new = u64::from(g.first.map(scan_failures_domain::group::daily::day_key).as_ref() == Some(date));
            if n + new > 0 {
                let e = by_reason.entry(g.reason.clone()).or_default();
                e.0 += n;
                e.1 += new;
            }
        }
        let day_occurrences: u64 = by_reason.values().map(|v| v.0).sum();
        let day_new: u64 = by_reason.values().map(|v| v.1).sum();
        occurrences += day_occurrences;
        new_groups += day_new;
        series.push(serde_json::json!({
            "date": date, "occurrences": day_occurrences, "newGroups": day_new,
            "byReason": Value::Object(by_reason.into_iter()
                .map(|(k, (o, n))| (k, serde_json::json!({"occurrences": o, "newGroups": n}))).collect()),
        }));
    }
    serde_json::json!({
        "days": days, "from": dates[0], "until": dates[dates.len() - 1], "completeFrom": dates[0],
        "totals": {"occurrences": occurrences, "newGroups": new_groups}, "series": series,
    })
}

#[tokio::test]
async fn summary_and_trend_equal_the_counts_recomputed_from_the_failures_sent() {
    let store = fresh_store().await;
    let sent = mixed_failures();
    ingest_all(&store, &sent).await;
    let expected = expected_groups(&sent);
    assert_eq!(expected.len(), 20, "5 images x 4 reasons");
    let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", ALICE), ("RETENTION_DAYS", "30")]).with_clock(fixed_now);
    let all: Vec<&Expected> = expected.iter().collect();

    let (status, summary) = call(&api, "/v1/administration/events/summary", "summary.top=3", Some(ALICE)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary, expected_summary(&all, 3));
    assert_eq!(summary["totals"]["occurrences"], 90);

    let (status, trend) = call(&api, "/v1/administration/events/trend", "", Some(ALICE)).await;
    assert_eq!(status, 200, "{trend}");
    assert_eq!(trend, expected_trend(&all, 7));
    assert_eq!(trend["totals"], serde_json::json!({"occurrences": 90, "newGroups": 20}));
    // Only the last two days: the groups last seen before them are not even read.
    let (_, trend) = call(&api, "/v1/administration/events/trend", "days=2", Some(ALICE)).await;
    assert_eq!(trend, expected_trend(&all, 2));

    // The same filters as the list narrow both: here the account of the latest occurrence.
    let one: Vec<&Expected> = expected.iter().filter(|g| g.account == "222222222222").collect();
    assert!(!one.is_empty() && one.len() < expected.len());
    let (_, summary) =
        call(&api, "/v1/administration/events/summary", "filter.account=222222222222", Some(ALICE)).await;
    assert_eq!(summary, expected_summary(&one, 10));
    let (_, trend) =
        call(&api, "/v1/administration/events/trend", "days=7&filter.account=222222222222", Some(ALICE)).await;
    assert_eq!(trend, expected_trend(&one, 7));
    // And the region: alone, and with the account (the drill-down's two levels).
    for (query, pred) in [
        (
            "filter.region=us-east-2",
            Box::new(|g: &&Expected| g.region == "us-east-2") as Box<dyn Fn(&&Expected) -> bool>,
        ),
        (
            "filter.account=222222222222&filter.region=eu-west-1",
            Box::new(|g: &&Expected| g.account == "222222222222" && g.region == "eu-west-1"),
        ),
    ] {
        let some: Vec<&Expected> = expected.iter().filter(|g| pred(g)).collect();
        assert!(!some.is_empty() && some.len() < expected.len(), "{query}");
        let (_, summary) = call(&api, "/v1/administration/events/summary", query, Some(ALICE)).await;
        assert_eq!(summary, expected_summary(&some, 10), "{query}");
        let (_, trend) = call(&api, "/v1/administration/events/trend", &format!("days=7&{query}"), Some(ALICE)).await;
        assert_eq!(trend, expected_trend(&some, 7), "{query}");
        let (_, count) = call(&api, "/v1/count/administration/events", query, Some(ALICE)).await;
        assert_eq!(count["count"], some.len(), "{query}");
    }
    let quay: Vec<&Expected> = expected.iter().filter(|g| g.registry == "quay.io" && g.reason == "TIMEOUT").collect();
    let (_, summary) = call(
        &api,
        "/v1/administration/events/summary",
        "filter.repository=quay.io/acme/web&filter.repository=quay.io/acme/api&filter.reason=TIMEOUT",
        Some(ALICE),
    )
    .await;
    assert_eq!(summary, expected_summary(&quay, 10));

    // Bad parameters are 400s naming them.
    for (path, query, message) in [
        (
            "/v1/administration/events/summary",
            "summary.top=0",
            "summary.top: must be a whole number from 1 to 100, got \"0\"",
        ),
        ("/v1/administration/events/trend", "days=91", "days: must be a whole number from 1 to 90, got \"91\""),
        (
            "/v1/administration/events/trend",
            "filter.from=2026-11-20T00:00:00Z",
            "unknown query parameter \"filter.from\"; see the API reference for the accepted names",
        ),
    ] {
        let (status, body) = call(&api, path, query, Some(ALICE)).await;
        assert_eq!((status, body["message"].as_str()), (400, Some(message)), "{path}?{query}");
    }
}

// ------------------------------------------------------------------ triage

#[tokio::test]
async fn triage_records_who_when_and_a_note_with_a_history_of_20_newest_first() {
    let store = fresh_store().await;
    let now = fixed_now();
    let group = synthetic_group(1, "nginx", Reason::Timeout, now, 30);
    seed_groups(&store, std::slice::from_ref(&group)).await;
    let api = api_with(&store, ALICE, ADMIN_ROLE).with_clock(fixed_now);
    let path = format!("/v1/administration/events/{}/triage", group.id);
    let states = ["acknowledged", "false_positive", "resolved", "open"];
    for n in 0..22 {
        let body = serde_json::json!({"state": states[n % 4], "note": format!("step {n}")}).to_string();
        let (status, answer) = send(&api, "POST", &path, "", Some(&body), Some(ADMIN_SESSION), false).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, one) = call(&api, &format!("/v1/administration/events/{}", group.id), "", Some(ALICE)).await;
    assert_eq!(status, 200);
    let t = &one["event"]["scanFailure"]["triage"];
    assert_eq!(t["state"], "false_positive");
    assert_eq!(t["triagedBy"], ADMIN_SESSION);
    assert_eq!(t["triagedAt"], "2026-11-25T12:00:00.000Z");
    assert_eq!(t["note"], "step 21");
    let history = t["history"].as_array().unwrap();
    assert_eq!(history.len(), 20);
    let notes: Vec<&str> = history.iter().map(|h| h["note"].as_str().unwrap()).collect();
    let expected: Vec<String> = (2..22).rev().map(|n| format!("step {n}")).collect();
    assert_eq!(notes, expected);
    assert_eq!(
        history[0],
        serde_json::json!({"state": "false_positive", "at": "2026-11-25T12:00:00.000Z", "by": ADMIN_SESSION, "note": "step 21"})
    );
    // A change without a note clears the current note, and the history keeps the earlier one.
    let (_, answer) =
        send(&api, "POST", &path, "", Some(r#"{"state": "acknowledged"}"#), Some(ADMIN_ROLE), false).await;
    let t = &answer["event"]["scanFailure"]["triage"];
    assert_eq!((t.get("note"), t["history"][1]["note"].as_str()), (None, Some("step 21")));

    // The list shows the state without the history.
    let (_, list) = call(&api, "/v1/administration/events", "", Some(ALICE)).await;
    assert_eq!(list["events"][0]["scanFailure"]["triage"]["state"], "acknowledged");
    assert!(list["events"][0]["scanFailure"]["triage"].get("history").is_none());

    let big_note = serde_json::json!({"state": "open", "note": "n".repeat(1025)}).to_string();
    let huge = serde_json::json!({"state": "open", "note": " ".repeat(5000)}).to_string();
    for (body, message) in [
        (
            r#"{"state": "closed"}"#.to_owned(),
            "state: must be open, acknowledged, false_positive or resolved, got \"closed\"",
        ),
        (
            r#"{"state": "open", "by": "me"}"#.to_owned(),
            "unknown field \"by\" in the request body; accepted: state, note, ifVersion",
        ),
        (big_note, "note: must be a string of at most 1024 bytes, got 1025 bytes"),
        (huge, "the request body is 5026 bytes; at most 4096 are accepted"),
        (String::new(), "the request body must be a JSON object: EOF while parsing a value at line 1 column 0"),
    ] {
        let (status, answer) = send(&api, "POST", &path, "", Some(&body), Some(ADMIN_ROLE), false).await;
        assert_eq!(
            (status, answer["error"].as_str(), answer["message"].as_str()),
            (400, Some("bad request body"), Some(message))
        );
    }
    let unknown = "/v1/administration/events/00000000-0000-0000-0000-000000000000/triage";
    let (status, _) = send(&api, "POST", unknown, "", Some(r#"{"state": "open"}"#), Some(ADMIN_ROLE), false).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &api,
        "POST",
        "/v1/administration/events/nope/triage",
        "",
        Some(r#"{"state": "open"}"#),
        Some(ADMIN_ROLE),
        false,
    )
    .await;
    assert_eq!(status, 404);
    let (status, answer) =
        send(&api, "POST", &path, "x=1", Some(r#"{"state": "open"}"#), Some(ADMIN_ROLE), false).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (400, Some("unknown query parameter \"x\"; see the API reference for the accepted names"))
    );
}

/// Two administrators triage from what each read: the second, naming the version it read, is
/// refused rather than overwriting the first one's note unseen.
#[tokio::test]
async fn a_triage_naming_the_version_it_read_is_refused_with_409_once_another_triage_changed_it() {
    let store = fresh_store().await;
    let group = synthetic_group(1, "nginx", Reason::Timeout, fixed_now(), 30);
    seed_groups(&store, std::slice::from_ref(&group)).await;
    let api = api_with(&store, ALICE, ADMIN_ROLE).with_clock(fixed_now);
    let (one, path) =
        (format!("/v1/administration/events/{}", group.id), format!("/v1/administration/events/{}/triage", group.id));
    let triage_of = |answer: &Value| answer["event"]["scanFailure"]["triage"].clone();
    let (_, read) = call(&api, &one, "", Some(ALICE)).await;
    assert_eq!(triage_of(&read), json!({"state": "open", "version": 0}));

    let mine = r#"{"state": "acknowledged", "note": "mine", "ifVersion": 0}"#;
    let (status, answer) = send(&api, "POST", &path, "", Some(mine), Some(ADMIN_SESSION), false).await;
    assert_eq!((status, &triage_of(&answer)["version"]), (200, &json!(1)), "{answer}");
    let theirs = r#"{"state": "false_positive", "note": "theirs", "ifVersion": 0}"#;
    let (status, answer) = send(&api, "POST", &path, "", Some(theirs), Some(ADMIN_ROLE), false).await;
    assert_eq!(
        (status, answer),
        (
            409,
            json!({"code": 409, "error": "conflict", "message": format!(
                "the event's triage is at version 1, not 0: it is now acknowledged, set by {ADMIN_SESSION} at \
                 2026-11-25T12:00:00.000Z; read the event again before triaging it"
            )})
        )
    );
    let (_, read) = call(&api, &one, "", Some(ALICE)).await;
    let t = triage_of(&read);
    assert_eq!(
        (&t["state"], &t["note"], &t["version"], t["history"].as_array().map(Vec::len)),
        (&json!("acknowledged"), &json!("mine"), &json!(1), Some(1))
    );

    // Read again, the second triage names the version it now read; without one, it is made
    // whatever the version.
    let theirs = r#"{"state": "false_positive", "note": "theirs", "ifVersion": 1}"#;
    let (status, answer) = send(&api, "POST", &path, "", Some(theirs), Some(ADMIN_ROLE), false).await;
    assert_eq!(
        (status, &triage_of(&answer)["note"], &triage_of(&answer)["version"]),
        (200, &json!("theirs"), &json!(2))
    );
    let (status, answer) = send(&api, "POST", &path, "", Some(r#"{"state": "open"}"#), Some(ADMIN_ROLE), false).await;
    assert_eq!((status, &triage_of(&answer)["version"]), (200, &json!(3)));
}

// ------------------------------------------------------------------ retention

#[tokio::test]
async fn retention_changes_apply_to_reads_at_once_and_the_restamp_job_moves_existing_ttls() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let recent = synthetic_group(1, "nginx", Reason::Timeout, now, 60);
    let three_days = synthetic_group(2, "alpine", Reason::Timeout, now, 3 * 24 * 60);
    seed_groups(&store, &[recent.clone(), three_days.clone()]).await;
    let api = api_with(&store, ALICE, ADMIN_ROLE);
    let config = "/v1/config/administration-events";
    let (_, body) = call(&api, config, "", Some(ALICE)).await;
    assert_eq!(body, serde_json::json!({"retentionDays": 4, "source": "default"}));

    let put = |days: &str| {
        let body = format!(r#"{{"retentionDays": {days}}}"#);
        let api = &api;
        async move { send(api, "PUT", config, "", Some(&body), Some(ADMIN_ROLE), false).await }
    };
    let (status, body) = put("2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["retentionDays"].as_u64(), body["source"].as_str()), (Some(2), Some("table")));
    assert_eq!(body["updatedBy"], ADMIN_ROLE);
    // At once: the 3-day-old group is gone from every read.
    let (_, list) = call(&api, "/v1/administration/events", "", Some(ALICE)).await;
    assert_eq!(ids(&list), vec![recent.id.clone()]);
    assert_eq!(call(&api, &format!("/v1/administration/events/{}", three_days.id), "", Some(ALICE)).await.0, 404);
    assert_eq!(call(&api, "/v1/count/administration/events", "", Some(ALICE)).await.1["count"], 1);
    assert_eq!(call(&api, "/v1/administration/events/summary", "", Some(ALICE)).await.1["totals"]["groups"], 1);
    // Another api instance (no cache of its own) sees it too.
    let other = api_with(&store, ALICE, "");
    assert_eq!(ids(&call(&other, "/v1/administration/events", "", Some(ALICE)).await.1), vec![recent.id.clone()]);

    for (days, shown) in [("0", "0"), ("-1", "-1"), ("366", "366"), ("\"30\"", "\"30\""), ("1.5", "1.5")] {
        let (status, body) = put(days).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some(format!("retentionDays: must be a whole number of days from 1 to 365, got {shown}").as_str())),
            "{days}"
        );
    }
    assert_eq!(call(&api, config, "", Some(ALICE)).await.1["retentionDays"], 2);
    assert_eq!(send(&api, "PUT", config, "", Some(r#"{"retentionDays": 30}"#), Some(ALICE), false).await.0, 403);

    // Longer: the 3-day-old group is back at once, and the job moves every TTL out.
    let (status, _) = put("30").await;
    assert_eq!(status, 200);
    assert_eq!(call(&api, "/v1/count/administration/events", "", Some(ALICE)).await.1["count"], 2);
    let report = maintenance::run(&store, RetentionDays::default(), 1, now, None).await.unwrap();
    assert_eq!((report.status, report.progress), ("settling", None));
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(181);
    // A run whose stop has passed (its invocation near the deadline) re-stamps nothing yet.
    let stopped =
        maintenance::run(&store, RetentionDays::default(), 10, later, Some(std::time::Instant::now())).await.unwrap();
    let progress = stopped.progress.unwrap();
    assert_eq!((stopped.status, progress.this_run.examined, progress.finished), ("running", 0, false));
    let first = maintenance::run(&store, RetentionDays::default(), 1, later, None).await.unwrap();
    let progress = first.progress.unwrap();
    assert_eq!((first.status, progress.examined, progress.restamped, progress.finished), ("running", 1, 1, false));
    let second = maintenance::run(&store, RetentionDays::default(), 10, later, None).await.unwrap();
    let progress = second.progress.unwrap();
    assert_eq!((second.status, progress.examined, progress.restamped, progress.finished), ("finished", 2, 2, true));
    for g in [&recent, &three_days] {
        let stored = store.reader().get(&uuid::Uuid::parse_str(&g.id).unwrap()).await.unwrap().unwrap();
        let last = scan_failures_domain::time_fmt::parse(&g.last_occurred_at).unwrap();
        assert_eq!(stored.expires_at, (last + time::Duration::days(30)).unix_timestamp(), "{}", g.id);
        assert!(stored.expires_at > g.expires_at);
    }
    // Rerunning a finished job changes nothing; the progress is shown with the setting.
    let generation = store.settings().retention_setting().await.unwrap().unwrap().updated_at;
    let again =
        store.settings().restamp_ttl(RetentionDays::new(30).unwrap(), &generation, 10, later, None).await.unwrap();
    assert_eq!((again.examined, again.restamped, again.finished), (2, 2, true));
    let (_, body) = call(&api, config, "", Some(ALICE)).await;
    assert_eq!(
        (body["restamp"]["targetRetentionDays"].as_u64(), body["restamp"]["finished"].as_bool()),
        (Some(30), Some(true))
    );
    // A new retention starts the job over.
    let shorter =
        store.settings().restamp_ttl(RetentionDays::new(7).unwrap(), &generation, 10, later, None).await.unwrap();
    assert_eq!((shorter.target_retention_days, shorter.examined, shorter.restamped), (7, 2, 2));
    // A change back to days an earlier job finished is a new job, not that one: until it runs,
    // no progress is shown (before, 30 days read "finished" while groups stamped at 10 days in
    // between were still due to expire then).
    let finished =
        store.settings().restamp_ttl(RetentionDays::new(30).unwrap(), &generation, 10, later, None).await.unwrap();
    assert!(finished.finished);
    let (_, body) = put("10").await;
    assert_eq!(body.get("restamp"), None, "{body}");
    let (_, body) = put("30").await;
    assert_eq!((body["retentionDays"].as_u64(), body.get("restamp")), (Some(30), None), "{body}");
}

#[tokio::test]
async fn ingest_stamps_the_retention_stored_in_the_table_when_it_reads_it() {
    let store = fresh_store().await;
    store.settings().put_retention_setting(RetentionDays::new(10).unwrap(), ADMIN_ROLE, fixed_now()).await.unwrap();
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::default())
        .with_clock(fixed_now)
        .with_live_retention();
    let envelope = |id: &str, at: &str| {
        let detail = fixtures::failure_at("image scan", "api", "nginx", "context deadline exceeded", at);
        let mut envelope = fixtures::envelope(id, "t", at, detail);
        // This test has always sent its envelopes without `resources`.
        if let Some(fields) = envelope.as_object_mut() {
            fields.remove("resources");
        }
        envelope
    };
    let id = ingest.handle(envelope("live-1", "2026-11-25T10:00:00Z")).await.unwrap().group_id.unwrap();
    let g = store.reader().get(&uuid::Uuid::parse_str(&id).unwrap()).await.unwrap().unwrap();
    assert_eq!(g.expires_at, time::macros::datetime!(2026-12-05 10:00 UTC).unix_timestamp());
    // 6 days old: expired under the default 4 days, kept under the stored 10.
    assert_eq!(ingest.handle(envelope("live-2", "2026-11-19T12:30:00Z")).await.unwrap().result, "updated");
}

/// A longer retention shows again, at once, a group the shorter one hid; an ingest instance
/// still holding the shorter one in its cache (up to 60 s) reads the setting again before it
/// starts that group anew or refuses an occurrence as expired, so the group keeps its count,
/// first time and triage, and the occurrence is counted. Before, it started the group anew with
/// a count of 1 and dropped the occurrence.
#[tokio::test]
async fn an_instance_caching_a_shorter_retention_neither_restarts_a_group_nor_drops_an_occurrence_a_longer_one_keeps() {
    let store = fresh_store().await;
    let settings = store.settings();
    settings.put_retention_setting(RetentionDays::new(4).unwrap(), ADMIN_ROLE, fixed_now()).await.unwrap();
    let instance = || {
        ingest::handler::Ingest::new(store.clone(), RetentionDays::default())
            .with_clock(fixed_now)
            .with_live_retention()
    };
    let envelope = |id: &str, image: &str, ago: time::Duration| {
        let at = time_fmt::format(fixed_now() - ago);
        let detail = fixtures::failure_at("image scan", "api", image, "context deadline exceeded", &at);
        fixtures::envelope(id, "t", &at, detail)
    };
    // `cached` reads 4 days, then the admin makes it 30.
    let cached = instance();
    assert_eq!(cached.handle(envelope("other-1", "redis", time::Duration::ZERO)).await.unwrap().result, "created");
    settings.put_retention_setting(RetentionDays::new(30).unwrap(), ADMIN_ROLE, fixed_now()).await.unwrap();
    let five_days = time::Duration::days(5);
    let id = instance().handle(envelope("keep-1", "nginx", five_days)).await.unwrap().group_id.unwrap();
    let id = uuid::Uuid::parse_str(&id).unwrap();
    let answer = cached.handle(envelope("keep-2", "nginx", time::Duration::ZERO)).await.unwrap();
    assert_eq!(answer.result, "updated");
    let answer = cached.handle(envelope("keep-3", "nginx", time::Duration::days(6))).await.unwrap();
    assert_eq!(answer.result, "updated");
    let g = store.reader().get(&id).await.unwrap().unwrap();
    assert_eq!(
        (g.num_occurrences, g.created_at.as_str()),
        (3, time_fmt::format(fixed_now() - time::Duration::days(6)).as_str())
    );
    assert_eq!(g.expires_at, (fixed_now() + time::Duration::days(30)).unix_timestamp());
}

// ------------------------------------------------------------------ cleanup

#[tokio::test]
async fn cleanup_deletes_exactly_the_groups_of_the_image_and_refuses_an_empty_filter() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups = mixed_groups(now);
    // One of the image's groups is a false positive and one is past the retention: both go too.
    let mut old = synthetic_group(100, "nginx:1.25", Reason::RateLimited, now, 10 * 24 * 60);
    old.expires_at = now.unix_timestamp() + 3600;
    let mut all = groups.clone();
    all.push(old.clone());
    integration_tests::seed_groups_with(&store, &all, |g| {
        if g.id == groups[0].id {
            std::collections::HashMap::from([(
                "triage".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S("false_positive".into()),
            )])
        } else {
            Default::default()
        }
    })
    .await;
    let api = api_with(&store, ALICE, ADMIN_ROLE);
    let image = "docker.io/library/nginx:1.25";
    assert_eq!(groups[0].resource_name, image);
    let doomed: Vec<&GroupRecord> = all.iter().filter(|g| g.resource_name == image).collect();
    let (status, body) = send(
        &api,
        "DELETE",
        "/v1/administration/events",
        "filter.resourceName=nginx:1.25",
        None,
        Some(ADMIN_ROLE),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"deleted": doomed.len(), "kept": 0, "more": false}));
    for g in &all {
        let stored = store.reader().get(&uuid::Uuid::parse_str(&g.id).unwrap()).await.unwrap();
        assert_eq!(stored.is_some(), g.resource_name != image, "{} {}", g.id, g.resource_name);
    }
    // By repository and reason together: only groups with both.
    let (_, body) = send(
        &api,
        "DELETE",
        "/v1/administration/events",
        "filter.repository=quay.io/acme/web&filter.reason=TIMEOUT",
        None,
        Some(ADMIN_ROLE),
        false,
    )
    .await;
    let expected = all.iter().filter(|g| g.repository == "quay.io/acme/web" && g.reason == "TIMEOUT").count();
    assert_eq!(body["deleted"], expected);
    assert_eq!(
        call(
            &api,
            "/v1/count/administration/events",
            "filter.repository=quay.io/acme/web&filter.reason=TIMEOUT",
            Some(ALICE)
        )
        .await
        .1["count"],
        0
    );
    assert!(
        call(&api, "/v1/count/administration/events", "filter.repository=quay.io/acme/web", Some(ALICE)).await.1
            ["count"]
            .as_u64()
            > Some(0)
    );

    for query in ["", "filter.account=123456789012", "filter.resourceName="] {
        let (status, body) =
            send(&api, "DELETE", "/v1/administration/events", query, None, Some(ADMIN_ROLE), false).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    let (_, body) = send(&api, "DELETE", "/v1/administration/events", "", None, Some(ADMIN_ROLE), false).await;
    assert_eq!(
        body["message"],
        "at least one of filter.resourceName, filter.repository or filter.reason is required: an empty filter would delete every group"
    );
    let (status, _) =
        send(&api, "DELETE", "/v1/administration/events", "filter.reason=TIMEOUT", None, Some(ALICE), false).await;
    assert_eq!(status, 403);

    // A large match is deleted in bounded steps.
    let remaining = all.iter().filter(|g| g.reason == "IMAGE_NOT_FOUND" && g.resource_name != image).count();
    assert!(remaining > 2);
    let filters = Filters { reason: vec![Reason::ImageNotFound], ..Filters::default() };
    let mut request = CleanupRequest { filters, cursor: None };
    let step = store.admin().delete_matching(&request, 2, u64::MAX).await.unwrap();
    assert_eq!((step.deleted, step.more), (2, true));
    request.cursor = step.next_cursor;
    let rest = store.admin().delete_matching(&request, 1000, u64::MAX).await.unwrap();
    assert_eq!((rest.deleted as usize, rest.more, rest.next_cursor), (remaining - 2, false, None));
}

/// What DynamoDB would send if it added a type of attribute value: the items' attribute
/// `FUTURE_ATTRIBUTE` in `GetItem`, `Query` and `BatchGetItem` answers as a type the SDK does
/// not know.
fn future_type(_: &str, answer: &mut Value) {
    use integration_tests::streams_proxy::future_type as one;
    answer.get_mut("Item").map(one);
    answer.get_mut("Items").and_then(Value::as_array_mut).into_iter().flatten().for_each(one);
    let tables = answer.get_mut("Responses").and_then(Value::as_object_mut).into_iter().flat_map(|r| r.values_mut());
    tables.filter_map(Value::as_array_mut).flatten().for_each(one);
}

/// A group whose item holds a type of value this build does not know (as when DynamoDB adds
/// one) is an error of its read, naming the attribute, and a 500 where the api meets it (get
/// and list); every other group is answered as before. Before, serde_dynamo's conversion
/// panicked ("Unexpectedly did not match any possible data types"), which aborts the api's
/// process. DynamoDB Local sends only today's types: its proxy sends the attribute as another.
#[tokio::test]
async fn a_group_holding_a_type_this_build_does_not_know_is_an_error_naming_it_not_a_panic() {
    use integration_tests::streams_proxy::{start_rewriting, FUTURE_ATTRIBUTE};
    let store = fresh_store().await;
    let groups = mixed_groups(OffsetDateTime::now_utc());
    seed_groups(&store, &groups).await;
    let (future, other) = (&groups[0], &groups[1]);
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(scan_failures_aws::dynamo::group_key(&future.id)))
        .update_expression("SET #f = :v")
        .expression_attribute_names("#f", FUTURE_ATTRIBUTE)
        .expression_attribute_values(":v", aws_sdk_dynamodb::types::AttributeValue::S("later".into()))
        .send()
        .await
        .unwrap();
    let proxy = start_rewriting(integration_tests::dynamodb_endpoint(), future_type);
    let through = Store::new(integration_tests::dynamodb_client(&proxy.endpoint), store.table().to_owned());
    let id: uuid::Uuid = future.id.parse().unwrap();
    let err = through.reader().get(&id).await.unwrap_err();
    assert_eq!(
        scan_failures_domain::text::error_chain(&err),
        "a stored item could not be decoded: attribute \"futureAttribute\" is of a type this build does not know: \
         deploy a newer one"
    );
    let api = api(&through, ALICE);
    let (status, body) = call(&api, &format!("/v1/administration/events/{}", future.id), "", Some(ALICE)).await;
    assert_eq!((status, &body["error"]), (500, &Value::from("internal error")), "{body}");
    let (status, body) = call(&api, "/v1/administration/events", "pagination.limit=1000", Some(ALICE)).await;
    assert_eq!(status, 500, "{body}");
    let (status, body) = call(&api, &format!("/v1/administration/events/{}", other.id), "", Some(ALICE)).await;
    assert_eq!((status, &body["event"]["id"]), (200, &Value::from(other.id.as_str())), "{body}");
}

/// `lambda_http` reads an HTTP API's `rawPath` as a URL, which turns a `\` into a `/` and
/// resolves `..`: a path API Gateway matched as one event's id (throttled as one, and allowed
/// by an `execute-api:Invoke` policy as one) was served as the count. A route read otherwise
/// here than API Gateway matched it is no route; a key that names no route is not compared.
#[tokio::test]
async fn a_path_read_here_as_another_route_than_the_gateway_matched_is_no_route() {
    let store = fresh_store().await;
    let api = api(&store, ALICE);
    // `id`: API Gateway's path parameter, as it read the path.
    let event = |method: &str, raw: &str, key: &str, id: Option<&str>, rest: bool| {
        let mut ev = integration_tests::api_event_with(method, raw, "", None, Some(ALICE), rest);
        if rest {
            ev["resource"] = key.into();
            ev["requestContext"]["resourcePath"] = key.into();
        } else {
            ev["routeKey"] = format!("{method} {key}").into();
            ev["requestContext"]["routeKey"] = format!("{method} {key}").into();
        }
        if let Some(id) = id {
            ev["pathParameters"] = json!({ "id": id });
        }
        integration_tests::api_request_of(&ev)
    };
    // The path as the answer echoes it (bounded).
    let misread = |stage: &str, path: &str, key: &str| {
        format!(
            "no route for {} as API Gateway matched it ({key}): a `\\` or a `..` segment in the path is read otherwise here; send the path without them",
            scan_failures_http::echo(&format!("{stage}{path}"))
        )
    };
    let to_count = r"/v1/administration/events/x\..\..\..\count\administration\events";
    let to_triage = r"/v1/administration/events/abc\triage";
    let unknown = "9ee70a69-22e4-50e6-8a2b-11a12cebc343";
    let to_other = format!(r"/v1/administration/events/x\..\{unknown}");
    // The fault: read as a URL, the path is the count's, the triage's, another id's.
    let (status, body) = respond(&api, api_request(to_count, "", Some(ALICE), false)).await;
    assert_eq!((status, body), (200, json!({"count": 0})));
    let (status, _) = respond(&api, api_request(to_triage, "", Some(ALICE), false)).await;
    assert_eq!(status, 405);
    let (status, body) = respond(&api, api_request(&to_other, "", Some(ALICE), false)).await;
    assert_eq!(
        (status, &body["message"]),
        (404, &json!("no event with this id (unknown, or expired after its retention period)"))
    );
    for rest in [false, true] {
        // The REST fixture's stage, in the path it echoes.
        let stage = if rest { "/prod" } else { "" };
        let id_route = "/v1/administration/events/{id}";
        let id_key = format!("GET {id_route}");
        let (status, body) = respond(&api, event("GET", to_count, id_route, None, rest)).await;
        assert_eq!(status, 404, "rest {rest}: {body}");
        assert_eq!(body["message"], misread(stage, "/v1/count/administration/events", &id_key));
        let (status, body) = respond(&api, event("GET", to_triage, id_route, None, rest)).await;
        assert_eq!(status, 404, "rest {rest}: {body}");
        assert_eq!(body["message"], misread(stage, "/v1/administration/events/abc/triage", &id_key));
        // The route API Gateway matched, with another id than the one it read.
        let gateway_id = to_other.rsplit('/').next();
        let (status, body) = respond(&api, event("GET", &to_other, id_route, gateway_id, rest)).await;
        assert_eq!(status, 404, "rest {rest}: {body}");
        assert_eq!(body["message"], misread(stage, &format!("/v1/administration/events/{unknown}"), &id_key));
        // The route and the id the gateway matched, and a key it cannot compare, are served.
        let plain = format!("/v1/administration/events/{unknown}");
        let (status, body) = respond(&api, event("GET", &plain, id_route, Some(unknown), rest)).await;
        assert_eq!(
            (status, &body["message"]),
            (404, &json!("no event with this id (unknown, or expired after its retention period)")),
            "rest {rest}"
        );
        let count_route = "/v1/count/administration/events";
        let (status, body) = respond(&api, event("GET", count_route, count_route, None, rest)).await;
        assert_eq!((status, body), (200, json!({"count": 0})), "rest {rest}");
        let proxy = if rest { "/{proxy+}" } else { "/v1/{proxy+}" };
        assert_eq!(respond(&api, event("GET", to_count, proxy, None, rest)).await.0, 200, "rest {rest}");
    }
}
