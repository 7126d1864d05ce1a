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

/// Whether `route`, matched here on the request's path, is the route API Gateway matched:
/// `gateway` is an HTTP API's `routeKey` (`GET /v1/administration/events/{id}`), or a REST
/// API's method and resource in the same form. The path `lambda_http` gives is its `rawPath`
/// read as a URL, which turns a `\` into a `/` and resolves `..`: `GET …/events/x\..\..\..\count\…`
/// is one `{id}` to API Gateway (throttled as one, and authorized by an `execute-api:Invoke`
/// policy as one) and the count here. A key this function cannot compare agrees: `$default`
/// (cargo-lambda, a catch-all integration), a greedy `{proxy+}` resource, none at all.
pub fn gateway_agrees(route: &Route, gateway: Option<&str>) -> bool {
    gateway_named(gateway).is_none_or(|(method, path)| {
        (method == "ANY" || method.eq_ignore_ascii_case(route.method)) && normalize(path) == route.path
    })
}

/// Whether the `{id}` read here is API Gateway's (`gateway_id`, its path parameter, when it
/// gave one): `…/events/x\..\<id>` is the route API Gateway matched, but another id than the one
/// its `execute-api:Invoke` policy was asked about.
pub fn gateway_id_agrees(id: Option<&str>, gateway_id: Option<&str>) -> bool {
    gateway_id.is_none_or(|g| id == Some(g))
}

/// The method and path template of the route `gateway` names, when [`gateway_agrees`] can
/// compare it: a request it names one for that matches no route here with its method was read
/// otherwise here than there, and is no route (a 404, not a 405 naming another route's methods).
pub fn gateway_named(gateway: Option<&str>) -> Option<(&str, &str)> {
    gateway.and_then(|k| k.split_once(' ')).filter(|(_, path)| !path.contains('+'))
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
    fn a_route_agrees_with_the_gateway_only_when_both_matched_the_same_route_or_the_gateway_names_none() {
        let route = |method, path| match_route(method, path).map(|(r, _)| r).unwrap();
        let count = route("GET", "/v1/count/administration/events");
        let get = route("GET", "/v1/administration/events/abc");
        // The count reached through what API Gateway matched as one event's id.
        assert!(!gateway_agrees(count, Some("GET /v1/administration/events/{id}")));
        assert!(!gateway_agrees(get, Some("GET /v1/count/administration/events")));
        assert!(!gateway_agrees(get, Some("POST /v1/administration/events/{id}/triage")));
        assert!(!gateway_agrees(get, Some("DELETE /v1/administration/events/{id}")));
        assert!(gateway_agrees(count, Some("GET /v1/count/administration/events")));
        assert!(gateway_agrees(get, Some("GET /v1/administration/events/{id}")));
        assert!(gateway_agrees(get, Some("ANY /v1/administration/events/{id}")));
        assert!(gateway_agrees(get, Some("get /v1/administration/events/{id}/")));
        // What it cannot compare: the default route, a greedy resource, nothing.
        for unknown in [Some("$default"), Some("ANY /{proxy+}"), Some("GET /v1/{proxy+}"), None] {
            assert!(gateway_agrees(count, unknown), "{unknown:?}");
            assert_eq!(gateway_named(unknown), None, "{unknown:?}");
        }
        assert_eq!(
            gateway_named(Some("GET /v1/administration/events/{id}")),
            Some(("GET", "/v1/administration/events/{id}"))
        );
        assert!(gateway_id_agrees(Some("abc"), Some("abc")));
        assert!(gateway_id_agrees(Some("abc"), None));
        assert!(gateway_id_agrees(None, None));
        assert!(!gateway_id_agrees(Some("abc"), Some("x\\..\\abc")));
        assert!(!gateway_id_agrees(None, Some("abc")));
        // Every route agrees with its own key, and with no other route's.
        for r in ROUTES {
            for other in ROUTES {
                let key = format!("{} {}", other.method, other.path);
                assert_eq!(gateway_agrees(r, Some(&key)), r == other, "{key} for {} {}", r.method, r.path);
            }
        }
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
