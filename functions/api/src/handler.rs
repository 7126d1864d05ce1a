//! Authorization, parameter and body parsing, and responses. Every answer is JSON; errors are
//! `{"code", "error", "message"}` and never carry internals.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use scan_failures_aws::cached::Cached;
use scan_failures_aws::config::ApiConfig;
use scan_failures_aws::dynamo::admin::{Triaged, MAX_DELETE_PER_REQUEST};
use scan_failures_aws::dynamo::read::{insights, QueryError, ReadStats};
use scan_failures_aws::dynamo::rollup::{answer, Rollups, State as RollupState};
use scan_failures_aws::dynamo::settings::RetentionCache;
use scan_failures_aws::dynamo::{Store, StoreError};
use scan_failures_aws::metrics::Sink;
use scan_failures_domain::group::triage::Triage;
use scan_failures_domain::query::Filters;
use scan_failures_domain::retention::{self, RetentionDays, API_CACHE};
use scan_failures_domain::rollup;
use scan_failures_domain::text;
use scan_failures_domain::view::AdministrationEvent;
use scan_failures_http::auth::{caller_arn, Decision, Permission, Policy};
use scan_failures_http::body::{self, BodyError};
use scan_failures_http::echo;
use scan_failures_http::params::{self, ParamError};
use scan_failures_http::query_string;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::metrics::Served;
use crate::payload;
use crate::routes::{gateway_agrees, gateway_id_agrees, gateway_named, match_route, Action, Miss, Route};

/// How long an instance keeps the rollups' state (since when they are kept, the generation in
/// service): the rollup function records the time on its first batch, and only a restart
/// (`Rollups::restart`, the maintenance function's `restartRollups`) or a rebuild put in service
/// changes the state, so a `GetItem` a minute spares every count, summary and trend one, and a
/// change applies within a minute.
pub const ROLLUPS_SINCE_CACHE: std::time::Duration = std::time::Duration::from_secs(60);
/// How old a state read before may be to answer from when reading it again fails: a generation
/// a switch replaced is folded for [`RETIRED_FOLD`] after it, so a state read less than this
/// (with the clocks' margin) before now is still exact. Past it, the request is answered 503.
pub const ROLLUPS_STATE_ON_FAILURE: std::time::Duration = std::time::Duration::from_secs(120);

pub struct Api {
    store: Store,
    policy: Policy,
    /// The live retention setting, read at most every [`API_CACHE`].
    retention: RetentionCache,
    local_principal: Option<String>,
    clock: fn() -> OffsetDateTime,
    /// Where each request's metrics go (`None`: no metric lines, as in-process tests want).
    metrics: Option<Sink>,
    /// Records one count, summary or trend reads at most (`API_MAX_ITEMS_READ`).
    max_items_read: u64,
    /// Whether the questions the rollups cover are answered from them (`API_READ_ROLLUPS`).
    read_rollups: bool,
    /// The rollups' state: read on every count, summary and trend until their time is
    /// recorded, then at most every [`ROLLUPS_SINCE_CACHE`].
    rollups_state: Cached<RollupState>,
}

/// What the router learnt about a request, for its metrics.
#[derive(Default)]
struct Seen {
    route: Option<&'static Route>,
    read: Option<ReadStats>,
}

/// What a 503 asks the caller to wait before sending the same request again (`Retry-After`).
/// The SDK has already made its attempts, with backoff, by the time the api answers 503, so
/// the caller's next one comes after DynamoDB's throttling or the writes it met had time to pass.
pub const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// The wait a 503 for a busy edge of the rollups names ([`QueryError::EdgeTooBusy`]): by then the
/// retention's cut-off has moved past the minute it was in.
pub const EDGE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The `error` of a 503.
pub const UNAVAILABLE: &str = "unavailable";

/// What the api keeps of its invocation's time to answer: a request still at work this close to
/// the deadline is answered 503 ([`out_of_time`]) rather than cut by Lambda's timeout, which the
/// caller would get as API Gateway's own 5xx, with no body of ours and no request id.
pub const ANSWER_RESERVE: std::time::Duration = std::time::Duration::from_millis(1500);

/// The wait a 503 for a request out of time names: a throttled table has had time to recover;
/// a broad request needs narrowing, which the message says. Longer than `scanfail` waits by
/// itself (10 s), so that it says the message rather than spend another 28 s on the same request.
pub const OUT_OF_TIME_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// An answer that is not a 200.
struct Problem {
    status: StatusCode,
    error: &'static str,
    message: String,
    /// The methods of the path, for a 405.
    allow: Option<String>,
    /// When to send the request again, for a 503.
    retry_after: Option<std::time::Duration>,
    /// A 5xx whose message is written for the caller (else it is logged, and the caller told
    /// only what to do and the request id).
    public: bool,
}

impl Problem {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into(), allow: None, retry_after: None, public: false }
    }
}

/// Every answer: JSON, and never kept by a cache between the caller and the API (a proxy's, a
/// browser's): it is an administrator's view of the account's failures, authorized per request.
fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut res = Response::new(Body::Text(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    res.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    res
}

fn problem_response(p: &Problem) -> Response<Body> {
    let mut res = json_response(p.status, &json!({"code": p.status.as_u16(), "error": p.error, "message": p.message}));
    if let Some(allow) = p.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
        res.headers_mut().insert("allow", allow);
    }
    if let Some(after) = p.retry_after {
        res.headers_mut().insert("retry-after", HeaderValue::from(after.as_secs()));
    }
    res
}

fn bad_parameter(e: &dyn std::error::Error) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "bad parameter", e.to_string())
}

fn bad_body(e: &BodyError) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "bad request body", e.to_string())
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not found",
        "no event with this id (unknown, or expired after its retention period)",
    )
}

/// A triage asked of a version the group's triage has left: who changed it, so that the
/// caller can read it again and decide.
fn stale_triage(asked: Option<u64>, found: &Triage) -> Problem {
    let mut message = format!(
        "the event's triage is at version {}, not {}: it is now {}",
        found.shown_version(),
        asked.unwrap_or_default(),
        found.state.as_str()
    );
    if let (Some(by), Some(at)) = (&found.by, &found.at) {
        message.push_str(&format!(", set by {} at {}", echo(by), echo(at)));
    }
    message.push_str("; read the event again before triaging it");
    Problem::new(StatusCode::CONFLICT, "conflict", message)
}

/// The request body's bytes, whether API Gateway sent it as text or base64.
fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Logs what a read cost, so the cost per call of the aggregate routes can be watched.
fn log_cost(action: Action, stats: &ReadStats, result: u64) {
    tracing::info!(
        action = ?action,
        requests = stats.requests,
        items_read = stats.items_read,
        rcu = stats.read_capacity_units,
        result,
        "read cost"
    );
}

impl Api {
    pub fn new(store: Store, config: &ApiConfig) -> Self {
        // Writers may read too (`Policy::allows`): only with both lists empty is every request denied.
        if config.policy.view.is_empty() && config.policy.write.is_empty() {
            tracing::warn!(
                "ADMIN_VIEW_PRINCIPALS and ADMIN_WRITE_PRINCIPALS are empty: every request will be denied (403)"
            );
        }
        if let Some(p) = &config.local_principal {
            tracing::warn!(principal = %p, "LOCAL_PRINCIPAL is set: requests without an IAM identity act as this principal (local development only)");
        }
        Self {
            store,
            policy: config.policy.clone(),
            retention: RetentionCache::new(config.retention, API_CACHE),
            local_principal: config.local_principal.clone(),
            clock: OffsetDateTime::now_utc,
            metrics: None,
            max_items_read: config.max_items_read,
            read_rollups: config.read_rollups,
            rollups_state: Cached::new(ROLLUPS_SINCE_CACHE),
        }
    }

    /// The same api keeping what it reads of the table's settings (the retention, since when
    /// the rollups are kept) for `max_age` instead of [`API_CACHE`] and [`ROLLUPS_SINCE_CACHE`]
    /// (tests shorten it).
    pub fn with_cache_max_age(self, max_age: std::time::Duration) -> Self {
        let retention = RetentionCache::new(self.retention.fallback(), max_age);
        Self { retention, rollups_state: Cached::new(max_age), ..self }
    }

    /// Writes each request's CloudWatch metrics (EMF) to `sink`.
    pub fn with_metrics(self, sink: Sink) -> Self {
        Self { metrics: Some(sink), ..self }
    }

    /// The same api reading "now" from `clock` (tests pin it; production uses the system clock).
    pub fn with_clock(self, clock: fn() -> OffsetDateTime) -> Self {
        Self { clock, ..self }
    }

    /// Answers one request. Never fails: an internal error is a 500 that carries the request id,
    /// a busy or unreachable table a 503 with `Retry-After`.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = std::time::Instant::now();
        let mut seen = Seen::default();
        let response = self.answer(&req, &mut seen).await;
        if let Some(sink) = &self.metrics {
            let request_id = req.lambda_context_ref().map(|c| c.request_id.as_str()).unwrap_or_default();
            let served = Served {
                request_id,
                route: seen.route,
                status: response.status().as_u16(),
                latency: started.elapsed(),
                read: seen.read,
            };
            sink.emit(&[served.document(sink.config(), (self.clock)())]);
        }
        response
    }

    async fn answer(&self, req: &Request, seen: &mut Seen) -> Response<Body> {
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let path = req.uri().path().to_owned();
        let answer_by = req
            .lambda_context_ref()
            .and_then(|c| scan_failures_aws::deadline::of(c.deadline))
            .map(|deadline| deadline.checked_sub(ANSWER_RESERVE).unwrap_or(deadline));
        let routed = match answer_by {
            Some(at) => {
                tokio::time::timeout_at(at.into(), self.route(req, seen)).await.unwrap_or_else(|_| Err(out_of_time()))
            }
            None => self.route(req, seen).await,
        };
        match routed {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(p) if p.public => {
                tracing::warn!(request_id = %request_id, path = %path, status = p.status.as_u16(), error = %p.message, "request unavailable");
                problem_response(&p)
            }
            Err(p) => {
                if let Some(after) = p.retry_after {
                    tracing::warn!(request_id = %request_id, path = %path, error = %p.message, "request unavailable");
                    problem_response(&Problem {
                        retry_after: Some(after),
                        ..Problem::new(
                            p.status,
                            UNAVAILABLE,
                            format!(
                                "the table is busy or out of reach for now (DynamoDB throttled the request, or it kept \
                                 meeting other writes of the same items): send it again in {} s; quote request id \
                                 {request_id:?} if it lasts",
                                after.as_secs()
                            ),
                        )
                    })
                } else if p.status.is_server_error() {
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

    async fn current_retention(&self) -> Result<RetentionDays, Problem> {
        self.retention.get(&self.store).await.map_err(|e| store_problem(&e))
    }

    async fn route(&self, req: &Request, seen: &mut Seen) -> Result<serde_json::Value, Problem> {
        let no_route = || {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not found",
                format!("no route for {}; see the API reference", echo(req.uri().path())),
            )
        };
        let gateway = gateway_route(req);
        // A path read otherwise here than API Gateway read it: said so, with what it matched.
        let misread = |key: &str| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not found",
                format!(
                    "no route for {} as API Gateway matched it ({}): a `\\` or a `..` segment in the path is read otherwise here; send the path without them",
                    echo(req.uri().path()),
                    echo(key)
                ),
            )
        };
        let (route, id) =
            match_route(req.method().as_str(), req.uri().path()).map_err(|miss| match (miss, &gateway) {
                (Miss::NotFound, _) => no_route(),
                (Miss::MethodNotAllowed { .. }, Some(key)) if gateway_named(Some(key)).is_some() => misread(key),
                (Miss::MethodNotAllowed { path, allowed }, _) => {
                    let allowed = allowed.join(", ");
                    Problem {
                        allow: Some(allowed.clone()),
                        ..Problem::new(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "method not allowed",
                            format!("{path} accepts {allowed} only"),
                        )
                    }
                }
            })?;
        if let Some(key) = gateway.as_deref() {
            let gateway_id = req.path_parameters_ref().and_then(|p| p.first("id"));
            if !gateway_agrees(route, Some(key)) || !gateway_id_agrees(id, gateway_id) {
                return Err(misread(key));
            }
        }
        seen.route = Some(route);
        let caller = self.authorize(req, route)?;
        let pairs = query_string::pairs(req.uri().query().unwrap_or("")).map_err(|e| bad_parameter(&e))?;
        let now = (self.clock)();
        let takes_no_parameters =
            matches!(route.action, Action::Get | Action::Triage | Action::GetConfig | Action::PutConfig);
        if let Some((name, _)) = pairs.first().filter(|_| takes_no_parameters) {
            return Err(bad_parameter(&ParamError::Unknown { name: echo(name) }));
        }
        let group_id = || id.and_then(|i| Uuid::parse_str(i).ok()).ok_or_else(not_found);
        match route.action {
            Action::List => {
                let list = params::parse_list(&pairs).map_err(|e| bad_parameter(&e))?;
                let retention = self.current_retention().await?;
                let mut page = self.store.reader().list(&list, now, retention).await.map_err(query_problem)?;
                seen.read = Some(page.stats);
                // A page stops short of its limit where its events would pass what Lambda carries.
                let (mut events, mut bytes) = (Vec::with_capacity(page.groups.len()), 0);
                for (g, s) in page.groups.iter().zip(&page.states) {
                    let event = AdministrationEvent::with_state(g, s, false);
                    bytes += payload::carried_len(&event) + 1;
                    if bytes > payload::MAX_EVENTS_BYTES && !events.is_empty() {
                        break;
                    }
                    events.push(event);
                }
                page.cut(events.len());
                log_cost(route.action, &page.stats, page.groups.len() as u64);
                let mut body = json!({"events": events});
                if let Some(c) = page.next_cursor {
                    body["nextCursor"] = json!(c);
                }
                Ok(body)
            }
            Action::Count => {
                let filters = params::parse_count(&pairs).map_err(|e| bad_parameter(&e))?;
                let retention = self.current_retention().await?;
                let after = answer::maintained_after(None, now, retention);
                let rollups = if rollup::covers(&filters) { self.serving_rollups(after).await? } else { None };
                let (count, stats) = if let Some(rollups) = rollups {
                    Box::pin(answer::count_maintained(&rollups, &filters, now, retention))
                        .await
                        .map_err(query_problem)?
                } else {
                    self.reader().count(&filters, now, retention).await.map_err(query_problem)?
                };
                seen.read = Some(stats);
                log_cost(route.action, &stats, count);
                Ok(json!({"count": count}))
            }
            Action::Summary => {
                let request = params::parse_summary(&pairs).map_err(|e| bad_parameter(&e))?;
                let retention = self.current_retention().await?;
                let after = answer::maintained_after(None, now, retention);
                let covered = !request.detail && rollup::covers(&request.filters);
                let rollups = if covered { self.serving_rollups(after).await? } else { None };
                let (summary, stats) = if let Some(rollups) = rollups {
                    Box::pin(answer::summary_maintained(&rollups, &request, now, retention))
                        .await
                        .map_err(query_problem)?
                } else {
                    insights::summary(&self.reader(), &request, now, retention).await.map_err(query_problem)?
                };
                seen.read = Some(stats);
                log_cost(route.action, &stats, summary.totals.groups);
                Ok(json!(summary))
            }
            Action::Trend => {
                let request = params::parse_trend(&pairs).map_err(|e| bad_parameter(&e))?;
                let retention = self.current_retention().await?;
                let windowless = Filters { from: None, until: None, ..request.filters.clone() };
                let after = answer::trend_after(&request, now, retention);
                let rollups = if rollup::covers(&windowless) { self.serving_rollups(after).await? } else { None };
                let (trend, stats) = if let Some(rollups) = rollups {
                    Box::pin(answer::trend_maintained(&rollups, &request, now, retention))
                        .await
                        .map_err(query_problem)?
                } else {
                    insights::trend(&self.reader(), &request, now, retention).await.map_err(query_problem)?
                };
                seen.read = Some(stats);
                log_cost(route.action, &stats, trend.totals.occurrences);
                Ok(json!(trend))
            }
            Action::Get => {
                let id = group_id()?;
                let retention = self.current_retention().await?;
                let found = self
                    .store
                    .reader()
                    .get_visible_with_state(&id, now, retention)
                    .await
                    .map_err(|e| store_problem(&e))?;
                let (group, state) = found.ok_or_else(not_found)?;
                Ok(json!({"event": AdministrationEvent::with_state(&group, &state, true)}))
            }
            Action::Triage => {
                let id = group_id()?;
                let request = body::parse_triage_request(body_bytes(req)).map_err(|e| bad_body(&e))?;
                let retention = self.current_retention().await?;
                let updated = self
                    .store
                    .admin()
                    .triage(&id, &request, &caller, now, retention)
                    .await
                    .map_err(|e| store_problem(&e))?;
                let (group, state) = match updated {
                    Triaged::Set(set) => *set,
                    Triaged::NotFound => return Err(not_found()),
                    Triaged::Stale(found) => return Err(stale_triage(request.if_version, &found)),
                };
                tracing::info!(group_id = %id, state = request.state.as_str(), caller = %caller, "group triaged");
                Ok(json!({"event": AdministrationEvent::with_state(&group, &state, true)}))
            }
            Action::Delete => {
                let request = params::parse_delete(&pairs).map_err(|e| bad_parameter(&e))?;
                let done = self
                    .store
                    .admin()
                    .delete_matching(&request, MAX_DELETE_PER_REQUEST, self.max_items_read)
                    .await
                    .map_err(query_problem)?;
                seen.read = Some(done.read);
                log_cost(route.action, &done.read, done.deleted);
                tracing::info!(deleted = done.deleted, kept = done.kept, more = done.more, wcu = done.write_capacity_units, caller = %caller, "groups deleted");
                let mut answer = json!({"deleted": done.deleted, "kept": done.kept, "more": done.more});
                if let Some(cursor) = done.next_cursor {
                    answer["nextCursor"] = json!(cursor);
                }
                Ok(answer)
            }
            Action::GetConfig => self.config_body().await,
            Action::PutConfig => {
                let days = body::parse_retention_request(body_bytes(req)).map_err(|e| bad_body(&e))?;
                self.store.settings().put_retention_setting(days, &caller, now).await.map_err(|e| store_problem(&e))?;
                self.retention.set(days);
                tracing::info!(retention_days = days.get(), caller = %caller, "retention changed");
                self.config_body().await
            }
        }
    }

    /// The rollups that answer for the groups whose last occurrence is after `after`: those of
    /// the generation in service, when read (`API_READ_ROLLUPS`) and kept for that window
    /// (`RollupState::ready`); `None`: read the groups.
    async fn serving_rollups(&self, after: OffsetDateTime) -> Result<Option<Rollups<'_>>, Problem> {
        if !self.read_rollups {
            return Ok(None);
        }
        let state = match self.rollups_state.fresh() {
            Some(state) => state,
            None => match self.store.rollups().state().await {
                Ok(state) => {
                    if state.since.is_some() {
                        self.rollups_state.set(state);
                    }
                    state
                }
                // Kept before, only stale: a time only moves forward, and a missed restart or
                // switch applies at the next read that succeeds, as a cached one does.
                Err(e) => match self.rollups_state.last_known_within(ROLLUPS_STATE_ON_FAILURE) {
                    Some(known) => {
                        tracing::warn!(error = %e, "the rollups' state could not be read again: using the last known");
                        known
                    }
                    None => return Err(store_problem(&e)),
                },
            },
        };
        Ok(state.ready(after).then(|| {
            self.store.rollups().of(state.live.serving.number).with_grains(state.grains()).bounded(self.max_items_read)
        }))
    }

    /// The store's reader, its counts, summaries and trends bounded by `API_MAX_ITEMS_READ`.
    fn reader(&self) -> scan_failures_aws::dynamo::read::Reader<'_> {
        self.store.reader().bounded(self.max_items_read)
    }

    /// The retention in force, where it comes from, and the re-stamp job's progress.
    async fn config_body(&self) -> Result<serde_json::Value, Problem> {
        let setting = self.store.settings().retention_setting().await.map_err(|e| store_problem(&e))?;
        let progress = self.store.settings().restamp_progress().await.map_err(|e| store_problem(&e))?;
        // Only the job of the setting in force: a change back to days an earlier job finished is
        // a new job, and until it runs that one's "finished" would not be true of it.
        let (days, generation) = retention::in_force(setting.as_ref(), self.retention.fallback());
        let progress = progress.filter(|p| p.continues(days, generation));
        let mut body = match &setting {
            Some(s) => {
                self.retention.set(s.days);
                json!({"retentionDays": s.days.get(), "source": "table", "updatedAt": s.updated_at, "updatedBy": s.updated_by})
            }
            None => json!({"retentionDays": self.retention.fallback().get(), "source": "default"}),
        };
        if let Some(p) = progress {
            body["restamp"] = json!(p);
        }
        Ok(body)
    }

    /// The caller, when granted the route's permission.
    fn authorize(&self, req: &Request, route: &Route) -> Result<String, Problem> {
        let context = req.request_context_ref().and_then(|c| serde_json::to_value(c).ok()).unwrap_or_default();
        let caller = caller_arn(&context).or_else(|| self.local_principal.clone());
        match self.policy.decide(caller.as_deref(), route.permission) {
            Decision::Allowed { caller } => Ok(caller),
            Decision::Unauthenticated => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "no IAM caller in the request: call the API through API Gateway with SigV4-signed requests (AWS_IAM authorization)",
            )),
            Decision::Forbidden { caller } => {
                let (permission, variable) = match route.permission {
                    Permission::View => ("Administration view", "ADMIN_VIEW_PRINCIPALS"),
                    Permission::Write => ("Administration write", "ADMIN_WRITE_PRINCIPALS"),
                };
                Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("{caller} lacks the \"{permission}\" permission: add it (or a pattern matching it) to {variable}"),
                ))
            }
        }
    }
}

/// The route API Gateway matched, in the form [`gateway_agrees`] reads: an HTTP API's
/// `routeKey`, a REST API's method and resource.
fn gateway_route(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.route_key.clone(),
        RequestContext::ApiGatewayV1(c) => c.resource_path.as_ref().map(|path| format!("{} {path}", c.http_method)),
        _ => None,
    }
}

/// A 500 for a failure of the request's own, or a 503 that names when to come back
/// ([`RETRY_AFTER`]) when the table is busy or out of reach for now
/// ([`StoreError::is_transient`]): the request was right and the same one may succeed.
fn store_problem(e: &StoreError) -> Problem {
    if e.is_transient() {
        Problem {
            retry_after: Some(RETRY_AFTER),
            ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, text::error_chain(e))
        }
    } else {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", text::error_chain(e))
    }
}

/// The answer to a request still at work [`ANSWER_RESERVE`] before the invocation's deadline.
fn out_of_time() -> Problem {
    Problem {
        retry_after: Some(OUT_OF_TIME_RETRY_AFTER),
        public: true,
        ..Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            UNAVAILABLE,
            "the request did not finish in the api's time: narrow it (a shorter window, filter.reason, \
             filter.repository, filter.resourceName) or send it again later, when the table may be less busy; \
             what a cleanup deleted before stays deleted"
                .to_owned(),
        )
    }
}

fn query_problem(e: QueryError) -> Problem {
    match e {
        QueryError::Cursor(_) => Problem::new(StatusCode::BAD_REQUEST, "bad parameter", e.to_string()),
        QueryError::TooBroad { .. } | QueryError::OffsetTooFar { .. } => {
            Problem::new(StatusCode::BAD_REQUEST, "too broad", e.to_string())
        }
        QueryError::EdgeTooBusy { .. } => Problem {
            retry_after: Some(EDGE_RETRY_AFTER),
            public: true,
            ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, e.to_string())
        },
        QueryError::Store(s) => store_problem(&s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scan_failures_domain::rollup::generation::{RETIRED_FOLD, STORED_MARGIN};

    /// An instance that read the state just before a switch answers from the replaced
    /// generation until its cached state expires: the rollup function must still be folding it
    /// then, by any clock within the margin the rebuild already assumes.
    #[test]
    fn an_instance_keeps_the_rollups_state_for_less_than_a_replaced_generation_is_still_folded() {
        let kept = time::Duration::try_from(ROLLUPS_SINCE_CACHE).unwrap();
        assert!(kept + STORED_MARGIN < RETIRED_FOLD, "{kept} + {STORED_MARGIN} against {RETIRED_FOLD}");
        // And the last known state, when it cannot be read again (before, however old it was).
        let kept = time::Duration::try_from(ROLLUPS_STATE_ON_FAILURE).unwrap();
        assert!(kept + STORED_MARGIN < RETIRED_FOLD, "{kept} + {STORED_MARGIN} against {RETIRED_FOLD}");
    }
}
