//! The API's routes, declared once: the router dispatches on them, and the OpenAPI and template
//! tests compare them with `infra/openapi.yaml` and `infra/template.yaml`.

use scan_failures_http::auth::Permission;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Get,
    Count,
    Summary,
    Trend,
    Triage,
    Delete,
    GetConfig,
    PutConfig,
}

/// One route: method, path template (`{id}` is a path parameter), the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub action: Action,
    pub permission: Permission,
}

const EVENTS: &str = "/v1/administration/events";
const CONFIG: &str = "/v1/config/administration-events";

pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: EVENTS, action: Action::List, permission: Permission::View },
    Route { method: "DELETE", path: EVENTS, action: Action::Delete, permission: Permission::Write },
    Route {
        method: "GET",
        path: "/v1/administration/events/summary",
        action: Action::Summary,
        permission: Permission::View,
    },
    Route {
        method: "GET",
        path: "/v1/administration/events/trend",
        action: Action::Trend,
        permission: Permission::View,
    },
    Route { method: "GET", path: "/v1/administration/events/{id}", action: Action::Get, permission: Permission::View },
    Route {
        method: "POST",
        path: "/v1/administration/events/{id}/triage",
        action: Action::Triage,
        permission: Permission::Write,
    },
    Route {
        method: "GET",
        path: "/v1/count/administration/events",
        action: Action::Count,
        permission: Permission::View,
    },
    Route { method: "GET", path: CONFIG, action: Action::GetConfig, permission: Permission::View },
    Route { method: "PUT", path: CONFIG, action: Action::PutConfig, permission: Permission::Write },
];

/// Why a request matched no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// Routes have this path, with other methods.
    MethodNotAllowed { path: &'static str, allowed: Vec<&'static str> },
}

/// The request path without a stage prefix (`/prod/v1/...`) or cargo-lambda's
/// `/lambda-url/<fn>` prefix before `/v1/`, nor a trailing slash.
fn normalize(path: &str) -> &str {
    let path = path.find("/v1/").map_or(path, |i| &path[i..]);
    path.strip_suffix('/').unwrap_or(path)
}

/// The `{id}` of `path` when it matches `template`; `Some(None)` for a template without one.
fn matches_template<'a>(template: &str, path: &'a str) -> Option<Option<&'a str>> {
    match template.split_once("{id}") {
        None => (template == path).then_some(None),
        Some((prefix, suffix)) => {
            let id = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!id.is_empty() && !id.contains('/')).then_some(Some(id))
        }
    }
}

/// The routes whose template matches `path`: the literal ones when any matches (so
/// `/events/summary` is the summary, not an event with id `summary`), else those with `{id}`.
fn candidates(path: &str) -> Vec<(&'static Route, Option<&str>)> {
    let path = normalize(path);
    let all: Vec<(&'static Route, Option<&str>)> =
        ROUTES.iter().filter_map(|r| matches_template(r.path, path).map(|id| (r, id))).collect();
    if all.iter().any(|(_, id)| id.is_none()) {
        all.into_iter().filter(|(_, id)| id.is_none()).collect()
    } else {
        all
    }
}

/// The route a request path matches, with its `{id}` when it has one, whatever the method.
pub fn match_path(path: &str) -> Option<(&'static Route, Option<&str>)> {
    candidates(path).into_iter().next()
}

/// The route of a request: its path and method.
pub fn match_route<'a>(method: &str, path: &'a str) -> Result<(&'static Route, Option<&'a str>), Miss> {
    let found = candidates(path);
    if let Some(hit) = found.iter().find(|(r, _)| r.method.eq_ignore_ascii_case(method)) {
        return Ok(*hit);
    }
    match found.first() {
        None => Err(Miss::NotFound),
        Some((r, _)) => {
            Err(Miss::MethodNotAllowed { path: r.path, allowed: found.iter().map(|(r, _)| r.method).collect() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(method: &str, path: &str) -> Result<(Action, Option<String>), Miss> {
        match_route(method, path).map(|(r, id)| (r.action, id.map(str::to_owned)))
    }

    #[test]
    fn paths_match_their_routes_with_or_without_a_prefix() {
        assert_eq!(match_path("/v1/administration/events").map(|(r, id)| (r.action, id)), Some((Action::List, None)));
        assert_eq!(
            match_path("/prod/v1/administration/events/").map(|(r, id)| (r.action, id)),
            Some((Action::List, None))
        );
        assert_eq!(
            match_path("/v1/administration/events/abc").map(|(r, id)| (r.action, id)),
            Some((Action::Get, Some("abc")))
        );
        assert_eq!(
            match_path("/v1/count/administration/events").map(|(r, id)| (r.action, id)),
            Some((Action::Count, None))
        );
        assert_eq!(match_path("/v1/administration/events/a/b").map(|(r, _)| r.action), None);
        assert_eq!(match_path("/v2/administration/events").map(|(r, _)| r.action), None);
        assert_eq!(match_path("/").map(|(r, _)| r.action), None);
    }

    #[test]
    fn the_method_chooses_among_routes_of_one_path_and_literal_paths_win_over_ids() {
        assert_eq!(action("GET", "/v1/administration/events"), Ok((Action::List, None)));
        assert_eq!(action("DELETE", "/v1/administration/events"), Ok((Action::Delete, None)));
        assert_eq!(action("GET", "/v1/administration/events/summary"), Ok((Action::Summary, None)));
        assert_eq!(action("GET", "/lambda-url/api/v1/administration/events/trend/"), Ok((Action::Trend, None)));
        assert_eq!(action("GET", "/v1/administration/events/abc"), Ok((Action::Get, Some("abc".into()))));
        assert_eq!(action("POST", "/v1/administration/events/abc/triage"), Ok((Action::Triage, Some("abc".into()))));
        assert_eq!(action("GET", "/v1/config/administration-events"), Ok((Action::GetConfig, None)));
        assert_eq!(action("PUT", "/v1/config/administration-events"), Ok((Action::PutConfig, None)));
        assert_eq!(
            action("POST", "/v1/administration/events"),
            Err(Miss::MethodNotAllowed { path: "/v1/administration/events", allowed: vec!["GET", "DELETE"] })
        );
        assert_eq!(
            action("DELETE", "/v1/administration/events/summary"),
            Err(Miss::MethodNotAllowed { path: "/v1/administration/events/summary", allowed: vec!["GET"] })
        );
        assert_eq!(
            action("GET", "/v1/administration/events/abc/triage"),
            Err(Miss::MethodNotAllowed { path: "/v1/administration/events/{id}/triage", allowed: vec!["POST"] })
        );
        assert_eq!(action("GET", "/v1/administration/events//triage"), Err(Miss::NotFound));
        assert_eq!(action("GET", "/v1/config"), Err(Miss::NotFound));
    }

    #[test]
    fn every_write_route_needs_the_write_permission_and_every_read_route_view() {
        for r in ROUTES {
            let expected = if r.method == "GET" { Permission::View } else { Permission::Write };
            assert_eq!(r.permission, expected, "{} {}", r.method, r.path);
        }
    }
}
