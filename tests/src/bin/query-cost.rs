//! Measures the read side against table size: for 1,000, 10,000 and 100,000 groups on DynamoDB
//! Local, one page of 50 per filter (items read per item returned, RCU, p50/p99 latency) and
//! the count endpoint's cost. Prints a Markdown table for BENCHMARKS.md.
//! Run with `make bench-query-cost` (`QUERY_COST_SIZES=1000,10000` to choose sizes).

use std::time::Instant;

use integration_tests::{fresh_store, seed_groups, synthetic_group};
use scan_failures::classify::Reason;
use scan_failures::config::RetentionDays;
use scan_failures::params::{Filters, ListRequest, Page};
use time::{Duration, OffsetDateTime};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("QUERY_COST_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let reasons = [Reason::Timeout, Reason::RegistryUnauthorized, Reason::ImageNotFound, Reason::RateLimited];
    println!("| groups | filter | page p50 ms | page p99 ms | items read / item returned | RCU / page | count: items read | count: RCU | count ms |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for size in sizes {
        let store = fresh_store().await;
        let now = OffsetDateTime::now_utc();
        // 50 repositories x 2 tags, 4 reasons, spread over the last ~3.5 days.
        let groups: Vec<_> = (0..size)
            .map(|n| {
                let image = format!("quay.io/acme/svc{}:{}", n % 50, n % 2);
                synthetic_group(n, &image, reasons[n % 4], now, (n % 5000) as i64)
            })
            .collect();
        seed_groups(&store, &groups).await;
        let filters: Vec<(&str, Filters)> = vec![
            ("none", Filters::default()),
            (
                "time range",
                Filters {
                    from: Some(now - Duration::minutes(4000)),
                    until: Some(now - Duration::minutes(1000)),
                    ..Filters::default()
                },
            ),
            ("image", Filters { resource_name: vec!["quay.io/acme/svc7:1".into()], ..Filters::default() }),
            ("repository", Filters { repository: vec!["quay.io/acme/svc7".into()], ..Filters::default() }),
            ("reason", Filters { reason: vec![Reason::RateLimited], ..Filters::default() }),
            ("cluster (not indexed)", Filters { cluster: vec!["cluster-1".into()], ..Filters::default() }),
        ];
        for (name, f) in filters {
            let req = ListRequest { filters: f.clone(), page: Page { limit: 50, ..Page::default() } };
            let mut times = Vec::new();
            let mut read = 0u64;
            let mut returned = 0usize;
            let mut rcu = 0.0;
            for _ in 0..20 {
                let start = Instant::now();
                let page = store.list(&req, now, RetentionDays::default()).await.unwrap_or_else(|e| panic!("{e:?}"));
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                read += page.stats.items_read;
                returned += page.groups.len();
                rcu += page.stats.read_capacity_units;
            }
            times.sort_by(f64::total_cmp);
            let start = Instant::now();
            let (_, count_stats) =
                store.count(&f, now, RetentionDays::default()).await.unwrap_or_else(|e| panic!("{e:?}"));
            let count_ms = start.elapsed().as_secs_f64() * 1000.0;
            println!(
                "| {size} | {name} | {:.1} | {:.1} | {:.2} | {:.1} | {} | {:.1} | {:.0} |",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                read as f64 / returned.max(1) as f64,
                rcu / 20.0,
                count_stats.items_read,
                count_stats.read_capacity_units,
                count_ms
            );
        }
    }
}
