//! Query parameters of the list (`GET /v1/administration/events`) and count
//! (`GET /v1/count/administration/events`) endpoints, named as the StackRox/ACS API names them
//! (`filter.level`, `pagination.limit`, ...), so that ACS clients work unchanged; and of the
//! routes this product adds: summary (the count's filters and `summary.top`), trend (the
//! filters but the time window, and `days`) and cleanup (`filter.resourceName`,
//! `filter.repository`, `filter.reason` only).
//!
//! Everything here is outside data: the number of parameters, of repeats and the size of each
//! value are bounded before any value is interpreted, and an error echoes at most
//! [`crate::MAX_ECHO_BYTES`] of the offending value so that a hostile request cannot make a large
//! response. Values are trimmed of surrounding whitespace before they are checked.

use thiserror::Error;
use time::{OffsetDateTime, UtcOffset};

use scan_failures_domain::classify::Reason;
use scan_failures_domain::event::{Operation, Origin};
use scan_failures_domain::group::daily::MAX_TREND_DAYS;
use scan_failures_domain::group::triage::TriageState;
use scan_failures_domain::image::{validate_digest, ImageRef};
use scan_failures_domain::text;
use scan_failures_domain::time_fmt;

pub use scan_failures_domain::query::{
    CleanupRequest, Filters, ListRequest, Page, SummaryRequest, TrendRequest, DEFAULT_LIMIT,
};

use crate::echo;

/// Largest `pagination.limit`.
pub const MAX_LIMIT: u32 = 1000;
/// Largest `pagination.offset`: an offset is paid for by reading and discarding items, so it
/// is bounded; clients that page further use `pagination.cursor`.
pub const MAX_OFFSET: u32 = 10_000;
/// Most query pairs in one request.
pub const MAX_PARAMS: usize = 64;
/// Largest value of any parameter, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Most values of one repeatable filter.
pub const MAX_REPEATS: usize = 20;
/// Images in the summary's top list when `summary.top` is absent, and at most.
pub const DEFAULT_TOP: u32 = 10;
pub const MAX_TOP: u32 = 100;
/// Days of the trend when `days` is absent.
pub const DEFAULT_DAYS: u32 = 7;

/// The only accepted `pagination.sortOption.field`: the store keeps events ordered by it.
pub const SORT_FIELD: &str = "lastOccurredAt";

/// A parameter list: `before`, then every filter but the time window, then `after`. The
/// endpoints' lists differ only at their ends, so the filters are written once.
macro_rules! with_filters {
    ([$($before:literal),*], [$($after:literal),*]) => {
        &[
            $($before,)*
            "filter.domain",
            "filter.resourceType",
            "filter.type",
            "filter.level",
            "filter.resourceName",
            "filter.resourceId",
            "filter.repository",
            "filter.reason",
            "filter.operation",
            "filter.origin",
            "filter.cluster",
            "filter.account",
            "filter.region",
            "filter.search",
            "filter.triage",
            $($after,)*
        ]
    };
}

/// Names accepted by the count endpoint: the filters.
pub const COUNT_PARAMS: &[&str] = with_filters!(["filter.from", "filter.until"], []);

/// Names accepted by the list endpoint: the filters, then the pagination parameters.
pub const LIST_PARAMS: &[&str] = with_filters!(
    ["filter.from", "filter.until"],
    [
        "pagination.limit",
        "pagination.cursor",
        "pagination.offset",
        "pagination.sortOption.field",
        "pagination.sortOption.reversed"
    ]
);

/// Names accepted by the summary endpoint: the filters, then `summary.top` and
/// `summary.detail`.
pub const SUMMARY_PARAMS: &[&str] = with_filters!(["filter.from", "filter.until"], ["summary.top", "summary.detail"]);

/// Names accepted by the trend endpoint: the filters but `filter.from`/`filter.until` (the
/// window is the last `days` UTC days), then `days`.
pub const TREND_PARAMS: &[&str] = with_filters!([], ["days"]);

/// Names accepted by the cleanup endpoint (`DELETE /v1/administration/events`): the indexed
/// filters that name what to delete. At least one is required.
pub const DELETE_PARAMS: &[&str] = &["filter.resourceName", "filter.repository", "filter.reason", "pagination.cursor"];

/// The accepted `filter.type` values (ACS `AdministrationEventType`), kept as given.
const EVENT_TYPES: [&str; 3] =
    ["ADMINISTRATION_EVENT_TYPE_UNKNOWN", "ADMINISTRATION_EVENT_TYPE_GENERIC", "ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE"];
const LEVELS: [&str; 5] = ["UNKNOWN", "INFO", "SUCCESS", "WARNING", "ERROR"];

const RULE_EMPTY: &str = "must not be empty";
const RULE_TOO_LONG: &str = "must be at most 1024 bytes";
const RULE_REPEATS: &str = "at most 20 values";
const RULE_TIMESTAMP: &str = "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z";
const RULE_TIMESTAMP_PLUS: &str =
    "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z (a + in its offset is sent as %2B: a bare + is a space)";
const RULE_FROM_AFTER_UNTIL: &str = "must not be after filter.until";
const RULE_TYPE: &str = concat!(
    "must be ADMINISTRATION_EVENT_TYPE_UNKNOWN, ADMINISTRATION_EVENT_TYPE_GENERIC",
    " or ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE"
);
const RULE_LEVEL: &str = "must be ADMINISTRATION_EVENT_LEVEL_ followed by UNKNOWN, INFO, SUCCESS, WARNING or ERROR";
const RULE_IMAGE: &str = "must be an image reference such as nginx:1.25 or quay.io/org/app";
const RULE_DIGEST: &str = "must be \"sha256:\" followed by 64 lower-case hex characters";
const RULE_REASON: &str = "must be a reason code such as TIMEOUT or IMAGE_NOT_FOUND";
const RULE_OPERATION: &str =
    "must be \"image scan\", \"image check\", \"image sbom\", \"deployment check\" or \"registry scan\"";
const RULE_ORIGIN: &str = "must be \"roxctl\", \"api\", \"ecr\" or \"inspector\"";
const RULE_ACCOUNT: &str = "must be a 12-digit AWS account id";
const RULE_REGION: &str = "must be an AWS region name such as eu-west-1";
const RULE_LIMIT: &str = "must be a whole number from 1 to 1000";
const RULE_OFFSET: &str = "must be a whole number from 0 to 10000";
const RULE_SORT_FIELD: &str = "must be lastOccurredAt";
const RULE_REVERSED: &str = "must be true or false";
const RULE_DETAIL: &str = RULE_REVERSED;
const RULE_TOP: &str = "must be a whole number from 1 to 100";
const RULE_DAYS: &str = "must be a whole number from 1 to 90";

/// Why a cleanup request was refused; the message is meant for the API client (a 400 body).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeleteParamError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(
        "at least one of filter.resourceName, filter.repository or filter.reason is required: \
         an empty filter would delete every group"
    )]
    NoFilter,
}

/// Why a query was refused; the message is meant for the API client (a 400 body).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("unknown query parameter {name:?}; see the API reference for the accepted names")]
    Unknown { name: String },
    #[error("{name}: {rule}, got {value:?}")]
    Invalid { name: String, value: String, rule: String },
    #[error("{name} may be given at most once")]
    Repeated { name: String },
    #[error("too many query parameters (at most {MAX_PARAMS})")]
    TooMany,
    #[error("{name}: its percent-escapes must spell UTF-8 text (é is %C3%A9)")]
    NotUtf8 { name: String },
}

impl ParamError {
    /// The parameter the error is about; `None` when it is about the query as a whole.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Unknown { name } | Self::Invalid { name, .. } | Self::Repeated { name } | Self::NotUtf8 { name } => {
                Some(name)
            }
            Self::TooMany => None,
        }
    }
}

/// Parses decoded query pairs (name, value) in order. Repeating a filter ORs the values
/// (a value equal to one already given is kept once); different filters AND.
pub fn parse_list(pairs: &[(String, String)]) -> Result<ListRequest, ParamError> {
    parse(pairs, LIST_PARAMS).map(|p| p.request)
}

/// The count endpoint takes the filters only: any `pagination.*` parameter is `Unknown` there.
pub fn parse_count(pairs: &[(String, String)]) -> Result<Filters, ParamError> {
    parse(pairs, COUNT_PARAMS).map(|p| p.request.filters)
}

/// The summary endpoint takes the filters and `summary.top` (default [`DEFAULT_TOP`]).
pub fn parse_summary(pairs: &[(String, String)]) -> Result<SummaryRequest, ParamError> {
    parse(pairs, SUMMARY_PARAMS).map(|p| SummaryRequest {
        filters: p.request.filters,
        top: p.top.unwrap_or(DEFAULT_TOP),
        detail: p.detail.unwrap_or(false),
    })
}

/// The trend endpoint takes the filters but the time window, and `days` (default
/// [`DEFAULT_DAYS`]).
pub fn parse_trend(pairs: &[(String, String)]) -> Result<TrendRequest, ParamError> {
    parse(pairs, TREND_PARAMS)
        .map(|p| TrendRequest { filters: p.request.filters, days: p.days.unwrap_or(DEFAULT_DAYS) })
}

/// The cleanup endpoint takes [`DELETE_PARAMS`], at least one of its filters.
pub fn parse_delete(pairs: &[(String, String)]) -> Result<CleanupRequest, DeleteParamError> {
    let request = parse(pairs, DELETE_PARAMS)?.request;
    let f = request.filters;
    if f.resource_name.is_empty() && f.repository.is_empty() && f.reason.is_empty() {
        return Err(DeleteParamError::NoFilter);
    }
    Ok(CleanupRequest { filters: f, cursor: request.page.cursor })
}

/// `true` or `false`.
fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// What [`parse`] found: the list request and the other routes' scalars.
#[derive(Debug, Default)]
struct Parsed {
    request: ListRequest,
    top: Option<u32>,
    detail: Option<bool>,
    days: Option<u32>,
}

/// One accepted parameter. The discriminant indexes the per-parameter repeat counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    From,
    Until,
    Domain,
    ResourceType,
    EventType,
    Level,
    ResourceName,
    ResourceId,
    Repository,
    Reason,
    Operation,
    Origin,
    Cluster,
    Account,
    Region,
    Search,
    Triage,
    Limit,
    Cursor,
    Offset,
    SortField,
    Reversed,
    Top,
    Detail,
    Days,
}

const PARAM_COUNT: usize = 25;

impl Param {
    fn lookup(name: &str) -> Option<Self> {
        Some(match name {
            "filter.from" => Self::From,
            "filter.until" => Self::Until,
            "filter.domain" => Self::Domain,
            "filter.resourceType" => Self::ResourceType,
            "filter.type" => Self::EventType,
            "filter.level" => Self::Level,
            "filter.resourceName" => Self::ResourceName,
            "filter.resourceId" => Self::ResourceId,
            "filter.repository" => Self::Repository,
            "filter.reason" => Self::Reason,
            "filter.operation" => Self::Operation,
            "filter.origin" => Self::Origin,
            "filter.cluster" => Self::Cluster,
            "filter.account" => Self::Account,
            "filter.region" => Self::Region,
            "filter.search" => Self::Search,
            "filter.triage" => Self::Triage,
            "pagination.limit" => Self::Limit,
            "pagination.cursor" => Self::Cursor,
            "pagination.offset" => Self::Offset,
            "pagination.sortOption.field" => Self::SortField,
            "pagination.sortOption.reversed" => Self::Reversed,
            "summary.top" => Self::Top,
            "summary.detail" => Self::Detail,
            "days" => Self::Days,
            _ => return None,
        })
    }

    /// A scalar may be given once; the other parameters are repeatable filters.
    fn is_scalar(self) -> bool {
        matches!(
            self,
            Self::Limit
                | Self::Cursor
                | Self::Offset
                | Self::SortField
                | Self::Reversed
                | Self::From
                | Self::Until
                | Self::Top
                | Self::Detail
                | Self::Days
        )
    }
}

/// Parses `pairs` accepting only the names in `accepted` (one of the published lists).
fn parse(pairs: &[(String, String)], accepted: &[&str]) -> Result<Parsed, ParamError> {
    if pairs.len() > MAX_PARAMS {
        return Err(ParamError::TooMany);
    }
    let mut parsed = Parsed::default();
    let mut seen = [0usize; PARAM_COUNT];
    // The raw `filter.from` value, echoed if it turns out to be after `filter.until`.
    let mut from_raw = "";
    for (name, raw) in pairs {
        let param = Param::lookup(name)
            .filter(|_| accepted.contains(&name.as_str()))
            .ok_or_else(|| ParamError::Unknown { name: echo(name) })?;
        let count = &mut seen[param as usize];
        *count += 1;
        if param.is_scalar() && *count > 1 {
            return Err(ParamError::Repeated { name: name.clone() });
        }
        if *count > MAX_REPEATS {
            return Err(invalid(name, raw, RULE_REPEATS));
        }
        if raw.len() > MAX_VALUE_BYTES {
            return Err(invalid(name, raw, RULE_TOO_LONG));
        }
        let value = raw.trim();
        if value.is_empty() {
            return Err(invalid(name, raw, RULE_EMPTY));
        }
        if param == Param::From {
            from_raw = raw;
        }
        apply(&mut parsed, param, value).map_err(|rule| invalid(name, raw, rule))?;
    }
    let f = &mut parsed.request.filters;
    if let (Some(from), Some(until)) = (f.from, f.until) {
        if from > until {
            return Err(invalid("filter.from", from_raw, RULE_FROM_AFTER_UNTIL));
        }
    }
    // Last occurrences are stored to the millisecond, and every comparison cuts a time to it:
    // "at or after" a time within a millisecond is at or after the next whole one (cut, a
    // `filter.from` of 10:00:00.0005 took in a group last seen at 10:00:00.000).
    f.from = f.from.map(next_whole_millisecond);
    Ok(parsed)
}

/// `t`, or the next whole millisecond when `t` is within one.
fn next_whole_millisecond(t: OffsetDateTime) -> OffsetDateTime {
    let within = t.nanosecond() % 1_000_000;
    if within == 0 {
        return t;
    }
    t.checked_add(time::Duration::nanoseconds(i64::from(1_000_000 - within))).unwrap_or(t)
}

/// Interprets one non-empty, trimmed value; the error is the rule it broke.
fn apply(parsed: &mut Parsed, param: Param, v: &str) -> Result<(), &'static str> {
    let f = &mut parsed.request.filters;
    let page = &mut parsed.request.page;
    match param {
        Param::From => f.from = Some(timestamp(v)?),
        Param::Until => f.until = Some(timestamp(v)?),
        Param::Domain => add(&mut f.domain, v.to_owned()),
        Param::ResourceType => add(&mut f.resource_type, v.to_owned()),
        Param::EventType => {
            let t = EVENT_TYPES.into_iter().find(|t| *t == v).ok_or(RULE_TYPE)?;
            add(&mut f.event_type, t.to_owned());
        }
        Param::Level => {
            let short = v
                .strip_prefix(scan_failures_domain::classify::ACS_LEVEL_PREFIX)
                .filter(|s| LEVELS.contains(s))
                .ok_or(RULE_LEVEL)?;
            add(&mut f.level, short.to_owned());
        }
        Param::ResourceName => {
            let image = ImageRef::parse(v).map_err(|_| RULE_IMAGE)?;
            add(&mut f.resource_name, image.normalized());
        }
        Param::ResourceId => {
            validate_digest(v).map_err(|_| RULE_DIGEST)?;
            add(&mut f.resource_id, v.to_owned());
        }
        Param::Repository => {
            let image = ImageRef::parse(v).map_err(|_| RULE_IMAGE)?;
            add(&mut f.repository, image.repository());
        }
        Param::Reason => add(&mut f.reason, Reason::from_code(v).ok_or(RULE_REASON)?),
        Param::Operation => add(&mut f.operation, Operation::parse(v).ok_or(RULE_OPERATION)?),
        Param::Origin => add(&mut f.origin, Origin::parse(v).ok_or(RULE_ORIGIN)?),
        Param::Cluster => add(&mut f.cluster, v.to_owned()),
        Param::Account => {
            if !text::is_account_id(v) {
                return Err(RULE_ACCOUNT);
            }
            add(&mut f.account, v.to_owned());
        }
        Param::Region => {
            if !text::is_region(v) {
                return Err(RULE_REGION);
            }
            add(&mut f.region, v.to_owned());
        }
        Param::Search => add(&mut f.search, v.to_lowercase()),
        Param::Triage => add(&mut f.triage, TriageState::parse(v).ok_or(TriageState::RULE)?),
        Param::Top => parsed.top = Some(whole(v).filter(|n| (1..=MAX_TOP).contains(n)).ok_or(RULE_TOP)?),
        Param::Detail => parsed.detail = Some(boolean(v).ok_or(RULE_DETAIL)?),
        Param::Days => parsed.days = Some(whole(v).filter(|n| (1..=MAX_TREND_DAYS).contains(n)).ok_or(RULE_DAYS)?),
        Param::Limit => {
            page.limit = whole(v).filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or(RULE_LIMIT)?;
        }
        Param::Cursor => page.cursor = Some(v.to_owned()),
        Param::Offset => {
            page.offset = whole(v).filter(|n| *n <= MAX_OFFSET).ok_or(RULE_OFFSET)?;
        }
        Param::SortField => {
            if v != SORT_FIELD {
                return Err(RULE_SORT_FIELD);
            }
        }
        Param::Reversed => page.reversed = boolean(v).ok_or(RULE_REVERSED)?,
    }
    Ok(())
}

/// Adds a filter value unless it is already there, so that spellings normalizing to one value
/// (`nginx`, `docker.io/library/nginx`) do not widen the query.
/// Adds `value` to a filter's values, kept once and in order: a filter's values are a set, so
/// a request that repeats them in another order is the same request (its cursors continue it).
fn add<T: Ord>(values: &mut Vec<T>, value: T) {
    if let Err(at) = values.binary_search(&value) {
        values.insert(at, value);
    }
}

/// A `+` of an offset sent bare is a space once decoded: the rule then says so.
fn timestamp(v: &str) -> Result<OffsetDateTime, &'static str> {
    let bare_plus = v.rsplit_once(' ').is_some_and(|(time, offset)| {
        time.contains('T') && offset.len() == 5 && offset.as_bytes().get(2) == Some(&b':')
    });
    let refused = if bare_plus { RULE_TIMESTAMP_PLUS } else { RULE_TIMESTAMP };
    time_fmt::parse(v).map(|t| t.to_offset(UtcOffset::UTC)).ok_or(refused)
}

/// Digits only: `u32::from_str` alone would also take a leading `+`.
fn whole(v: &str) -> Option<u32> {
    v.bytes().all(|b| b.is_ascii_digit()).then(|| v.parse().ok()).flatten()
}

fn invalid(name: &str, value: &str, rule: &str) -> ParamError {
    ParamError::Invalid { name: name.to_owned(), value: echo(value), rule: rule.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn list(pairs: &[(&str, &str)]) -> Result<ListRequest, ParamError> {
        parse_list(&q(pairs))
    }

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        match list(pairs) {
            Ok(r) => r.filters,
            Err(e) => panic!("{pairs:?} refused: {e}"),
        }
    }

    fn page(pairs: &[(&str, &str)]) -> Page {
        match list(pairs) {
            Ok(r) => r.page,
            Err(e) => panic!("{pairs:?} refused: {e}"),
        }
    }

    fn bad(name: &str, value: &str, rule: &str) -> ParamError {
        ParamError::Invalid { name: name.into(), value: value.into(), rule: rule.into() }
    }

    /// Each bad value of `name` is refused with `rule`, echoing the value.
    fn assert_refused(name: &str, values: &[&str], rule: &str) {
        for v in values {
            assert_eq!(list(&[(name, v)]), Err(bad(name, v, rule)), "{name}={v:?}");
        }
    }

    #[test]
    fn no_parameters_give_the_default_page_and_no_filters() {
        let r = list(&[]).unwrap();
        assert_eq!(r, ListRequest::default());
        assert_eq!(r.page, Page { limit: 100, cursor: None, offset: 0, reversed: false });
        assert_eq!(parse_count(&[]), Ok(Filters::default()));
    }

    #[test]
    fn from_and_until_are_rfc3339_in_utc_given_once() {
        let f = filters(&[("filter.from", "2026-11-25T12:00:00+02:00"), ("filter.until", "2026-11-26T10:00:00.5Z")]);
        assert_eq!(f.from, Some(datetime!(2026-11-25 10:00:00 UTC)));
        assert_eq!(f.from.map(|t| t.offset()), Some(UtcOffset::UTC));
        assert_eq!(f.until, Some(datetime!(2026-11-26 10:00:00.5 UTC)));
        // Within a millisecond, `from` is the next whole one (stored times are whole ones);
        // `until` stays, as "at or before" cuts it exactly.
        let f = filters(&[("filter.from", "2026-11-25T10:00:00.0005Z"), ("filter.until", "2026-11-25T10:00:00.0007Z")]);
        assert_eq!(
            (f.from, f.until),
            (Some(datetime!(2026-11-25 10:00:00.001 UTC)), Some(datetime!(2026-11-25 10:00:00.0007 UTC)))
        );
        let f = filters(&[("filter.from", "2026-11-25T10:00:00.999999999Z")]);
        assert_eq!(f.from, Some(datetime!(2026-11-25 10:00:01 UTC)));
        let rule = "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z";
        for name in ["filter.from", "filter.until"] {
            assert_refused(name, &["yesterday", "2026-11-25", "1764064800", "2026-11-25 10:00:00"], rule);
            // `+02:00` sent bare: decoded, its `+` is a space, and the rule says to encode it.
            assert_refused(name, &["2026-11-25T12:00:00 02:00", "2026-11-25T12:00:00.5 05:30"], RULE_TIMESTAMP_PLUS);
            assert_eq!(
                list(&[(name, "2026-11-25T10:00:00Z"), (name, "2026-11-26T10:00:00Z")]),
                Err(ParamError::Repeated { name: name.into() })
            );
        }
    }

    #[test]
    fn from_after_until_is_refused_on_from_but_equal_bounds_are_accepted() {
        assert_eq!(
            list(&[("filter.from", "2026-11-26T00:00:00Z"), ("filter.until", "2026-11-25T00:00:00Z")]),
            Err(bad("filter.from", "2026-11-26T00:00:00Z", "must not be after filter.until"))
        );
        let f = filters(&[("filter.until", "2026-11-25T00:00:00Z"), ("filter.from", "2026-11-25T00:00:00Z")]);
        assert_eq!(f.from, f.until);
    }

    #[test]
    fn limit_is_a_whole_number_from_1_to_1000_given_once() {
        for (v, expected) in [("1", 1), ("1000", 1000), ("50", 50), (" 50 ", 50), ("007", 7)] {
            assert_eq!(page(&[("pagination.limit", v)]).limit, expected, "{v:?}");
        }
        assert_refused(
            "pagination.limit",
            &["0", "1001", "abc", "+5", "-1", "1.5", "4294967296"],
            "must be a whole number from 1 to 1000",
        );
        assert_eq!(
            list(&[("pagination.limit", "5"), ("pagination.limit", "6")]),
            Err(ParamError::Repeated { name: "pagination.limit".into() })
        );
    }

    #[test]
    fn offset_is_a_whole_number_from_0_to_10000_given_once() {
        for (v, expected) in [("0", 0), ("10000", 10_000), ("250", 250)] {
            assert_eq!(page(&[("pagination.offset", v)]).offset, expected, "{v:?}");
        }
        assert_refused("pagination.offset", &["10001", "-1", "ten", "+1"], "must be a whole number from 0 to 10000");
        assert_eq!(
            list(&[("pagination.offset", "0"), ("pagination.offset", "0")]),
            Err(ParamError::Repeated { name: "pagination.offset".into() })
        );
    }

    #[test]
    fn sort_field_accepts_only_last_occurred_at() {
        assert_eq!(page(&[("pagination.sortOption.field", "lastOccurredAt")]), Page::default());
        assert_refused(
            "pagination.sortOption.field",
            &["createdAt", "lastoccurredat", "last_occurred_at", "numOccurrences"],
            "must be lastOccurredAt",
        );
        assert_eq!(
            list(&[
                ("pagination.sortOption.field", "lastOccurredAt"),
                ("pagination.sortOption.field", "lastOccurredAt")
            ]),
            Err(ParamError::Repeated { name: "pagination.sortOption.field".into() })
        );
    }

    #[test]
    fn reversed_is_true_or_false_given_once() {
        assert!(page(&[("pagination.sortOption.reversed", "true")]).reversed);
        assert!(!page(&[("pagination.sortOption.reversed", "false")]).reversed);
        assert_refused("pagination.sortOption.reversed", &["TRUE", "1", "yes", "no"], "must be true or false");
        assert_eq!(
            list(&[("pagination.sortOption.reversed", "true"), ("pagination.sortOption.reversed", "false")]),
            Err(ParamError::Repeated { name: "pagination.sortOption.reversed".into() })
        );
    }

    #[test]
    fn cursor_is_kept_opaque_up_to_1024_bytes_given_once() {
        assert_eq!(page(&[("pagination.cursor", "eyJrIjoxfQ==")]).cursor.as_deref(), Some("eyJrIjoxfQ=="));
        let longest = "c".repeat(1024);
        assert_eq!(page(&[("pagination.cursor", &longest)]).cursor, Some(longest));
        let too_long = "c".repeat(1025);
        assert_eq!(
            list(&[("pagination.cursor", &too_long)]),
            Err(bad("pagination.cursor", &"c".repeat(64), "must be at most 1024 bytes"))
        );
        assert_eq!(list(&[("pagination.cursor", "")]), Err(bad("pagination.cursor", "", "must not be empty")));
        assert_eq!(
            list(&[("pagination.cursor", "a"), ("pagination.cursor", "b")]),
            Err(ParamError::Repeated { name: "pagination.cursor".into() })
        );
    }

    #[test]
    fn level_takes_the_acs_names_and_keeps_the_short_form() {
        let f = filters(&[
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_ERROR"),
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_WARNING"),
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_INFO"),
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_SUCCESS"),
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_UNKNOWN"),
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_ERROR"),
        ]);
        assert_eq!(f.level, ["ERROR", "INFO", "SUCCESS", "UNKNOWN", "WARNING"]);
        assert_refused(
            "filter.level",
            &["ERROR", "administration_event_level_error", "ADMINISTRATION_EVENT_LEVEL_FATAL", "4"],
            "must be ADMINISTRATION_EVENT_LEVEL_ followed by UNKNOWN, INFO, SUCCESS, WARNING or ERROR",
        );
    }

    #[test]
    fn type_takes_the_acs_names_as_given() {
        let f = filters(&[
            ("filter.type", "ADMINISTRATION_EVENT_TYPE_GENERIC"),
            ("filter.type", "ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE"),
            ("filter.type", "ADMINISTRATION_EVENT_TYPE_UNKNOWN"),
        ]);
        assert_eq!(
            f.event_type,
            [
                "ADMINISTRATION_EVENT_TYPE_GENERIC",
                "ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE",
                "ADMINISTRATION_EVENT_TYPE_UNKNOWN"
            ]
        );
        assert_refused(
            "filter.type",
            &["GENERIC", "ADMINISTRATION_EVENT_TYPE_ERROR"],
            "must be ADMINISTRATION_EVENT_TYPE_UNKNOWN, ADMINISTRATION_EVENT_TYPE_GENERIC or ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE",
        );
    }

    #[test]
    fn resource_name_is_normalized_and_spellings_of_one_image_count_once() {
        let f = filters(&[
            ("filter.resourceName", "nginx"),
            ("filter.resourceName", "docker.io/library/nginx:latest"),
            ("filter.resourceName", "Quay.io/org/app:v1"),
            ("filter.resourceName", &format!("quay.io/org/app@{D}")),
        ]);
        assert_eq!(
            f.resource_name,
            [
                "docker.io/library/nginx:latest".to_owned(),
                "quay.io/org/app:v1".to_owned(),
                format!("quay.io/org/app@{D}")
            ]
        );
        assert_refused(
            "filter.resourceName",
            &["quay.io/Org/app", "nginx:-bad", "ngi nx", "nginx@sha256:abc"],
            "must be an image reference such as nginx:1.25 or quay.io/org/app",
        );
    }

    #[test]
    fn repository_drops_tag_and_digest() {
        let f = filters(&[
            ("filter.repository", "quay.io/org/app:v1"),
            ("filter.repository", "quay.io/org/app:v2"),
            ("filter.repository", &format!("nginx:1.25@{D}")),
        ]);
        assert_eq!(f.repository, ["docker.io/library/nginx", "quay.io/org/app"]);
        assert_refused(
            "filter.repository",
            &["quay.io//app"],
            "must be an image reference such as nginx:1.25 or quay.io/org/app",
        );
    }

    #[test]
    fn resource_id_is_a_sha256_digest() {
        assert_eq!(filters(&[("filter.resourceId", D)]).resource_id, [D]);
        assert_refused(
            "filter.resourceId",
            &["sha256:abc", "md5:0123", &D[7..]],
            "must be \"sha256:\" followed by 64 lower-case hex characters",
        );
        // A 71-byte value comes back cut to its first 64 bytes.
        let upper = D.to_uppercase();
        assert_eq!(
            list(&[("filter.resourceId", &upper)]),
            Err(bad(
                "filter.resourceId",
                "SHA256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF012345678",
                "must be \"sha256:\" followed by 64 lower-case hex characters"
            ))
        );
    }

    #[test]
    fn reason_takes_reason_codes() {
        let f = filters(&[("filter.reason", "TIMEOUT"), ("filter.reason", "IMAGE_NOT_FOUND")]);
        assert_eq!(f.reason, [Reason::ImageNotFound, Reason::Timeout]);
        assert_refused(
            "filter.reason",
            &["timeout", "Timeout", "NOT_A_REASON"],
            "must be a reason code such as TIMEOUT or IMAGE_NOT_FOUND",
        );
    }

    #[test]
    fn operation_and_origin_take_the_contract_spellings() {
        let f = filters(&[
            ("filter.operation", "image scan"),
            ("filter.operation", "deployment check"),
            ("filter.origin", "api"),
            ("filter.origin", "roxctl"),
        ]);
        assert_eq!(f.operation, [Operation::ImageScan, Operation::DeploymentCheck]);
        assert_eq!(f.origin, [Origin::Roxctl, Origin::Api]);
        assert_refused(
            "filter.operation",
            &["image_scan", "IMAGE SCAN", "scan"],
            "must be \"image scan\", \"image check\", \"image sbom\", \"deployment check\" or \"registry scan\"",
        );
        assert_refused("filter.origin", &["cli", "API"], "must be \"roxctl\", \"api\", \"ecr\" or \"inspector\"");
    }

    #[test]
    fn region_is_an_aws_region_name() {
        let f = filters(&[("filter.region", "eu-west-1"), ("filter.region", "us-gov-west-1")]);
        assert_eq!(f.region, ["eu-west-1", "us-gov-west-1"]);
        assert_refused(
            "filter.region",
            &["EU-WEST-1", "eu-west", "global"],
            "must be an AWS region name such as eu-west-1",
        );
    }

    #[test]
    fn account_is_12_digits() {
        let f = filters(&[("filter.account", "123456789012"), ("filter.account", "111122223333")]);
        assert_eq!(f.account, ["111122223333", "123456789012"], "in order, however given");
        assert_refused(
            "filter.account",
            &["12345678901", "1234567890123", "12345678901a", "+23456789012"],
            "must be a 12-digit AWS account id",
        );
    }

    #[test]
    fn search_is_lower_cased_and_must_not_be_blank() {
        let f = filters(&[("filter.search", "Deadline EXCEEDED"), ("filter.search", " ÉCHEC ")]);
        assert_eq!(f.search, ["deadline exceeded", "échec"]);
        assert_refused("filter.search", &["", "   "], "must not be empty");
    }

    #[test]
    fn free_text_filters_are_kept_trimmed_as_given() {
        let f = filters(&[
            ("filter.domain", "Image Scanning"),
            ("filter.resourceType", "Image"),
            ("filter.cluster", " prod-eu "),
            ("filter.cluster", "Prod-EU"),
        ]);
        assert_eq!(f.domain, ["Image Scanning"]);
        assert_eq!(f.resource_type, ["Image"]);
        assert_eq!(f.cluster, ["Prod-EU", "prod-eu"]);
        for name in ["filter.domain", "filter.resourceType", "filter.cluster"] {
            assert_refused(name, &["", " "], "must not be empty");
        }
    }

    #[test]
    fn different_filters_are_kept_apart_and_pagination_alongside() {
        let r = list(&[
            ("filter.cluster", "prod"),
            ("pagination.limit", "10"),
            ("filter.level", "ADMINISTRATION_EVENT_LEVEL_ERROR"),
            ("pagination.cursor", "abc"),
            ("filter.cluster", "dev"),
            ("pagination.sortOption.reversed", "true"),
            ("pagination.offset", "3"),
        ])
        .unwrap();
        assert_eq!(r.filters.cluster, ["dev", "prod"]);
        assert_eq!(r.filters.level, ["ERROR"]);
        assert_eq!(r.page, Page { limit: 10, cursor: Some("abc".into()), offset: 3, reversed: true });
    }

    #[test]
    fn a_filter_takes_at_most_20_values() {
        let values: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
        let pairs: Vec<(String, String)> = values.iter().map(|v| ("filter.cluster".to_owned(), v.clone())).collect();
        assert_eq!(parse_list(&pairs[..20]).map(|r| r.filters.cluster.len()), Ok(20));
        assert_eq!(parse_list(&pairs), Err(bad("filter.cluster", "c20", "at most 20 values")));
        // Repeats are counted as given, even when they repeat one value.
        let same = vec![("filter.cluster".to_owned(), "prod".to_owned()); 21];
        assert_eq!(parse_list(&same), Err(bad("filter.cluster", "prod", "at most 20 values")));
    }

    #[test]
    fn at_most_64_parameters_are_accepted() {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for name in ["filter.cluster", "filter.domain", "filter.resourceType"] {
            pairs.extend((0..20).map(|i| (name.to_owned(), format!("v{i}"))));
        }
        pairs.extend((0..4).map(|i| ("filter.account".to_owned(), format!("11112222333{i}"))));
        assert_eq!(pairs.len(), 64);
        assert!(parse_list(&pairs).is_ok());
        pairs.push(("filter.search".to_owned(), "x".to_owned()));
        assert_eq!(parse_list(&pairs), Err(ParamError::TooMany));
        assert_eq!(parse_count(&pairs), Err(ParamError::TooMany));
    }

    #[test]
    fn a_value_over_1024_bytes_is_refused_and_echoed_cut_to_64_bytes() {
        let long = "x".repeat(1025);
        assert_eq!(
            list(&[("filter.search", &long)]),
            Err(bad("filter.search", &"x".repeat(64), "must be at most 1024 bytes"))
        );
        assert_eq!(filters(&[("filter.search", &"x".repeat(1024))]).search[0].len(), 1024);
    }

    #[test]
    fn an_echoed_value_is_cut_on_a_character_boundary() {
        // 'é' is two bytes: after the leading 'a' the 64th byte falls inside one.
        let value = format!("a{}", "é".repeat(40));
        let Err(ParamError::Invalid { value: echoed, .. }) = list(&[("filter.account", &value)]) else {
            panic!("not refused as invalid");
        };
        assert_eq!(echoed, format!("a{}", "é".repeat(31)));
        assert_eq!(echoed.len(), 63);
    }

    #[test]
    fn unknown_names_are_refused_naming_them() {
        for name in [
            "filter.foo",
            "limit",
            "Filter.level",
            "filter.LEVEL",
            "pagination.sortOption",
            "pagination.sortOption.field ",
            "",
        ] {
            assert_eq!(list(&[(name, "x")]), Err(ParamError::Unknown { name: name.into() }), "{name:?}");
        }
        let long = format!("filter.{}", "z".repeat(200));
        assert_eq!(list(&[(&long, "x")]), Err(ParamError::Unknown { name: long[..64].to_owned() }));
    }

    #[test]
    fn the_count_parser_takes_filters_and_refuses_pagination() {
        assert_eq!(
            parse_count(&q(&[
                ("filter.resourceName", "nginx"),
                ("filter.level", "ADMINISTRATION_EVENT_LEVEL_WARNING")
            ])),
            Ok(Filters {
                resource_name: vec!["docker.io/library/nginx:latest".into()],
                level: vec!["WARNING".into()],
                ..Filters::default()
            })
        );
        for name in [
            "pagination.limit",
            "pagination.cursor",
            "pagination.offset",
            "pagination.sortOption.field",
            "pagination.sortOption.reversed",
        ] {
            assert_eq!(parse_count(&q(&[(name, "1")])), Err(ParamError::Unknown { name: name.into() }), "{name}");
        }
    }

    #[test]
    fn the_published_name_lists_are_exactly_what_the_parsers_accept() {
        let valid = |name: &str| -> &'static str {
            match name {
                "filter.from" | "filter.until" => "2026-11-25T10:00:00Z",
                "filter.type" => "ADMINISTRATION_EVENT_TYPE_GENERIC",
                "filter.level" => "ADMINISTRATION_EVENT_LEVEL_ERROR",
                "filter.resourceName" | "filter.repository" => "nginx",
                "filter.resourceId" => D,
                "filter.reason" => "TIMEOUT",
                "filter.operation" => "image scan",
                "filter.origin" => "api",
                "filter.account" => "123456789012",
                "filter.region" => "eu-west-1",
                "pagination.limit" | "pagination.offset" => "1",
                "pagination.sortOption.field" => "lastOccurredAt",
                "pagination.sortOption.reversed" | "summary.detail" => "true",
                "filter.triage" => "resolved",
                "summary.top" | "days" => "5",
                _ => "text",
            }
        };
        // Every parameter is published on some route, once per list.
        let mut all: Vec<&str> = [LIST_PARAMS, SUMMARY_PARAMS, TREND_PARAMS, DELETE_PARAMS].concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), PARAM_COUNT);
        for published in [LIST_PARAMS, COUNT_PARAMS, SUMMARY_PARAMS, TREND_PARAMS, DELETE_PARAMS] {
            let mut distinct = published.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), published.len());
        }
        assert_eq!(&LIST_PARAMS[..COUNT_PARAMS.len()], COUNT_PARAMS);
        assert_eq!(&SUMMARY_PARAMS[..COUNT_PARAMS.len()], COUNT_PARAMS);
        assert_eq!(SUMMARY_PARAMS[COUNT_PARAMS.len()..], ["summary.top", "summary.detail"]);
        assert_eq!(&TREND_PARAMS[..TREND_PARAMS.len() - 1], &COUNT_PARAMS[2..]);
        assert_eq!(DELETE_PARAMS.last(), Some(&"pagination.cursor"));
        assert!(DELETE_PARAMS[..DELETE_PARAMS.len() - 1].iter().all(|n| COUNT_PARAMS.contains(n)));
        assert_eq!(
            &LIST_PARAMS[COUNT_PARAMS.len()..],
            [
                "pagination.limit",
                "pagination.cursor",
                "pagination.offset",
                "pagination.sortOption.field",
                "pagination.sortOption.reversed"
            ]
        );
        for name in LIST_PARAMS {
            assert!(list(&[(name, valid(name))]).is_ok(), "{name}");
        }
        for name in COUNT_PARAMS {
            assert!(name.starts_with("filter."), "{name}");
            assert!(parse_count(&q(&[(name, valid(name))])).is_ok(), "{name}");
        }
        for name in SUMMARY_PARAMS {
            assert!(parse_summary(&q(&[(name, valid(name))])).is_ok(), "{name}");
        }
        for name in TREND_PARAMS {
            assert!(parse_trend(&q(&[(name, valid(name))])).is_ok(), "{name}");
        }
        for name in &DELETE_PARAMS[..3] {
            assert!(parse_delete(&q(&[(name, valid(name))])).is_ok(), "{name}");
        }
        assert!(parse_delete(&q(&[("filter.reason", "TIMEOUT"), ("pagination.cursor", "c")])).is_ok());
        // And nothing else: each route refuses the names published only for the others.
        for (accepted, parser) in [
            (LIST_PARAMS, (|p| parse_list(p).map(drop)) as fn(&[(String, String)]) -> Result<(), ParamError>),
            (COUNT_PARAMS, |p| parse_count(p).map(drop)),
            (SUMMARY_PARAMS, |p| parse_summary(p).map(drop)),
            (TREND_PARAMS, |p| parse_trend(p).map(drop)),
        ] {
            for name in all.iter().filter(|n| !accepted.contains(n)) {
                assert_eq!(
                    parser(&q(&[(name, valid(name))])),
                    Err(ParamError::Unknown { name: (*name).to_owned() }),
                    "{name}"
                );
            }
        }
        for name in all.iter().filter(|n| !DELETE_PARAMS.contains(n)) {
            assert_eq!(
                parse_delete(&q(&[("filter.reason", "TIMEOUT"), (name, valid(name))])),
                Err(DeleteParamError::Param(ParamError::Unknown { name: (*name).to_owned() })),
                "{name}"
            );
        }
    }

    /// A filter's values are a set: given in another order they parse the same, so a cursor
    /// (bound to the parsed filters) continues the request however its values were ordered.
    /// Before, `filter.reason=A&filter.reason=B` and `…=B&…=A` were two requests, and the cursor
    /// of one was refused (400) on the other.
    #[test]
    fn a_filters_values_in_another_order_are_the_same_request() {
        let ab =
            filters(&[("filter.reason", "TIMEOUT"), ("filter.reason", "IMAGE_NOT_FOUND"), ("filter.cluster", "b")]);
        let ba =
            filters(&[("filter.cluster", "b"), ("filter.reason", "IMAGE_NOT_FOUND"), ("filter.reason", "TIMEOUT")]);
        assert_eq!(ab, ba);
        assert_eq!(ab.canonical(), ba.canonical());
    }

    #[test]
    fn triage_takes_the_four_states_and_defaults_to_none() {
        let f = filters(&[
            ("filter.triage", "false_positive"),
            ("filter.triage", "open"),
            ("filter.triage", " resolved "),
            ("filter.triage", "acknowledged"),
            ("filter.triage", "open"),
        ]);
        assert_eq!(
            f.triage,
            [TriageState::Open, TriageState::Acknowledged, TriageState::FalsePositive, TriageState::Resolved]
        );
        assert_eq!(filters(&[]).triage, []);
        assert_eq!(
            parse_count(&q(&[("filter.triage", "resolved")])).map(|f| f.triage),
            Ok(vec![TriageState::Resolved])
        );
        assert_refused(
            "filter.triage",
            &["OPEN", "false-positive", "closed", "fp"],
            "must be open, acknowledged, false_positive or resolved",
        );
    }

    #[test]
    fn summary_top_is_a_whole_number_from_1_to_100_given_once_default_10() {
        let top = |v: &str| parse_summary(&q(&[("summary.top", v)])).map(|r| r.top);
        assert_eq!(parse_summary(&[]).map(|r| r.top), Ok(10));
        for (v, expected) in [("1", 1), ("100", 100), (" 25 ", 25), ("010", 10)] {
            assert_eq!(top(v), Ok(expected), "{v:?}");
        }
        for v in ["0", "101", "-1", "+5", "1.5", "ten", "4294967296"] {
            assert_eq!(top(v), Err(bad("summary.top", v, "must be a whole number from 1 to 100")), "{v:?}");
        }
        assert_eq!(
            parse_summary(&q(&[("summary.top", "5"), ("summary.top", "6")])),
            Err(ParamError::Repeated { name: "summary.top".into() })
        );
        let r = parse_summary(&q(&[("filter.reason", "TIMEOUT"), ("filter.from", "2026-11-25T10:00:00Z")])).unwrap();
        assert_eq!((r.filters.reason, r.filters.from.is_some(), r.top), (vec![Reason::Timeout], true, 10));
    }

    #[test]
    fn trend_days_is_a_whole_number_from_1_to_90_default_7_and_the_window_is_not_a_filter() {
        let days = |v: &str| parse_trend(&q(&[("days", v)])).map(|r| r.days);
        assert_eq!(parse_trend(&[]).map(|r| r.days), Ok(7));
        for (v, expected) in [("1", 1), ("90", 90), ("30", 30)] {
            assert_eq!(days(v), Ok(expected), "{v:?}");
        }
        for v in ["0", "91", "365", "-7", "7d", ""] {
            let rule = if v.is_empty() { "must not be empty" } else { "must be a whole number from 1 to 90" };
            assert_eq!(days(v), Err(bad("days", v, rule)), "{v:?}");
        }
        assert_eq!(parse_trend(&q(&[("days", "7"), ("days", "7")])), Err(ParamError::Repeated { name: "days".into() }));
        for name in ["filter.from", "filter.until", "pagination.limit", "summary.top"] {
            assert_eq!(
                parse_trend(&q(&[(name, "2026-11-25T10:00:00Z")])),
                Err(ParamError::Unknown { name: name.into() })
            );
        }
    }

    #[test]
    fn cleanup_needs_an_image_repository_or_reason_filter() {
        assert_eq!(parse_delete(&[]), Err(DeleteParamError::NoFilter));
        assert_eq!(
            parse_delete(&[]).unwrap_err().to_string(),
            "at least one of filter.resourceName, filter.repository or filter.reason is required: \
             an empty filter would delete every group"
        );
        assert_eq!(
            parse_delete(&q(&[("filter.account", "123456789012")])),
            Err(DeleteParamError::Param(ParamError::Unknown { name: "filter.account".into() }))
        );
        assert_eq!(
            parse_delete(&q(&[("filter.resourceName", "nginx")])).map(|r| r.filters.resource_name),
            Ok(vec!["docker.io/library/nginx:latest".to_owned()])
        );
        assert_eq!(
            parse_delete(&q(&[("filter.repository", "quay.io/acme/web:1"), ("filter.reason", "TIMEOUT")])).map(|r| (
                r.filters.repository,
                r.filters.reason,
                r.cursor
            )),
            Ok((vec!["quay.io/acme/web".to_owned()], vec![Reason::Timeout], None))
        );
        // The cursor of the previous answer goes on where its reading stopped; it is no filter.
        assert_eq!(
            parse_delete(&q(&[("filter.reason", "TIMEOUT"), ("pagination.cursor", "abc")])).map(|r| r.cursor),
            Ok(Some("abc".to_owned()))
        );
        assert_eq!(parse_delete(&q(&[("pagination.cursor", "abc")])), Err(DeleteParamError::NoFilter));
        assert_eq!(
            parse_delete(&q(&[("filter.resourceName", " ")])),
            Err(DeleteParamError::Param(bad("filter.resourceName", " ", "must not be empty")))
        );
    }

    #[test]
    fn errors_name_their_parameter_and_read_as_documented() {
        let e = list(&[("pagination.limit", "0")]).unwrap_err();
        assert_eq!(e.name(), Some("pagination.limit"));
        assert_eq!(e.to_string(), "pagination.limit: must be a whole number from 1 to 1000, got \"0\"");
        let e = list(&[("filter.foo", "1")]).unwrap_err();
        assert_eq!(e.name(), Some("filter.foo"));
        assert_eq!(
            e.to_string(),
            "unknown query parameter \"filter.foo\"; see the API reference for the accepted names"
        );
        let e = list(&[("filter.from", "2026-11-25T10:00:00Z"), ("filter.from", "2026-11-25T10:00:00Z")]).unwrap_err();
        assert_eq!(e.name(), Some("filter.from"));
        assert_eq!(e.to_string(), "filter.from may be given at most once");
        assert_eq!(ParamError::TooMany.name(), None);
        assert_eq!(ParamError::TooMany.to_string(), "too many query parameters (at most 64)");
    }
}
