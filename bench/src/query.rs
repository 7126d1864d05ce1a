//! Query cost against table size (`query`): for each size (1,000 / 10,000 / 100,000 groups by
//! default, `--sizes` to choose), one page of 50 per filter, measured two ways:
//! - through the release `api` binary on the local Runtime API, as API Gateway invokes it
//!   (page latency as a caller sees it, minus API Gateway; and the function's peak RSS);
//! - in-process with the same `Store::list` / `Store::count` (items read, RCU, requests, which
//!   the function does not expose).
//!
//! Data: see [`group`]; `lastOccurredAt` spread one group per minute (several per minute past
//! 5,000 groups) over `span = min(size, 5000)` minutes before now. The time-range filter is
//! `[now − 0.6·span, now − 0.2·span]`, inside the seeded data at every size.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::fixtures::{synthetic_group_of, GroupDetail};
use integration_tests::stack;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::time_fmt;
use scan_failures_http::params::{Filters, ListRequest, Page};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::function::{self, Function};
use crate::proxy::CountingProxy;
use crate::report::{ms, percentile, Figures};
use crate::runtime_api::{RuntimeApi, Seen};

pub const DEFAULT_SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const LIMIT: u32 = 50;
const PAGES: usize = 20;
const WARMUP: usize = 3;
const CALLER: &str = "arn:aws:iam::123456789012:user/alice";

/// The filters measured: id, label, whether an index serves it, the filters, the query string.
pub fn filters(size: usize, now: OffsetDateTime) -> Vec<(&'static str, &'static str, bool, Filters, String)> {
    let span = size.min(5000) as f64;
    let from = now - time::Duration::seconds((0.6 * span * 60.0) as i64);
    let until = now - time::Duration::seconds((0.2 * span * 60.0) as i64);
    vec![
        ("none", "none (byTime)", true, Filters::default(), String::new()),
        (
            "time_range",
            "time range (byTime key condition)",
            true,
            Filters { from: Some(from), until: Some(until), ..Filters::default() },
            format!("filter.from={}&filter.until={}", time_fmt::format(from), time_fmt::format(until)),
        ),
        (
            "image",
            "image (byImage, 12 groups at every size)",
            true,
            Filters { resource_name: vec!["quay.io/acme/svc7:1".into()], ..Filters::default() },
            "filter.resourceName=quay.io/acme/svc7:1".into(),
        ),
        (
            "repository",
            "repository (byRepository, 60 groups at every size)",
            true,
            Filters { repository: vec!["quay.io/acme/svc7".into()], ..Filters::default() },
            "filter.repository=quay.io/acme/svc7".into(),
        ),
        (
            "reason",
            "reason (byReason, 1 in 12)",
            true,
            Filters { reason: vec![Reason::RateLimited], ..Filters::default() },
            "filter.reason=RATE_LIMITED".into(),
        ),
        (
            "cluster",
            "cluster (not indexed, 1 in 3 match)",
            false,
            Filters { cluster: vec!["cluster-1".into()], ..Filters::default() },
            "filter.cluster=cluster-1".into(),
        ),
    ]
}

/// Group `n` of a table of `size` groups. Repositories and images grow with the table, as
/// they do in reality, while each keeps a fixed number of groups: a repository has 5 tags × 12
/// groups, an image 12 groups, one per reason. So the image and repository filters return the
/// same result at every size (12 and 50 of 60), the reason filter 1 in 12, the cluster filter
/// 1 in 3, and a page differs between sizes only in the table around it.
fn group(n: usize, size: usize, now: OffsetDateTime) -> scan_failures_domain::group::GroupRecord {
    let image = format!("quay.io/acme/svc{}:{}", n / 60, (n / 12) % 5);
    synthetic_group_of(GroupDetail::Realistic, n, &image, Reason::ALL[n % 12], now, (n % size.min(5000)) as i64)
}

/// An HTTP API (payload 2.0) request with an IAM caller, from the fixture in `events/api/`.
fn api_event(template: &Value, path: &str, query: &str) -> Arc<Vec<u8>> {
    let mut ev = template.clone();
    ev["rawPath"] = json!(path);
    ev["requestContext"]["http"]["path"] = json!(path);
    ev["rawQueryString"] = json!(query);
    let mut single = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        single.insert(k.to_owned(), json!(v));
    }
    ev["queryStringParameters"] = Value::Object(single);
    ev["requestContext"]["authorizer"]["iam"]["userArn"] = json!(CALLER);
    Arc::new(ev.to_string().into_bytes())
}

/// Invokes the api and returns (latency ms, HTTP status, body JSON).
fn call(api: &RuntimeApi, payload: &Arc<Vec<u8>>) -> (f64, u64, Value) {
    let r = api.invoke(Arc::clone(payload), Duration::from_secs(120)).unwrap_or_else(|e| panic!("api: {e}"));
    assert!(r.error_type.is_none(), "api invocation failed: {}", String::from_utf8_lossy(&r.body));
    let res: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let status = res.get("statusCode").and_then(Value::as_u64).unwrap_or(0);
    let body = res.get("body").and_then(Value::as_str).and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
    (ms(r.latency()), status, body)
}

#[derive(Default)]
struct Measured {
    api_ms: Vec<f64>,
    local_ms: Vec<f64>,
    returned: usize,
    api_returned: usize,
    /// The groups of the last page each read returned: the same page, so the same groups.
    ids: Vec<String>,
    api_ids: Vec<String>,
    items_read: u64,
    rcu: f64,
    requests: u32,
    api_queries_per_page: f64,
    count: u64,
    count_items_read: u64,
    count_rcu: f64,
    count_requests: u32,
    count_local_ms: f64,
    count_api_ms: f64,
}

/// One table size under test: the seeded table, its api process and Runtime API, and a proxy
/// counting that process's DynamoDB requests.
struct Table {
    size: usize,
    now: OffsetDateTime,
    store: Store,
    api: RuntimeApi,
    proxy: CountingProxy,
    process: Function,
}

fn set_up(
    rt: &tokio::runtime::Runtime,
    client: &aws_sdk_dynamodb::Client,
    endpoint: &str,
    size: usize,
    logs: &Path,
) -> Table {
    let now = OffsetDateTime::now_utc();
    let store = rt.block_on(stack::fresh_store_on(client, &format!("bench-q{size}")));
    let seeded = Instant::now();
    let groups: Vec<_> = (0..size).map(|n| group(n, size, now)).collect();
    rt.block_on(stack::seed_groups_parallel(&store, &groups, 4));
    eprintln!("bench: query: {size} groups seeded in {:.0} s", seeded.elapsed().as_secs_f64());
    let proxy = CountingProxy::start(endpoint).unwrap_or_else(|e| panic!("proxy: {e}"));
    let api = RuntimeApi::start("api").unwrap_or_else(|e| panic!("runtime api: {e}"));
    let mut env = stack::local_env(&proxy.endpoint());
    env.extend(function::runtime_env("api", &api.address()));
    env.extend([
        ("TABLE_NAME", store.table().to_owned()),
        ("RETENTION_DAYS", "4".to_owned()),
        ("ADMIN_VIEW_PRINCIPALS", CALLER.to_owned()),
        // This part measures reading the groups (no rollups: `API_READ_ROLLUPS` unset) at every
        // size, past the default bound of 50,000 items above which an api refuses (that refusal
        // is tested in `tests/tests/api.rs`): the most the api takes, 100,000 (it refused the
        // 1,000,000 asked before at start-up, and this part had not run since that bound came).
        ("API_MAX_ITEMS_READ", "100000".to_owned()),
    ]);
    let process = Function::spawn(&function::binary("api"), &env, &logs.join(format!("api-query-{size}.log")));
    match api.next_seen(Duration::from_secs(30)) {
        Some(Seen::Poll { .. }) => {}
        other => panic!("api did not start: {other:?}"),
    }
    Table { size, now, store, api, proxy, process }
}

type PerFilter = Vec<(&'static str, bool, Measured)>;
/// One filter at one size: the in-process request, the api's list and count events.
type Call = (ListRequest, Arc<Vec<u8>>, Arc<Vec<u8>>);

/// Every size is set up first and the sizes are measured in turn, page by page, so drift
/// (DynamoDB Local's JIT, other load on the machine) affects each size alike: the figure that
/// matters is the ratio between sizes.
pub fn run(out: &Path, logs: &Path, sizes: &[usize]) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let client = stack::dynamodb_client(endpoint);
    let fixture = stack::repo_root().join("events/api/list-http-api-iam.json");
    let template: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    std::fs::create_dir_all(logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    let retention = RetentionDays::default();
    let tables: Vec<Table> = sizes.iter().map(|&size| set_up(&rt, &client, endpoint, size, logs)).collect();
    let mut fig = Figures::default();
    let mut rows = Vec::new();
    let filter_sets: Vec<_> = tables.iter().map(|t| filters(t.size, t.now)).collect();
    let mut per_size: Vec<(usize, PerFilter)> = tables.iter().map(|t| (t.size, Vec::new())).collect();

    for fi in 0..filter_sets.first().map_or(0, Vec::len) {
        let (key, label, indexed) = (filter_sets[0][fi].0, filter_sets[0][fi].1, filter_sets[0][fi].2);
        let mut ms_of: Vec<Measured> = tables.iter().map(|_| Measured::default()).collect();
        let calls: Vec<Call> = filter_sets
            .iter()
            .map(|set| {
                let (_, _, _, f, query) = &set[fi];
                let list_query = if query.is_empty() {
                    format!("pagination.limit={LIMIT}")
                } else {
                    format!("pagination.limit={LIMIT}&{query}")
                };
                (
                    ListRequest { filters: f.clone(), page: Page { limit: LIMIT, ..Page::default() } },
                    api_event(&template, "/v1/administration/events", &list_query),
                    api_event(&template, "/v1/count/administration/events", query),
                )
            })
            .collect();
        for (t, (req, list, _)) in tables.iter().zip(&calls) {
            for _ in 0..WARMUP {
                call(&t.api, list);
                rt.block_on(t.store.reader().list(req, t.now, retention)).unwrap_or_else(|e| panic!("list: {e:?}"));
            }
            t.proxy.take();
        }
        for _ in 0..PAGES {
            for ((t, (_, list, _)), m) in tables.iter().zip(&calls).zip(&mut ms_of) {
                let (ms_taken, status, body) = call(&t.api, list);
                assert_eq!(status, 200, "api answered {status}: {body}");
                let events = body.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
                m.api_returned += events.len();
                m.api_ids = events.iter().filter_map(|e| e["id"].as_str().map(str::to_owned)).collect();
                m.api_ms.push(ms_taken);
            }
        }
        for _ in 0..PAGES {
            for ((t, (req, _, _)), m) in tables.iter().zip(&calls).zip(&mut ms_of) {
                let start = Instant::now();
                let page =
                    rt.block_on(t.store.reader().list(req, t.now, retention)).unwrap_or_else(|e| panic!("list: {e:?}"));
                m.local_ms.push(ms(start.elapsed()));
                m.returned += page.groups.len();
                m.ids = page.groups.iter().map(|g| g.id.clone()).collect();
                m.items_read += page.stats.items_read;
                m.rcu += page.stats.read_capacity_units;
                m.requests += page.stats.requests;
            }
        }
        for ((t, (req, _, count)), mut m) in tables.iter().zip(&calls).zip(ms_of) {
            let queries = t.proxy.take().get("Query").map_or(0, |c| c.requests);
            m.api_queries_per_page = queries as f64 / PAGES as f64;
            assert_eq!(m.api_returned, m.returned, "the api and the store disagree on {label} at {}", t.size);
            assert_eq!(m.api_ids, m.ids, "the api and the store return other groups for {label} at {}", t.size);
            let start = Instant::now();
            let (n, stats) = rt
                .block_on(t.store.reader().count(&req.filters, t.now, retention))
                .unwrap_or_else(|e| panic!("count: {e:?}"));
            m.count_local_ms = ms(start.elapsed());
            (m.count, m.count_items_read, m.count_rcu, m.count_requests) =
                (n, stats.items_read, stats.read_capacity_units, stats.requests);
            let (taken, status, body) = call(&t.api, count);
            assert_eq!((status, body.get("count").and_then(Value::as_u64)), (200, Some(n)), "api count, {label}");
            m.count_api_ms = taken;
            t.proxy.take();
            eprintln!(
                "bench: query: {:>6} {label:<52} api p50 {:>7.2} ms  read/returned {:.2}  count {} ({} read)",
                t.size,
                percentile(&m.api_ms, 50.0),
                m.items_read as f64 / m.returned.max(1) as f64,
                m.count,
                m.count_items_read
            );
            rows.push(json!({
                "groups": t.size, "filter": label, "indexed": indexed,
                "api_page_ms": {"p50": percentile(&m.api_ms, 50.0), "p99": percentile(&m.api_ms, 99.0)},
                "store_page_ms": {"p50": percentile(&m.local_ms, 50.0), "p99": percentile(&m.local_ms, 99.0)},
                "returned_per_page": m.returned / PAGES,
                "items_read_per_returned": m.items_read as f64 / m.returned.max(1) as f64,
                "items_read_per_page": m.items_read as f64 / PAGES as f64,
                "rcu_per_page": m.rcu / PAGES as f64,
                "queries_per_page": f64::from(m.requests) / PAGES as f64,
                "api_queries_per_page": m.api_queries_per_page,
                "count": m.count, "count_items_read": m.count_items_read, "count_rcu": m.count_rcu,
                "count_queries": m.count_requests, "count_store_ms": m.count_local_ms, "count_api_ms": m.count_api_ms,
            }));
            if let Some((_, list)) = per_size.iter_mut().find(|(s, _)| *s == t.size) {
                list.push((key, indexed, m));
            }
        }
    }

    let mut peak_rss = Vec::new();
    for t in tables {
        let rss = t.process.peak_rss_kib().unwrap_or(0);
        peak_rss.push(json!({"groups": t.size, "peak_rss_kib": rss}));
        fig.add(
            &format!("memory.api.{}.peak_rss_mib", t.size),
            rss as f64 / 1024.0,
            "MiB",
            &format!("api: peak RSS (VmHWM) serving the query benchmark at {} groups", t.size),
        );
        t.process.stop();
        drop(t.api);
        rt.block_on(stack::drop_table(&t.store));
    }
    let max_rss = peak_rss.iter().filter_map(|r| r["peak_rss_kib"].as_u64()).max().unwrap_or(0);
    fig.add(
        "memory.api.peak_rss_mib",
        max_rss as f64 / 1024.0,
        "MiB",
        "api: peak RSS (VmHWM) during the query benchmark, max over sizes",
    );
    for (size, measured) in &per_size {
        for (key, indexed, m) in measured {
            let read = m.items_read as f64 / m.returned.max(1) as f64;
            let kind = if *indexed { "indexed" } else { "not indexed" };
            fig.add(
                &format!("query.{key}.{size}.items_read_per_returned"),
                read,
                "items/item",
                &format!("query {key} ({kind}) at {size} groups: items read per item returned"),
            );
            fig.add(
                &format!("query.{key}.{size}.rcu_per_page"),
                m.rcu / PAGES as f64,
                "RCU/page",
                &format!("query {key} at {size} groups: RCU per page of {LIMIT}"),
            );
            fig.add(
                &format!("query.{key}.{size}.page_p50_ms"),
                percentile(&m.api_ms, 50.0),
                "ms",
                &format!("query {key} at {size} groups: page latency p50 through the api function"),
            );
            fig.add(
                &format!("query.{key}.{size}.page_p99_ms"),
                percentile(&m.api_ms, 99.0),
                "ms",
                &format!("query {key} at {size} groups: page latency p99 through the api function"),
            );
            fig.add(
                &format!("query.{key}.{size}.count_items_read"),
                m.count_items_read as f64,
                "items",
                &format!("count {key} at {size} groups: items read"),
            );
            fig.add(
                &format!("query.{key}.{size}.count_rcu"),
                m.count_rcu,
                "RCU",
                &format!("count {key} at {size} groups: RCU"),
            );
        }
    }
    // The smallest and largest tables, whatever order `--sizes` gave them in.
    let smallest = per_size.iter().min_by_key(|(size, _)| *size);
    let largest = per_size.iter().max_by_key(|(size, _)| *size);
    if let (Some((small, first)), Some((large, last))) = (smallest, largest) {
        for ((key, _, a), (_, _, b)) in first.iter().zip(last.iter()) {
            let ratio = |x: f64, y: f64| if x > 0.0 { y / x } else { f64::NAN };
            fig.add(
                &format!("query.{key}.latency_ratio"),
                ratio(percentile(&a.api_ms, 50.0), percentile(&b.api_ms, 50.0)),
                "ratio",
                &format!("query {key}: page latency p50 at {large} / at {small} groups (api function)"),
            );
            fig.add(
                &format!("query.{key}.store_latency_ratio"),
                ratio(percentile(&a.local_ms, 50.0), percentile(&b.local_ms, 50.0)),
                "ratio",
                &format!("query {key}: page latency p50 at {large} / at {small} groups (store in-process)"),
            );
            let per = |m: &Measured| m.items_read as f64 / m.returned.max(1) as f64;
            fig.add(
                &format!("query.{key}.items_read_ratio"),
                ratio(per(a), per(b)),
                "ratio",
                &format!("query {key}: items read per item returned at {large} / at {small} groups"),
            );
        }
    }
    fig.detail("query", Value::Array(rows));
    fig.detail("query_peak_rss", Value::Array(peak_rss));
    fig.detail(
        "query_setup",
        json!({"sizes": sizes, "limit": LIMIT, "pages_per_filter": PAGES, "warmup_pages": WARMUP}),
    );
    fig.write("query", "target/release/bench query", out);
}
