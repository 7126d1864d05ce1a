//! The API's query parameters from the command line's filters, and their encoding.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use scan_failures_domain::time_fmt;
use time::OffsetDateTime;

use crate::args::{FilterArgs, WindowArgs};

/// What SigV4 leaves unencoded (RFC 3986's unreserved characters): the query is sent in the
/// form it is signed in.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Query parameters, in order.
pub type Pairs = Vec<(&'static str, String)>;

/// The filters' parameters.
pub fn filters(f: &FilterArgs) -> Pairs {
    let mut pairs = Pairs::new();
    let mut add = |name: &'static str, values: Vec<String>| pairs.extend(values.into_iter().map(|v| (name, v)));
    add("filter.resourceName", f.image.clone());
    add("filter.repository", f.repository.clone());
    add("filter.resourceId", f.digest.clone());
    add("filter.reason", f.reason.iter().map(|r| r.code().to_owned()).collect());
    add(
        "filter.level",
        f.level.iter().map(|l| scan_failures_domain::classify::acs_level(&l.to_ascii_uppercase())).collect(),
    );
    add("filter.operation", f.operation.iter().map(|o| o.as_str().to_owned()).collect());
    add("filter.origin", f.origin.iter().map(|o| o.as_str().to_owned()).collect());
    add("filter.cluster", f.cluster.clone());
    add("filter.account", f.account.clone());
    add("filter.region", f.region.clone());
    add("filter.search", f.search.clone());
    add("filter.triage", f.triage.clone());
    pairs
}

/// The window's parameters; `--since` counts back from `now`.
pub fn window(w: &WindowArgs, now: OffsetDateTime) -> Pairs {
    let mut pairs = Pairs::new();
    if let Some(since) = w.since {
        pairs.push(("filter.from", time_fmt::format(now - since)));
    }
    if let Some(from) = &w.from {
        pairs.push(("filter.from", from.clone()));
    }
    if let Some(until) = &w.until {
        pairs.push(("filter.until", until.clone()));
    }
    pairs
}

/// `name=value&…`, each part percent-encoded.
pub fn encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, UNRESERVED), utf8_percent_encode(v, UNRESERVED)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One path segment (an event id), percent-encoded.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scan_failures_domain::classify::Reason;
    use scan_failures_domain::event::{Operation, Origin};
    use time::macros::datetime;

    #[test]
    fn every_filter_flag_is_its_api_parameter_in_the_apis_spelling() {
        let f = FilterArgs {
            image: vec!["nginx".into()],
            repository: vec!["quay.io/acme/web".into()],
            digest: vec!["sha256:ab".into()],
            reason: vec![Reason::Timeout, Reason::RateLimited],
            level: vec!["warning".into()],
            operation: vec![Operation::ImageSbom],
            origin: vec![Origin::Ecr],
            cluster: vec!["prod".into()],
            account: vec!["123456789012".into()],
            region: vec!["eu-west-1".into()],
            search: vec!["manifest unknown".into()],
            triage: vec!["false_positive".into()],
        };
        assert_eq!(
            encode(&filters(&f)),
            "filter.resourceName=nginx&filter.repository=quay.io%2Facme%2Fweb&filter.resourceId=sha256%3Aab\
             &filter.reason=TIMEOUT&filter.reason=RATE_LIMITED&filter.level=ADMINISTRATION_EVENT_LEVEL_WARNING\
             &filter.operation=image%20sbom&filter.origin=ecr&filter.cluster=prod&filter.account=123456789012\
             &filter.region=eu-west-1&filter.search=manifest%20unknown&filter.triage=false_positive"
        );
    }

    #[test]
    fn since_counts_back_from_now() {
        let w = WindowArgs {
            since: Some(time::Duration::hours(24)),
            from: None,
            until: Some("2026-12-02T00:00:00Z".into()),
        };
        assert_eq!(
            encode(&window(&w, datetime!(2026-12-02 10:30:00 UTC))),
            "filter.from=2026-12-01T10%3A30%3A00.000Z&filter.until=2026-12-02T00%3A00%3A00Z"
        );
    }

    #[test]
    fn an_id_is_one_segment() {
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
