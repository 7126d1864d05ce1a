//! The maintained rollups against a full read: a randomized workload on DynamoDB Local (new
//! groups, repeats, out-of-order and redelivered envelopes, the direct and the SQS path, triage
//! to false positive and back, a retention change, cleanup, TTL deletions, groups outside the
//! retention window), its stream delivered to the rollup function (`cargo lambda watch`) by the
//! local event-source-mapping poller, which is killed once mid-run between an invocation and its
//! checkpoint and restarted. Then count, summary and trend from the rollups equal the read of
//! every group, for no filter and each covered filter, at two retentions. And on a dense table
//! asked across a day, the read plan's subtracted buckets (a grain taken backward from a coarser
//! one) take out exactly the groups they hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::fixtures::{synthetic_group_of, GroupDetail};
use integration_tests::stack::seed_groups_and_rollups;
use integration_tests::streams::given_up;
use integration_tests::{
    api_from_env, api_request, drop_table, dynamodb_client, dynamodb_endpoint, envelope, failure_at, free_port,
    fresh_store, json_lines, local_env, respond, seed_groups, synthetic_group, unique_name, Moto, Reaped, Watch,
};
use scan_failures_aws::dynamo::read::insights;
use scan_failures_aws::dynamo::rollup::{answer, SINCE_KEY};
use scan_failures_aws::dynamo::schema::BY_TIME;
use scan_failures_aws::dynamo::table::{self, Ttl};
use scan_failures_aws::dynamo::{Store, GROUP_KEY_PREFIX};
use scan_failures_domain::classify::Reason;
use scan_failures_domain::group::daily::day_key;
use scan_failures_domain::group::triage::{Triage, TriageRequest, TriageState};
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::query::{CleanupRequest, Filters, SummaryRequest, TrendRequest};
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::rollup::given_up::SequenceNumber;
use scan_failures_domain::rollup::{read_plan, Grain, Sign};
use scan_failures_domain::time_fmt;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// A small deterministic generator (the workload is random, and the same on every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const MESSAGES: [&str; 4] = [
    "context deadline exceeded",
    "manifest unknown: manifest unknown",
    "toomanyrequests: You have reached your pull rate limit",
    "unauthorized: authentication required",
];
const OPERATIONS: [&str; 3] = ["image scan", "image check", "deployment check"];
const ORIGINS: [&str; 2] = ["roxctl", "api"];

/// The poller process (`localstack stream`), on the rollup function of `watch`, with `env`;
/// killed when dropped.
fn poller(store: &Store, watch: &Watch, dir: &Path, die_after: Option<u64>, env: &[(&str, &str)]) -> Reaped {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_localstack"));
    cmd.arg("stream")
        .envs(local_env(dynamodb_endpoint()))
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint())
        .env("TABLE_NAME", store.table())
        .env("LAMBDA_PORT", watch.port.to_string())
        .env("STREAM_STATE", dir.join("stream.json"))
        .env("STREAM_FAILURES", dir.join("failures.jsonl"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().create(true).append(true).open(dir.join("poller.log")).unwrap(),
        ));
    if let Some(n) = die_after {
        cmd.env("STREAM_DIE_AFTER", n.to_string());
    }
    Reaped(cmd.spawn().unwrap_or_else(|e| panic!("start localstack stream: {e}")))
}

/// One envelope of the workload: image `i`, reason `r`, `minutes_ago` before now.
fn event(id: &str, image: u64, reason: u64, op: u64, minutes_ago: i64) -> Value {
    let at = time_fmt::format(OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago));
    let mut detail = failure_at(
        OPERATIONS[op as usize],
        ORIGINS[(op % 2) as usize],
        &format!("quay.io/acme/svc{}:{}", image % 9, image % 3),
        MESSAGES[reason as usize],
        &at,
    );
    detail["cluster"] = json!(format!("cluster-{}", image % 4));
    let mut e = envelope(id, "com.example.ci", &at, detail);
    e["region"] = json!(["eu-west-1", "us-east-1"][(image % 2) as usize]);
    e["account"] = json!(["111111111111", "222222222222", "333333333333"][(image % 3) as usize]);
    e
}

fn sqs(bodies: &[Value]) -> ingest::handler::SqsEvent {
    let records: Vec<Value> =
        bodies.iter().enumerate().map(|(i, b)| json!({"messageId": format!("m-{i}"), "body": b.to_string()})).collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// Three days before now: the clock of a writer whose groups have expired by now.
fn three_days_ago() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::days(3)
}

/// The filters the rollups cover, each compared.
fn covered_filters() -> Vec<Filters> {
    let triage = |t: &[TriageState]| Filters { triage: t.to_vec(), ..Filters::default() };
    vec![
        Filters::default(),
        triage(&[TriageState::FalsePositive]),
        triage(&[TriageState::Open, TriageState::Resolved]),
        triage(&TriageState::ALL),
        Filters { reason: vec![Reason::Timeout], ..Filters::default() },
        Filters {
            reason: vec![Reason::RateLimited, Reason::ImageNotFound],
            triage: vec![TriageState::FalsePositive],
            ..Filters::default()
        },
    ]
}

/// The differences between the rollups' answers and the full read's, for every covered filter
/// at `retention`, asked at `now` (empty when they agree).
async fn differences(store: &Store, retention: RetentionDays, now: OffsetDateTime) -> Vec<String> {
    differences_in(store, 0, retention, now).await
}

/// [`differences`] for the rollups of `generation`.
async fn differences_in(store: &Store, generation: u32, retention: RetentionDays, now: OffsetDateTime) -> Vec<String> {
    differences_for(store, generation, retention, now, &covered_filters(), &[1, 7, 30]).await
}

/// [`differences_in`] for `filters` and trends of `days`.
async fn differences_for(
    store: &Store,
    generation: u32,
    retention: RetentionDays,
    now: OffsetDateTime,
    filters: &[Filters],
    days: &[u32],
) -> Vec<String> {
    let (reader, rollups) = (store.reader(), store.rollups().of(generation));
    let mut out = Vec::new();
    for f in filters {
        let (full, _) = reader.count(f, now, retention).await.unwrap();
        let (kept, _) = answer::count_maintained(&rollups, f, now, retention).await.unwrap();
        if full != kept {
            out.push(format!("count {f:?}: read {full}, rollups {kept}"));
        }
        let req = SummaryRequest { filters: f.clone(), top: 10, detail: false };
        let (full, _) = insights::summary(&reader, &req, now, retention).await.unwrap();
        let (kept, _) = answer::summary_maintained(&rollups, &req, now, retention).await.unwrap();
        if full.clone().maintained_only() != kept {
            out.push(format!("summary {f:?}:\n read    {:?}\n rollups {kept:?}", full.maintained_only()));
        }
        for &days in days {
            let req = TrendRequest { filters: f.clone(), days };
            let (full, _) = insights::trend(&reader, &req, now, retention).await.unwrap();
            let (kept, _) = answer::trend_maintained(&rollups, &req, now, retention).await.unwrap();
            if full != kept {
                out.push(format!("trend {days} {f:?}:\n read    {full:?}\n rollups {kept:?}"));
            }
        }
    }
    out
}

/// The largest `redelivered` of the rollup function's "rollup batch" log lines.
fn most_redelivered(log: &Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["fields"]["redelivered"].as_u64())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_equal_a_full_read_after_a_random_workload_with_the_consumer_killed_and_restarted() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("rollups"));
    table::create_with_stream(&store, Ttl::Enabled).await.unwrap();
    let dir: PathBuf = std::env::temp_dir().join(unique_name("rollups"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("rollup.log");
    let watch = Watch::start_logged(&["rollup"], store.table(), &[], None, Some(&log));
    let four = RetentionDays::new(4).unwrap();
    let ingest = ingest::handler::Ingest::new(store.clone(), four);
    let started_at = OffsetDateTime::now_utc();
    let mut rng = Lcg(16);

    // Phase 1, the direct path: new groups and repeats, out of order (times up to 4.5 days back,
    // some outside the retention), some envelopes delivered twice. The poller dies after its
    // second invocation, before writing that batch's checkpoint.
    let mut first = poller(&store, &watch, &dir, Some(2), &[]);
    let mut sent: Vec<Value> = Vec::new();
    // When the first stored change had surely been written: the rollups' `since` is not later.
    let mut first_stored_by: Option<OffsetDateTime> = None;
    let mut results: BTreeMap<&'static str, usize> = BTreeMap::new();
    for n in 0..160 {
        let e = event(&format!("d-{n}"), rng.below(14), rng.below(4), rng.below(3), rng.below(6_500) as i64);
        let answer = ingest.handle(e.clone()).await.unwrap();
        if first_stored_by.is_none() && ["created", "updated"].contains(&answer.result) {
            first_stored_by = Some(OffsetDateTime::now_utc());
        }
        *results.entry(answer.result).or_default() += 1;
        if rng.below(5) == 0 {
            let again = ingest.handle(e.clone()).await.unwrap().result;
            *results.entry(if again == "duplicate" { "redelivered, duplicate" } else { again }).or_default() += 1;
        }
        sent.push(e);
    }
    // The cases phase 1 claims: repeats, redeliveries recognised, events outside the retention.
    for case in ["created", "updated", "redelivered, duplicate", "ignored_expired"] {
        assert!(results.get(case).is_some_and(|n| *n > 0), "no {case} in phase 1: {results:?}");
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = first.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the poller did not reach its fault");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status.code(),
        Some(9),
        "the poller died of the injected fault, between an invocation and its checkpoint"
    );
    let mut second = poller(&store, &watch, &dir, None, &[]);

    // Phase 2: the SQS path (batches with a copy of an earlier envelope), triage to false
    // positive and back, a cleanup, groups TTL deletes, a retention change.
    for batch in 0..8 {
        let mut bodies: Vec<Value> = (0..10)
            .map(|k| {
                event(&format!("s-{batch}-{k}"), rng.below(14), rng.below(4), rng.below(3), rng.below(3_000) as i64)
            })
            .collect();
        bodies.push(sent[rng.below(sent.len() as u64) as usize].clone());
        let response = ingest.handle_batch(sqs(&bodies)).await.unwrap();
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    let now = OffsetDateTime::now_utc();
    let groups = integration_tests::all_groups(&store).await;
    let admin = store.admin();
    let caller = "arn:aws:iam::123456789012:user/alice";
    let fp = TriageRequest { state: TriageState::FalsePositive, note: None, if_version: None };
    let open = TriageRequest { state: TriageState::Open, note: None, if_version: None };
    for (i, g) in groups.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let id = g.id.parse().unwrap();
        admin.triage(&id, &fp, caller, now, four).await.unwrap();
        if i % 2 == 0 {
            admin.triage(&id, &open, caller, now, four).await.unwrap();
        }
    }
    let cleaned = CleanupRequest {
        filters: Filters { repository: vec!["quay.io/acme/svc4".into()], ..Filters::default() },
        cursor: None,
    };
    let deleted = admin.delete_matching(&cleaned, 1000, u64::MAX).await.unwrap();
    assert!(deleted.deleted > 0, "the cleanup deleted groups");
    let stale = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(1).unwrap()).with_clock(three_days_ago);
    let mut stale_ids = Vec::new();
    for n in 0..6 {
        let at = three_days_ago() - time::Duration::minutes(n);
        let detail =
            failure_at("image scan", "roxctl", &format!("quay.io/old/img{n}:1"), MESSAGES[0], &time_fmt::format(at));
        let answer =
            stale.handle(envelope(&format!("old-{n}"), "com.example.ci", &time_fmt::format(at), detail)).await.unwrap();
        assert_eq!(answer.result, "created");
        stale_ids.push(answer.group_id.unwrap());
    }
    // Expired by the wall clock when written: DynamoDB Local's own sweeper (about every 10 s)
    // may delete some first; the rest are deleted as the TTL sweeper deletes them, conditional
    // on their `expiresAt` having passed. Either way the stream has a REMOVE with the old image,
    // all the rollups see of a TTL deletion.
    for id in &stale_ids {
        integration_tests::ttl_delete_unless_swept(&store, id, OffsetDateTime::now_utc()).await;
    }
    store.settings().put_retention_setting(RetentionDays::new(2).unwrap(), caller, now).await.unwrap();

    // The rollups catch up with the stream.
    let started = Instant::now();
    let clock = OffsetDateTime::now_utc;
    while !differences(&store, four, clock()).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "after 120 s: {:#?}",
            differences(&store, four, clock()).await
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(differences(&store, four, clock()).await, Vec::<String>::new());
    let two = RetentionDays::new(2).unwrap();
    assert_eq!(differences(&store, two, clock()).await, Vec::<String>::new());

    // The workload reached every case it claims.
    let (fps, _) = store
        .reader()
        .count(
            &Filters { triage: vec![TriageState::FalsePositive], ..Filters::default() },
            OffsetDateTime::now_utc(),
            four,
        )
        .await
        .unwrap();
    let (visible, _) = store.reader().count(&Filters::default(), OffsetDateTime::now_utc(), four).await.unwrap();
    let (at_two, _) = store
        .reader()
        .count(&Filters::default(), OffsetDateTime::now_utc(), RetentionDays::new(2).unwrap())
        .await
        .unwrap();
    assert!(fps > 0 && visible > 0 && at_two < visible, "false positives {fps}, visible {visible}, at 2 days {at_two}");
    // The function recorded since when it keeps the rollups: the test's first change, so the api
    // would still read the groups (the window starts 4 days before any rollup). DynamoDB Local
    // gives a stream record's time cut to the minute (measured: writes at :12.4, :13.2 and :13.9
    // all read :00; DynamoDB cuts to the second): from the minute the test started in to when its
    // first stored change had been written. Before, `since <= started_at` failed when the first
    // change fell in the next minute: since 03:01:00, started 03:00:59.970.
    let since = store.rollups().since().await.unwrap().expect("recorded by the first batch");
    let first_stored_by = first_stored_by.expect("the workload stored a change");
    let started_minute = started_at.replace_second(0).and_then(|t| t.replace_nanosecond(0)).unwrap_or(started_at);
    assert!(
        started_minute <= since && since <= first_stored_by,
        "since {since}, started {started_at}, first change stored by {first_stored_by}"
    );
    assert!(!scan_failures_domain::rollup::ready(Some(since), OffsetDateTime::now_utc() - four.duration()));
    let redelivered = most_redelivered(&log);
    assert!(redelivered > 0, "the batch delivered again after the restart was found applied ({redelivered})");
    assert!(!dir.join("failures.jsonl").exists(), "no batch was given up");

    let _ = second.kill();
    let _ = second.wait();
    drop(watch);
    let _ = store.client().delete_table().table_name(store.table()).send().await;
}

/// `count` groups, one every `every` minutes back from `newest`: every reason in turn, a fifth
/// of them false positives and a fifth resolved, each with the per-day count of its last day.
fn spread_groups(count: usize, every: usize, newest: OffsetDateTime) -> Vec<(GroupRecord, GroupState)> {
    (0..count)
        .map(|n| {
            let image = format!("quay.io/acme/svc{}:1", n % 40);
            let minutes = (n * every) as i64;
            let g = synthetic_group_of(GroupDetail::Realistic, n, &image, Reason::ALL[n % 12], newest, minutes);
            let state = match n % 5 {
                0 => TriageState::FalsePositive,
                1 => TriageState::Resolved,
                _ => TriageState::Open,
            };
            let last = newest - time::Duration::minutes(minutes);
            let daily = [(day_key(last), g.num_occurrences)].into();
            (g, GroupState { triage: Triage { state, ..Triage::default() }, daily })
        })
        .collect()
}

/// The read plan takes a grain backward where that reads fewer buckets: its buckets from the
/// coarser boundary before the cut-off are subtracted from the coarser bucket added. Checked
/// on a dense table (a group every minute for two days, every reason, three triage states) and
/// its rollups, asked at sixteen cut-offs 89 minutes apart across a day: every finer grain is
/// subtracted at some of them, from buckets that hold groups, and the answers equal the read of
/// every group.
#[tokio::test]
async fn subtracted_buckets_take_out_exactly_their_groups_at_cut_offs_across_a_day() {
    let store = fresh_store().await;
    let midnight = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let newest = midnight - time::Duration::days(1);
    let groups = spread_groups(2 * 1440, 1, newest);
    seed_groups_and_rollups(&store, &groups, 4).await;
    let two = RetentionDays::new(2).unwrap();
    let filters = [Filters::default(), covered_filters()[5].clone(), covered_filters()[3].clone()];
    let first_cut = midnight - time::Duration::hours(60) + time::Duration::seconds(17);
    let mut subtracted = std::collections::BTreeMap::new();
    for j in 0..16 {
        let cut = first_cut + time::Duration::minutes(89 * j);
        let asked = cut + two.duration();
        for r in read_plan(cut, asked, &Grain::ALL).ranges.iter().filter(|r| r.sign == Sign::Subtract) {
            let held = groups
                .iter()
                .filter(|(g, _)| {
                    let at = time_fmt::parse(&g.last_occurred_at).unwrap().unix_timestamp();
                    at >= r.from && r.until.is_none_or(|u| at < u)
                })
                .count();
            *subtracted.entry(r.grain).or_insert(0) += held;
        }
        assert_eq!(
            differences_for(&store, 0, two, asked, &filters, &[7]).await,
            Vec::<String>::new(),
            "asked at {asked}"
        );
    }
    let grains = [Grain::Minute, Grain::TenMinutes, Grain::Hour, Grain::SixHours];
    assert!(
        grains.iter().all(|g| subtracted.get(g).is_some_and(|n| *n > 0)),
        "groups subtracted by grain: {subtracted:?}"
    );
    drop_table(&store).await;
}

/// A window longer than 30 days is read from 30-day buckets, at most 15 days around them and
/// the finer buckets, where days alone read one rollup per day of it. Checked on a table of a
/// group every 40 minutes for 70 days (every reason, three triage states), asked with a 30-day
/// retention at twelve cut-offs 3 days, 1 hour and 7 minutes apart: each reads 30-day buckets
/// holding groups, some add days before one and some subtract days from one, and the answers
/// equal the read of every group. (Asked back in time, the later groups are counted by both,
/// as occurrences ahead of the clock are.)
#[tokio::test]
async fn thirty_day_buckets_answer_a_long_window_exactly_adding_or_subtracting_days() {
    let store = fresh_store().await;
    let newest = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let groups = spread_groups(70 * 1440 / 40, 40, newest);
    seed_groups_and_rollups(&store, &groups, 4).await;
    let thirty = RetentionDays::new(30).unwrap();
    let filters = [Filters::default(), covered_filters()[5].clone(), covered_filters()[3].clone()];
    let first_cut = newest - time::Duration::days(69) + time::Duration::seconds(17);
    let held = |r: &scan_failures_domain::rollup::Range| {
        groups
            .iter()
            .filter(|(g, _)| {
                let at = time_fmt::parse(&g.last_occurred_at).unwrap().unix_timestamp();
                at >= r.from && r.until.is_none_or(|u| at < u)
            })
            .count()
    };
    let (mut in_thirty_days, mut days_added, mut days_subtracted) = (0, 0, 0);
    for j in 0..12 {
        let cut = first_cut + time::Duration::minutes(j * (3 * 1440 + 67));
        let asked = cut + thirty.duration();
        let plan = read_plan(cut, asked, &Grain::ALL);
        for r in &plan.ranges {
            match (r.grain, r.sign) {
                (Grain::ThirtyDays, _) => in_thirty_days += held(r),
                (Grain::Day, Sign::Add) => days_added += held(r),
                (Grain::Day, Sign::Subtract) => days_subtracted += held(r),
                _ => {}
            }
        }
        assert!(plan.buckets(asked) <= 12 + 15 + 2, "{plan:?}");
        assert_eq!(
            differences_for(&store, 0, thirty, asked, &filters, &[7, 30]).await,
            Vec::<String>::new(),
            "asked at {asked}"
        );
    }
    assert!(
        in_thirty_days > 0 && days_added > 0 && days_subtracted > 0,
        "groups in 30-day buckets {in_thirty_days}, days added {days_added}, subtracted {days_subtracted}"
    );
    drop_table(&store).await;
}

/// A generation started before the 30-day grain was kept (its state names no `coarseFrom`)
/// has no 30-day rollups for the groups folded before the upgrade, so the api reads it by days,
/// as before; the first restart names its rebuild's generation the first keeping the grain, and
/// a rollup function starting afresh names generation 0. Told apart on a table whose 30-day
/// rollups were deleted (as an older generation lacks them): read by days its count is exact,
/// read as if it kept the grain it is short.
#[tokio::test]
async fn a_generation_started_before_the_thirty_day_grain_is_read_by_days_until_a_rebuild() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<GroupRecord> = (0..120)
        .map(|n| synthetic_group(n, &format!("quay.io/acme/old{n}:1"), Reason::Timeout, now, 60 * 12 * n as i64))
        .collect();
    let with_state: Vec<_> = groups.iter().map(|g| (g.clone(), GroupState::default())).collect();
    seed_groups_and_rollups(&store, &with_state, 4).await;
    let thirty_day: Vec<String> = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(BY_TIME.name)
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", BY_TIME.partition_key)
        .expression_attribute_values(":p", AttributeValue::S("ROLLUP#30d".into()))
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert!(!thirty_day.is_empty());
    for pk in thirty_day {
        store.client().delete_item().table_name(store.table()).key("pk", AttributeValue::S(pk)).send().await.unwrap();
    }
    // The state an older rollup function wrote: since when, and nothing of the grains.
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(SINCE_KEY.into()))
        .item("since", AttributeValue::S(time_fmt::format(now - time::Duration::days(90))))
        .send()
        .await
        .unwrap();
    let caller = "arn:aws:iam::123456789012:user/alice";
    let env = [("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true"), ("RETENTION_DAYS", "45")];
    let count = || async {
        let api = api_from_env(&store, &env).with_cache_max_age(Duration::ZERO);
        let (status, body) =
            Box::pin(respond(&api, api_request("/v1/count/administration/events", "", Some(caller), false))).await;
        assert_eq!(status, 200, "{body}");
        body["count"].as_u64().unwrap()
    };
    let full = store.reader().count(&Filters::default(), now, RetentionDays::new(45).unwrap()).await.unwrap().0;
    assert_eq!(full, 90);
    let state = store.rollups().state().await.unwrap();
    assert_eq!((state.coarse_from, state.grains()), (None, &Grain::UP_TO_DAYS[..]));
    assert_eq!(count().await, full, "read by days");
    let set_coarse_from = |generation: Option<&str>| {
        let update =
            store.client().update_item().table_name(store.table()).key("pk", AttributeValue::S(SINCE_KEY.into()));
        match generation {
            Some(n) => update
                .update_expression("SET coarseFrom = :n")
                .expression_attribute_values(":n", AttributeValue::N(n.into())),
            None => update.update_expression("REMOVE coarseFrom"),
        }
        .send()
    };
    set_coarse_from(Some("0")).await.unwrap();
    assert!(count().await < full, "read with 30-day buckets that are not there");
    set_coarse_from(None).await.unwrap();
    let restarted = store.rollups().restart(now - time::Duration::minutes(6)).await.unwrap();
    assert_eq!(restarted.rebuilding, Some(1));
    let state = store.rollups().state().await.unwrap();
    assert_eq!((state.coarse_from, state.grains()), (Some(1), &Grain::UP_TO_DAYS[..]), "0 serves until 1 is in");
    // The restart moved `since`: the api reads the groups until the rebuild is in service, and
    // generation 0, read as its state says, still counts exactly.
    assert_eq!(count().await, full);
    let forty_five = RetentionDays::new(45).unwrap();
    let by_days = store.rollups().with_grains(state.grains());
    assert_eq!(answer::count_maintained(&by_days, &Filters::default(), now, forty_five).await.unwrap().0, full);
    store.rollups().restart(now - time::Duration::minutes(5)).await.unwrap();
    let state = store.rollups().state().await.unwrap();
    assert_eq!((state.live.building.map(|b| b.number), state.coarse_from), (Some(2), Some(1)), "kept");
    drop_table(&store).await;

    let fresh = fresh_store().await;
    fresh.rollups().mark_since(now).await.unwrap();
    let state = fresh.rollups().state().await.unwrap();
    assert_eq!((state.coarse_from, state.grains()), (Some(0), &Grain::ALL[..]));
    drop_table(&fresh).await;
}

/// The api answers a covered count, summary and trend from the rollups only with
/// `API_READ_ROLLUPS=true` and once the rollups have been kept since before the retention window
/// (`rollup::ready`); otherwise it reads the groups. Told apart on a table whose five groups were
/// seeded without rollups: the rollups count none. An instance keeps the time it read for
/// `ROLLUPS_SINCE_CACHE`.
#[tokio::test]
async fn the_api_reads_the_rollups_only_when_on_and_kept_for_the_whole_window() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<_> =
        (0..5).map(|n| synthetic_group(n, &format!("quay.io/a/s{n}:1"), Reason::Timeout, now, 10 + n as i64)).collect();
    seed_groups(&store, &groups).await;
    let caller = "arn:aws:iam::123456789012:user/alice";
    let on = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true")])
        .with_cache_max_age(Duration::from_secs(3600));
    let off = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", caller)]);
    let get = |api, path: &'static str, query: &'static str| async move {
        let (status, body) = Box::pin(respond(api, api_request(path, query, Some(caller), false))).await;
        assert_eq!(status, 200, "{path}?{query}: {body}");
        body
    };
    let count = "/v1/count/administration/events";
    let summary = "/v1/administration/events/summary";
    let trend = "/v1/administration/events/trend";

    // The rollup function has not started: the groups are read.
    assert_eq!(get(&on, count, "").await["count"], 5);
    // Kept since a day before the retention window (4 days): the rollups answer.
    store.rollups().mark_since(now - time::Duration::days(5)).await.unwrap();
    assert_eq!(get(&on, count, "").await["count"], 0);
    let s = get(&on, summary, "").await;
    assert_eq!((&s["totals"]["groups"], &s["omitted"]), (&json!(0), &json!(["byCluster", "topImages", "accounts"])));
    assert_eq!(get(&on, trend, "days=1").await["totals"]["newGroups"], 0);
    // A filter the rollups do not cover, summary.detail, or the switch off: the groups are read.
    assert_eq!(get(&on, count, "filter.account=123456789012").await["count"], 3);
    let detail = get(&on, summary, "summary.detail=true").await;
    assert_eq!((&detail["totals"]["groups"], detail.get("omitted")), (&json!(5), None));
    assert_eq!(get(&on, count, "filter.reason=TIMEOUT").await["count"], 0, "filter.reason is covered");
    assert_eq!(get(&off, count, "").await["count"], 5);
    assert_eq!(get(&off, summary, "").await["totals"]["groups"], 5);
    // Once read, an instance keeps the time the rollups are kept since for its cache's age (a
    // minute; an hour for `on`): with the record gone it still answers from the rollups, where an
    // instance that never read it, or whose copy has expired, reads the groups.
    let expiring = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true")])
        .with_cache_max_age(Duration::ZERO);
    assert_eq!(get(&expiring, count, "").await["count"], 0);
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(SINCE_KEY.into()))
        .send()
        .await
        .unwrap();
    assert_eq!(store.rollups().since().await.unwrap(), None);
    assert_eq!(get(&on, count, "").await["count"], 0);
    let fresh = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true")]);
    assert_eq!(get(&fresh, count, "").await["count"], 5);
    assert_eq!(get(&expiring, count, "").await["count"], 5);
    drop_table(&store).await;
}

/// An operator restarts the rollups by invoking the maintenance function with
/// `{"restartRollups": true}` (`aws lambda invoke`), here through the Lambda runtime path: the
/// answer names the time in force and whether the call moved it (a second call, later, moves it
/// on; that a restart never moves it back is shown in-process below); a scheduled payload runs
/// the re-stamp pass and leaves the time alone; and
/// where the rollup function never started the rollups, a restart does not start them.
#[tokio::test]
async fn the_maintenance_function_restarts_the_rollups_when_an_operator_asks_and_only_then() {
    let store = fresh_store().await;
    let watch = Watch::start(&["maintenance"], store.table(), &[], None);
    // Never where the rollup function has not started the rollups: they would be trusted with
    // no consumer known to keep them.
    let unstarted = watch.invoke_function("maintenance", &json!({"restartRollups": true})).unwrap();
    assert_eq!(unstarted, json!({"rollupsKeptSince": null, "moved": false}));
    assert_eq!(store.rollups().since().await.unwrap(), None);
    let started = OffsetDateTime::now_utc() - time::Duration::days(5);
    store.rollups().mark_since(started).await.unwrap();
    let scheduled =
        json!({"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let run = watch.invoke_function("maintenance", &scheduled).unwrap();
    assert!(run.get("status").is_some(), "a re-stamp pass: {run}");
    assert_eq!(run.get("redrive"), None, "no failure queue configured, no redrive: {run}");
    let kept = |t: OffsetDateTime| time_fmt::parse(&time_fmt::format(t));
    assert_eq!(store.rollups().since().await.unwrap(), kept(started));
    let before = OffsetDateTime::now_utc();
    let restart = watch.invoke_function("maintenance", &json!({"restartRollups": true})).unwrap();
    assert_eq!(restart["moved"], true, "{restart}");
    let since = store.rollups().since().await.unwrap().expect("recorded");
    assert_eq!(restart["rollupsKeptSince"], time_fmt::format(since));
    assert!(since >= kept(before).unwrap() && since <= OffsetDateTime::now_utc(), "{since}");
    let again = watch.invoke_function("maintenance", &json!({"restartRollups": true})).unwrap();
    let moved_on = store.rollups().since().await.unwrap().expect("recorded");
    assert_eq!(again["rollupsKeptSince"], time_fmt::format(moved_on));
    // Later by a whole invocation through the runtime, many milliseconds (the time's grain).
    assert_eq!(again["moved"], true, "{again}");
    assert!(moved_on > since, "{again}");
    drop(watch);
    drop_table(&store).await;
}

/// The repair after the rollup function gave a batch up: its changes are missing from the
/// rollups (here, five groups written without their rollups, kept since five days). The
/// maintenance function's `restartRollups` moves the time the rollups are kept since to now,
/// never back; an api instance reads it again within its cache's age and then reads the groups,
/// exactly, for every window the lost changes could touch, until the retention window starts
/// more than `SINCE_SLACK` after the restart, when the rollups answer again.
#[tokio::test]
async fn a_restart_after_lost_changes_reads_the_groups_until_the_window_starts_after_it() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let lost: Vec<_> =
        (0..5).map(|n| synthetic_group(n, &format!("quay.io/a/l{n}:1"), Reason::Timeout, now, 10 + n as i64)).collect();
    seed_groups(&store, &lost).await;
    store.rollups().mark_since(now - time::Duration::days(5)).await.unwrap();
    let caller = "arn:aws:iam::123456789012:user/alice";
    let env = [("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true")];
    let api = api_from_env(&store, &env).with_cache_max_age(Duration::ZERO);
    let count = |api, query: &'static str| async move {
        let request = api_request("/v1/count/administration/events", query, Some(caller), false);
        let (status, body) = Box::pin(respond(api, request)).await;
        assert_eq!(status, 200, "{body}");
        body["count"].clone()
    };
    assert_eq!(count(&api, "").await, 0, "the rollups miss the lost changes");

    let restarted = maintenance::restart_rollups(&store, now).await.unwrap();
    let at_ms = Some(time_fmt::format(now));
    assert_eq!(
        restarted,
        maintenance::RestartReport { rollups_kept_since: at_ms.clone(), moved: true, rebuilding: Some(1) }
    );
    assert_eq!(count(&api, "").await, 5, "the groups are read");
    assert_eq!(count(&api, "filter.reason=TIMEOUT").await, 5);
    // A restart never moves the time back.
    let earlier = maintenance::restart_rollups(&store, now - time::Duration::hours(1)).await.unwrap();
    assert_eq!(
        earlier,
        maintenance::RestartReport { rollups_kept_since: at_ms, moved: false, rebuilding: Some(1) },
        "the rebuild the first restart started"
    );

    // A group seen after the restart, kept in the rollups too. Four days and seven minutes on,
    // the 4-day window starts after the restart and its slack: the rollups answer again (a
    // summary from them names what they omit), exactly; two minutes on, still the groups.
    let later = synthetic_group(9, "quay.io/a/later:1", Reason::Timeout, now, -2 * 24 * 60);
    seed_groups_and_rollups(&store, &[(later, GroupState::default())], 4).await;
    let summary = |api, query: &'static str| async move {
        let request = api_request("/v1/administration/events/summary", query, Some(caller), false);
        let (status, body) = Box::pin(respond(api, request)).await;
        assert_eq!(status, 200, "{body}");
        (body["totals"]["groups"].clone(), body.get("omitted").is_some())
    };
    let then = api_from_env(&store, &env)
        .with_cache_max_age(Duration::ZERO)
        .with_clock(|| OffsetDateTime::now_utc() + time::Duration::days(4) + time::Duration::minutes(7));
    assert_eq!(summary(&then, "").await, (json!(1), true), "from the rollups");
    assert_eq!(count(&then, "").await, 1);
    let just_before = api_from_env(&store, &env)
        .with_cache_max_age(Duration::ZERO)
        .with_clock(|| OffsetDateTime::now_utc() + time::Duration::days(4) + time::Duration::minutes(2));
    assert_eq!(
        summary(&just_before, "").await,
        (json!(1), false),
        "from the groups: the window starts within the slack"
    );
    drop_table(&store).await;
}

/// The edge of a read from the rollups (the groups last seen between the retention's cut-off and
/// the next whole minute, read group by group) is bounded like any read: one of exactly the
/// bound is counted; one group more is a 503 naming the minute's wait, with `Retry-After`, rather
/// than a read that grows with a storm of new groups in that minute.
#[tokio::test]
async fn an_edge_of_more_groups_than_the_read_bound_is_a_503_to_ask_again_and_one_of_exactly_it_is_counted() {
    use scan_failures_aws::dynamo::read::QueryError;
    use time::macros::datetime;

    let store = fresh_store().await;
    let retention = RetentionDays::new(4).unwrap();
    fn at() -> OffsetDateTime {
        datetime!(2026-12-01 10:17:30 UTC)
    }
    // The cut-off is 10:17:30 four days before: the edge runs to 10:18.
    let cut = at() - retention.duration();
    let group = |n: usize| {
        let mut g = synthetic_group(n, &format!("quay.io/acme/edge{n}:1"), Reason::Timeout, at(), 0);
        g.last_occurred_at = time_fmt::format(cut + time::Duration::milliseconds(100 * (n as i64 + 1)));
        (g, GroupState::default())
    };
    seed_groups_and_rollups(&store, &(0..101).map(group).collect::<Vec<_>>(), 4).await;
    let plan = read_plan(cut, at(), &Grain::ALL);
    assert_eq!((plan.has_edge(), plan.edge_until), (true, datetime!(2026-11-27 10:18 UTC)));

    let (exactly, past) = (store.rollups().bounded(101), store.rollups().bounded(100));
    let all = Filters::default();
    assert_eq!(answer::count_maintained(&exactly, &all, at(), retention).await.unwrap().0, 101);
    let err = answer::count_maintained(&past, &all, at(), retention).await.unwrap_err();
    assert!(matches!(err, QueryError::EdgeTooBusy { max: 100 }), "{err}");

    store.rollups().mark_since(at() - time::Duration::days(5)).await.unwrap();
    let caller = "arn:aws:iam::123456789012:user/alice";
    let env = [("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true"), ("API_MAX_ITEMS_READ", "100")];
    let api = api_from_env(&store, &env).with_cache_max_age(Duration::ZERO).with_clock(at);
    let res = api.handle(api_request("/v1/count/administration/events", "", Some(caller), false)).await;
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let lambda_http::Body::Text(text) = res.body() else { panic!("{:?}", res.body()) };
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        (res.status().as_u16(), retry_after.as_deref(), &body["error"]),
        (503, Some("60"), &json!("unavailable"))
    );
    assert_eq!(
        body["message"],
        "more than the 100 failure groups one request may read were last seen in the minute the retention's \
         cut-off falls in, which is read group by group: ask again in a minute, when the cut-off has moved past it, \
         or filter on an indexed field (filter.repository, filter.resourceName or filter.resourceId)"
    );
    drop_table(&store).await;
}

/// The groups in the default view and in every triage state at `at`: read from every group
/// (`None`), or from the rollups of `generation`.
async fn counts_of(store: &Store, generation: Option<u32>, at: OffsetDateTime, retention: RetentionDays) -> [u64; 2] {
    let every_state = Filters { triage: TriageState::ALL.to_vec(), ..Filters::default() };
    let mut out = [0; 2];
    for (i, f) in [Filters::default(), every_state].iter().enumerate() {
        out[i] = match generation {
            None => store.reader().count(f, at, retention).await.unwrap().0,
            Some(g) => answer::count_maintained(&store.rollups().of(g), f, at, retention).await.unwrap().0,
        };
    }
    out
}

/// Ingest's clock a quarter of an hour back: groups it creates were stored before a rebuild
/// started six minutes ago, by the margin's count (`rollup::generation::STORED_MARGIN`).
fn a_quarter_hour_ago() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(15)
}

/// The rebuild a restart starts, with writes between its runs (interleaved with the marking, not
/// overlapping one run's read and its marks: that case rests on the mark's condition, a
/// transaction that fails when the group changed since the read). The table held 30 groups before its
/// stream was turned on (the upgrade that adds the rollups: generation 0 never saw them), and 20
/// more came through ingest afterwards. A restart starts generation 1; scheduled runs of the
/// maintenance function (through the Lambda runtime, 6 groups a run) mark the groups of the
/// index while, between the runs, ingest repeats groups already marked and groups not yet marked,
/// creates new ones, and an administrator triages and cleans up groups of the upgrade. Once the
/// rollup function has folded every mark, a run puts generation 1 in service: its count, summary
/// and trend equal the read of every group for each covered filter, where generation 0's do not,
/// and the api answers a whole retention window from it with a read bound that reading the groups
/// would pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_marks_every_group_with_writes_between_its_runs_and_its_generation_then_answers_every_window_exactly()
{
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("rebuild"));
    table::create(&store, Ttl::Enabled).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let reasons = [Reason::Timeout, Reason::RateLimited, Reason::ImageNotFound];
    let upgrade: Vec<GroupRecord> = (0..30)
        .map(|n| synthetic_group(n, &format!("quay.io/up/u{}:1", n % 10), reasons[n % 3], now, 60 + 150 * n as i64))
        .collect();
    seed_groups(&store, &upgrade).await;
    store.rollups().mark_since(now - time::Duration::days(1)).await.unwrap();
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .unwrap();
    store.client().update_table().table_name(store.table()).stream_specification(stream).send().await.unwrap();
    let dir: PathBuf = std::env::temp_dir().join(unique_name("rebuild"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("functions.log");
    let watch =
        Watch::start_logged(&["rollup", "maintenance"], store.table(), &[("RESTAMP_MAX_ITEMS", "6")], None, Some(&log));
    let mut poller = poller(&store, &watch, &dir, None, &[]);
    let four = RetentionDays::new(4).unwrap();
    let before = ingest::handler::Ingest::new(store.clone(), four).with_clock(a_quarter_hour_ago);
    let mut rng = Lcg(19);
    let mut sent = Vec::new();
    for n in 0..20 {
        let (image, reason, op) = (rng.below(14), rng.below(4), rng.below(3));
        before.handle(event(&format!("a-{n}"), image, reason, op, 20 + rng.below(3_000) as i64)).await.unwrap();
        sent.push((image, reason, op));
    }

    // Started six minutes ago: the runs mark at once (`MARK_AFTER`), and no group was stored
    // since by a clock inside the margin.
    let restarted =
        maintenance::restart_rollups(&store, OffsetDateTime::now_utc() - time::Duration::minutes(6)).await.unwrap();
    assert_eq!((restarted.moved, restarted.rebuilding), (true, Some(1)), "{restarted:?}");
    let ingest = ingest::handler::Ingest::new(store.clone(), four);
    let admin = store.admin();
    let caller = "arn:aws:iam::123456789012:user/alice";
    let fp = TriageRequest { state: TriageState::FalsePositive, note: None, if_version: None };
    let scheduled =
        json!({"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let marked = |item: &std::collections::HashMap<String, AttributeValue>| item.contains_key("rgen");
    let mark_of = |id: String| {
        let store = store.clone();
        async move {
            let out = store
                .client()
                .get_item()
                .table_name(store.table())
                .key("pk", AttributeValue::S(format!("{GROUP_KEY_PREFIX}{id}")))
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            out.item.map(|i| marked(&i))
        }
    };
    // Writes between runs, to groups found marked and not yet marked.
    let (mut to_marked, mut to_unmarked, mut statuses) = (0, 0, Vec::new());
    // Bounded by time, not by a number of runs: once the marks are done, the runs wait on the
    // poller and the rollup function to fold them, which a loaded machine makes slower.
    let rebuilding = Instant::now();
    for run in 0.. {
        assert!(rebuilding.elapsed() < Duration::from_secs(180), "after 180 s: {statuses:?}");
        let report = watch.invoke_function("maintenance", &scheduled).unwrap();
        let rebuild = report["rebuild"].clone();
        let status = rebuild["status"].as_str().unwrap_or_else(|| panic!("run {run}: {report}")).to_owned();
        statuses.push(status.clone());
        if status == "switched" {
            break;
        }
        if status != "marking" {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        // A repeat of a group ingest created before the restart, and a new group.
        let (image, reason, op) = sent[rng.below(sent.len() as u64) as usize];
        ingest.handle(event(&format!("b-{run}"), image, reason, op, rng.below(60) as i64)).await.unwrap();
        let (image, reason, op) = (20 + rng.below(6), rng.below(4), rng.below(3));
        ingest.handle(event(&format!("c-{run}"), image, reason, op, rng.below(600) as i64)).await.unwrap();
        // A group of the upgrade triaged, after reading whether the rebuild marked it yet.
        let groups = integration_tests::all_groups(&store).await;
        let ups: Vec<&GroupRecord> = groups.iter().filter(|g| g.repository.starts_with("quay.io/up/")).collect();
        let target = ups[rng.below(ups.len() as u64) as usize];
        match mark_of(target.id.clone()).await {
            Some(true) => to_marked += 1,
            Some(false) => to_unmarked += 1,
            None => {}
        }
        admin.triage(&target.id.parse().unwrap(), &fp, caller, OffsetDateTime::now_utc(), four).await.unwrap();
        if run == 2 {
            let cleaned = CleanupRequest {
                filters: Filters { repository: vec!["quay.io/up/u7".into()], ..Filters::default() },
                cursor: None,
            };
            assert!(admin.delete_matching(&cleaned, 1000, u64::MAX).await.unwrap().deleted > 0);
        }
    }
    assert_eq!(statuses.last().map(String::as_str), Some("switched"), "{statuses:?}");
    let marking = statuses.iter().filter(|s| *s == "marking").count();
    assert!(marking >= 3, "the marks took several runs, with writes between them: {statuses:?}");
    assert!(to_marked > 0 && to_unmarked > 0, "writes to marked ({to_marked}) and unmarked ({to_unmarked}) groups");
    let state = store.rollups().state().await.unwrap();
    assert_eq!((state.live.serving.number, state.live.building), (1, None), "{state:?}");

    // The stream's last changes folded, generation 1 answers exactly, generation 0 does not.
    let started = Instant::now();
    let clock = OffsetDateTime::now_utc;
    while !differences_in(&store, 1, four, clock()).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after 60 s: {:#?}",
            differences_in(&store, 1, four, clock()).await
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(differences_in(&store, 1, four, clock()).await, Vec::<String>::new());
    assert!(!differences_in(&store, 0, four, clock()).await.is_empty(), "generation 0 never saw the upgrade's groups");

    // The generation replaced is folded still (`generation::RETIRED_FOLD`): an api instance
    // that read the state just before the switch answers from it for up to a minute, and its
    // answers move with every change since, as the read of every group does.
    let at = clock();
    let before = [
        counts_of(&store, None, at, four).await,
        counts_of(&store, Some(0), at, four).await,
        counts_of(&store, Some(1), at, four).await,
    ];
    let occurred = time_fmt::format(at - time::Duration::minutes(5));
    for (n, image) in ["quay.io/acme/after:1", "quay.io/acme/after:2"].into_iter().enumerate() {
        let detail = failure_at(OPERATIONS[0], ORIGINS[0], image, MESSAGES[0], &occurred);
        ingest.handle(envelope(&format!("after-{n}"), "com.example.ci", &occurred, detail)).await.unwrap();
    }
    let groups = integration_tests::all_groups(&store).await;
    let after = groups.iter().find(|g| g.resource_name == "quay.io/acme/after:1").unwrap();
    admin.triage(&after.id.parse().unwrap(), &fp, caller, OffsetDateTime::now_utc(), four).await.unwrap();
    let moved = |now: [u64; 2], then: [u64; 2]| [now[0] as i64 - then[0] as i64, now[1] as i64 - then[1] as i64];
    let full = moved(counts_of(&store, None, at, four).await, before[0]);
    assert_eq!(full, [1, 2], "two new groups, one of them then a false positive");
    let started = Instant::now();
    while moved(counts_of(&store, Some(1), at, four).await, before[2]) != full {
        assert!(started.elapsed() < Duration::from_secs(60), "generation 1 after 60 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        moved(counts_of(&store, Some(0), at, four).await, before[1]),
        full,
        "generation 0, replaced, folded still"
    );
    let (total, _) = store
        .reader()
        .count(&Filters { triage: TriageState::ALL.to_vec(), ..Filters::default() }, clock(), four)
        .await
        .unwrap();
    assert!(total > 40, "{total} groups");
    // The api: a summary of the whole retention window from the rollups (a summary from them
    // names what they omit), with generation 1's total.
    let env = [("ADMIN_VIEW_PRINCIPALS", caller), ("API_READ_ROLLUPS", "true")];
    let api = api_from_env(&store, &env).with_cache_max_age(Duration::ZERO);
    let request = api_request("/v1/administration/events/summary", "", Some(caller), false);
    let (status, body) = Box::pin(respond(&api, request)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("omitted").is_some(), "from the rollups: {body}");
    let (visible, _) = store.reader().count(&Filters::default(), clock(), four).await.unwrap();
    assert_eq!(body["totals"]["groups"], json!(visible), "{body}");
    let joins: Vec<Value> =
        json_lines(&log).into_iter().filter(|l| l["fields"]["message"] == "rollups rebuild").collect();
    let last = &joins.last().unwrap()["fields"];
    assert_eq!(last["status"], "switched");
    assert!(joins.iter().all(|l| l["fields"]["unreadable"] == 0), "every group could be folded");
    assert_eq!(last["marked_total"], last["joined_total"], "{last}");
    assert!(last["marked_total"].as_u64().unwrap() >= 25, "{last}");

    let _ = poller.kill();
    let _ = poller.wait();
    drop(watch);
    let _ = store.client().delete_table().table_name(store.table()).send().await;
}

/// A group item no reader can decode (it has nothing but a time that is not one): its stream
/// record is poison.
async fn put_undecodable_group(store: &Store) {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(format!("{GROUP_KEY_PREFIX}poison")))
        .item("lastOccurredAt", AttributeValue::S("yesterday".into()))
        .send()
        .await
        .unwrap();
}

/// A record the rollup function cannot read, and one it can read but not fold (its last
/// occurrence is not a time), are each reported, isolated by bisection, retried, then described
/// on the failure destination and passed over, as Lambda's event source mapping does (a
/// reported failure retries the rest of the batch whole; only a function error halves it); the
/// changes before, between and after them in their batch are applied once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_isolated_retried_and_set_aside_and_every_other_change_is_applied() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("poison"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let dir: PathBuf = std::env::temp_dir().join(unique_name("poison"));
    std::fs::create_dir_all(&dir).unwrap();
    let watch = Watch::start(&["rollup"], store.table(), &[], None);
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(4).unwrap());
    for n in 0..12u64 {
        ingest.handle(event(&format!("p-{n}"), n, n % 4, n % 3, 10 + n as i64)).await.unwrap();
        if n == 5 {
            put_undecodable_group(&store).await;
        }
        if n == 8 {
            // A group item every reader decodes, whose last occurrence cannot be bucketed.
            let poison = AttributeValue::S(format!("{GROUP_KEY_PREFIX}poison"));
            let items = integration_tests::stack::group_items(&store).await;
            let mut item = items.into_iter().find(|i| i.get("pk") != Some(&poison)).unwrap();
            item.insert("pk".into(), AttributeValue::S(format!("{GROUP_KEY_PREFIX}unfoldable")));
            item.insert("lastOccurredAt".into(), AttributeValue::S("yesterday".into()));
            store.client().put_item().table_name(store.table()).set_item(Some(item)).send().await.unwrap();
        }
    }
    let mut p = poller(&store, &watch, &dir, None, &[]);
    let failures = dir.join("failures.jsonl");
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    loop {
        let (kept, _) =
            answer::count_maintained(&store.rollups(), &Filters::default(), now, RetentionDays::new(4).unwrap())
                .await
                .unwrap();
        if given_up(&failures).len() >= 2 && kept == 12 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "after 120 s: {kept} groups in the rollups");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lines = given_up(&failures);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|g| g["DDBStreamBatchInfo"]["batchSize"] == 1), "{lines:?}");
    let log = std::fs::read_to_string(dir.join("poller.log")).unwrap();
    assert!(log.contains("poller: bisecting"), "{log}");
    assert_eq!(log.matches("poller: gave up on 1 records after 3 retries").count(), 2, "{log}");
    let _ = p.kill();
    let _ = p.wait();
    drop(watch);
    let _ = store.client().delete_table().table_name(store.table()).send().await;
}

/// moto's SQS at `moto`, and a new queue on it: the rollup function's failure queue.
async fn failure_queue(moto: &Moto) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&integration_tests::bus::moto_config(&moto.endpoint));
    let out = sqs.create_queue().queue_name(unique_name("rollup-failures")).send().await.unwrap();
    (sqs, out.queue_url.unwrap())
}

/// The maintenance function through the Lambda runtime, with the failure queue on moto and
/// DynamoDB Local's stream behind the proxy the SDK can read it through, and `more` variables;
/// its log lines in `log`.
fn maintenance_for_redrive(store: &Store, moto: &Moto, queue: &str, log: &Path, more: &[(&str, &str)]) -> Watch {
    maintenance_for_redrive_through(
        integration_tests::streams_proxy::start(dynamodb_endpoint()),
        store,
        moto,
        queue,
        log,
        more,
    )
}

/// [`maintenance_for_redrive`], reading the stream through `proxy`.
fn maintenance_for_redrive_through(
    proxy: integration_tests::streams_proxy::StreamsProxy,
    store: &Store,
    moto: &Moto,
    queue: &str,
    log: &Path,
    more: &[(&str, &str)],
) -> Watch {
    let mut env = vec![
        ("ROLLUP_FAILURE_QUEUE_URL", queue),
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", proxy.endpoint.as_str()),
    ];
    env.extend_from_slice(more);
    Watch::start_logged(&["maintenance"], store.table(), &env, None, Some(log))
}

/// A table with a stream whose one record is poison: the stream's ARN, its shard and the
/// record's sequence number.
async fn poison_on_stream(store: &Store) -> (String, String, String) {
    table::create_with_stream(store, Ttl::Disabled).await.unwrap();
    let arn = stream_arn(store).await;
    put_undecodable_group(store).await;
    let records = group_records(&arn);
    let seq = records[0]["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned();
    let shards = integration_tests::streams::shards(dynamodb_endpoint(), &arn).unwrap();
    let shard = shards.iter().find_map(|s| s["ShardId"].as_str()).unwrap().to_owned();
    (arn, shard, seq)
}

/// Lambda's on-failure record of the one-record batch `seq` of `shard`, given up at `at`
/// (`None`: a record that does not say when).
fn on_failure(arn: &str, shard: &str, seq: &str, at: Option<OffsetDateTime>) -> String {
    on_failure_of(arn, shard, (seq, seq, 1), at)
}

/// Lambda's on-failure record of the batch `(start, end, size)` of `shard`, given up at `at`.
fn on_failure_of(arn: &str, shard: &str, (start, end, size): (&str, &str, u64), at: Option<OffsetDateTime>) -> String {
    let mut record = json!({"requestContext": {"condition": "RetryAttemptsExhausted"}, "DDBStreamBatchInfo": {
        "shardId": shard, "startSequenceNumber": start, "endSequenceNumber": end, "batchSize": size, "streamArn": arn}});
    if let Some(at) = at {
        record["timestamp"] = json!(time_fmt::format(at));
    }
    record.to_string()
}

/// Lambda's on-failure record of the range from the first to the last of `groups` (records of
/// stream `arn`'s one shard), saying `size` records, given up now.
fn range_record(arn: &str, groups: &[Value], size: u64) -> String {
    let seq = |r: Option<&Value>| r.and_then(|r| r["dynamodb"]["SequenceNumber"].as_str()).unwrap().to_owned();
    let shards = integration_tests::streams::shards(dynamodb_endpoint(), arn).unwrap();
    let shard = shards.iter().find_map(|s| s["ShardId"].as_str()).unwrap().to_owned();
    let range = (&seq(groups.first())[..], &seq(groups.last())[..], size);
    on_failure_of(arn, &shard, range, Some(OffsetDateTime::now_utc()))
}

/// [`range_record`], sent to a new failure queue on a new moto: the moto, its SQS client and
/// the queue.
async fn range_given_up(arn: &str, groups: &[Value], size: u64) -> (Moto, aws_sdk_sqs::Client, String) {
    let moto = Moto::start(free_port());
    let (sqs, queue) = failure_queue(&moto).await;
    let body = range_record(arn, groups, size);
    sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    (moto, sqs, queue)
}

/// A shard the stream does not have: a batch on it is gone (as after the stream's 24 hours).
const NO_SUCH_SHARD: &str = "shardId-00000000000000000000-00000000";

/// The messages visible on `queue` (SQS's approximate count; exact on moto).
async fn visible(sqs: &aws_sdk_sqs::Client, queue: &str) -> Option<String> {
    use aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages as Visible;
    let out = sqs.get_queue_attributes().queue_url(queue).attribute_names(Visible).send().await.unwrap();
    out.attributes().and_then(|a| a.get(&Visible)).cloned()
}

/// The fates and reasons a redrive's answer names, in order.
fn fates(report: &Value) -> Vec<(String, String)> {
    let mut fates: Vec<(String, String)> = report["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["fate"].as_str().unwrap().to_owned(), l["why"].as_str().unwrap().to_owned()))
        .collect();
    fates.sort();
    fates
}

/// The group records of the table's stream so far.
fn group_records(arn: &str) -> Vec<Value> {
    integration_tests::streams::records_so_far(dynamodb_endpoint(), arn).unwrap()
}

/// Waits (at most 120 s) until the poller's checkpoint in `dir` covers the last record of stream
/// `arn`: a poller killed before it wrote its checkpoint would have a restarted one deliver the
/// same records again (at least once, as Lambda's event source mapping does).
async fn until_checkpointed(dir: &Path, arn: &str, what: &str) {
    let last = group_records(arn).last().map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned());
    let last = last.as_deref().and_then(SequenceNumber::parse).unwrap();
    let started = Instant::now();
    loop {
        let state = std::fs::read_to_string(dir.join("stream.json")).unwrap_or_default();
        let checkpoints: std::collections::BTreeMap<String, String> = serde_json::from_str(&state).unwrap_or_default();
        if checkpoints.values().filter_map(|c| SequenceNumber::parse(c)).any(|c| c >= last) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "after 120 s: {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn stream_arn(store: &Store) -> String {
    let t = store.client().describe_table().table_name(store.table()).send().await.unwrap();
    t.table.and_then(|t| t.latest_stream_arn).unwrap()
}

/// The repair of a fault that has passed, within the stream's 24 hours: the rollup function
/// cannot write (its deploy names a table that does not exist) while groups are created and
/// repeated, so the mapping gives every batch up to the failure queue (moto's SQS) and the
/// rollups miss those changes. The cause is fixed, and one lost group occurs again (its later
/// change folded before the lost one). The maintenance function's next scheduled run (through
/// the Lambda runtime) reads each batch back from the stream and applies it: the rollups equal
/// the full read for every covered filter, with no restart (the time they are kept since does
/// not move). A message delivered twice (SQS is at least
/// once) adds nothing the second time; applied messages leave the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_given_up_while_the_rollups_could_not_be_written_are_redriven_from_the_stream_exactly_once() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let arn = stream_arn(&store).await;
    let dir: PathBuf = std::env::temp_dir().join(unique_name("redrive"));
    std::fs::create_dir_all(&dir).unwrap();
    let retention = RetentionDays::new(4).unwrap();
    let ingest = ingest::handler::Ingest::new(store.clone(), retention);
    let maintained = |store: Store| async move {
        let now = OffsetDateTime::now_utc();
        answer::count_maintained(&store.rollups(), &Filters::default(), now, retention).await.unwrap().0
    };
    let wait = |what: &str, started: Instant| {
        assert!(started.elapsed() < Duration::from_secs(120), "after 120 s: {what}");
    };

    // The rollup function works: six groups are folded and the time they are kept since recorded.
    for n in 0..6u64 {
        ingest.handle(event(&format!("r-{n}"), n, n % 4, n % 3, 30 + n as i64)).await.unwrap();
    }
    let good = Watch::start(&["rollup"], store.table(), &[], None);
    let mut p = poller(&store, &good, &dir, None, &[]);
    let started = Instant::now();
    while maintained(store.clone()).await != 6 {
        wait("the first six groups are not in the rollups", started);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = p.kill();
    let _ = p.wait();
    drop(good);
    let since = store.rollups().since().await.unwrap().expect("recorded by the first batch");
    let before = group_records(&arn).len();
    assert_eq!(before, 6);

    // The fault: three groups repeated (their old images are in the rollups), five created.
    let moto = Moto::start(free_port());
    let (sqs, queue) = failure_queue(&moto).await;
    let broken = Watch::start(&["rollup"], store.table(), &[("TABLE_NAME", "no-such-table")], None);
    let mut p = poller(&store, &broken, &dir, None, &[("STREAM_FAILURE_QUEUE_URL", &queue)]);
    for n in 0..3u64 {
        ingest.handle(event(&format!("again-{n}"), n, n % 4, n % 3, 5)).await.unwrap();
    }
    for n in 20..25u64 {
        ingest.handle(event(&format!("new-{n}"), n, n % 4, n % 3, 10)).await.unwrap();
    }
    let lost = group_records(&arn).len() - before;
    assert_eq!(lost, 8);
    let failures = dir.join("failures.jsonl");
    let started = Instant::now();
    while given_up(&failures).iter().map(|g| g["DDBStreamBatchInfo"]["batchSize"].as_u64().unwrap()).sum::<u64>()
        < lost as u64
    {
        wait("the broken function's batches are not all given up", started);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Given up and passed: killed before its checkpoint, the poller would have the fixed function
    // fold the last lost batch from the stream (seen: 3 changes applied by the redrive, 5 already).
    until_checkpointed(&dir, &arn, "the broken function's last batch is not checkpointed").await;
    let _ = p.kill();
    let _ = p.wait();
    drop(broken);
    // The fault happened: every lost change is described on the queue, and the rollups miss them.
    let lines = given_up(&failures);
    assert!(lines.iter().all(|l| l["DDBStreamBatchInfo"]["streamArn"] == arn.as_str()), "{lines:?}");
    let now = OffsetDateTime::now_utc();
    let missing = differences(&store, retention, now).await;
    assert!(!missing.is_empty(), "the rollups already hold the lost changes");
    assert_eq!(maintained(store.clone()).await, 6);
    // SQS delivers at least once: the first description arrives twice.
    sqs.send_message().queue_url(&queue).message_body(lines[0].to_string()).send().await.unwrap();

    // The cause is fixed, and a lost group occurs again before the redrive: its later change is
    // folded first (from an image the rollups never held), the lost one after it.
    let fixed = Watch::start(&["rollup"], store.table(), &[], None);
    let mut p = poller(&store, &fixed, &dir, None, &[]);
    ingest.handle(event("later-20", 20, 0, 2, 1)).await.unwrap();
    until_checkpointed(&dir, &arn, "the later change is not delivered").await;
    let _ = p.kill();
    let _ = p.wait();
    drop(fixed);
    assert_eq!(given_up(&failures).len(), lines.len(), "the later change was applied, not given up");

    // A scheduled run (the payload EventBridge Scheduler sends) redrives after its re-stamp.
    let log = dir.join("maintenance.log");
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &[]);
    let run = maintenance.invoke_function("maintenance", &json!({})).unwrap();
    assert!(run.get("status").is_some(), "a re-stamp pass: {run}");
    let report = &run["redrive"];
    let counts = ["messages", "batchesApplied", "changesApplied", "changesAlreadyApplied", "gone", "failing"]
        .map(|k| report[k].as_u64().unwrap_or(u64::MAX));
    let described = lines.len() as u64;
    assert_eq!(
        counts,
        [described + 1, described + 1, 8, lines[0]["DDBStreamBatchInfo"]["batchSize"].as_u64().unwrap(), 0, 0],
        "{report}"
    );
    assert_eq!((report["left"].clone(), report["more"].clone()), (json!([]), json!(false)), "{report}");
    assert_eq!(differences(&store, retention, OffsetDateTime::now_utc()).await, Vec::<String>::new());
    assert_eq!(maintained(store.clone()).await, 11);
    assert_eq!(store.rollups().since().await.unwrap(), Some(since), "no restart");
    // CloudWatch hears of it: the redrive's EMF document.
    let emf: Vec<Value> = json_lines(&log).into_iter().filter(|d| d.get("RollupBatchesRedriven").is_some()).collect();
    assert_eq!(emf.len(), 1, "{emf:?}");
    assert_eq!((&emf[0]["RollupBatchesRedriven"], &emf[0]["RollupBatchesLeft"]), (&json!(described + 1), &json!(0)));
    // Applied messages left the queue: an operator's redrive finds nothing.
    let again = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true})).unwrap();
    assert_eq!(again["messages"], 0, "{again}");
    drop(maintenance);
    drop_table(&store).await;
}

/// A record given up is described on the failure destination before the poller checkpoints any
/// later record, as Lambda's on-failure record is sent before it goes on: a poison first record
/// is halved down to itself and given up (six invocations that fail), the next record is
/// applied and checkpointed (the first that succeeds), and the poller dies after the next part
/// (the second), before its checkpoint. The
/// description was kept in memory until the whole batch was delivered, and with the checkpoint
/// already past the poison record, a restarted poller never saw it again nor said it was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_record_is_described_before_the_checkpoint_passes_it() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("given-up-first"));
    let (_arn, _shard, poison) = poison_on_stream(&store).await;
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(4).unwrap());
    for n in 0..3u64 {
        ingest.handle(event(&format!("after-{n}"), n, 0, 0, 10)).await.unwrap();
    }
    let dir: PathBuf = std::env::temp_dir().join(unique_name("given-up-first"));
    std::fs::create_dir_all(&dir).unwrap();
    let watch = Watch::start(&["rollup"], store.table(), &[], None);
    let mut p = poller(&store, &watch, &dir, Some(2), &[]);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = p.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the poller did not die after 2 invocations");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log = std::fs::read_to_string(dir.join("poller.log")).unwrap_or_default();
    assert_eq!(status.code(), Some(9), "{log}");
    assert_eq!(log.matches("poller: gave up on 1 records after 3 retries").count(), 1, "{log}");
    let lines = given_up(&dir.join("failures.jsonl"));
    let described: Vec<&Value> = lines.iter().map(|l| &l["DDBStreamBatchInfo"]["startSequenceNumber"]).collect();
    assert_eq!(described, [&json!(poison)], "{log}");
    drop(watch);
    let _ = store.client().delete_table().table_name(store.table()).send().await;
}

/// An empty failure queue is a redrive of nothing, whatever the attempt timeout: the receive
/// waits a second for messages (a long poll), which an attempt timeout of a second or less cut,
/// and every scheduled run failed with the queue empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_of_an_empty_queue_reports_no_message_with_the_shortest_attempt_timeout() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-empty"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let moto = Moto::start(free_port());
    let (_sqs, queue) = failure_queue(&moto).await;
    let log = std::env::temp_dir().join(unique_name("redrive-empty.log"));
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &[("SDK_ATTEMPT_TIMEOUT_MS", "100")]);
    let started = Instant::now();
    let report = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true}));
    // The receive waited (moto holds an empty long poll for its wait): the fault was reachable.
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    let report = report.unwrap_or_else(|e| panic!("{e}: {}", std::fs::read_to_string(&log).unwrap_or_default()));
    assert_eq!(report["messages"], json!(0), "{report}");
    drop(maintenance);
}

/// What a redrive cannot apply stays on the queue, visible again at once, and is named: a
/// record still unreadable (poison), a batch on a shard the stream does not have (as after the
/// stream's 24 hours: only a restart repairs it), and a message that is not an on-failure
/// record. Nothing is deleted, nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_leaves_poison_gone_and_unreadable_batches_on_the_queue_and_names_them() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-left"));
    let (arn, shard, seq) = poison_on_stream(&store).await;
    let moto = Moto::start(free_port());
    let (sqs, queue) = failure_queue(&moto).await;
    let given_up = Some(OffsetDateTime::now_utc());
    for body in [
        on_failure(&arn, &shard, &seq, given_up),
        on_failure(&arn, NO_SUCH_SHARD, &seq, None),
        "{\"hello\": 1}".to_owned(),
    ] {
        sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }
    let log = std::env::temp_dir().join(unique_name("redrive-left.log"));
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &[]);
    let report = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true})).unwrap();
    let counts =
        ["messages", "batchesApplied", "changesApplied", "gone", "failing", "unreadable"].map(|k| report[k].clone());
    assert_eq!(counts, [3, 0, 0, 1, 1, 1].map(|n| json!(n)), "{report}");
    let fates = fates(&report);
    assert_eq!(fates[0].0, "failing");
    assert!(fates[0].1.starts_with("stream record "), "{fates:?}");
    assert!(fates[0].1.contains("cannot be read: an image of the group cannot be decoded"), "{fates:?}");
    assert_eq!(fates[1].0, "gone");
    assert!(fates[1].1.starts_with("the stream no longer holds the batch's records"), "{fates:?}");
    assert_eq!(
        fates[2],
        (
            "unreadable".to_owned(),
            "the message is not an on-failure record of a DynamoDB stream: missing field `DDBStreamBatchInfo` at line 1 column 12".to_owned()
        )
    );
    // All three are on the queue and visible at once (not hidden for the receive's 5 minutes).
    assert_eq!(visible(&sqs, &queue).await.as_deref(), Some("3"));
    // The rollups were never started, so nothing supersedes the batch given up.
    assert_eq!(store.rollups().since().await.unwrap(), None);
    drop(maintenance);
    drop_table(&store).await;
}

/// A batch given up with a poison record between two good changes: the redrive applies both
/// good changes, each once (a second redrive finds them applied), and leaves the message on
/// the queue as `failing`, naming the poison record. (Before, the first record that could not
/// be read stopped the read, and none of the batch's changes was ever applied.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_applies_every_other_change_of_a_batch_holding_a_poison_record() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-around"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let arn = stream_arn(&store).await;
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(4).unwrap());
    ingest.handle(event("before", 1, 0, 0, 10)).await.unwrap();
    put_undecodable_group(&store).await;
    ingest.handle(event("after", 2, 1, 1, 5)).await.unwrap();
    let groups = group_records(&arn);
    assert_eq!(groups.len(), 3, "{groups:?}");
    let (moto, sqs, queue) = range_given_up(&arn, &groups, 3).await;
    let log = std::env::temp_dir().join(unique_name("redrive-around.log"));
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &[]);
    let counts = |report: &Value| {
        ["messages", "changesApplied", "changesAlreadyApplied", "failing"].map(|k| report[k].as_u64().unwrap())
    };
    let first = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true})).unwrap();
    assert_eq!(counts(&first), [1, 2, 0, 1], "{first}");
    let fates = fates(&first);
    assert_eq!(fates.len(), 1, "{fates:?}");
    assert_eq!(fates[0].0, "failing");
    assert!(fates[0].1.contains("cannot be read: an image of the group cannot be decoded"), "{fates:?}");
    let again = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true})).unwrap();
    assert_eq!(counts(&again), [1, 0, 2, 1], "{again}");
    assert_eq!(visible(&sqs, &queue).await.as_deref(), Some("1"));
    drop(maintenance);
    drop_table(&store).await;
}

/// The stream's pages, each held 1.5 s: a redrive whose time runs out while it reads.
fn slow_records(operation: &str, _answer: &mut Value) {
    if operation == "GetRecords" {
        std::thread::sleep(Duration::from_millis(1500));
    }
}

/// A redrive starts no call and no transaction once its time has come (the maintenance run's
/// deadline less `CALL_RESERVE`): its batch is left whole as `unfinished`, shown again and
/// `more`, and the next redrive applies it. Before, a message taken up 30 s before the deadline
/// read its shard and applied its batch with no deadline of its own, and a slow DynamoDB (why
/// batches are given up) ran the run into the function's timeout: no answer, the messages it
/// had left hidden for 5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_whose_time_runs_out_leaves_its_batch_whole_for_the_next_run() {
    use maintenance::redrive::{Fate, RedriveReport};
    use scan_failures_aws::dynamo::rollup::redrive::RedriveError;
    use scan_failures_domain::rollup::given_up::GivenUp;
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-late"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let arn = stream_arn(&store).await;
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(4).unwrap());
    for n in 0..3u64 {
        ingest.handle(event(&format!("late-{n}"), n, 0, 0, 1)).await.unwrap();
    }
    let groups = group_records(&arn);
    assert_eq!(groups.len(), 3, "{groups:?}");
    let batch = GivenUp::parse(&range_record(&arn, &groups, 3)).unwrap();
    let proxy = integration_tests::streams_proxy::start_rewriting(dynamodb_endpoint(), slow_records);
    let streams = aws_sdk_dynamodbstreams::Client::new(&integration_tests::bus::moto_config(&proxy.endpoint));
    let now = OffsetDateTime::now_utc();

    // Its time already come: not even the shard's iterator is asked for.
    let out = store.rollups().redrive(&streams, &batch, now, Some(Instant::now())).await;
    assert!(matches!(out, Err(RedriveError::OutOfTime)), "{out:?}");
    // Its time comes while its page is read (held 1.5 s, 1 s given): no transaction starts.
    let started = Instant::now();
    let out = store.rollups().redrive(&streams, &batch, now, Some(started + Duration::from_secs(1))).await;
    assert!(started.elapsed() >= Duration::from_millis(1500), "the page was not held: {:?}", started.elapsed());
    let Err(e) = out else { panic!("applied: {out:?}") };
    assert!(e.out_of_time(), "{e:?}");
    let fate = Fate::of(Err(e));
    assert!(matches!(fate, Fate::Unfinished(done) if done.applied == 0), "{fate:?}");
    let mut report = RedriveReport::default();
    assert!(!report.count("m1", fate), "an unfinished batch's message is deleted");
    assert_eq!((report.messages, report.unfinished, report.failing, report.more), (1, 1, 0, true), "{report:?}");
    assert_eq!(report.left[0].fate, "unfinished");

    // The next run, in time, applies the batch whole: none of it was applied before (no marker).
    let done = store.rollups().redrive(&streams, &batch, now, None).await.unwrap();
    assert_eq!((done.applied, done.redelivered), (3, 0));
    drop_table(&store).await;
}

/// What DynamoDB would send if it added a type of attribute value: the stream images'
/// attribute `FUTURE_ATTRIBUTE` as a type the SDK does not know.
fn future_type(operation: &str, answer: &mut Value) {
    if operation == "GetRecords" {
        for r in answer["Records"].as_array_mut().into_iter().flatten() {
            for image in ["NewImage", "OldImage"] {
                r["dynamodb"].get_mut(image).map(integration_tests::streams_proxy::future_type);
            }
        }
    }
}

/// A group whose image holds a type of value this build does not know (as when DynamoDB adds
/// one) is an unreadable record of its batch, named as such, and the batch's other changes are
/// applied. Before, the conversion of the stream's image panicked (serde_dynamo's
/// "Unexpectedly did not match any possible data types") and the run failed whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_names_a_group_holding_a_type_it_does_not_know_and_applies_the_rest() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-future"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let arn = stream_arn(&store).await;
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(4).unwrap());
    ingest.handle(event("before", 1, 0, 0, 10)).await.unwrap();
    ingest.handle(event("future", 2, 1, 1, 5)).await.unwrap();
    let future = group_records(&arn)[1]["dynamodb"]["Keys"]["pk"]["S"].as_str().unwrap().to_owned();
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(future))
        .update_expression("SET #f = :v")
        .expression_attribute_names("#f", integration_tests::streams_proxy::FUTURE_ATTRIBUTE)
        .expression_attribute_values(":v", AttributeValue::S("from a later DynamoDB".into()))
        .send()
        .await
        .unwrap();
    ingest.handle(event("after", 3, 2, 2, 5)).await.unwrap();
    let groups = group_records(&arn);
    assert_eq!(groups.len(), 4, "{groups:?}");
    let (moto, _, queue) = range_given_up(&arn, &groups, 4).await;
    let log = std::env::temp_dir().join(unique_name("redrive-future.log"));
    let proxy = integration_tests::streams_proxy::start_rewriting(dynamodb_endpoint(), future_type);
    let maintenance = maintenance_for_redrive_through(proxy, &store, &moto, &queue, &log, &[]);
    let report = maintenance
        .invoke_function("maintenance", &json!({"redriveRollups": true}))
        .unwrap_or_else(|e| panic!("{e}: {}", std::fs::read_to_string(&log).unwrap_or_default()));
    let counts = ["messages", "changesApplied", "failing"].map(|k| report[k].as_u64());
    assert_eq!(counts, [Some(1), Some(3), Some(1)], "{report}");
    let fates = fates(&report);
    assert_eq!(fates.len(), 1, "{fates:?}");
    assert_eq!(fates[0].0, "failing");
    assert!(
        fates[0].1.ends_with(
            "cannot be read: an attribute of the record is of a type this build does not know: deploy a newer one"
        ),
        "{fates:?}"
    );
    drop(maintenance);
    drop_table(&store).await;
}

/// A record whose `batchSize` understates the group changes in its range (Lambda consolidates a
/// batch's failures into one record: the range then also holds changes applied meanwhile) is
/// redriven whole, each change once. Before, a range holding more changes of groups than the
/// record's `batchSize` was refused at every run (`failing`), and only a restart repaired it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_applies_a_range_holding_more_changes_than_its_records_batch_size() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-consolidated"));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap();
    let arn = stream_arn(&store).await;
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(4).unwrap());
    for (k, id) in (0u64..).zip(["first", "between", "last"]) {
        ingest.handle(event(id, k, k, k, 10)).await.unwrap();
    }
    let groups = group_records(&arn);
    assert_eq!(groups.len(), 3, "{groups:?}");
    let (moto, sqs, queue) = range_given_up(&arn, &groups, 2).await;
    let log = std::env::temp_dir().join(unique_name("redrive-consolidated.log"));
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &[]);
    let report = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true})).unwrap();
    let counts = ["messages", "changesApplied", "changesAlreadyApplied", "failing"].map(|k| report[k].as_u64());
    assert_eq!(counts, [Some(1), Some(3), Some(0), Some(0)], "{report}");
    assert_eq!(visible(&sqs, &queue).await.as_deref(), Some("0"), "the message deleted");
    drop(maintenance);
    drop_table(&store).await;
}

/// A switch that applied and lost its answer is sent again by the SDK, and refused (the rebuild
/// it asserts is gone): the state read back says it switched. Modeled by running the step again
/// from the state read before the switch, as the resent request does. Before, it read
/// `abandoned`, which says another restart replaced the rebuild.
#[tokio::test]
async fn a_switch_sent_again_after_it_applied_reports_switched() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    store.rollups().mark_since(now - time::Duration::days(1)).await.unwrap();
    let restarted = maintenance::restart_rollups(&store, now - time::Duration::minutes(6)).await.unwrap();
    assert_eq!(restarted.rebuilding, Some(1));
    let rollups = store.rollups();
    let before = rollups.state().await.unwrap().live;
    let statuses = |r: Option<scan_failures_aws::dynamo::rollup::rebuild::RebuildReport>| r.unwrap().status;
    assert_eq!(statuses(rollups.rebuild(before, 100, now, None).await.unwrap()), "marking");
    assert_eq!(statuses(rollups.rebuild(before, 100, now, None).await.unwrap()), "switched");
    assert_eq!(statuses(rollups.rebuild(before, 100, now, None).await.unwrap()), "switched", "sent again");
    let after = rollups.state().await.unwrap().live;
    assert_eq!((after.serving.number, after.building), (1, None));
}

/// A restart repairs every batch given up before it, so the next redrive deletes those messages
/// unread (`superseded`) whatever their batch: the operator no longer purges the queue, and a
/// batch given up after the restart is kept. Sent before the restart: a poison batch and a batch
/// on a shard the stream does not have, each given up then, and a message that is not a record
/// (superseded by SQS's `SentTimestamp`). Sent after it: the poison batch given up before it
/// (superseded by the record's `timestamp`), the same in a record that does not say when, and
/// the gone batch given up after the restart (both kept). The next scheduled run's
/// reconciliation fails (Inspector unreachable): the invocation reports that failure, and its
/// redrive still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_supersedes_the_batches_given_up_before_it_and_the_next_redrive_deletes_them_unread() {
    let store = Store::new(dynamodb_client(dynamodb_endpoint()), unique_name("redrive-restart"));
    let (arn, shard, seq) = poison_on_stream(&store).await;
    // The rollup function started the rollups an hour ago.
    store.rollups().mark_since(OffsetDateTime::now_utc() - time::Duration::hours(1)).await.unwrap();
    let moto = Moto::start(free_port());
    let (sqs, queue) = failure_queue(&moto).await;
    let before = OffsetDateTime::now_utc();
    let send = |body: String| {
        let (sqs, queue) = (sqs.clone(), queue.clone());
        async move { sqs.send_message().queue_url(queue).message_body(body).send().await.unwrap().message_id }
    };
    send(on_failure(&arn, &shard, &seq, Some(before))).await;
    send(on_failure(&arn, NO_SUCH_SHARD, &seq, Some(before))).await;
    send("{\"hello\": 1}".to_owned()).await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    let log = std::env::temp_dir().join(unique_name("redrive-restart.log"));
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &[]);
    let restarted = maintenance.invoke_function("maintenance", &json!({"restartRollups": true})).unwrap();
    assert_eq!(restarted["moved"], true, "{restarted}");
    let since = time_fmt::parse(restarted["rollupsKeptSince"].as_str().unwrap()).unwrap();
    assert!(before < since, "{restarted}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    send(on_failure(&arn, &shard, &seq, Some(before))).await;
    let untimed = send(on_failure(&arn, &shard, &seq, None)).await.unwrap();
    let after = send(on_failure(&arn, NO_SUCH_SHARD, &seq, Some(OffsetDateTime::now_utc()))).await.unwrap();

    let report = maintenance.invoke_function("maintenance", &json!({"redriveRollups": true})).unwrap();
    let counts = ["messages", "batchesApplied", "superseded", "changesApplied", "gone", "failing", "unreadable"]
        .map(|k| report[k].clone());
    assert_eq!(counts, [6, 0, 4, 0, 1, 1, 0].map(|n| json!(n)), "{report}");
    let left: Vec<(String, String)> = report["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["messageId"].as_str().unwrap().to_owned(), l["fate"].as_str().unwrap().to_owned()))
        .collect();
    let mut expected = vec![(untimed, "failing".to_owned()), (after, "gone".to_owned())];
    expected.sort();
    let mut left = left;
    left.sort();
    assert_eq!(left, expected);
    assert_eq!(visible(&sqs, &queue).await.as_deref(), Some("2"), "the four superseded are deleted");
    drop(maintenance);

    // A scheduled run whose reconciliation cannot reach Inspector: the invocation fails with
    // that error, and its redrive ran all the same (its log line and metrics), and so did its
    // own metrics.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let broken = [("RECONCILE_INSPECTOR", "true"), ("AWS_ENDPOINT_URL_INSPECTOR2", closed.as_str())];
    let maintenance = maintenance_for_redrive(&store, &moto, &queue, &log, &broken);
    let failed = maintenance.invoke_function("maintenance", &json!({})).unwrap_err();
    assert!(failed.contains("Reconcile"), "{failed}");
    drop(maintenance);
    let lines = json_lines(&log);
    let redrives: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "rollups redrive").collect();
    assert_eq!(redrives.len(), 2, "the operator's and the failed run's: {redrives:?}");
    assert_eq!(
        ["messages", "superseded", "gone", "failing"].map(|k| redrives[1]["fields"][k].clone()),
        [2, 0, 1, 1].map(|n| json!(n)),
        "{:?}",
        redrives[1]
    );
    let emf: Vec<&Value> = lines.iter().filter(|d| d.get("RollupBatchesSuperseded").is_some()).collect();
    assert_eq!(
        emf.iter().map(|d| (d["RollupBatchesSuperseded"].clone(), d["RollupBatchesLeft"].clone())).collect::<Vec<_>>(),
        [(json!(4), json!(2)), (json!(0), json!(2))]
    );
    assert_eq!(visible(&sqs, &queue).await.as_deref(), Some("2"));
    // And the failed run's own metrics went out (the maintenance heartbeat, RestampLag, and the
    // re-stamp's figures): a failed reconciliation returned before them.
    let runs = lines.iter().filter(|d| d.get("RestampLag").is_some()).count();
    assert_eq!(runs, 1, "the failed scheduled run's metrics document");
    drop_table(&store).await;
}

/// A scheduled run with less than a minute left before its deadline
/// (`maintenance::scheduled::PART_RESERVE`) does its re-stamp, leaves the rebuild and the
/// redrive to the next run, and names them in `skipped`; the same run with a minute left, or
/// with no deadline known, does both. In-process: `cargo lambda watch` cannot be given a
/// deadline (it sends `lambda-runtime-deadline-ms: 600000`, its timeout rather than a time,
/// which `scan_failures_aws::deadline::of` reads as unknown, so the tests through it never skip).
#[tokio::test]
async fn a_scheduled_run_near_its_deadline_leaves_the_rebuild_and_the_redrive_to_the_next_run() {
    use maintenance::scheduled::Parts;
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<GroupRecord> =
        (0..3).map(|n| synthetic_group(n, "quay.io/acme/late:1", Reason::Timeout, now, 30 + n as i64)).collect();
    seed_groups(&store, &groups).await;
    store.rollups().mark_since(now - time::Duration::days(1)).await.unwrap();
    let restarted = maintenance::restart_rollups(&store, now - time::Duration::minutes(6)).await.unwrap();
    assert_eq!(restarted.rebuilding, Some(1));
    let moto = Moto::start(free_port());
    let (sqs, queue) = failure_queue(&moto).await;
    let table = store.table().to_owned();
    let config = maintenance::MaintenanceConfig::from_env(|k| match k {
        "TABLE_NAME" => Some(table.clone()),
        "ROLLUP_FAILURE_QUEUE_URL" => Some(queue.clone()),
        _ => None,
    })
    .unwrap();
    let sink = scan_failures_aws::metrics::Sink::new(config.metrics.clone());
    let streams = aws_sdk_dynamodbstreams::Client::new(&integration_tests::bus::moto_config(&moto.endpoint));
    let parts = Parts {
        store: &store,
        config: &config,
        sink: &sink,
        inspector: None,
        streams: &streams,
        sqs: &sqs,
        publisher: None,
    };

    let near = Instant::now() + Duration::from_secs(59);
    let report = parts.scheduled(OffsetDateTime::now_utc(), Some(near)).await.unwrap();
    assert_eq!(report.skipped, ["rebuild", "redrive"]);
    assert!(report.progress.is_some(), "the re-stamp ran");
    assert_eq!((report.rebuild, report.redrive), (None, None));
    let marked = |store: Store| async move {
        integration_tests::stack::group_items(&store).await.iter().filter(|i| i.contains_key("rgen")).count()
    };
    assert_eq!(marked(store.clone()).await, 0, "nothing of the rebuild was done");
    // A rebuild whose stop has passed takes up no page of its walk: the next run goes on.
    let stopped = maintenance::rebuild_rollups(&store, 10_000, OffsetDateTime::now_utc(), Some(Instant::now()))
        .await
        .unwrap()
        .expect("a rebuild under way");
    assert_eq!((stopped.status, stopped.examined), ("marking", 0));

    // Past the reserve with room to spare (the re-stamp runs first, on a shared DynamoDB Local).
    for deadline in [Some(Instant::now() + Duration::from_secs(90)), None] {
        let report = parts.scheduled(OffsetDateTime::now_utc(), deadline).await.unwrap();
        assert_eq!(report.skipped, Vec::<&str>::new(), "{deadline:?}");
        assert!(report.rebuild.is_some() && report.redrive.is_some(), "{deadline:?}: {report:?}");
    }
    assert_eq!(marked(store.clone()).await, 3, "the first run with time marked every group");
    drop_table(&store).await;
}

/// A redrive with less than `STOP_RESERVE` left before its invocation's deadline takes up no
/// message: it stays on the queue, visible, uncounted, and the answer says `more`; with time
/// left, the same message is taken up. (Before, a redrive started with
/// a minute left went on receiving for up to its 120 s budget, past the function's timeout.)
/// In-process, as the scheduled test above: `cargo lambda watch` gives no deadline.
#[tokio::test]
async fn a_redrive_takes_up_no_message_within_its_reserve_of_the_deadline() {
    use maintenance::redrive::run;
    use maintenance::STOP_RESERVE;
    let store = fresh_store().await;
    let moto = Moto::start(free_port());
    let (sqs, queue) = failure_queue(&moto).await;
    sqs.send_message().queue_url(&queue).message_body("{\"hello\": 1}").send().await.unwrap();
    let streams = aws_sdk_dynamodbstreams::Client::new(&integration_tests::bus::moto_config(&moto.endpoint));
    let now = OffsetDateTime::now_utc();
    let near = Some(Instant::now() + STOP_RESERVE - Duration::from_secs(1));
    let report = run(&store, &streams, &sqs, Some(&queue), now, near).await.unwrap();
    assert_eq!((report.messages, report.unreadable, report.more), (0, 0, true), "{report:?}");
    assert_eq!(visible(&sqs, &queue).await.as_deref(), Some("1"), "not taken up, not hidden");
    let far = Some(Instant::now() + STOP_RESERVE + Duration::from_secs(30));
    let report = run(&store, &streams, &sqs, Some(&queue), now, far).await.unwrap();
    assert_eq!((report.messages, report.unreadable, report.more), (1, 1, false), "{report:?}");
    drop_table(&store).await;
}

/// A batch whose last attempt finds every record already applied (each marker's condition
/// failed, after seven write conflicts) is applied, not a conflict: the function would report
/// it failed and Lambda retry records already folded. Mocked DynamoDB: the cancellations'
/// order (seven conflicts, then every marker present) is not something DynamoDB Local can be
/// made to answer.
#[tokio::test]
async fn a_batch_found_applied_on_the_last_attempt_is_applied_not_a_conflict() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use scan_failures_aws::dynamo::rollup::plan::Change;
    use scan_failures_domain::rollup::generation::Live;

    let cancelled = |code: &'static str| {
        move || {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .cancellation_reasons(CancellationReason::builder().code(code).build())
                    .build(),
            )
        }
    };
    let write = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(cancelled("TransactionConflict"))
        .times(7)
        .error(cancelled("ConditionalCheckFailed"))
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&write]);
    let store = Store::new(client, "mocked".to_owned());
    let change = Change { id: "record-1".into(), old: None, new: None };
    let done = store.rollups().apply(&[change], &Live::FIRST, OffsetDateTime::now_utc(), None).await;
    let done = done.unwrap_or_else(|e| panic!("{e}: {}", e.source));
    assert_eq!((done.applied, done.redelivered, done.transactions), (0, 1, 8));
    assert_eq!(write.num_calls(), 8, "the fault was reached: eight attempts");
}

/// A batch whose transaction keeps meeting conflicts starts no further attempt past its time to
/// answer (`until`): the error names its first change as unapplied, which the handler reports
/// as the batch's first failure, instead of the attempts going on past the invocation's timeout
/// (then the whole batch came back, one of its retry attempts spent). Past `until` already, no
/// transaction starts at all. Mocked DynamoDB: one that answers every transaction with a
/// conflict is not something DynamoDB Local can be made to be.
#[tokio::test]
async fn a_batch_meeting_conflicts_starts_no_attempt_past_its_time_to_answer() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use scan_failures_aws::dynamo::rollup::plan::Change;
    use scan_failures_aws::dynamo::rollup::ApplyError;
    use scan_failures_domain::rollup::generation::Live;

    let conflict = || {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(CancellationReason::builder().code("TransactionConflict").build())
                .build(),
        )
    };
    let write = mock!(aws_sdk_dynamodb::Client::transact_write_items).sequence().error(conflict).times(12).build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&write]);
    let store = Store::new(client, "mocked".to_owned());
    let changes = [Change { id: "record-1".into(), old: None, new: None }];
    let now = OffsetDateTime::now_utc();

    let past = store.rollups().apply(&changes, &Live::FIRST, now, Some(Instant::now())).await.unwrap_err();
    assert!(matches!(past.source, ApplyError::OutOfTime), "{}", past.source);
    assert_eq!((past.first_unapplied, past.done.applied, write.num_calls()), (0, 0, 0));

    // 40 ms to write in: the first attempt starts; the conflicts' pauses pass the time within a
    // few attempts, where the twelve take about two seconds.
    let until = Instant::now() + Duration::from_millis(40);
    let err = store.rollups().apply(&changes, &Live::FIRST, now, Some(until)).await.unwrap_err();
    assert!(matches!(err.source, ApplyError::OutOfTime), "{}", err.source);
    assert_eq!((err.first_unapplied, err.done.applied), (0, 0));
    let calls = write.num_calls();
    assert!((1..12).contains(&calls), "attempts made: {calls}");
}

/// A message done with (superseded here) whose deletion fails past the SDK's attempts does not
/// end the redrive: it is counted `undeleted`, the next message is still handled and deleted,
/// and the run answers. (What follows is SQS's and the redrive's design, not shown here: the
/// message shows again after its visibility timeout, and the next redrive handles it as it
/// handles any message, a superseded one unread.) Mocked SQS: the fault is a deletion failing while receiving works, which
/// cutting the network to moto cannot do (the next receive fails too, ending the run with its
/// own error); the store is DynamoDB Local.
#[tokio::test]
async fn a_message_whose_deletion_fails_is_counted_undeleted_and_the_redrive_goes_on() {
    use aws_sdk_sqs::operation::delete_message::DeleteMessageOutput;
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
    use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    store.rollups().mark_since(now - time::Duration::minutes(1)).await.unwrap();
    // Sent an hour ago, before the rollups' start: both superseded, deleted unread.
    let sent = ((now - time::Duration::hours(1)).unix_timestamp() * 1000).to_string();
    let message = move |n: u32| {
        Message::builder()
            .message_id(format!("m{n}"))
            .receipt_handle(format!("r{n}"))
            .body("{\"hello\": 1}")
            .attributes(MessageSystemAttributeName::SentTimestamp, sent.clone())
            .build()
    };
    let receive = mock!(aws_sdk_sqs::Client::receive_message)
        .sequence()
        .output(move || ReceiveMessageOutput::builder().messages(message(1)).messages(message(2)).build())
        .output(|| ReceiveMessageOutput::builder().build())
        .build();
    let delete = mock!(aws_sdk_sqs::Client::delete_message)
        .sequence()
        .http_status(500, None)
        .times(3)
        .output(|| DeleteMessageOutput::builder().build())
        .build();
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&receive, &delete]);
    // Never called: a superseded message is not read back from the stream.
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .build(),
    );
    let report = maintenance::redrive::run(&store, &streams, &sqs, Some("queue"), now, None).await.unwrap();
    assert_eq!((report.messages, report.superseded, report.undeleted, report.more), (2, 2, 1, false), "{report:?}");
    assert_eq!((receive.num_calls(), delete.num_calls()), (2, 4), "3 attempts at the first deletion, 1 at the second");
    drop_table(&store).await;
}
