//! The api handler in-process: built from an environment map as Lambda would configure it,
//! called with API Gateway requests built from the fixtures in `events/api/`.

use ::api::handler::Api;
use scan_failures_aws::config::{self, ApiConfig};
use scan_failures_aws::dynamo::Store;
use serde_json::Value;

use crate::stack::repo_root;

/// The api on `store` with the configuration `ApiConfig::from_env` reads from `vars` (and
/// `TABLE_NAME`, the store's table); a variable not in `vars` is unset.
pub fn api_from_env(store: &Store, vars: &[(&str, &str)]) -> Api {
    let pairs: Vec<(&str, &str)> = std::iter::once(("TABLE_NAME", store.table())).chain(vars.iter().copied()).collect();
    let config =
        ApiConfig::from_env(config::vars(&pairs)).unwrap_or_else(|e| panic!("api configuration {pairs:?}: {e}"));
    Api::new(store.clone(), &config)
}

/// The api's answer to `request`: the status and the JSON body.
pub async fn respond(api: &Api, request: lambda_http::Request) -> (u16, Value) {
    let res = api.handle(request).await;
    let status = res.status().as_u16();
    let body = match res.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_else(|e| panic!("body {t}: {e}")),
        other => panic!("unexpected body {other:?}"),
    };
    (status, body)
}

/// An API Gateway request built from the fixtures in `events/api/`: HTTP API (payload 2.0) or
/// REST API, with the IAM caller set, or removed when `caller` is `None`.
pub fn api_request(path: &str, query: &str, caller: Option<&str>, rest: bool) -> lambda_http::Request {
    api_request_with("GET", path, query, None, caller, rest)
}

/// [`api_request`] with another method and a JSON body.
pub fn api_request_with(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&str>,
    caller: Option<&str>,
    rest: bool,
) -> lambda_http::Request {
    api_request_of(&api_event_with(method, path, query, body, caller, rest))
}

/// The request `lambda_http` makes of an API Gateway event.
pub fn api_request_of(event: &Value) -> lambda_http::Request {
    lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("request from {event}: {e}"))
}

/// The event of [`api_request_with`], to change before [`api_request_of`].
pub fn api_event_with(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&str>,
    caller: Option<&str>,
    rest: bool,
) -> Value {
    let fixture = if rest { "events/api/list-rest-api-iam.json" } else { "events/api/list-http-api-iam.json" };
    let text = std::fs::read_to_string(repo_root().join(fixture)).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let mut ev: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    ev["body"] = body.map_or(serde_json::Value::Null, Into::into);
    ev["isBase64Encoded"] = false.into();
    if rest {
        ev["httpMethod"] = method.into();
        ev["requestContext"]["httpMethod"] = method.into();
        ev["path"] = path.into();
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (k, v) in &pairs {
            let decoded = v.replace("%2B", "+").replace("%3A", ":");
            single.insert(k.clone(), decoded.clone().into());
            if let Some(values) =
                multi.entry(k.clone()).or_insert_with(|| serde_json::Value::Array(vec![])).as_array_mut()
            {
                values.push(decoded.into());
            }
        }
        ev["queryStringParameters"] = single.into();
        ev["multiValueQueryStringParameters"] = multi.into();
        match caller {
            Some(c) => ev["requestContext"]["identity"]["userArn"] = c.into(),
            None => {
                ev["requestContext"]["identity"].as_object_mut().map(|m| m.remove("userArn"));
            }
        }
    } else {
        ev["rawPath"] = path.into();
        ev["requestContext"]["http"]["path"] = path.into();
        ev["requestContext"]["http"]["method"] = method.into();
        ev["rawQueryString"] = query.into();
        let mut single = serde_json::Map::new();
        for (k, v) in &pairs {
            single.insert(k.clone(), v.clone().into());
        }
        ev["queryStringParameters"] = single.into();
        match caller {
            Some(c) => ev["requestContext"]["authorizer"]["iam"]["userArn"] = c.into(),
            None => {
                ev["requestContext"].as_object_mut().map(|m| m.remove("authorizer"));
            }
        }
    }
    ev
}
