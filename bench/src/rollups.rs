//! Count, summary and trend from the maintained rollups against table size (`rollups`): for
//! each size (1,000 / 10,000 / 100,000 groups by default), the unfiltered count, summary and
//! 7-day trend answered from the rollups (items read, RCU and latency per call, in-process
//! through the store as the api calls it), next to the same questions answered by reading every
//! group (today's path without the rollups: once per size).
//!
//! Data: `lastOccurredAt` spread evenly over the 5 days before the time asked at ([`asked_at`]:
//! where the retention's cut-off (4 days) makes the read take the most buckets), so that the
//! cut-off falls inside the data at every size;
//! each group has the per-day count of its last day. The rollups are seeded by folding every
//! group as a creation (`stack::seed_groups_and_rollups`). Each answer is checked equal to the
//! full read's.

use std::path::Path;
use std::time::Instant;

use integration_tests::fixtures::{synthetic_group_of, GroupDetail};
use integration_tests::stack;
use scan_failures_aws::dynamo::read::{insights, ReadStats};
use scan_failures_aws::dynamo::rollup::{answer, Rollups};
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::group::daily::day_key;
use scan_failures_domain::group::triage::TriageState;
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::query::{Filters, SummaryRequest, TrendRequest};
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::rollup::{self, Grain};
use serde_json::json;
use time::OffsetDateTime;

use crate::report::{ms, percentile, Figures};

/// Calls per question and size answered from the rollups, after the warm-up calls.
const RUNS: usize = 100;
const WARMUP: usize = 5;
/// Minutes the data spans: 5 days, past the 4-day retention.
const SPAN_MINUTES: usize = 5 * 24 * 60;

/// Groups, days the data spans and retention of the long-retention table.
const LONG: (usize, usize, u16) = (20_000, 366, 365);

fn group(n: usize, size: usize, now: OffsetDateTime) -> (GroupRecord, GroupState) {
    spread_group(n, size, SPAN_MINUTES, now)
}

/// Group `n` of `size` spread evenly over the `span` minutes before `now`: of 12 reasons, open
/// (the recorded figures); with `BENCH_ROLLUP_MIX=every`, of every reason in every triage
/// state in turn (22 × 4 rollups a bucket can hold, where the recorded mix fills 12).
fn spread_group(n: usize, size: usize, span: usize, now: OffsetDateTime) -> (GroupRecord, GroupState) {
    let every = std::env::var("BENCH_ROLLUP_MIX").is_ok_and(|m| m == "every");
    let image = format!("quay.io/acme/svc{}:{}", n / 60, (n / 12) % 5);
    let minutes_ago = (n * span / size) as i64;
    let reason = if every { Reason::ALL[n % Reason::ALL.len()] } else { Reason::ALL[n % 12] };
    let g = synthetic_group_of(GroupDetail::Realistic, n, &image, reason, now, minutes_ago);
    let last = now - time::Duration::minutes(minutes_ago);
    let mut s = GroupState { daily: [(day_key(last), g.num_occurrences)].into(), ..GroupState::default() };
    if every {
        s.triage.state = TriageState::ALL[(n / Reason::ALL.len()) % TriageState::ALL.len()];
    }
    (g, s)
}

/// The time the questions are asked at (and the data is spread back from), before `real`: the
/// retention's cut-off then falls 30 seconds into the earliest minute, of the 30 days before
/// the day a retention before `real`, at which the read plan takes the most buckets
/// ([`rollup::MAX_BUCKETS`] finer than a day, and no 30-day bucket in place of days): the worst
/// case, the same in every run whatever the time and day it starts.
fn asked_at(real: OffsetDateTime, retention: RetentionDays) -> OffsetDateTime {
    let day = real.replace_time(time::Time::MIDNIGHT) - retention.duration() - time::Duration::DAY;
    let cut_off = (0..30 * 1440)
        .map(|m| day - time::Duration::minutes(m) + time::Duration::seconds(30))
        .max_by_key(|t| {
            let now = *t + retention.duration();
            (rollup::read_plan(*t, now, &Grain::ALL).buckets(now), *t)
        })
        .unwrap_or(day);
    cut_off + retention.duration()
}

/// One seeded table.
struct Table {
    size: usize,
    now: OffsetDateTime,
    store: Store,
}

/// The question asked, answered from the rollups; its read's cost.
async fn from_rollups(store: &Store, question: &str, now: OffsetDateTime, retention: RetentionDays) -> ReadStats {
    ask(&store.rollups(), question, now, retention).await
}

/// The question asked of `rollups`; its read's cost.
async fn ask(rollups: &Rollups<'_>, question: &str, now: OffsetDateTime, retention: RetentionDays) -> ReadStats {
    let none = Filters::default();
    let stats = match question {
        "count" => answer::count_maintained(rollups, &none, now, retention).await.map(|r| r.1),
        "summary" => {
            let req = SummaryRequest { filters: none, top: 10, detail: false };
            answer::summary_maintained(rollups, &req, now, retention).await.map(|r| r.1)
        }
        _ => {
            let req = TrendRequest { filters: none, days: 7 };
            answer::trend_maintained(rollups, &req, now, retention).await.map(|r| r.1)
        }
    };
    stats.unwrap_or_else(|e| panic!("{question}: {e:?}"))
}

/// The question asked by reading every group, checked equal to the answer of the rollups read
/// with each of `layouts` (grains); its cost.
async fn from_groups(
    store: &Store,
    question: &str,
    now: OffsetDateTime,
    retention: RetentionDays,
    layouts: &[&'static [Grain]],
) -> ReadStats {
    let (none, reader) = (Filters::default(), store.reader());
    let fail = |e: &dyn std::fmt::Debug| -> ! { panic!("{question}: {e:?}") };
    match question {
        "count" => {
            let (f, stats) = reader.count(&none, now, retention).await.unwrap_or_else(|e| fail(&e));
            for grains in layouts {
                let rollups = store.rollups().with_grains(grains);
                let (k, _) =
                    answer::count_maintained(&rollups, &none, now, retention).await.unwrap_or_else(|e| fail(&e));
                assert_eq!(k, f, "count, grains {grains:?}");
            }
            stats
        }
        "summary" => {
            let req = SummaryRequest { filters: none, top: 10, detail: false };
            let (f, stats) = insights::summary(&reader, &req, now, retention).await.unwrap_or_else(|e| fail(&e));
            let f = f.maintained_only();
            for grains in layouts {
                let rollups = store.rollups().with_grains(grains);
                let (k, _) =
                    answer::summary_maintained(&rollups, &req, now, retention).await.unwrap_or_else(|e| fail(&e));
                assert_eq!(k, f, "summary, grains {grains:?}");
            }
            stats
        }
        _ => {
            let req = TrendRequest { filters: none, days: 7 };
            let (f, stats) = insights::trend(&reader, &req, now, retention).await.unwrap_or_else(|e| fail(&e));
            for grains in layouts {
                let rollups = store.rollups().with_grains(grains);
                let (k, _) =
                    answer::trend_maintained(&rollups, &req, now, retention).await.unwrap_or_else(|e| fail(&e));
                assert_eq!(k, f, "trend, grains {grains:?}");
            }
            stats
        }
    }
}

/// A year's retention: [`LONG`]'s groups spread over a year and a day, asked at the worst
/// cut-off as the sizes are, each answer checked equal to the full read's; its rollups read
/// with every grain (as a generation keeping the 30-day grain is) and with the grains up to
/// days (as one started before it is, and as every read was before it).
fn long_retention(
    rt: &tokio::runtime::Runtime,
    client: &aws_sdk_dynamodb::Client,
    fig: &mut Figures,
) -> Vec<serde_json::Value> {
    let (size, days, retention) = LONG;
    let retention = RetentionDays::new(retention).unwrap_or_else(|| panic!("retention: {retention}"));
    let now = asked_at(OffsetDateTime::now_utc(), retention);
    let store = rt.block_on(stack::fresh_store_on(client, "bench-rlong"));
    let groups: Vec<_> = (0..size).map(|n| spread_group(n, size, days * 1440, now)).collect();
    rt.block_on(stack::seed_groups_and_rollups(&store, &groups, 4));
    let mut rows = Vec::new();
    for question in ["count", "summary", "trend7"] {
        let full = rt.block_on(from_groups(&store, question, now, retention, &[&Grain::ALL, &Grain::UP_TO_DAYS]));
        let mut by_layout = Vec::new();
        for (layout, grains) in [("thirty_days", &Grain::ALL[..]), ("days", &Grain::UP_TO_DAYS[..])] {
            let rollups = store.rollups().with_grains(grains);
            let mut times = Vec::new();
            let mut stats = ReadStats::default();
            for _ in 0..WARMUP + 20 {
                let started = Instant::now();
                stats = rt.block_on(ask(&rollups, question, now, retention));
                times.push(ms(started.elapsed()));
            }
            let p50 = percentile(&times[WARMUP..], 50.0);
            eprintln!(
                "bench: rollups: {size} groups, {} days' retention, {question:<8} ({layout}) {:>5} items {:>6.1} RCU {:>7.2} ms | every group {:>6} items {:>8.1} RCU",
                retention.get(), stats.items_read, stats.read_capacity_units, p50, full.items_read, full.read_capacity_units
            );
            let what = format!("{question} without filter, {} days' retention, {size} groups over {days} days, from the rollups ({layout})", retention.get());
            fig.add(
                &format!("rollups.long.{layout}.{question}.rcu"),
                stats.read_capacity_units,
                "RCU/call",
                &format!("{what}: RCU per call"),
            );
            fig.add(
                &format!("rollups.long.{layout}.{question}.items_read"),
                stats.items_read as f64,
                "items/call",
                &format!("{what}: items read per call"),
            );
            by_layout.push(json!({"layout": layout, "items_read": stats.items_read, "rcu": stats.read_capacity_units, "requests": stats.requests, "p50_ms": p50}));
        }
        rows.push(json!({
            "groups": size, "retention_days": retention.get(), "question": question, "rollups": by_layout,
            "every_group": {"items_read": full.items_read, "rcu": full.read_capacity_units},
        }));
    }
    rt.block_on(stack::drop_table(&store));
    rows
}

/// Every size is seeded first and the sizes are then asked in turn, call by call, so drift
/// (DynamoDB Local's JIT and garbage collection, other load) affects each size alike: the
/// figure that matters is the ratio between sizes.
pub fn run(out: &Path, sizes: &[usize]) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let client = stack::dynamodb_client(stack::dynamodb_endpoint());
    let retention = RetentionDays::default();
    let tables: Vec<Table> = sizes
        .iter()
        .map(|&size| {
            let now = asked_at(OffsetDateTime::now_utc(), retention);
            let store = rt.block_on(stack::fresh_store_on(&client, &format!("bench-r{size}")));
            let started = Instant::now();
            let groups: Vec<_> = (0..size).map(|n| group(n, size, now)).collect();
            rt.block_on(stack::seed_groups_and_rollups(&store, &groups, 4));
            eprintln!(
                "bench: rollups: {size} groups and their rollups seeded in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            Table { size, now, store }
        })
        .collect();
    let mut fig = Figures::default();
    let mut rows = Vec::new();
    for question in ["count", "summary", "trend7"] {
        let full: Vec<(ReadStats, f64)> = tables
            .iter()
            .map(|t| {
                let started = Instant::now();
                let stats = rt.block_on(from_groups(&t.store, question, t.now, retention, &[&Grain::ALL]));
                (stats, ms(started.elapsed()))
            })
            .collect();
        let mut kept: Vec<(ReadStats, Vec<f64>)> = tables.iter().map(|_| (ReadStats::default(), Vec::new())).collect();
        for _ in 0..WARMUP {
            for t in &tables {
                rt.block_on(from_rollups(&t.store, question, t.now, retention));
            }
        }
        for _ in 0..RUNS {
            for (t, (stats, times)) in tables.iter().zip(&mut kept) {
                let started = Instant::now();
                *stats = rt.block_on(from_rollups(&t.store, question, t.now, retention));
                times.push(ms(started.elapsed()));
            }
        }
        for ((t, (full, full_ms)), (stats, times)) in tables.iter().zip(&full).zip(&kept) {
            let (size, p50) = (t.size, percentile(times, 50.0));
            eprintln!(
                "bench: rollups: {size:>6} {question:<8} rollups {:>5} items {:>6.1} RCU {:>7.2} ms | every group {:>6} items {:>8.1} RCU {:>9.1} ms",
                stats.items_read, stats.read_capacity_units, p50, full.items_read, full.read_capacity_units, full_ms
            );
            fig.add(
                &format!("rollups.{question}.{size}.rcu"),
                stats.read_capacity_units,
                "RCU/call",
                &format!("{question} without filter at {size} groups, from the rollups: RCU per call"),
            );
            fig.add(
                &format!("rollups.{question}.{size}.items_read"),
                stats.items_read as f64,
                "items/call",
                &format!("{question} without filter at {size} groups, from the rollups: items read per call"),
            );
            fig.add(
                &format!("rollups.{question}.{size}.p50_ms"),
                p50,
                "ms",
                &format!(
                    "{question} without filter at {size} groups, from the rollups: latency p50 (store, in-process)"
                ),
            );
            fig.add(
                &format!("rollups.{question}.{size}.full_rcu"),
                full.read_capacity_units,
                "RCU/call",
                &format!("{question} without filter at {size} groups, reading every group: RCU per call"),
            );
            rows.push(json!({
                "groups": size, "question": question,
                "rollups": {"items_read": stats.items_read, "rcu": stats.read_capacity_units, "requests": stats.requests, "p50_ms": p50, "p99_ms": percentile(times, 99.0)},
                "every_group": {"items_read": full.items_read, "rcu": full.read_capacity_units, "requests": full.requests, "ms": full_ms},
            }));
        }
        let at = |size: Option<&usize>| {
            tables
                .iter()
                .zip(&kept)
                .find(|(t, _)| Some(&t.size) == size)
                .map_or(0.0, |(_, (_, times))| percentile(times, 50.0))
        };
        let (small, large) = (sizes.iter().min(), sizes.iter().max());
        if let (Some(s), Some(l)) = (small, large) {
            fig.add(
                &format!("rollups.{question}.latency_ratio"),
                at(large) / at(small).max(f64::MIN_POSITIVE),
                "x",
                &format!("{question} from the rollups: latency p50 at {l} groups / at {s}"),
            );
        }
    }
    for t in tables {
        rt.block_on(stack::drop_table(&t.store));
    }
    let long = long_retention(&rt, &client, &mut fig);
    fig.detail("rows", json!(rows));
    fig.detail("long_rows", json!(long));
    fig.write("rollups", "target/release/bench rollups", out);
}
