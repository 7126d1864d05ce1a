//! What the summary, the trend and the per-day counters cost, on DynamoDB Local (the one at
//! `DYNAMODB_ENDPOINT`, else one started for the run). DynamoDB Local reports consumed
//! capacity by DynamoDB's rules; its latencies are not DynamoDB's, so compare them between
//! sizes only.
//!
//! ```text
//! insights_cost read  [SIZES=1000,100000] [RUNS=5]   summary and trend: RCU, items read, latency
//! insights_cost write                                 WCU per event as the per-day map grows
//! ```
//!
//! `read` seeds SIZE groups (lastOccurredAt spread one per minute over min(SIZE, 5000)
//! minutes, every group with a per-day map of 7 days), then measures, in-process through the
//! api handler and through the store: the summary without filter, with a repository filter
//! (60 groups at every size), and the trend of 1, 7 and 90 days.

use scan_failures_aws::dynamo::item::GroupItem as _;
use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{
    api_from_env, api_request, drop_table, dynamodb_client, dynamodb_endpoint, failure_at, fresh_store_on,
    synthetic_group, write_items_parallel,
};
use lambda_http::Body;
use scan_failures_aws::dynamo::read::ReadStats;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::retention::RetentionDays;
use scan_failures_http::params::{Filters, SummaryRequest, TrendRequest};
use time::OffsetDateTime;

const CALLER: &str = "arn:aws:iam::123456789012:user/alice";

fn group_item(n: usize, size: usize, now: OffsetDateTime, days: i64) -> HashMap<String, AttributeValue> {
    let image = format!("quay.io/acme/svc{}:{}", n / 60, (n / 12) % 5);
    let g = synthetic_group(n, &image, Reason::ALL[n % 12], now, (n % size.min(5000)) as i64);
    let mut item = g.to_item().unwrap_or_else(|e| panic!("encode group {}: {e}", g.id));
    let daily: HashMap<String, AttributeValue> = (0..days)
        .map(|back| {
            let day = scan_failures_domain::group::daily::day_key(now - time::Duration::days(back));
            (day, AttributeValue::N(((n as i64 + back) % 5 + 1).to_string()))
        })
        .collect();
    item.insert("daily".into(), AttributeValue::M(daily));
    item
}

async fn seed(store: &Store, size: usize, now: OffsetDateTime) {
    let started = Instant::now();
    write_items_parallel(store, (0..size).map(|n| group_item(n, size, now, 7)), 4).await;
    eprintln!("insights_cost: {size} groups seeded in {:.0} s", started.elapsed().as_secs_f64());
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

async fn api_ms(api: &api::handler::Api, path: &str, query: &str, runs: usize) -> f64 {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let res = api.handle(api_request(path, query, Some(CALLER), false)).await;
        assert_eq!(res.status().as_u16(), 200, "{path}?{query}: {:?}", res.body());
        if let Body::Text(t) = res.body() {
            assert!(!t.is_empty());
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    p50(times)
}

fn row(size: usize, what: &str, stats: &ReadStats, store_ms: f64, api_ms: f64) {
    println!(
        "| {size} | {what} | {} | {:.1} | {} | {:.1} | {:.1} |",
        stats.items_read, stats.read_capacity_units, stats.requests, store_ms, api_ms
    );
}

async fn read(sizes: &[usize], runs: usize) {
    let client = dynamodb_client(dynamodb_endpoint());
    let retention = RetentionDays::default();
    println!("| groups | call | items read | RCU | Query calls | store p50 ms | api p50 ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &size in sizes {
        let now = OffsetDateTime::now_utc();
        let store = fresh_store_on(&client, &format!("insights-{size}")).await;
        seed(&store, size, now).await;
        let api = api_from_env(&store, &[("ADMIN_VIEW_PRINCIPALS", CALLER)]);
        let summaries = [
            ("summary, no filter", Filters::default(), ""),
            (
                "summary, filter.repository (60 groups)",
                Filters { repository: vec!["quay.io/acme/svc7".into()], ..Filters::default() },
                "filter.repository=quay.io/acme/svc7",
            ),
        ];
        for (what, filters, query) in summaries {
            let request = SummaryRequest { filters, top: 10, detail: true };
            let mut times = Vec::new();
            let mut stats = ReadStats::default();
            for _ in 0..runs {
                let started = Instant::now();
                let (_, s) =
                    scan_failures_aws::dynamo::read::insights::summary(&store.reader(), &request, now, retention)
                        .await
                        .unwrap_or_else(|e| panic!("{e:?}"));
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                stats = s;
            }
            let api_p50 = api_ms(&api, "/v1/administration/events/summary", query, runs).await;
            row(size, what, &stats, p50(times), api_p50);
        }
        for days in [1u32, 7, 90] {
            let request = TrendRequest { filters: Filters::default(), days };
            let mut times = Vec::new();
            let mut stats = ReadStats::default();
            for _ in 0..runs {
                let started = Instant::now();
                let (_, s) =
                    scan_failures_aws::dynamo::read::insights::trend(&store.reader(), &request, now, retention)
                        .await
                        .unwrap_or_else(|e| panic!("{e:?}"));
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                stats = s;
            }
            let api_p50 = api_ms(&api, "/v1/administration/events/trend", &format!("days={days}"), runs).await;
            row(size, &format!("trend, days={days}"), &stats, p50(times), api_p50);
        }
        drop_table(&store).await;
    }
}

/// An event of the one group measured, at `at`.
fn envelope(id: &str, at: OffsetDateTime) -> serde_json::Value {
    let t = scan_failures_domain::time_fmt::format(at);
    let mut detail =
        failure_at("image scan", "roxctl", "quay.io/acme/web:1.4", "image enrichment error: status=401", &t);
    detail["cluster"] = "prod-eu-1".into();
    detail["initiator"] =
        serde_json::json!({"id": "arn:aws:iam::123456789012:role/ci-scanner", "userAgent": "roxctl/4.7.0"});
    integration_tests::envelope(id, "cost", &t, detail)
}

async fn record(store: &Store, id: &str, at: OffsetDateTime, now: OffsetDateTime) -> (f64, uuid::Uuid) {
    let Ok(scan_failures_domain::event::Parsed::Failure(o)) = scan_failures_domain::event::parse(envelope(id, at))
    else {
        panic!("not a failure")
    };
    let group = o.group_id();
    let (_, cost) = store
        .writer(None)
        .record(&o, &group, RetentionDays::new(365).unwrap_or_default(), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (cost.write_capacity_units, group)
}

async fn write() {
    let client = dynamodb_client(dynamodb_endpoint());
    let now = OffsetDateTime::now_utc();
    let store = fresh_store_on(&client, "insights-wcu").await;
    println!("| per-day map entries | event | WCU / event |");
    println!("| --- | --- | --- |");
    let (created, group) = record(&store, "w-0", now - time::Duration::days(95), now).await;
    println!("| 0 (day older than 90 days: not kept) | new group | {created:.1} |");
    let mut n = 1;
    let per_entries = |entries: usize, what: &str, wcu: Vec<f64>| {
        println!("| {entries} | {what} | {:.2} |", wcu.iter().sum::<f64>() / wcu.len() as f64);
    };
    // One event per day, oldest first: each adds a day (and prunes the one 91 days before).
    // A row where the cost changes: the item has crossed into the next KiB.
    let mut previous = f64::NAN;
    for back in (0..91).rev() {
        let at = now - time::Duration::days(back) - time::Duration::minutes(30);
        let (wcu, _) = record(&store, &format!("w-{n}"), at, now).await;
        n += 1;
        if wcu != previous || back == 0 {
            per_entries(91 - back as usize, "repeat on a new day (adds a day)", vec![wcu]);
        }
        previous = wcu;
    }
    let mut same_day = Vec::new();
    for k in 0..50 {
        let at = now - time::Duration::minutes(20) + time::Duration::seconds(k);
        same_day.push(record(&store, &format!("w-{n}"), at, now).await.0);
        n += 1;
    }
    per_entries(91, "repeat on the same day", same_day);
    let item = store.reader().get_item(&group).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
    let days = scan_failures_aws::dynamo::item::daily(&item);
    eprintln!("insights_cost: per-day map holds {} days; item {} attributes", days.len(), item.len());
    drop_table(&store).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("read") => {
            let sizes: Vec<usize> = args
                .get(1)
                .map_or("1000,100000", String::as_str)
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            let runs = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
            read(&sizes, runs).await;
        }
        Some("write") => write().await,
        _ => {
            eprintln!("usage: insights_cost read [SIZES] [RUNS] | insights_cost write");
            std::process::exit(2);
        }
    }
}
