//! The questions an administrator can ask of the groups: filters, a page of a listing, a summary
//! and a trend; and whether a group answers them. The HTTP side parses them from query
//! parameters (`scan_failures_http::params`); the DynamoDB adapter chooses the index that reads
//! the fewest groups and checks every read group with [`matches`].

use time::OffsetDateTime;

use crate::classify::Reason;
use crate::event::{Operation, Origin};
use crate::fingerprint::{DOMAIN, RESOURCE_TYPE};
use crate::group::triage::TriageState;
use crate::group::GroupRecord;
use crate::time_fmt;
use crate::view::EVENT_TYPE;

/// Page size when `pagination.limit` is absent.
pub const DEFAULT_LIMIT: u32 = 100;

/// What the list and count endpoints filter on. Within one field the values are ORed; the
/// fields are ANDed; an empty field does not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    /// `filter.from`: earliest `lastOccurredAt`, inclusive, in UTC.
    pub from: Option<OffsetDateTime>,
    /// `filter.until`: latest `lastOccurredAt`, inclusive, in UTC.
    pub until: Option<OffsetDateTime>,
    /// `filter.domain`, as given.
    pub domain: Vec<String>,
    /// `filter.resourceType`, as given.
    pub resource_type: Vec<String>,
    /// `filter.type`: the full ACS name (`ADMINISTRATION_EVENT_TYPE_GENERIC`).
    pub event_type: Vec<String>,
    /// `filter.level`: the short form the store uses (`ERROR`).
    pub level: Vec<String>,
    /// `filter.resourceName`: normalized image references.
    pub resource_name: Vec<String>,
    /// `filter.resourceId`: image digests.
    pub resource_id: Vec<String>,
    /// `filter.repository`: `registry/path`, the tag and digest of the input dropped.
    pub repository: Vec<String>,
    /// `filter.reason`.
    pub reason: Vec<Reason>,
    /// `filter.operation`.
    pub operation: Vec<Operation>,
    /// `filter.origin`.
    pub origin: Vec<Origin>,
    /// `filter.cluster`: exact names.
    pub cluster: Vec<String>,
    /// `filter.account`: 12-digit account ids.
    pub account: Vec<String>,
    /// `filter.region`: AWS region names (`eu-west-1`), of the group's latest occurrence.
    pub region: Vec<String>,
    /// `filter.search`: lower-cased terms for a case-insensitive substring match over image,
    /// message and cluster.
    pub search: Vec<String>,
    /// `filter.triage`: triage states; empty means every state but `false_positive`.
    pub triage: Vec<TriageState>,
}

/// Which page of the list to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    /// The opaque `pagination.cursor` from the previous page, not decoded here.
    pub cursor: Option<String>,
    pub offset: u32,
    /// Oldest first instead of the default most recent first.
    pub reversed: bool,
}

impl Default for Page {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, cursor: None, offset: 0, reversed: false }
    }
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListRequest {
    pub filters: Filters,
    pub page: Page,
}

/// A parsed cleanup request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CleanupRequest {
    /// The indexed filters only (image, repository, reason), at least one.
    pub filters: Filters,
    /// The opaque `pagination.cursor` of the previous cleanup's answer, not decoded here: where
    /// its reading stopped.
    pub cursor: Option<String>,
}

/// A parsed summary request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRequest {
    pub filters: Filters,
    /// Images in the top list, `1..=100`.
    pub top: u32,
    /// `summary.detail`: read every matching group for the breakdowns the maintained rollups
    /// do not keep (clusters, top images, the account drill-down), within the api's read bound.
    pub detail: bool,
}

/// A parsed trend request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendRequest {
    /// Never has `from` or `until`: the window is the last `days` UTC days.
    pub filters: Filters,
    /// `1..=90`.
    pub days: u32,
}

impl Filters {
    /// A canonical text of the filters, keyed by their query parameter names with their values
    /// as parsed (each filter's in order, whatever order they were given in): what a page
    /// cursor is bound to. It does not change when the struct's fields
    /// are renamed or reordered, so cursors in circulation stay valid across such a change.
    pub fn canonical(&self) -> String {
        fn strings<T>(values: &[T], text: impl Fn(&T) -> &str) -> serde_json::Value {
            values.iter().map(|v| serde_json::Value::from(text(v))).collect()
        }
        let time = |t: Option<OffsetDateTime>| serde_json::Value::from(t.map(time_fmt::format));
        // A list of pairs, not an object: its order is the one written here whatever features
        // serde_json is built with (`preserve_order` changes how objects are ordered).
        let pairs: [(&str, serde_json::Value); 16] = [
            ("filter.from", time(self.from)),
            ("filter.until", time(self.until)),
            ("filter.domain", strings(&self.domain, String::as_str)),
            ("filter.resourceType", strings(&self.resource_type, String::as_str)),
            ("filter.type", strings(&self.event_type, String::as_str)),
            ("filter.level", strings(&self.level, String::as_str)),
            ("filter.resourceName", strings(&self.resource_name, String::as_str)),
            ("filter.resourceId", strings(&self.resource_id, String::as_str)),
            ("filter.repository", strings(&self.repository, String::as_str)),
            ("filter.reason", strings(&self.reason, |r| r.code())),
            ("filter.operation", strings(&self.operation, |o| o.as_str())),
            ("filter.origin", strings(&self.origin, |o| o.as_str())),
            ("filter.cluster", strings(&self.cluster, String::as_str)),
            ("filter.account", strings(&self.account, String::as_str)),
            ("filter.search", strings(&self.search, String::as_str)),
            ("filter.triage", strings(&self.triage, |t| t.as_str())),
        ];
        let mut pairs = pairs.to_vec();
        // Added after the first cursors were handed out: present only when set, so a cursor of
        // a request without it stays valid.
        if !self.region.is_empty() {
            pairs.push(("filter.region", strings(&self.region, String::as_str)));
        }
        serde_json::to_string(&pairs).unwrap_or_default()
    }
}

/// Whether a group in triage state `state` passes `filter.triage`: without it every state but
/// `false_positive` does.
pub fn triage_selected(f: &Filters, state: TriageState) -> bool {
    if f.triage.is_empty() {
        state != TriageState::FalsePositive
    } else {
        f.triage.contains(&state)
    }
}

/// Whether a group passes every filter (OR within a filter, AND across filters).
pub fn matches(f: &Filters, g: &GroupRecord) -> bool {
    fn any<T>(values: &[T], pred: impl Fn(&T) -> bool) -> bool {
        values.is_empty() || values.iter().any(pred)
    }
    let from_ok = f.from.is_none_or(|t| g.last_occurred_at >= time_fmt::format(t));
    let until_ok = f.until.is_none_or(|t| g.last_occurred_at <= time_fmt::format(t));
    from_ok
        && until_ok
        && any(&f.domain, |d| d == DOMAIN)
        && any(&f.resource_type, |t| t == RESOURCE_TYPE)
        && any(&f.event_type, |t| t == EVENT_TYPE)
        && any(&f.level, |l| *l == g.level)
        && any(&f.resource_name, |n| *n == g.resource_name)
        && any(&f.resource_id, |d| Some(d) == g.resource_id.as_ref())
        && any(&f.repository, |r| *r == g.repository)
        && any(&f.reason, |r| r.code() == g.reason)
        && any(&f.operation, |o| g.op_counts.get(o.key()).is_some_and(|n| *n > 0))
        && any(&f.origin, |o| g.origin_counts.get(o.as_str()).is_some_and(|n| *n > 0))
        && any(&f.cluster, |c| g.clusters.contains_key(c))
        && any(&f.account, |a| *a == g.account)
        && any(&f.region, |r| *r == g.region)
        && searched(&f.search, g)
}

/// Whether a group's name, message or a cluster holds one of `terms` (lower case), each text
/// lowered once whatever the number of terms (up to 20, each read against up to ~9 KB).
fn searched(terms: &[String], g: &GroupRecord) -> bool {
    if terms.is_empty() {
        return true;
    }
    let texts: Vec<String> = [g.resource_name.to_lowercase(), g.message.to_lowercase()]
        .into_iter()
        .chain(g.clusters.keys().map(|c| c.to_lowercase()))
        .collect();
    terms.iter().any(|s| texts.iter().any(|t| t.contains(s.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_canonical_filters_name_each_parameter_and_keep_the_order_of_values() {
        let f = Filters {
            from: Some(datetime!(2026-11-25 10:00 UTC)),
            reason: vec![Reason::Timeout, Reason::RateLimited],
            origin: vec![Origin::Ecr],
            triage: vec![TriageState::FalsePositive],
            ..Filters::default()
        };
        assert_eq!(
            f.canonical(),
            concat!(
                r#"[["filter.from","2026-11-25T10:00:00.000Z"],["filter.until",null],["filter.domain",[]],"#,
                r#"["filter.resourceType",[]],["filter.type",[]],["filter.level",[]],["filter.resourceName",[]],"#,
                r#"["filter.resourceId",[]],["filter.repository",[]],["filter.reason",["TIMEOUT","RATE_LIMITED"]],"#,
                r#"["filter.operation",[]],["filter.origin",["ecr"]],["filter.cluster",[]],["filter.account",[]],"#,
                r#"["filter.search",[]],["filter.triage",["false_positive"]]]"#
            )
        );
        let regional = Filters { region: vec!["eu-west-1".into()], ..f.clone() };
        assert!(regional
            .canonical()
            .ends_with(r#"["filter.triage",["false_positive"]],["filter.region",["eu-west-1"]]]"#));
        let other = Filters { reason: vec![Reason::RateLimited, Reason::Timeout], ..f.clone() };
        assert_ne!(f.canonical(), other.canonical());
        assert_eq!(Filters::default().canonical(), Filters::default().canonical());
    }
}
