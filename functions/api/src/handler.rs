//! Authorization, parameter parsing and responses. Every answer is JSON; errors are
//! `{"code", "error", "message"}` and never carry internals.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use scan_failures::auth::{caller_arn, Decision, Policy};
use scan_failures::config::{ApiConfig, RetentionDays};
use scan_failures::params::{self, ParamError};
use scan_failures::query::QueryError;
use scan_failures::store::Store;
use scan_failures::view::AdministrationEvent;
use serde_json::json;
use time::OffsetDateTime;

use crate::routes::{match_path, Action, Route};

pub struct Api {
    store: Store,
    policy: Policy,
    retention: RetentionDays,
    local_principal: Option<String>,
}

/// An answer that is not a 200.
struct Problem {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl Problem {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into() }
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut res = Response::new(Body::Text(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("application/json"));
    res
}

fn problem_response(p: &Problem) -> Response<Body> {
    json_response(p.status, &json!({"code": p.status.as_u16(), "error": p.error, "message": p.message}))
}

fn bad_parameter(e: &ParamError) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "bad parameter", e.to_string())
}

impl Api {
    pub fn new(store: Store, config: &ApiConfig) -> Self {
        if config.policy.view.is_empty() {
            tracing::warn!("ADMIN_VIEW_PRINCIPALS is empty: every request will be denied (403)");
        }
        if let Some(p) = &config.local_principal {
            tracing::warn!(principal = %p, "LOCAL_PRINCIPAL is set: requests without an IAM identity act as this principal (local development only)");
        }
        Self {
            store,
            policy: config.policy.clone(),
            retention: config.retention,
            local_principal: config.local_principal.clone(),
        }
    }

    /// Answers one request. Never fails: an internal error is a 500 that carries the request id.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let path = req.uri().path().to_owned();
        match self.route(&req).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(p) => {
                if p.status.is_server_error() {
                    tracing::error!(request_id = %request_id, path = %path, error = %p.message, "request failed");
                    problem_response(&Problem::new(
                        p.status,
                        "internal error",
                        format!("the request could not be served; quote request id {request_id:?} when reporting it"),
                    ))
                } else {
                    tracing::info!(request_id = %request_id, path = %path, status = p.status.as_u16(), error = p.error, "request refused");
                    problem_response(&p)
                }
            }
        }
    }

    async fn route(&self, req: &Request) -> Result<serde_json::Value, Problem> {
        let (route, id) = match_path(req.uri().path()).ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not found",
                format!("no route for {}; see the API reference", req.uri().path()),
            )
        })?;
        if req.method() != Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::GET) {
            return Err(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                format!("{} accepts {} only", route.path, route.method),
            ));
        }
        self.authorize(req, route)?;
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let now = OffsetDateTime::now_utc();
        match route.action {
            Action::List => {
                let list = params::parse_list(&pairs).map_err(|e| bad_parameter(&e))?;
                let page = self.store.list(&list, now, self.retention).await.map_err(query_problem)?;
                let events: Vec<AdministrationEvent> = page.groups.iter().map(AdministrationEvent::from).collect();
                let mut body = json!({"events": events});
                if let Some(c) = page.next_cursor {
                    body["nextCursor"] = json!(c);
                }
                Ok(body)
            }
            Action::Count => {
                let filters = params::parse_count(&pairs).map_err(|e| bad_parameter(&e))?;
                let (count, _) = self.store.count(&filters, now, self.retention).await.map_err(query_problem)?;
                Ok(json!({"count": count}))
            }
            Action::Get => {
                if let Some((name, _)) = pairs.first() {
                    return Err(bad_parameter(&ParamError::Unknown { name: name.chars().take(64).collect() }));
                }
                let not_found = || {
                    Problem::new(
                        StatusCode::NOT_FOUND,
                        "not found",
                        "no event with this id (unknown, or expired after its retention period)",
                    )
                };
                let id = id.and_then(|i| uuid::Uuid::parse_str(i).ok()).ok_or_else(not_found)?;
                let group = self.store.get_visible(&id, now, self.retention).await.map_err(|e| internal(&e))?;
                let group = group.ok_or_else(not_found)?;
                Ok(json!({"event": AdministrationEvent::from(&group)}))
            }
        }
    }

    fn authorize(&self, req: &Request, route: &Route) -> Result<(), Problem> {
        let context = req.request_context_ref().and_then(|c| serde_json::to_value(c).ok()).unwrap_or_default();
        let caller = caller_arn(&context).or_else(|| self.local_principal.clone());
        match self.policy.decide(caller.as_deref(), route.permission) {
            Decision::Allowed { .. } => Ok(()),
            Decision::Unauthenticated => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "no IAM caller in the request: call the API through API Gateway with SigV4-signed requests (AWS_IAM authorization)",
            )),
            Decision::Forbidden { caller } => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{caller} lacks the \"Administration view\" permission: add it (or a pattern matching it) to ADMIN_VIEW_PRINCIPALS"),
            )),
        }
    }
}

fn internal(e: &dyn std::error::Error) -> Problem {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", message)
}

fn query_problem(e: QueryError) -> Problem {
    match e {
        QueryError::Cursor(_) => Problem::new(StatusCode::BAD_REQUEST, "bad parameter", e.to_string()),
        QueryError::Store(s) => internal(&s),
    }
}
