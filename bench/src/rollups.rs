//! Count, summary and trend from the maintained rollups against table size (`rollups`): for
//! each size (1,000 / 10,000 / 100,000 groups by default), the unfiltered count, summary and
//! 7-day trend answered from the rollups (items read, RCU and latency per call, in-process
//! through the store as the api calls it), next to the same questions answered by reading every
//! group (today's path without the rollups: once per size).
//!
//! Data: `lastOccurredAt` spread evenly over the last 5 days, so that the retention's cut-off
//! (4 days) falls inside the data at every size and the edge and the fine grains are read;
//! each group has the per-day count of its last day. The rollups are seeded by folding every
//! group as a creation (`rollup::Fold`, the arithmetic the rollup function applies; its
//! equality with a read of every group under a real stream is `tests/tests/rollups.rs`) and
//! written whole (`BatchWriteItem`). Each answer is checked equal to the full read's.

use std::path::Path;
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::fixtures::{synthetic_group_of, GroupDetail};
use integration_tests::stack;
use scan_failures_aws::dynamo::item::GroupItem;
use scan_failures_aws::dynamo::read::{insights, ReadStats};
use scan_failures_aws::dynamo::rollup::plan::item;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::group::daily::day_key;
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::query::{Filters, SummaryRequest, TrendRequest};
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::rollup::Fold;
use serde_json::json;
use time::OffsetDateTime;

use crate::report::{ms, percentile, Figures};

/// Calls per question and size answered from the rollups.
const RUNS: usize = 20;
/// Minutes the data spans: 5 days, past the 4-day retention.
const SPAN_MINUTES: usize = 5 * 24 * 60;

fn group(n: usize, size: usize, now: OffsetDateTime) -> (GroupRecord, GroupState) {
    let image = format!("quay.io/acme/svc{}:{}", n / 60, (n / 12) % 5);
    let minutes_ago = (n * SPAN_MINUTES / size) as i64;
    let g = synthetic_group_of(GroupDetail::Realistic, n, &image, Reason::ALL[n % 12], now, minutes_ago);
    let last = now - time::Duration::minutes(minutes_ago);
    let s = GroupState { daily: [(day_key(last), g.num_occurrences)].into(), ..GroupState::default() };
    (g, s)
}

async fn seed(store: &Store, groups: &[(GroupRecord, GroupState)]) {
    let items = groups.iter().map(|(g, s)| {
        let mut item = g.to_item().unwrap_or_else(|e| panic!("encode {}: {e}", g.id));
        let daily = s.daily.iter().map(|(d, n)| (d.clone(), AttributeValue::N(n.to_string()))).collect();
        item.insert("daily".into(), AttributeValue::M(daily));
        item
    });
    stack::write_items_parallel(store, items, 4).await;
    let mut fold = Fold::default();
    for (g, s) in groups {
        fold.change(None, Some((g, s))).unwrap_or_else(|e| panic!("fold: {e}"));
    }
    // Written whole: on a fresh table, each rollup is its fold.
    stack::write_items_parallel(store, fold.deltas.iter().map(|(key, counters)| item(key, counters)), 4).await;
}

/// What one question cost, answered both ways at one size.
struct Costs {
    kept: ReadStats,
    kept_ms: Vec<f64>,
    full: ReadStats,
    full_ms: f64,
}

pub fn run(out: &Path, sizes: &[usize]) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let client = stack::dynamodb_client(stack::dynamodb_endpoint());
    let retention = RetentionDays::default();
    let mut fig = Figures::default();
    let mut rows = Vec::new();
    let mut p50: Vec<(usize, &str, f64)> = Vec::new();
    for &size in sizes {
        let now = OffsetDateTime::now_utc();
        let store = rt.block_on(stack::fresh_store_on(&client, &format!("bench-r{size}")));
        let started = Instant::now();
        let groups: Vec<_> = (0..size).map(|n| group(n, size, now)).collect();
        rt.block_on(seed(&store, &groups));
        eprintln!("bench: rollups: {size} groups and their rollups seeded in {:.0} s", started.elapsed().as_secs_f64());
        let rollups = store.rollups();
        let reader = store.reader();
        let none = Filters::default();
        let summary = SummaryRequest { filters: none.clone(), top: 10, detail: false };
        let trend = TrendRequest { filters: none.clone(), days: 7 };
        for question in ["count", "summary", "trend7"] {
            // Warm-up, and the equality of the two answers.
            let (kept, full, full_ms) = rt.block_on(async {
                let t = Instant::now();
                match question {
                    "count" => {
                        let (f, fs) = reader.count(&none, now, retention).await.unwrap_or_else(|e| panic!("{e:?}"));
                        let full_ms = ms(t.elapsed());
                        let (k, ks) = insights::count_maintained(&rollups, &none, now, retention)
                            .await
                            .unwrap_or_else(|e| panic!("{e:?}"));
                        assert_eq!(k, f, "count at {size}");
                        (ks, fs, full_ms)
                    }
                    "summary" => {
                        let (f, fs) = insights::summary(&reader, &summary, now, retention)
                            .await
                            .unwrap_or_else(|e| panic!("{e:?}"));
                        let full_ms = ms(t.elapsed());
                        let (k, ks) = insights::summary_maintained(&rollups, &summary, now, retention)
                            .await
                            .unwrap_or_else(|e| panic!("{e:?}"));
                        assert_eq!(k, f.maintained_only(), "summary at {size}");
                        (ks, fs, full_ms)
                    }
                    _ => {
                        let (f, fs) =
                            insights::trend(&reader, &trend, now, retention).await.unwrap_or_else(|e| panic!("{e:?}"));
                        let full_ms = ms(t.elapsed());
                        let (k, ks) = insights::trend_maintained(&rollups, &trend, now, retention)
                            .await
                            .unwrap_or_else(|e| panic!("{e:?}"));
                        assert_eq!(k, f, "trend at {size}");
                        (ks, fs, full_ms)
                    }
                }
            });
            let mut c = Costs { kept, kept_ms: Vec::new(), full, full_ms };
            for _ in 0..RUNS {
                let t = Instant::now();
                let stats = rt.block_on(async {
                    match question {
                        "count" => insights::count_maintained(&rollups, &none, now, retention).await.map(|r| r.1),
                        "summary" => {
                            insights::summary_maintained(&rollups, &summary, now, retention).await.map(|r| r.1)
                        }
                        _ => insights::trend_maintained(&rollups, &trend, now, retention).await.map(|r| r.1),
                    }
                });
                c.kept_ms.push(ms(t.elapsed()));
                c.kept = stats.unwrap_or_else(|e| panic!("{question}: {e:?}"));
            }
            let kept_p50 = percentile(&c.kept_ms, 50.0);
            eprintln!(
                "bench: rollups: {size:>6} {question:<8} rollups {:>5} items {:>6.1} RCU {:>7.2} ms | every group {:>6} items {:>8.1} RCU {:>9.1} ms",
                c.kept.items_read, c.kept.read_capacity_units, kept_p50, c.full.items_read, c.full.read_capacity_units, c.full_ms
            );
            fig.add(
                &format!("rollups.{question}.{size}.rcu"),
                c.kept.read_capacity_units,
                "RCU/call",
                &format!("{question} without filter at {size} groups, from the rollups: RCU per call"),
            );
            fig.add(
                &format!("rollups.{question}.{size}.items_read"),
                c.kept.items_read as f64,
                "items/call",
                &format!("{question} without filter at {size} groups, from the rollups: items read per call"),
            );
            fig.add(
                &format!("rollups.{question}.{size}.p50_ms"),
                kept_p50,
                "ms",
                &format!(
                    "{question} without filter at {size} groups, from the rollups: latency p50 (store, in-process)"
                ),
            );
            fig.add(
                &format!("rollups.{question}.{size}.full_rcu"),
                c.full.read_capacity_units,
                "RCU/call",
                &format!("{question} without filter at {size} groups, reading every group: RCU per call"),
            );
            rows.push(json!({
                "groups": size, "question": question,
                "rollups": {"items_read": c.kept.items_read, "rcu": c.kept.read_capacity_units, "requests": c.kept.requests, "p50_ms": kept_p50, "p99_ms": percentile(&c.kept_ms, 99.0)},
                "every_group": {"items_read": c.full.items_read, "rcu": c.full.read_capacity_units, "requests": c.full.requests, "ms": c.full_ms},
            }));
            p50.push((size, question, kept_p50));
        }
        rt.block_on(stack::drop_table(&store));
    }
    if let (Some(&small), Some(&large)) = (sizes.iter().min(), sizes.iter().max()) {
        for question in ["count", "summary", "trend7"] {
            let at = |s: usize| p50.iter().find(|(size, q, _)| *size == s && *q == question).map_or(0.0, |p| p.2);
            fig.add(
                &format!("rollups.{question}.latency_ratio"),
                at(large) / at(small).max(f64::MIN_POSITIVE),
                "x",
                &format!("{question} from the rollups: latency p50 at {large} groups / at {small}"),
            );
        }
    }
    fig.detail("rows", json!(rows));
    fig.write("rollups", "make bench (bench rollups)", out);
}
