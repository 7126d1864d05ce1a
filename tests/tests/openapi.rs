//! `infra/openapi.yaml` against the code: the documented routes are the router's
//! (`api::routes::ROUTES`), the documented query parameters are the parser's
//! (`scan_failures_http::params::{LIST_PARAMS, COUNT_PARAMS, SUMMARY_PARAMS, TREND_PARAMS,
//! DELETE_PARAMS}`, none for the other routes), every operation is SigV4-only and documents its
//! error statuses, and what the API writes matches the documented schemas.
//!
//! The comparisons are small pure functions over the parsed document that return the
//! differences as sorted strings; each is also run on a mutated copy of the document to show it
//! reports exactly the mutation, so a green run means the document agrees, not that the
//! comparison is blind.

use std::collections::BTreeSet;

use api::routes::{Action, ROUTES};
use scan_failures_domain::group::triage::{Triage, TriageEntry, TriageState};
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::view::AdministrationEvent;
use scan_failures_http::params::{COUNT_PARAMS, DELETE_PARAMS, LIST_PARAMS, SUMMARY_PARAMS, TREND_PARAMS};
use serde_json::{json, Value};

/// The operation keys of an OpenAPI path item.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Statuses every operation documents; the routes of one event also document 404.
const ERROR_STATUSES: [&str; 6] = ["400", "401", "403", "429", "500", "503"];

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// `METHOD /path` of every route the router dispatches on.
fn routed() -> BTreeSet<String> {
    ROUTES.iter().map(|r| format!("{} {}", r.method.to_uppercase(), r.path)).collect()
}

/// The path template of the route doing `action`.
fn path_of(action: Action) -> &'static str {
    route_of(action).path
}

fn route_of(action: Action) -> &'static api::routes::Route {
    ROUTES.iter().find(|r| r.action == action).unwrap_or_else(|| panic!("no route does {action:?}"))
}

/// The query parameters each route's parser accepts.
fn accepted_parameters(action: Action) -> &'static [&'static str] {
    match action {
        Action::List => LIST_PARAMS,
        Action::Count => COUNT_PARAMS,
        Action::Summary => SUMMARY_PARAMS,
        Action::Trend => TREND_PARAMS,
        Action::Delete => DELETE_PARAMS,
        Action::Get | Action::Triage | Action::GetConfig | Action::PutConfig => &[],
    }
}

/// Every operation of the document: (`METHOD`, path, operation object).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/...`); any other value is returned as it is.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        None => value,
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or_else(|| panic!("unresolvable $ref {reference:?}")),
    }
}

/// Names of the query parameters of one operation, path-level ones included, in document order
/// (a name documented twice appears twice).
fn query_parameters(doc: &Value, method: &str, path: &str) -> Vec<String> {
    let item = &doc["paths"][path];
    let op = &item[method.to_lowercase()];
    [&item["parameters"], &op["parameters"]]
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .map(|p| resolve(doc, p))
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap_or("<no name>").to_owned())
        .collect()
}

/// Differences between the routes the router serves and the operations the document lists.
fn route_differences(routed: &BTreeSet<String>, doc: &Value) -> Vec<String> {
    let documented: BTreeSet<String> =
        operations(doc).into_iter().map(|(method, path, _)| format!("{method} {path}")).collect();
    let mut diffs: Vec<String> = routed
        .difference(&documented)
        .map(|r| format!("routed but not documented: {r}"))
        .chain(documented.difference(routed).map(|r| format!("documented but not routed: {r}")))
        .collect();
    diffs.sort();
    diffs
}

/// Differences between the names a parser accepts and the query parameters documented.
fn parameter_differences(accepted: &[&str], documented: &[String]) -> Vec<String> {
    let accepted: BTreeSet<&str> = accepted.iter().copied().collect();
    let mut seen = BTreeSet::new();
    let mut diffs = Vec::new();
    for name in documented {
        if !seen.insert(name.as_str()) {
            diffs.push(format!("documented twice: {name}"));
        }
    }
    diffs.extend(accepted.difference(&seen).map(|n| format!("accepted by the parser but not documented: {n}")));
    diffs.extend(seen.difference(&accepted).map(|n| format!("documented but not accepted by the parser: {n}")));
    diffs.sort();
    diffs.dedup();
    diffs
}

/// Operations that do not require SigV4: their security (the operation's own, else the
/// document's) must be a non-empty list of requirements that each name only schemes declared
/// with `x-amazon-apigateway-authtype: awsSigv4`. An empty requirement `{}` would make
/// authentication optional.
fn unsigned_operations(doc: &Value) -> Vec<String> {
    let schemes = &doc["components"]["securitySchemes"];
    let is_sigv4 = |requirement: &Value| {
        requirement.as_object().is_some_and(|names| {
            !names.is_empty() && names.keys().all(|n| schemes[n]["x-amazon-apigateway-authtype"] == "awsSigv4")
        })
    };
    let mut diffs: Vec<String> = operations(doc)
        .into_iter()
        .filter(|(_, _, op)| {
            let security = op.get("security").unwrap_or(&doc["security"]);
            !security.as_array().is_some_and(|reqs| !reqs.is_empty() && reqs.iter().all(is_sigv4))
        })
        .map(|(method, path, _)| format!("{method} {path}: SigV4 not required"))
        .collect();
    diffs.sort();
    diffs
}

/// The statuses of `statuses` that the operation does not document.
fn missing_responses(doc: &Value, method: &str, path: &str, statuses: &[&str]) -> Vec<String> {
    let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
    let mut diffs: Vec<String> = statuses
        .iter()
        .filter(|s| responses.get(**s).is_none())
        .map(|s| format!("{method} {path}: no {s} response"))
        .collect();
    diffs.sort();
    diffs
}

/// What test 3 checks, over every routed operation.
fn security_and_status_differences(doc: &Value) -> Vec<String> {
    let mut diffs = unsigned_operations(doc);
    for route in ROUTES {
        let mut statuses = ERROR_STATUSES.to_vec();
        if matches!(route.action, Action::Get | Action::Triage) {
            statuses.push("404");
        }
        if route.action == Action::Triage {
            statuses.push("409");
        }
        diffs.extend(missing_responses(doc, route.method, route.path, &statuses));
    }
    diffs.sort();
    diffs
}

/// Whether `value` has the JSON type `name` (`integer` is a whole number).
fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Where a JSON value disagrees with a schema of the document: `type`, `const`, `enum`, keys
/// not among `properties`, `required` keys missing, `anyOf`/`oneOf` branches matched; recursing
/// through `$ref`s, `properties`, `items`, `additionalProperties` and `propertyNames`. (Formats
/// and patterns are left to the OpenAPI validator.) `at` names the value in the differences, `$`
/// being its root.
fn schema_differences(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut diffs = Vec::new();
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        diffs.push(format!("{at}: {value} is not of type {}", types.join(" or ")));
    }
    if schema.get("const").is_some_and(|c| c != value) {
        diffs.push(format!("{at}: {value} is not the const {}", schema["const"]));
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            diffs.push(format!("{at}: {value} is not in the enum"));
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema[key].as_array() {
            let matching = branches.iter().filter(|b| schema_differences(doc, b, value, at).is_empty()).count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                diffs.push(format!("{at}: matches {matching} of the {key} schemas"));
            }
        }
    }
    let properties = schema["properties"].as_object();
    if let Some(object) = value.as_object() {
        for (key, field) in object {
            let at = format!("{at}.{key}");
            if let Some(names) = schema.get("propertyNames") {
                diffs.extend(schema_differences(doc, names, &json!(key), &format!("{at} (name)")));
            }
            match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                (Some(s), _) => diffs.extend(schema_differences(doc, s, field, &at)),
                (None, Some(s)) if s.is_object() => {
                    diffs.extend(schema_differences(doc, s, field, &at));
                }
                (None, _) if properties.is_some() => diffs.push(format!("{at}: not documented")),
                (None, _) => {}
            }
        }
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                diffs.push(format!("{at}.{key}: required but absent"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            diffs.extend(schema_differences(doc, items, item, &format!("{at}[{i}]")));
        }
    }
    diffs.sort();
    diffs
}

/// A stored group with every remembered set filled, as the read path finds it in DynamoDB.
fn stored_group() -> GroupRecord {
    serde_json::from_value(json!({
        "id": "6f1c8a3e-2b7d-5e4f-9a10-3c5d7e9f1b2a",
        "domain": "Image Scanning",
        "resourceType": "Image",
        "resourceName": format!("quay.io/acme/web:v1@sha256:{}", "0".repeat(64)),
        "resourceId": format!("sha256:{}", "0".repeat(64)),
        "repository": "quay.io/acme/web",
        "registry": "quay.io",
        "reason": "TIMEOUT",
        "level": "WARNING",
        "message": "context deadline exceeded",
        "numOccurrences": 3,
        "createdAt": "2026-11-24T08:12:45.250Z",
        "lastOccurredAt": "2026-11-25T10:00:00.123Z",
        "expiresAt": 1_795_946_400,
        "account": "123456789012",
        "region": "eu-west-1",
        "source": "acme.ci",
        "opCounts": {"image_scan": 2, "deployment_check": 1},
        "originCounts": {"roxctl": 2, "api": 1},
        "clusters": {"prod-eu": "2026-11-25T10:00:00.123Z"},
        "deployments": {"shop/web": "2026-11-25T10:00:00.123Z"},
        "initiators": {"arn:aws:iam::123456789012:user/alice": "2026-11-25T10:00:00.123Z"},
        "userAgents": {"roxctl/4.6.0": "2026-11-25T10:00:00.123Z"},
    }))
    .unwrap()
}

/// The event of [`stored_group`] as the get and triage routes write it: resolved once, with
/// its history (every route writes the triage; the list leaves the history out).
fn stored_event() -> Value {
    let entry = TriageEntry {
        state: "resolved".to_owned(),
        at: "2026-11-25T11:00:00.000Z".to_owned(),
        by: "arn:aws:iam::123456789012:user/alice".to_owned(),
        note: Some("fixed in v2".to_owned()),
    };
    let triage = Triage {
        state: TriageState::Resolved,
        at: Some(entry.at.clone()),
        by: Some(entry.by.clone()),
        note: entry.note.clone(),
        history: vec![entry],
        version: Some(1),
    };
    let state = GroupState { triage, ..GroupState::default() };
    serde_json::to_value(AdministrationEvent::with_state(&stored_group(), &state, true)).unwrap()
}

fn is_openapi_3_1(doc: &Value) -> bool {
    doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1."))
}

fn none() -> Vec<String> {
    Vec::new()
}

#[test]
fn every_router_route_is_documented_and_every_documented_route_is_routed() {
    assert_eq!(route_differences(&routed(), &document()), none());
}

#[test]
fn documented_query_parameters_equal_the_parser_parameters() {
    let doc = document();
    for route in ROUTES {
        let documented = query_parameters(&doc, route.method, route.path);
        assert_eq!(
            parameter_differences(accepted_parameters(route.action), &documented),
            none(),
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[test]
fn every_operation_requires_sigv4_and_documents_the_error_statuses() {
    assert_eq!(security_and_status_differences(&document()), none());
}

#[test]
fn the_document_is_openapi_3_1() {
    assert!(is_openapi_3_1(&document()));
}

#[test]
fn the_event_the_api_writes_matches_the_event_schema() {
    let doc = document();
    let event = stored_event();
    let schema = json!({"$ref": "#/components/schemas/AdministrationEvent"});
    assert_eq!(schema_differences(&doc, &schema, &event, "$"), none());
}

#[test]
fn every_example_matches_its_schema() {
    let doc = document();
    let mut checked = 0;
    for (_, _, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = resolve(&doc, response);
            for media in response["content"].as_object().into_iter().flatten().map(|m| m.1) {
                let examples = media["examples"].as_object().into_iter().flatten();
                let values = examples.map(|e| &resolve(&doc, e.1)["value"]).chain(media.get("example"));
                for value in values {
                    let at = format!("{} {status} example", op["operationId"]);
                    assert_eq!(schema_differences(&doc, &media["schema"], value, &at), none());
                    checked += 1;
                }
            }
        }
    }
    // A 200 example per operation, an example per error response (one per status of
    // `ERROR_STATUSES` each, the 404 of the routes of one event, and the triage's 409): none
    // was skipped.
    let with_404 = ROUTES.iter().filter(|r| matches!(r.action, Action::Get | Action::Triage)).count();
    let with_409 = ROUTES.iter().filter(|r| r.action == Action::Triage).count();
    assert_eq!(checked, ROUTES.len() + ERROR_STATUSES.len() * ROUTES.len() + with_404 + with_409);

    // The request bodies' examples too: one per operation that takes a body.
    let mut bodies = 0;
    for (_, _, op) in operations(&doc) {
        for media in op["requestBody"]["content"].as_object().into_iter().flatten().map(|m| m.1) {
            for example in media["examples"].as_object().into_iter().flatten() {
                let at = format!("{} request example", op["operationId"]);
                assert_eq!(schema_differences(&doc, &media["schema"], &example.1["value"], &at), none());
                bodies += 1;
            }
        }
    }
    assert_eq!(bodies, ROUTES.iter().filter(|r| matches!(r.action, Action::Triage | Action::PutConfig)).count());
}

/// The schema of the 200 answer of the route doing `action`.
fn answer_schema(doc: &Value, action: Action) -> Value {
    let route = route_of(action);
    doc["paths"][route.path][route.method.to_lowercase()]["responses"]["200"]["content"]["application/json"]["schema"]
        .clone()
}

#[test]
fn the_summary_trend_triaged_event_and_configuration_the_api_writes_match_their_schemas() {
    use scan_failures_domain::group::triage::{Triage, TriageEntry, TriageState};
    use scan_failures_domain::group::GroupState;
    use scan_failures_domain::insights::{SummaryBuilder, TrendBuilder};
    let doc = document();
    let group = stored_group();
    let entry = |state: &str, note: Option<&str>| TriageEntry {
        state: state.into(),
        at: "2026-11-25T10:00:00.000Z".into(),
        by: "arn:aws:iam::123456789012:user/alice".into(),
        note: note.map(str::to_owned),
    };
    let state = GroupState {
        triage: Triage {
            state: TriageState::Resolved,
            at: Some("2026-11-25T10:00:00.000Z".into()),
            by: Some("arn:aws:iam::123456789012:user/alice".into()),
            note: Some("fixed the robot account".into()),
            history: vec![entry("resolved", Some("fixed the robot account")), entry("acknowledged", None)],
            version: Some(2),
        },
        daily: std::collections::BTreeMap::from([("2026-11-24".into(), 1), ("2026-11-25".into(), 2)]),
    };
    let event = json!({"event": AdministrationEvent::with_state(&group, &state, true)});
    assert_eq!(schema_differences(&doc, &answer_schema(&doc, Action::Triage), &event, "$"), none());
    assert_eq!(schema_differences(&doc, &answer_schema(&doc, Action::Get), &event, "$"), none());

    let mut summary = SummaryBuilder::default();
    summary.add(&group);
    let summary = serde_json::to_value(summary.finish(10)).unwrap();
    assert_eq!(schema_differences(&doc, &answer_schema(&doc, Action::Summary), &summary, "$"), none());

    let now = time::macros::datetime!(2026-11-25 12:00 UTC);
    let mut trend = TrendBuilder::new(3, now, scan_failures_domain::retention::RetentionDays::default());
    trend.add(&group, &state);
    let trend = serde_json::to_value(trend.finish()).unwrap();
    assert_eq!(trend["totals"]["occurrences"], 3);
    assert_eq!(schema_differences(&doc, &answer_schema(&doc, Action::Trend), &trend, "$"), none());

    for deleted in [
        json!({"deleted": 3, "kept": 0, "more": false}),
        json!({"deleted": 0, "kept": 1, "more": true, "nextCursor": "eyJ2IjoxfQ"}),
    ] {
        assert_eq!(schema_differences(&doc, &answer_schema(&doc, Action::Delete), &deleted, "$"), none());
    }
    let progress = serde_json::to_value(scan_failures_aws::dynamo::settings::RestampProgress {
        target_retention_days: 30,
        generation: "2026-11-25T09:59:00.000Z".into(),
        examined: 10,
        restamped: 9,
        finished: true,
        started_at: "2026-11-25T10:00:00.000Z".into(),
        updated_at: "2026-11-25T10:00:01.000Z".into(),
        cursor: None,
        this_run: Default::default(),
    })
    .unwrap();
    let config = json!({"retentionDays": 30, "source": "table", "updatedAt": "2026-11-25T10:00:00.000Z",
        "updatedBy": "arn:aws:iam::123456789012:user/alice", "restamp": progress});
    for action in [Action::GetConfig, Action::PutConfig] {
        assert_eq!(schema_differences(&doc, &answer_schema(&doc, action), &config, "$"), none());
    }
}

// The same comparisons on mutated copies: each reports exactly the mutation.

#[test]
fn a_removed_or_an_extra_route_is_reported() {
    let count = path_of(Action::Count);
    let mut doc = document();
    doc["paths"].as_object_mut().unwrap().remove(count);
    assert_eq!(route_differences(&routed(), &doc), [format!("routed but not documented: GET {count}")]);

    let list = path_of(Action::List);
    let mut doc = document();
    doc["paths"][list]["post"] = json!({"responses": {"200": {"description": "x"}}});
    doc["paths"]["/v1/other"] = json!({"get": {"responses": {"200": {"description": "x"}}}});
    assert_eq!(
        route_differences(&routed(), &doc),
        ["documented but not routed: GET /v1/other".to_owned(), format!("documented but not routed: POST {list}")]
    );
}

#[test]
fn an_extra_a_missing_or_a_repeated_parameter_is_reported() {
    let list = path_of(Action::List);
    let mut doc = document();
    let params = doc["paths"][list]["get"]["parameters"].as_array_mut().unwrap();
    params.push(json!({"name": "filter.colour", "in": "query", "schema": {"type": "string"}}));
    // A header of the same kind of name is not a query parameter and is not compared.
    params.push(json!({"name": "filter.header", "in": "header", "schema": {"type": "string"}}));
    params.retain(|p| p["$ref"] != "#/components/parameters/PaginationOffset");
    params.push(json!({"$ref": "#/components/parameters/FilterCluster"}));
    assert_eq!(
        parameter_differences(LIST_PARAMS, &query_parameters(&doc, "GET", list)),
        [
            "accepted by the parser but not documented: pagination.offset",
            "documented but not accepted by the parser: filter.colour",
            "documented twice: filter.cluster",
        ]
    );
}

#[test]
fn a_renamed_shared_parameter_is_reported_on_every_route_that_refers_to_it() {
    let mut doc = document();
    doc["components"]["parameters"]["FilterSearch"]["name"] = json!("filter.text");
    let expected = [
        "accepted by the parser but not documented: filter.search",
        "documented but not accepted by the parser: filter.text",
    ];
    let list = query_parameters(&doc, "GET", path_of(Action::List));
    let count = query_parameters(&doc, "GET", path_of(Action::Count));
    assert_eq!(parameter_differences(LIST_PARAMS, &list), expected);
    assert_eq!(parameter_differences(COUNT_PARAMS, &count), expected);
}

#[test]
fn pagination_documented_on_the_count_route_is_reported() {
    let count = path_of(Action::Count);
    let mut doc = document();
    doc["paths"][count]["get"]["parameters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"$ref": "#/components/parameters/PaginationLimit"}));
    assert_eq!(
        parameter_differences(COUNT_PARAMS, &query_parameters(&doc, "GET", count)),
        ["documented but not accepted by the parser: pagination.limit"]
    );
}

#[test]
fn an_unsigned_operation_or_a_missing_error_status_is_reported() {
    let get = path_of(Action::Get);
    let list = path_of(Action::List);
    let count = path_of(Action::Count);

    let mut doc = document();
    doc["paths"][get]["get"]["security"] = json!([]);
    doc["paths"][list]["get"]["security"] = json!([{}]);
    doc["paths"][get]["get"]["responses"].as_object_mut().unwrap().remove("404");
    doc["paths"][count]["get"]["responses"].as_object_mut().unwrap().remove("403");
    assert_eq!(
        security_and_status_differences(&doc),
        [
            format!("GET {get}: SigV4 not required"),
            format!("GET {get}: no 404 response"),
            format!("GET {list}: SigV4 not required"),
            format!("GET {count}: no 403 response"),
        ]
    );

    // Without the global requirement nothing is signed; a scheme that is not SigV4 does not count.
    let mut doc = document();
    doc.as_object_mut().unwrap().remove("security");
    let mut expected: Vec<String> = routed().into_iter().map(|r| format!("{r}: SigV4 not required")).collect();
    expected.sort();
    assert_eq!(unsigned_operations(&doc), expected);
    let mut doc = document();
    doc["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] = json!("none");
    assert_eq!(unsigned_operations(&doc), expected);
}

#[test]
fn another_openapi_version_is_reported() {
    let mut doc = document();
    doc["openapi"] = json!("3.0.3");
    assert!(!is_openapi_3_1(&doc));
    doc["openapi"] = json!(3.1);
    assert!(!is_openapi_3_1(&doc));
}

#[test]
fn a_field_the_schema_lacks_or_a_value_it_refuses_is_reported() {
    let schema = json!({"$ref": "#/components/schemas/AdministrationEvent"});
    let event = stored_event();

    let mut doc = document();
    let scan_failure = &mut doc["components"]["schemas"]["ScanFailure"];
    scan_failure["properties"].as_object_mut().unwrap().remove("registry");
    scan_failure["required"].as_array_mut().unwrap().retain(|r| r != "registry");
    doc["components"]["schemas"]["AdministrationEvent"]["properties"]["domain"]["const"] = json!("Images");
    doc["components"]["schemas"]["Operation"]["enum"] = json!(["image scan"]);
    assert_eq!(
        schema_differences(&doc, &schema, &event, "$"),
        [
            "$.domain: \"Image Scanning\" is not the const \"Images\"",
            "$.scanFailure.operationCounts.deployment check (name): \"deployment check\" is not in the enum",
            "$.scanFailure.registry: not documented",
        ]
    );

    let doc = document();
    let mut event = event;
    event["numOccurrences"] = json!(3);
    event["scanFailure"].as_object_mut().unwrap().remove("expiresAt");
    event["scanFailure"]["clusters"] = json!(["prod-eu", 7]);
    assert_eq!(
        schema_differences(&doc, &schema, &event, "$"),
        [
            "$.numOccurrences: 3 is not of type string",
            "$.scanFailure.clusters[1]: 7 is not of type string",
            "$.scanFailure.expiresAt: required but absent",
        ]
    );
}

#[test]
fn an_error_example_that_fits_no_documented_body_is_reported() {
    let mut doc = document();
    doc["components"]["responses"]["Forbidden"]["content"]["application/json"]["example"] = json!({"code": "403"});
    let forbidden = resolve(&doc, &doc["components"]["responses"]["Forbidden"]);
    let media = &forbidden["content"]["application/json"];
    assert_eq!(
        schema_differences(&doc, &media["schema"], &media["example"], "$"),
        ["$: matches 0 of the anyOf schemas"]
    );
}
