//! `rebuild`: what a rebuild of the rollups costs per group, and how long a scheduled run of it
//! takes (`Rollups::rebuild`, docs/src/storage.md). A table of realistic groups is seeded, a
//! restart starts generation 1 six minutes back (past its `MARK_AFTER`), and runs of the
//! rebuild, `maintenance::DEFAULT_MAX_ITEMS` groups each (`RESTAMP_MAX_ITEMS`' default), walk
//! the `byTime` index and mark every group, in-process through the maintenance function's own
//! `rebuild_rollups` and the counting proxy, until the walk is through.
//!
//! Measured: each run's duration (against the function's 300 s timeout), the walk's reads
//! (RCU as DynamoDB Local reports its `Query`s), and the marks' writes, priced from what the
//! transactions wrote as `rollup-cost` prices them (DynamoDB Local under-reports
//! transactions): each marked group at its size after the mark, 2 WCU per started KiB for the
//! item and 2 for its `byTime` entry, and the count of the marks (an item in no index) at its
//! own size per transaction. Not measured here: the rollup function folding each mark, a change
//! like any other (`rollup-cost`); the table has no stream, so the rebuild never switches.

use std::path::Path;
use std::time::Instant;

use integration_tests::fixtures::{synthetic_group_of, GroupDetail};
use integration_tests::stack;
use integration_tests::streams::json_call;
use scan_failures_aws::dynamo::{Store, GROUP_KEY_PREFIX};
use scan_failures_domain::classify::Reason;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::proxy::{put_units, CountingProxy};
use crate::report::Figures;

/// Groups in the table: two runs' worth at the default.
const GROUPS: usize = 20_000;
/// The maintenance function's `Timeout` in the template, in seconds.
const TIMEOUT_SECONDS: f64 = 300.0;

pub fn run(out: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let proxy = CountingProxy::start(endpoint).unwrap_or_else(|e| panic!("proxy: {e}"));
    let store = rt.block_on(stack::fresh_store_on(&stack::dynamodb_client(endpoint), "bench-rebuild"));
    let now = OffsetDateTime::now_utc();
    let started = Instant::now();
    let groups: Vec<_> = (0..GROUPS)
        .map(|n| {
            let image = format!("quay.io/acme/svc{}:{}", n / 60, (n / 12) % 5);
            synthetic_group_of(GroupDetail::Realistic, n, &image, Reason::ALL[n % 12], now, (n % 5_760) as i64)
        })
        .collect();
    rt.block_on(stack::seed_groups_parallel(&store, &groups, 4));
    eprintln!("bench: rebuild: {GROUPS} groups seeded in {:.0} s", started.elapsed().as_secs_f64());
    rt.block_on(store.rollups().mark_since(now - time::Duration::days(1))).unwrap_or_else(|e| panic!("since: {e}"));
    let restarted = rt
        .block_on(maintenance::restart_rollups(&store, now - time::Duration::minutes(6)))
        .unwrap_or_else(|e| panic!("restart: {e}"));
    assert_eq!(restarted.rebuilding, Some(1), "{restarted:?}");

    let measured = Store::new(stack::dynamodb_client(&proxy.endpoint()), store.table());
    let per_run = maintenance::DEFAULT_MAX_ITEMS;
    proxy.take();
    proxy.take_transacted();
    let (mut runs, mut marked, mut query_rcu) = (Vec::new(), 0, 0.0);
    for _ in 0..GROUPS / per_run as usize + 2 {
        let started = Instant::now();
        let report = rt
            .block_on(maintenance::rebuild_rollups(&measured, per_run, OffsetDateTime::now_utc(), None))
            .unwrap_or_else(|e| panic!("rebuild: {e}"))
            .unwrap_or_else(|| panic!("no rebuild under way"));
        let seconds = started.elapsed().as_secs_f64();
        let counts = proxy.take();
        let op = |name: &str| counts.get(name).cloned().unwrap_or_default();
        if report.status != "marking" {
            break;
        }
        marked += report.marked;
        query_rcu += op("Query").capacity_units;
        eprintln!(
            "bench: rebuild: run {}: {} examined, {} marked in {seconds:.1} s ({} transactions)",
            runs.len() + 1,
            report.examined,
            report.marked,
            op("TransactWriteItems").requests
        );
        runs.push(json!({
            "examined": report.examined, "marked": report.marked, "seconds": seconds,
            "transactions": op("TransactWriteItems").requests, "queries": op("Query").requests,
            "query_rcu": op("Query").capacity_units,
        }));
    }
    assert_eq!(marked, GROUPS as u64, "every group marked once");

    let transacted = proxy.take_transacted();
    let (mut group_wcu, mut count_wcu) = (0.0, 0.0);
    for (pk, times) in &transacted.updates {
        let body = json!({"TableName": store.table(), "Key": {"pk": {"S": pk}}, "ConsistentRead": true});
        let got = json_call(endpoint, "DynamoDB_20120810.GetItem", &body).unwrap_or_else(|e| panic!("GetItem: {e}"));
        let item = got["Item"].as_object().unwrap_or_else(|| panic!("{pk} not found"));
        if pk.starts_with(GROUP_KEY_PREFIX) {
            // The item and its `byTime` entry.
            group_wcu += 2.0 * put_units(item) * *times as f64;
        } else {
            count_wcu += put_units(item) * *times as f64;
        }
    }
    rt.block_on(stack::drop_table(&store));

    let full: Vec<&Value> = runs.iter().filter(|r| r["examined"] == json!(u64::from(per_run))).collect();
    let run_seconds = full.iter().filter_map(|r| r["seconds"].as_f64()).fold(0.0, f64::max);
    let groups = GROUPS as f64;
    let mut fig = Figures::default();
    fig.add(
        "rebuild.wcu_per_group",
        (group_wcu + count_wcu) / groups,
        "WCU/group",
        "Rebuild of the rollups: WCU per group marked (priced)",
    );
    fig.add("rebuild.rcu_per_group", query_rcu / groups, "RCU/group", "Rebuild of the rollups: RCU per group walked");
    fig.add(
        "rebuild.run_seconds",
        run_seconds,
        "s",
        &format!("Rebuild of the rollups: a run of {per_run} groups (RESTAMP_MAX_ITEMS' default), the longest"),
    );
    fig.add(
        "rebuild.run_share_of_timeout",
        run_seconds / TIMEOUT_SECONDS,
        "x",
        "Rebuild of the rollups: that run / the maintenance function's 300 s timeout",
    );
    fig.detail("groups", json!(GROUPS));
    fig.detail("per_run", json!(per_run));
    fig.detail("transactions", json!(transacted.transactions));
    fig.detail("group_wcu", json!(group_wcu));
    fig.detail("count_wcu", json!(count_wcu));
    fig.detail("runs", json!(runs));
    fig.write("rebuild", "target/release/bench rebuild", out);
}
