//! Which index and key range serve a question: pure, so that the choice is tested apart from
//! the reads that execute it.

use time::OffsetDateTime;

use scan_failures_domain::query::Filters;
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::time_fmt;

use crate::dynamo::schema::{self, Index, ALL_PARTITION};

/// The index and partitions that serve a set of filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub index: Index,
    pub partitions: Vec<String>,
}

/// Picks the most selective index the filters allow.
pub fn plan(filters: &Filters) -> Plan {
    let (index, partitions) = if !filters.resource_id.is_empty() {
        (schema::BY_DIGEST, filters.resource_id.clone())
    } else if !filters.resource_name.is_empty() {
        (schema::BY_IMAGE, filters.resource_name.clone())
    } else if !filters.repository.is_empty() {
        (schema::BY_REPOSITORY, filters.repository.clone())
    } else if !filters.reason.is_empty() {
        (schema::BY_REASON, filters.reason.iter().map(|r| r.code().to_owned()).collect())
    } else {
        (schema::BY_TIME, vec![ALL_PARTITION.to_owned()])
    };
    Plan { index, partitions }
}

/// The sort-key range of one index that can hold a match, and the order to read it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub index: Index,
    pub lo: String,
    pub hi: String,
    pub ascending: bool,
}

/// The window of `plan`'s index for `filters`, by a reader whose clock reads `now`.
pub fn window(
    filters: &Filters,
    plan: &Plan,
    now: OffsetDateTime,
    retention: RetentionDays,
    ascending: bool,
) -> Window {
    let oldest_visible = now - retention.duration();
    let lo = filters.from.map_or(oldest_visible, |f| f.max(oldest_visible));
    // The window is the keys that can hold a match (for a bucketed key, whole buckets); the
    // exact bounds are checked on each record read (`is_visible`, `matches`).
    let key = plan.index.sort_key;
    let hi = filters.until.map_or_else(|| "~".to_owned(), |u| format!("{}#~", time_fmt::format(key.start(u))));
    Window { index: plan.index, lo: time_fmt::format(key.start(lo)), hi, ascending }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scan_failures_domain::classify::Reason;

    #[test]
    fn the_most_selective_filter_picks_the_index() {
        let mut f = Filters::default();
        assert_eq!(plan(&f), Plan { index: schema::BY_TIME, partitions: vec!["ALL".into()] });
        f.reason = vec![Reason::Timeout, Reason::RateLimited];
        assert_eq!(
            plan(&f),
            Plan { index: schema::BY_REASON, partitions: vec!["TIMEOUT".into(), "RATE_LIMITED".into()] }
        );
        f.repository = vec!["quay.io/a/b".into()];
        assert_eq!(plan(&f).index, schema::BY_REPOSITORY);
        f.resource_name = vec!["quay.io/a/b:1".into()];
        assert_eq!(plan(&f).index, schema::BY_IMAGE);
        f.resource_id = vec![format!("sha256:{}", "a".repeat(64))];
        assert_eq!(plan(&f).index, schema::BY_DIGEST);
    }
}
