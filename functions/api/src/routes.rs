//! The API's routes, declared once: the router dispatches on them, and the OpenAPI and template
//! tests compare them with `infra/openapi.yaml` and `infra/template.yaml`.

use scan_failures::auth::Permission;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Get,
    Count,
}

/// One route: method, path template (`{id}` is a path parameter), the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub action: Action,
    pub permission: Permission,
}

pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/v1/administration/events", action: Action::List, permission: Permission::View },
    Route { method: "GET", path: "/v1/administration/events/{id}", action: Action::Get, permission: Permission::View },
    Route {
        method: "GET",
        path: "/v1/count/administration/events",
        action: Action::Count,
        permission: Permission::View,
    },
];

/// The route a request path matches, with its `{id}` when it has one. A stage prefix
/// (`/prod/v1/...`) or cargo-lambda's `/lambda-url/<fn>` prefix before `/v1/` is ignored.
pub fn match_path(path: &str) -> Option<(&'static Route, Option<&str>)> {
    let path = path.find("/v1/").map_or(path, |i| &path[i..]);
    let path = path.strip_suffix('/').unwrap_or(path);
    ROUTES.iter().find_map(|r| match r.path.split_once("{id}") {
        None => (r.path == path).then_some((r, None)),
        Some((prefix, suffix)) => {
            let id = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!id.is_empty() && !id.contains('/')).then_some((r, Some(id)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
