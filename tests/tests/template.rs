//! `infra/template.yaml` against the code: the table's keys, indexes and TTL attribute are
//! `scan_failures::schema`'s; each function's role grants exactly the DynamoDB (and later
//! EventBridge) actions its crate declares (`scan_failures::store::actions::RECORD` for ingest,
//! `scan_failures::query::actions::READ` for api) and no wildcard; the HTTP API's routes are
//! `api::routes::ROUTES`, all behind AWS_IAM, and the callers' managed policies cover exactly
//! the routes they should.
//!
//! The template is parsed with its CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, ...)
//! turned into their long JSON forms. The comparisons are small pure functions over the parsed
//! template that return the differences as sorted strings (`missing: X` = the code has X and
//! the template does not, `extra: X` = the other way round); each is also run on a mutated copy
//! to show it reports exactly the mutation, so a green run means the template agrees, not that
//! the comparison is blind. cfn-lint and `sam validate` check the rest (scripts/infra-check.sh).

use std::collections::BTreeSet;

use api::routes::ROUTES;
use scan_failures::event::DETAIL_TYPE;
use scan_failures::query::actions::READ;
use scan_failures::schema::{self, INDEXES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
use scan_failures::store::actions::RECORD;
use serde_json::{json, Map, Value};

const INGEST: &str = "IngestFunction";
const API: &str = "ApiFunction";
const TABLE: &str = "Table";
const HTTP_API: &str = "HttpApi";
const VIEW_POLICY: &str = "AdminEventsViewPolicy";
const ADMIN_POLICY: &str = "AdminEventsAdminPolicy";

/// Services whose actions a function's crate declares; the template must grant exactly those.
const DECLARED_SERVICES: [&str; 2] = ["dynamodb", "events"];

/// What every route resource of the callers' policies starts with (any stage).
const ROUTE_ARN_PREFIX: &str = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/";

// ---------------------------------------------------------------------------------- parsing

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    to_json(yaml)
}

/// YAML to JSON, with CloudFormation's short tags in their long form: `!Ref X` is
/// `{"Ref": X}`, `!GetAtt A.B` is `{"Fn::GetAtt": [A, B]}`, `!Condition C` is
/// `{"Condition": C}` and any other `!Name v` is `{"Fn::Name": v}`.
fn to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value);
            match (name, value) {
                ("Ref", v) => json!({ "Ref": v }),
                ("Condition", v) => json!({ "Condition": v }),
                ("GetAtt", Value::String(s)) => match s.split_once('.') {
                    Some((resource, attribute)) => json!({ "Fn::GetAtt": [resource, attribute] }),
                    None => json!({ "Fn::GetAtt": s }),
                },
                (other, v) => json!({ format!("Fn::{other}"): v }),
            }
        }
    }
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t["Resources"].get(id).unwrap_or_else(|| panic!("no resource {id} in the template"))
}

/// `x` or `[x, ...]` as a list.
fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// A resource reference as text: `Table.Arn` for a GetAtt, `Table` for a Ref, the string of a
/// `!Sub`, the JSON otherwise.
fn render(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_owned();
    }
    if let Some(r) = v.get("Ref").and_then(Value::as_str) {
        return r.to_owned();
    }
    if let Some([resource, attribute]) = v.get("Fn::GetAtt").and_then(Value::as_array).map(Vec::as_slice) {
        return format!("{}.{}", resource.as_str().unwrap_or("?"), attribute.as_str().unwrap_or("?"));
    }
    if let Some(s) = v.get("Fn::Sub").and_then(Value::as_str) {
        return s.to_owned();
    }
    v.to_string()
}

/// `missing: X` for each X the code has and the template lacks, `extra: X` the other way round,
/// sorted.
fn differences(code: &BTreeSet<String>, template: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = code
        .difference(template)
        .map(|x| format!("missing: {x}"))
        .chain(template.difference(code).map(|x| format!("extra: {x}")))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------- table

/// The table as facts: `table key HASH pk`, `attribute pk S`, `index byTime key RANGE lastSk`,
/// `index byTime projection ALL`, `ttl expiresAt`.
fn table_facts(t: &Value) -> BTreeSet<String> {
    let props = &resource(t, TABLE)["Properties"];
    let mut facts = BTreeSet::new();
    for key in list(&props["KeySchema"]) {
        facts.insert(format!("table key {} {}", render(&key["KeyType"]), render(&key["AttributeName"])));
    }
    for attribute in list(&props["AttributeDefinitions"]) {
        facts.insert(format!(
            "attribute {} {}",
            render(&attribute["AttributeName"]),
            render(&attribute["AttributeType"])
        ));
    }
    for index in list(&props["GlobalSecondaryIndexes"]) {
        let name = render(&index["IndexName"]);
        for key in list(&index["KeySchema"]) {
            facts.insert(format!("index {name} key {} {}", render(&key["KeyType"]), render(&key["AttributeName"])));
        }
        facts.insert(format!("index {name} projection {}", render(&index["Projection"]["ProjectionType"])));
    }
    for index in list(&props["LocalSecondaryIndexes"]) {
        facts.insert(format!("local index {}", render(&index["IndexName"])));
    }
    let ttl = &props["TimeToLiveSpecification"];
    if ttl["Enabled"] == json!(true) {
        facts.insert(format!("ttl {}", render(&ttl["AttributeName"])));
    }
    facts
}

/// The same facts from `scan_failures::schema`: the table is keyed on the partition key alone,
/// every index sorts on [`SORT_KEY`] and projects every attribute.
fn schema_facts() -> BTreeSet<String> {
    let mut facts = BTreeSet::from([format!("table key HASH {PARTITION_KEY}"), format!("ttl {TTL_ATTRIBUTE}")]);
    for (name, kind) in schema::key_attributes() {
        facts.insert(format!("attribute {name} {kind}"));
    }
    for index in INDEXES {
        facts.insert(format!("index {} key HASH {}", index.name, index.partition_key));
        facts.insert(format!("index {} key RANGE {}", index.name, index.sort_key));
        facts.insert(format!("index {} projection ALL", index.name));
    }
    facts
}

fn table_differences(t: &Value) -> Vec<String> {
    differences(&schema_facts(), &table_facts(t))
}

// ---------------------------------------------------------------------------------- IAM

/// Every Allow statement of a function's permissions: its role's inline and attached
/// template-defined policies, or its SAM `Policies` statements when it has no `Role`.
fn allow_statements<'a>(t: &'a Value, function: &str) -> Vec<&'a Value> {
    let props = &resource(t, function)["Properties"];
    let mut documents: Vec<&Value> = Vec::new();
    match props.get("Role") {
        Some(role) => {
            let role_id = match role.get("Fn::GetAtt").and_then(Value::as_array) {
                Some(parts) => parts[0].as_str().unwrap_or_default(),
                None => panic!("{function}'s Role must be a !GetAtt of a role in the template, got {role}"),
            };
            let role_props = &resource(t, role_id)["Properties"];
            documents.extend(list(&role_props["Policies"]).into_iter().map(|p| &p["PolicyDocument"]));
            for attached in list(&role_props["ManagedPolicyArns"]) {
                if let Some(id) = attached.get("Ref").and_then(Value::as_str) {
                    documents.push(&resource(t, id)["Properties"]["PolicyDocument"]);
                }
            }
        }
        None => documents.extend(list(&props["Policies"]).into_iter().filter(|p| p.get("Statement").is_some())),
    }
    documents
        .into_iter()
        .flat_map(|d| list(&d["Statement"]))
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect()
}

/// The actions of the declared services ([`DECLARED_SERVICES`]) a function is granted.
fn granted_actions(t: &Value, function: &str) -> BTreeSet<String> {
    allow_statements(t, function)
        .into_iter()
        .flat_map(|s| list(&s["Action"]))
        .map(render)
        .filter(|a| DECLARED_SERVICES.iter().any(|service| a.starts_with(&format!("{service}:"))))
        .collect()
}

fn action_differences(t: &Value, function: &str, declared: &[&str]) -> Vec<String> {
    let declared = declared.iter().map(|a| (*a).to_owned()).collect();
    differences(&declared, &granted_actions(t, function))
}

/// The resources of a function's DynamoDB grants, rendered (`Table.Arn`, `${Table.Arn}/index/*`).
fn dynamodb_resources(t: &Value, function: &str) -> BTreeSet<String> {
    allow_statements(t, function)
        .into_iter()
        .filter(|s| list(&s["Action"]).iter().any(|a| render(a).starts_with("dynamodb:")))
        .flat_map(|s| list(&s["Resource"]))
        .map(render)
        .collect()
}

/// Allow statements anywhere in the template (roles, managed policies, SAM `Policies`) whose
/// action has a `*` or whose resource is `*`, as `<resource id>: <action or resource>`.
fn wildcard_grants(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        let props = &r["Properties"];
        let documents: Vec<&Value> = match r["Type"].as_str() {
            Some("AWS::IAM::Role") => list(&props["Policies"]).into_iter().map(|p| &p["PolicyDocument"]).collect(),
            Some("AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy") => vec![&props["PolicyDocument"]],
            Some("AWS::Serverless::Function") => list(&props["Policies"]),
            _ => Vec::new(),
        };
        for statement in documents.into_iter().flat_map(|d| list(&d["Statement"])) {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            for action in list(&statement["Action"]).into_iter().map(render).filter(|a| a.contains('*')) {
                out.push(format!("{id}: action {action}"));
            }
            if list(&statement["Resource"]).into_iter().any(|r| render(r) == "*") {
                out.push(format!("{id}: resource *"));
            }
            // A bare string is a SAM policy template name or managed policy, not a statement.
        }
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            for policy in list(&props["Policies"]).into_iter().filter(|p| p.get("Statement").is_none()) {
                out.push(format!("{id}: policy template {}", render(policy)));
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------- routes

fn code_routes() -> BTreeSet<String> {
    ROUTES.iter().map(|r| format!("{} {}", r.method.to_uppercase(), r.path)).collect()
}

/// `METHOD /path` of every `HttpApi` event of every function in the template.
fn template_routes(t: &Value) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for (_, r) in t["Resources"].as_object().into_iter().flatten() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for (_, event) in r["Properties"]["Events"].as_object().into_iter().flatten() {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                routes.insert(format!("{} {}", render(&p["Method"]).to_uppercase(), render(&p["Path"])));
            }
        }
    }
    routes
}

fn route_differences(t: &Value) -> Vec<String> {
    differences(&code_routes(), &template_routes(t))
}

/// What would let a request reach a function without SigV4: the HTTP API's default authorizer
/// not being AWS_IAM, an `HttpApi` event on another API, or an event overriding the authorizer.
fn iam_auth_problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let auth = &resource(t, HTTP_API)["Properties"]["Auth"];
    if auth["EnableIamAuthorizer"] != json!(true) {
        out.push("HttpApi: EnableIamAuthorizer is not true".to_owned());
    }
    if auth["DefaultAuthorizer"].as_str() != Some("AWS_IAM") {
        out.push(format!("HttpApi: DefaultAuthorizer is {}", auth["DefaultAuthorizer"]));
    }
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        for (name, event) in r["Properties"]["Events"].as_object().into_iter().flatten() {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let p = &event["Properties"];
            if p["ApiId"] != json!({ "Ref": HTTP_API }) {
                out.push(format!("{id}.{name}: ApiId is {}", p["ApiId"]));
            }
            if let Some(authorizer) = p["Auth"].get("Authorizer").filter(|a| a.as_str() != Some("AWS_IAM")) {
                out.push(format!("{id}.{name}: Authorizer is {authorizer}"));
            }
        }
    }
    out.sort();
    out
}

/// The `METHOD /path` routes an execute-api:Invoke managed policy grants, with `*` for a path
/// parameter; a resource of another form is reported as it is.
fn policy_routes(t: &Value, policy: &str) -> BTreeSet<String> {
    list(&resource(t, policy)["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .filter(|s| list(&s["Action"]).into_iter().any(|a| render(a) == "execute-api:Invoke"))
        .flat_map(|s| list(&s["Resource"]))
        .map(render)
        .map(|r| match r.strip_prefix(ROUTE_ARN_PREFIX).and_then(|rest| rest.split_once('/')) {
            Some((method, path)) => format!("{method} /{path}"),
            None => format!("resource {r}"),
        })
        .collect()
}

/// A route as IAM sees it: `{param}` segments become `*`.
fn iam_route(method: &str, path: &str) -> String {
    let path: Vec<&str> = path
        .split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "*" } else { segment })
        .collect();
    format!("{} {}", method.to_uppercase(), path.join("/"))
}

fn policy_route_differences(t: &Value, policy: &str, only_get: bool) -> Vec<String> {
    let expected = ROUTES
        .iter()
        .filter(|r| !only_get || r.method.eq_ignore_ascii_case("GET"))
        .map(|r| iam_route(r.method, r.path))
        .collect();
    differences(&expected, &policy_routes(t, policy))
}

// ---------------------------------------------------------------------------------- helpers for mutations

fn statements_mut<'a>(t: &'a mut Value, role: &str, policy_name: &str) -> &'a mut Vec<Value> {
    t["Resources"][role]["Properties"]["Policies"]
        .as_array_mut()
        .and_then(|ps| ps.iter_mut().find(|p| p["PolicyName"] == json!(policy_name)))
        .and_then(|p| p["PolicyDocument"]["Statement"].as_array_mut())
        .unwrap_or_else(|| panic!("{role} has no policy {policy_name}"))
}

fn first_actions_mut<'a>(t: &'a mut Value, role: &str, policy_name: &str) -> &'a mut Vec<Value> {
    statements_mut(t, role, policy_name)[0]["Action"].as_array_mut().expect("an Action list")
}

// ---------------------------------------------------------------------------------- the table

#[test]
fn table_keys_indexes_and_ttl_are_the_schema_modules() {
    assert_eq!(table_differences(&template()), Vec::<String>::new());
}

#[test]
fn table_check_reports_a_missing_index_with_its_keys_and_projection() {
    let mut t = template();
    t["Resources"][TABLE]["Properties"]["GlobalSecondaryIndexes"]
        .as_array_mut()
        .expect("GSIs")
        .retain(|i| i["IndexName"] != json!(schema::BY_DIGEST.name));
    assert_eq!(
        table_differences(&t),
        [
            "missing: index byDigest key HASH resourceId",
            "missing: index byDigest key RANGE lastSk",
            "missing: index byDigest projection ALL",
        ]
    );
}

#[test]
fn table_check_reports_a_renamed_ttl_attribute_and_a_changed_projection() {
    let mut t = template();
    t["Resources"][TABLE]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = json!("ttl");
    t["Resources"][TABLE]["Properties"]["GlobalSecondaryIndexes"][0]["Projection"] =
        json!({ "ProjectionType": "KEYS_ONLY" });
    assert_eq!(
        table_differences(&t),
        [
            "extra: index byTime projection KEYS_ONLY",
            "extra: ttl ttl",
            "missing: index byTime projection ALL",
            "missing: ttl expiresAt",
        ]
    );
}

#[test]
fn table_keeps_its_data_on_delete_and_replacement_and_is_protected() {
    let t = template();
    let table = resource(&t, TABLE);
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(props["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(props["DeletionProtectionEnabled"], json!({ "Ref": "TableDeletionProtection" }));
    assert_eq!(t["Parameters"]["TableDeletionProtection"]["Default"], "true");
    // The sort key every index shares is an attribute of the table, not a key of it.
    assert!(!table_facts(&t).contains(&format!("table key RANGE {SORT_KEY}")));
}

// ---------------------------------------------------------------------------------- IAM

#[test]
fn ingest_role_grants_exactly_the_store_record_actions_on_the_table() {
    let t = template();
    assert_eq!(action_differences(&t, INGEST, RECORD), Vec::<String>::new());
    assert_eq!(dynamodb_resources(&t, INGEST), BTreeSet::from(["Table.Arn".to_owned()]));
}

#[test]
fn api_role_grants_exactly_the_query_read_actions_on_the_table_and_its_indexes() {
    let t = template();
    assert_eq!(action_differences(&t, API, READ), Vec::<String>::new());
    assert_eq!(
        dynamodb_resources(&t, API),
        BTreeSet::from(["${Table.Arn}/index/*".to_owned(), "Table.Arn".to_owned()])
    );
}

#[test]
fn action_check_reports_an_extra_granted_action() {
    let mut t = template();
    first_actions_mut(&mut t, "IngestFunctionRole", "dynamodb").push(json!("dynamodb:Scan"));
    assert_eq!(action_differences(&t, INGEST, RECORD), ["extra: dynamodb:Scan"]);
    // The other function is untouched.
    assert_eq!(action_differences(&t, API, READ), Vec::<String>::new());
}

#[test]
fn action_check_reports_a_declared_action_the_role_lacks() {
    let mut t = template();
    first_actions_mut(&mut t, "ApiFunctionRole", "dynamodb").retain(|a| a != "dynamodb:Query");
    assert_eq!(action_differences(&t, API, READ), ["missing: dynamodb:Query"]);
}

#[test]
fn no_iam_statement_allows_a_wildcard_action_or_resource_or_uses_a_policy_template() {
    assert_eq!(wildcard_grants(&template()), Vec::<String>::new());
}

#[test]
fn wildcard_check_reports_a_wildcard_action_a_star_resource_and_a_sam_policy_template() {
    let mut t = template();
    first_actions_mut(&mut t, "ApiFunctionRole", "dynamodb").push(json!("dynamodb:*"));
    statements_mut(&mut t, "IngestFunctionRole", "logs")[0]["Resource"] = json!("*");
    t["Resources"][API]["Properties"]["Policies"] =
        json!([{ "DynamoDBCrudPolicy": { "TableName": { "Ref": TABLE } } }]);
    assert_eq!(
        wildcard_grants(&t),
        [
            "ApiFunction: policy template {\"DynamoDBCrudPolicy\":{\"TableName\":{\"Ref\":\"Table\"}}}",
            "ApiFunctionRole: action dynamodb:*",
            "IngestFunctionRole: resource *",
        ]
    );
}

#[test]
fn ingest_on_failure_destination_and_rule_dead_letters_go_to_the_queue_it_may_send_to() {
    let t = template();
    let dlq = json!({ "Fn::GetAtt": ["DeadLetterQueue", "Arn"] });
    let ingest = &resource(&t, INGEST)["Properties"];
    let on_failure = &ingest["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(on_failure["Destination"], dlq);
    assert_eq!(ingest["EventInvokeConfig"]["MaximumRetryAttempts"], 2);
    let sends: Vec<&Value> = allow_statements(&t, INGEST)
        .into_iter()
        .filter(|s| list(&s["Action"]).iter().any(|a| *a == "sqs:SendMessage"))
        .collect();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["Resource"], dlq);

    let target = &resource(&t, "ScanFailedRule")["Properties"]["Targets"][0];
    assert_eq!(target["Arn"], json!({ "Fn::GetAtt": [INGEST, "Arn"] }));
    assert_eq!(target["DeadLetterConfig"]["Arn"], dlq);
    assert_eq!(target["RetryPolicy"], json!({ "MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400 }));

    // Only that rule (and the function's role) may send to the queue.
    let queue_policy = &resource(&t, "DeadLetterQueuePolicy")["Properties"]["PolicyDocument"];
    let allows: Vec<&Value> = list(&queue_policy["Statement"]).into_iter().filter(|s| s["Effect"] == "Allow").collect();
    assert_eq!(allows.len(), 2);
    assert_eq!(allows[0]["Principal"], json!({ "Service": "events.amazonaws.com" }));
    assert_eq!(
        allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({ "Fn::GetAtt": ["ScanFailedRule", "Arn"] })
    );
    assert_eq!(allows[1]["Principal"], json!({ "AWS": { "Fn::GetAtt": ["IngestFunctionRole", "Arn"] } }));
    let queue = &resource(&t, "DeadLetterQueue")["Properties"];
    assert_eq!(queue["SqsManagedSseEnabled"], true);
    assert_eq!(queue["MessageRetentionPeriod"], 14 * 24 * 3600);
}

#[test]
fn rule_matches_the_event_contracts_detail_type() {
    let t = template();
    let pattern = &resource(&t, "ScanFailedRule")["Properties"]["EventPattern"];
    assert_eq!(pattern, &json!({ "detail-type": [DETAIL_TYPE] }));
}

#[test]
fn functions_get_their_configuration_and_never_the_local_principal() {
    let t = template();
    let names = |function: &str| -> BTreeSet<String> {
        resource(&t, function)["Properties"]["Environment"]["Variables"]
            .as_object()
            .map(Map::keys)
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    };
    // The variables scan_failures::config reads (IngestConfig / ApiConfig::from_env).
    assert_eq!(names(INGEST), BTreeSet::from(["RETENTION_DAYS".to_owned(), "TABLE_NAME".to_owned()]));
    assert_eq!(
        names(API),
        ["ADMIN_VIEW_PRINCIPALS", "ADMIN_WRITE_PRINCIPALS", "RETENTION_DAYS", "TABLE_NAME"]
            .map(str::to_owned)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap();
    assert!(!text.contains("LOCAL_PRINCIPAL"), "the template must never set LOCAL_PRINCIPAL");
    let retention = &t["Parameters"]["RetentionDays"];
    assert_eq!(
        (&retention["Default"], &retention["MinValue"], &retention["MaxValue"]),
        (&json!(4), &json!(1), &json!(365))
    );
    for function in [INGEST, API] {
        let props = &resource(&t, function)["Properties"];
        assert_eq!(props["LoggingConfig"]["LogFormat"], "JSON", "{function}");
        assert_eq!(resource(&t, function)["Metadata"]["BuildMethod"], "rust-cargolambda", "{function}");
    }
    assert_eq!(resource(&t, INGEST)["Metadata"]["BuildProperties"]["Binary"], "ingest");
    assert_eq!(resource(&t, API)["Metadata"]["BuildProperties"]["Binary"], "api");
}

// ---------------------------------------------------------------------------------- routes

#[test]
fn http_api_routes_are_the_routers() {
    assert_eq!(route_differences(&template()), Vec::<String>::new());
}

#[test]
fn route_check_reports_a_renamed_route() {
    let mut t = template();
    t["Resources"][API]["Properties"]["Events"]["CountEvents"]["Properties"]["Path"] = json!("/v1/count/events");
    assert_eq!(route_differences(&t), ["extra: GET /v1/count/events", "missing: GET /v1/count/administration/events"]);
}

#[test]
fn every_route_is_behind_the_iam_authorizer() {
    assert_eq!(iam_auth_problems(&template()), Vec::<String>::new());
}

#[test]
fn auth_check_reports_a_default_authorizer_without_iam_and_a_route_opting_out() {
    let mut t = template();
    t["Resources"][HTTP_API]["Properties"]["Auth"] = json!({ "DefaultAuthorizer": "AWS_IAM" });
    t["Resources"][API]["Properties"]["Events"]["GetEvent"]["Properties"]["Auth"] = json!({ "Authorizer": "NONE" });
    assert_eq!(
        iam_auth_problems(&t),
        ["ApiFunction.GetEvent: Authorizer is \"NONE\"", "HttpApi: EnableIamAuthorizer is not true"]
    );
}

#[test]
fn view_policy_covers_exactly_the_get_routes_and_admin_policy_every_route() {
    let t = template();
    assert_eq!(policy_route_differences(&t, VIEW_POLICY, true), Vec::<String>::new());
    assert_eq!(policy_route_differences(&t, ADMIN_POLICY, false), Vec::<String>::new());
    assert!(policy_routes(&t, VIEW_POLICY).contains("GET /v1/administration/events/*"));
}

#[test]
fn policy_route_check_reports_a_missing_route_and_a_foreign_resource() {
    let mut t = template();
    let resources = t["Resources"][VIEW_POLICY]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
        .as_array_mut()
        .expect("a Resource list");
    resources.retain(|r| !render(r).ends_with("/GET/v1/count/administration/events"));
    resources.push(json!({ "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*" }));
    assert_eq!(
        policy_route_differences(&t, VIEW_POLICY, true),
        [
            "extra: resource arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*",
            "missing: GET /v1/count/administration/events",
        ]
    );
}

#[test]
fn outputs_name_what_deployers_and_callers_need() {
    let t = template();
    let outputs: BTreeSet<&str> = t["Outputs"].as_object().expect("Outputs").keys().map(String::as_str).collect();
    let wanted = [
        "AdminEventsAdminPolicyArn",
        "AdminEventsViewPolicyArn",
        "ApiUrl",
        "DeadLetterQueueUrl",
        "EventBusArn",
        "EventBusName",
        "TableName",
    ];
    assert_eq!(outputs, wanted.into_iter().collect());
}
