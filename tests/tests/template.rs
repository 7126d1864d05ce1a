//! `infra/template.yaml` against the code: the table's keys, indexes and TTL attribute are
//! `scan_failures_aws::dynamo::schema`'s; each function's role grants exactly the DynamoDB and EventBridge
//! actions its crate declares (`ingest::ACTIONS`, `api::ACTIONS`, `maintenance::ACTIONS`), each
//! on the resource it is called on, the ingest role `ingest::SQS_CONSUME` on the buffer queue,
//! and no wildcard; each function gets exactly the variables its configuration reads, its own
//! log group and its Errors and Throttles alarms; the maintenance function runs on its schedule,
//! whose role may invoke only it; the rules match the contract's and
//! `scan_failures_domain::event::aws_sources`' detail types and statuses, and route every sample of `events/`
//! the code stores to exactly one rule; the HTTP API's routes are `api::routes::ROUTES`, all
//! behind AWS_IAM, and the callers' managed policies cover exactly the routes they should.
//!
//! The template is parsed with its CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, ...)
//! turned into their long JSON forms. It has variants chosen by parameters (direct or buffered
//! path, AWS scan sources on or off, notifications on or off): a check either reads every branch
//! of every `Fn::If` at once (the actions granted in any variant), or runs on each variant,
//! resolved as CloudFormation would (resources and outputs whose condition is false dropped,
//! `Fn::If` replaced by its chosen branch, `AWS::NoValue` removed). The comparisons are small
//! pure functions over the parsed template that return the differences as sorted strings
//! (`missing: X` = the code has X and the template does not, `extra: X` = the other way round);
//! each is also run on a mutated copy to show it reports exactly the mutation, so a green run
//! means the template agrees, not that the comparison is blind. cfn-lint and `sam validate`
//! check the rest, on every variant (scripts/infra-check.sh).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use api::routes::ROUTES;
use ingest::handler::MAX_BATCH_RECORDS;
use ingest::{ACTIONS, SQS_CONSUME};
use maintenance::{MaintenanceConfig, DEFAULT_MAX_ITEMS};
use scan_failures_aws::config::{self as notify_config, NotifyConfig};
use scan_failures_aws::config::{IngestConfig, SdkTimeouts, DEFAULT_SDK_ATTEMPT_TIMEOUT_MS};
use scan_failures_aws::dynamo::outbox;
use scan_failures_aws::dynamo::schema::{self, INDEXES, PARTITION_KEY, SORT_KEY, TIME_SORT_KEY, TTL_ATTRIBUTE};
use scan_failures_aws::dynamo::write::actions::RECORD;
use scan_failures_aws::eventbridge;
use scan_failures_domain::event::aws_sources::{ECR_DETAIL_TYPE, ECR_FAILURES, INSPECTOR_DETAIL_TYPE};
use scan_failures_domain::event::{self, Parsed, DETAIL_TYPE};
use scan_failures_domain::group::notification as notify;
use scan_failures_http::auth::Permission;
use serde_json::{json, Map, Value};

const INGEST: &str = "IngestFunction";
const API: &str = "ApiFunction";
const MAINTENANCE: &str = "MaintenanceFunction";
const SCHEDULE: &str = "MaintenanceSchedule";
const SCHEDULE_ROLE: &str = "MaintenanceScheduleRole";
/// Every function of the template and its binary (`BuildProperties.Binary`).
const FUNCTIONS: [(&str, &str); 3] = [(INGEST, "ingest"), (API, "api"), (MAINTENANCE, "maintenance")];
const TABLE: &str = "Table";
const HTTP_API: &str = "HttpApi";
const VIEW_POLICY: &str = "AdminEventsViewPolicy";
const ADMIN_POLICY: &str = "AdminEventsAdminPolicy";
const SCAN_FAILED_RULE: &str = "ScanFailedRule";
const ECR_RULE: &str = "EcrScanRule";
const INSPECTOR_RULE: &str = "InspectorCoverageRule";
const BUFFER: &str = "BufferQueue";
const DEAD_LETTERS: &str = "DeadLetterQueue";

/// Services whose actions a function's crate declares; the template must grant exactly those.
const DECLARED_SERVICES: [&str; 2] = ["dynamodb", "events"];

/// Services whose grants are compared with resources: the declared ones and SQS (the buffer
/// queue, the on-failure destination).
const GRANT_SERVICES: [&str; 3] = ["dynamodb", "events", "sqs"];

/// What every route resource of the callers' policies starts with (any stage).
const ROUTE_ARN_PREFIX: &str = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/";

/// The notification bus, as the ingest role's `events:PutEvents` grant names it.
const NOTIFICATION_BUS_ARN: &str =
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${NotificationBusName}";

/// Where AWS services publish, and the sources of the services the AWS rules listen to (AWS's
/// names; the code reads only the detail types).
const DEFAULT_BUS: &str = "default";
const ECR_SOURCE: &str = "aws.ecr";
const INSPECTOR_SOURCE: &str = "aws.inspector2";
/// The Inspector coverage status whose reasons `aws_sources::parse_inspector` classifies.
const INSPECTOR_INACTIVE: &str = "INACTIVE";

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

fn no_value() -> Value {
    json!({ "Ref": "AWS::NoValue" })
}

/// Every value `v` may take in some variant: both branches of an `Fn::If`, recursively, without
/// `AWS::NoValue`.
fn branches(v: &Value) -> Vec<&Value> {
    match v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        Some([_, yes, no]) => branches(yes).into_iter().chain(branches(no)).collect(),
        _ if *v == no_value() => Vec::new(),
        _ => vec![v],
    }
}

/// [`list`] through [`branches`]: the items of a list in any variant.
fn items(v: &Value) -> Vec<&Value> {
    branches(v).into_iter().flat_map(list).flat_map(branches).collect()
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

/// The table as facts: `table key HASH pk`, `attribute pk S`, `index byTime key RANGE timeSk`,
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

/// The same facts from `scan_failures_aws::dynamo::schema`: the table is keyed on the partition key alone,
/// every index sorts on the attribute of its [`schema::SortKey`] and projects what
/// [`schema::Index::projection`] says.
fn schema_facts() -> BTreeSet<String> {
    let mut facts = BTreeSet::from([format!("table key HASH {PARTITION_KEY}"), format!("ttl {TTL_ATTRIBUTE}")]);
    for (name, kind) in schema::key_attributes() {
        facts.insert(format!("attribute {name} {kind}"));
    }
    for index in INDEXES {
        facts.insert(format!("index {} key HASH {}", index.name, index.partition_key));
        facts.insert(format!("index {} key RANGE {}", index.name, index.sort_key.attribute()));
        facts.insert(format!("index {} projection {}", index.name, index.projection.as_str()));
    }
    facts
}

fn table_differences(t: &Value) -> Vec<String> {
    differences(&schema_facts(), &table_facts(t))
}

// ---------------------------------------------------------------------------------- variants

/// One deployable variant: every parameter's value (the template's defaults, some overridden).
#[derive(Debug, Clone)]
struct Variant {
    label: String,
    params: BTreeMap<String, String>,
}

impl Variant {
    fn of(t: &Value, overrides: &[(&str, &str)]) -> Self {
        let mut params: BTreeMap<String, String> = t["Parameters"]
            .as_object()
            .expect("Parameters")
            .iter()
            .map(|(name, p)| (name.clone(), scalar(&p["Default"])))
            .collect();
        for (name, value) in overrides {
            assert!(params.contains_key(*name), "no parameter {name} in the template");
            params.insert((*name).to_owned(), (*value).to_owned());
        }
        let label = if overrides.is_empty() {
            "defaults".to_owned()
        } else {
            overrides.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(" ")
        };
        Self { label, params }
    }

    fn is(&self, param: &str, value: &str) -> bool {
        self.params.get(param).map(String::as_str) == Some(value)
    }

    fn buffered(&self) -> bool {
        self.is("BufferedIngest", "true")
    }

    fn aws_sources(&self) -> bool {
        self.is("EnableAwsScanSources", "true")
    }

    fn notifications(&self) -> bool {
        !self.is("NotificationBusName", "")
    }
}

/// Every combination of the parameters that select branches.
fn variants(t: &Value) -> Vec<Variant> {
    let mut out = Vec::new();
    for buffered in ["false", "true"] {
        for aws in ["true", "false"] {
            for bus in ["", "ops"] {
                for event_bus in ["", "existing-bus"] {
                    out.push(Variant::of(
                        t,
                        &[
                            ("BufferedIngest", buffered),
                            ("EnableAwsScanSources", aws),
                            ("NotificationBusName", bus),
                            ("EventBusName", event_bus),
                        ],
                    ));
                }
            }
        }
    }
    out
}

/// A parameter default or condition operand as CloudFormation compares it: a string.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether condition expression `v` holds in `variant` (`Fn::Equals`, `Fn::Not`, `Fn::And`,
/// `Fn::Or`, `Condition`; an operand is a literal or a `Ref` to a parameter).
fn holds(t: &Value, v: &Value, variant: &Variant) -> bool {
    let operand = |o: &Value| match o.get("Ref").and_then(Value::as_str) {
        Some(name) => variant.params.get(name).cloned().unwrap_or_else(|| panic!("{name} is not a parameter")),
        None if o.is_object() || o.is_array() => panic!("unsupported condition operand {o}"),
        None => scalar(o),
    };
    let (function, args) = v.as_object().and_then(|m| m.iter().next()).unwrap_or_else(|| panic!("condition {v}"));
    let args_list = || args.as_array().unwrap_or_else(|| panic!("{function} takes a list, got {args}"));
    match function.as_str() {
        "Fn::Equals" => operand(&args_list()[0]) == operand(&args_list()[1]),
        "Fn::Not" => !holds(t, &args_list()[0], variant),
        "Fn::And" => args_list().iter().all(|a| holds(t, a, variant)),
        "Fn::Or" => args_list().iter().any(|a| holds(t, a, variant)),
        "Condition" => condition(t, args.as_str().unwrap_or_default(), variant),
        other => panic!("unsupported condition function {other}"),
    }
}

fn condition(t: &Value, name: &str, variant: &Variant) -> bool {
    let expression = t["Conditions"].get(name).unwrap_or_else(|| panic!("no condition {name}"));
    holds(t, expression, variant)
}

/// The template as CloudFormation deploys it in `variant`: resources and outputs whose
/// condition is false dropped, each `Fn::If` replaced by its branch, `AWS::NoValue` removed.
fn resolve(t: &Value, variant: &Variant) -> Value {
    fn value(t: &Value, v: &Value, variant: &Variant) -> Option<Value> {
        if *v == no_value() {
            return None;
        }
        if let Some([c, yes, no]) = v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
            let chosen = if condition(t, c.as_str().unwrap_or_default(), variant) { yes } else { no };
            return value(t, chosen, variant);
        }
        match v {
            Value::Object(map) => {
                Some(Value::Object(map.iter().filter_map(|(k, v)| Some((k.clone(), value(t, v, variant)?))).collect()))
            }
            Value::Array(items) => Some(Value::Array(items.iter().filter_map(|v| value(t, v, variant)).collect())),
            other => Some(other.clone()),
        }
    }
    let mut r = t.clone();
    for section in ["Resources", "Outputs"] {
        if let Some(map) = r[section].as_object_mut() {
            map.retain(|_, v| v.get("Condition").and_then(Value::as_str).is_none_or(|c| condition(t, c, variant)));
            for v in map.values_mut() {
                *v = value(t, v, variant).unwrap_or(Value::Null);
            }
        }
    }
    r
}

/// The resources `v` refers to: `Ref`, `Fn::GetAtt`, `${X}` / `${X.Attribute}` of a `Fn::Sub`.
fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map.get("Ref").and_then(Value::as_str) {
                out.insert(name.to_owned());
            }
            if let Some(name) = map.get("Fn::GetAtt").and_then(|a| a.get(0)).and_then(Value::as_str) {
                out.insert(name.to_owned());
            }
            let sub = map.get("Fn::Sub").map(|s| s.as_str().or_else(|| s.get(0).and_then(Value::as_str)));
            for part in sub.flatten().unwrap_or_default().split("${").skip(1) {
                let name = part.split('}').next().unwrap_or_default();
                out.insert(name.split('.').next().unwrap_or_default().to_owned());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// References, in `variant`, to template resources the variant does not create.
fn dangling_references(t: &Value, variant: &Variant) -> Vec<String> {
    let r = resolve(t, variant);
    let declared: BTreeSet<&String> = t["Resources"].as_object().expect("Resources").keys().collect();
    let created: BTreeSet<&String> = r["Resources"].as_object().expect("Resources").keys().collect();
    let mut out = Vec::new();
    for section in ["Resources", "Outputs"] {
        for (id, v) in r[section].as_object().into_iter().flatten() {
            let mut refs = BTreeSet::new();
            references(v, &mut refs);
            for depends_on in items(&v["DependsOn"]) {
                refs.insert(render(depends_on));
            }
            for name in refs.iter().filter(|n| declared.contains(n) && !created.contains(n)) {
                out.push(format!("{}: {section}.{id} refers to {name}, which is not created", variant.label));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------- IAM

/// Every Allow statement of a function's permissions, in any variant: its role's inline and
/// attached template-defined policies, or its SAM `Policies` statements when it has no `Role`.
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
            documents.extend(items(&role_props["Policies"]).into_iter().map(|p| &p["PolicyDocument"]));
            for attached in items(&role_props["ManagedPolicyArns"]) {
                if let Some(id) = attached.get("Ref").and_then(Value::as_str) {
                    documents.push(&resource(t, id)["Properties"]["PolicyDocument"]);
                }
            }
        }
        None => documents.extend(items(&props["Policies"]).into_iter().filter(|p| p.get("Statement").is_some())),
    }
    documents
        .into_iter()
        .flat_map(|d| items(&d["Statement"]))
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect()
}

/// The actions of the declared services ([`DECLARED_SERVICES`]) a function is granted in any
/// variant (every branch of every condition counts as granted).
fn granted_actions(t: &Value, function: &str) -> BTreeSet<String> {
    allow_statements(t, function)
        .into_iter()
        .flat_map(|s| items(&s["Action"]))
        .map(render)
        .filter(|a| DECLARED_SERVICES.iter().any(|service| a.starts_with(&format!("{service}:"))))
        .collect()
}

fn action_differences(t: &Value, function: &str, declared: &[&str]) -> Vec<String> {
    let declared = declared.iter().map(|a| (*a).to_owned()).collect();
    differences(&declared, &granted_actions(t, function))
}

/// `<action> on <resource>` for every grant of [`GRANT_SERVICES`] to a function.
fn grants(t: &Value, function: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for statement in allow_statements(t, function) {
        for action in items(&statement["Action"]).into_iter().map(render) {
            if !GRANT_SERVICES.iter().any(|service| action.starts_with(&format!("{service}:"))) {
                continue;
            }
            for r in items(&statement["Resource"]) {
                out.insert(format!("{action} on {}", render(r)));
            }
        }
    }
    out
}

/// What the ingest role must grant in `variant`: every action of `ingest::ACTIONS` on the
/// resource it is called on (the outbox and publishing only with notifications on), the buffer
/// queue's `ingest::SQS_CONSUME` on the buffered path, and the on-failure destination.
fn expected_ingest_grants(variant: &Variant) -> BTreeSet<String> {
    let by_time = format!("${{Table.Arn}}/index/{}", schema::BY_TIME.name);
    let mut out = BTreeSet::from(["sqs:SendMessage on DeadLetterQueue.Arn".to_owned()]);
    for action in ACTIONS.concat() {
        let (resource, needs_notifications) = if RECORD.contains(&action) {
            ("Table.Arn", false)
        } else if outbox::actions::OUTBOX.contains(&action) {
            (if action == "dynamodb:Query" { by_time.as_str() } else { "Table.Arn" }, true)
        } else if eventbridge::actions::PUBLISH.contains(&action) {
            (NOTIFICATION_BUS_ARN, true)
        } else {
            panic!("{action}: which resource does ingest call it on? Grant it in the template and say so here")
        };
        if !needs_notifications || variant.notifications() {
            out.insert(format!("{action} on {resource}"));
        }
    }
    if variant.buffered() {
        out.extend(SQS_CONSUME.iter().map(|a| format!("{a} on BufferQueue.Arn")));
    }
    out
}

fn ingest_grant_differences(t: &Value, variant: &Variant) -> Vec<String> {
    differences(&expected_ingest_grants(variant), &grants(&resolve(t, variant), INGEST))
}

/// What the api role must grant: every action of `api::ACTIONS`, `Query` on the table and every
/// index (the listings choose one by filter), the others on the table.
fn expected_api_grants() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for action in api::ACTIONS.concat() {
        assert!(action.starts_with("dynamodb:"), "{action}: which resource does api call it on?");
        out.insert(format!("{action} on Table.Arn"));
        if action == "dynamodb:Query" {
            out.insert(format!("{action} on ${{Table.Arn}}/index/*"));
        }
    }
    out
}

/// What the maintenance role must grant: every action of `maintenance::ACTIONS`, `Query` on the
/// `byTime` index only (the re-stamp reads the groups through it), the others on the table.
fn expected_maintenance_grants() -> BTreeSet<String> {
    let by_time = format!("${{Table.Arn}}/index/{}", schema::BY_TIME.name);
    maintenance::ACTIONS
        .concat()
        .into_iter()
        .map(|action| {
            assert!(action.starts_with("dynamodb:"), "{action}: which resource does maintenance call it on?");
            let resource = if action == "dynamodb:Query" { by_time.as_str() } else { "Table.Arn" };
            format!("{action} on {resource}")
        })
        .collect()
}

fn api_grant_differences(t: &Value) -> Vec<String> {
    differences(&expected_api_grants(), &grants(t, API))
}

fn maintenance_grant_differences(t: &Value) -> Vec<String> {
    differences(&expected_maintenance_grants(), &grants(t, MAINTENANCE))
}

/// `<action> on <resource>` of every Allow statement of a role's inline policies, any service.
fn role_grants(t: &Value, role: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for document in items(&resource(t, role)["Properties"]["Policies"]).into_iter().map(|p| &p["PolicyDocument"]) {
        for statement in items(&document["Statement"]).into_iter().filter(|s| s["Effect"] == "Allow") {
            for action in items(&statement["Action"]).into_iter().map(render) {
                for r in items(&statement["Resource"]) {
                    out.insert(format!("{action} on {}", render(r)));
                }
            }
        }
    }
    out
}

/// The role a function runs with (its `Role: !GetAtt X.Arn`).
fn role_of(t: &Value, function: &str) -> String {
    let role = &resource(t, function)["Properties"]["Role"];
    match role.get("Fn::GetAtt").and_then(Value::as_array).map(Vec::as_slice) {
        Some([id, attribute]) if attribute == "Arn" => render(id),
        _ => panic!("{function}'s Role must be a !GetAtt of a role in the template, got {role}"),
    }
}

/// The resources of a function's DynamoDB grants, rendered (`Table.Arn`, `${Table.Arn}/index/*`).
fn dynamodb_resources(t: &Value, function: &str) -> BTreeSet<String> {
    allow_statements(t, function)
        .into_iter()
        .filter(|s| items(&s["Action"]).iter().any(|a| render(a).starts_with("dynamodb:")))
        .flat_map(|s| items(&s["Resource"]))
        .map(render)
        .collect()
}

/// Allow statements anywhere in the template (roles, managed policies, SAM `Policies`), in any
/// variant, whose action has a `*` or whose resource is `*`, as `<resource id>: <action or
/// resource>`.
fn wildcard_grants(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        let props = &r["Properties"];
        let documents: Vec<&Value> = match r["Type"].as_str() {
            Some("AWS::IAM::Role") => items(&props["Policies"]).into_iter().map(|p| &p["PolicyDocument"]).collect(),
            Some("AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy") => vec![&props["PolicyDocument"]],
            Some("AWS::Serverless::Function") => items(&props["Policies"]),
            _ => Vec::new(),
        };
        for statement in documents.into_iter().flat_map(|d| items(&d["Statement"])) {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            for action in items(&statement["Action"]).into_iter().map(render).filter(|a| a.contains('*')) {
                out.push(format!("{id}: action {action}"));
            }
            if items(&statement["Resource"]).into_iter().any(|r| render(r) == "*") {
                out.push(format!("{id}: resource *"));
            }
            // A bare string is a SAM policy template name or managed policy, not a statement.
        }
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            for policy in items(&props["Policies"]).into_iter().filter(|p| p.get("Statement").is_none()) {
                out.push(format!("{id}: policy template {}", render(policy)));
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------- rules and delivery

/// A rule's event pattern as facts: `source aws.ecr`, `detail-type ECR Image Scan`,
/// `detail.scan-status FAILED`, plus `bus <name>`.
fn rule_facts(t: &Value, rule: &str) -> BTreeSet<String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
        for (key, v) in v.as_object().into_iter().flatten() {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match v {
                Value::Object(_) => walk(&path, v, out),
                other => out.extend(list(other).into_iter().map(|x| format!("{path} {}", render(x)))),
            }
        }
    }
    let props = &resource(t, rule)["Properties"];
    let mut out = BTreeSet::from([format!("bus {}", render(&props["EventBusName"]))]);
    walk("", &props["EventPattern"], &mut out);
    out
}

fn ecr_rule_differences(t: &Value) -> Vec<String> {
    let mut expected = BTreeSet::from([
        format!("bus {DEFAULT_BUS}"),
        format!("source {ECR_SOURCE}"),
        format!("detail-type {ECR_DETAIL_TYPE}"),
    ]);
    expected.extend(ECR_FAILURES.iter().map(|(status, _)| format!("detail.scan-status {status}")));
    differences(&expected, &rule_facts(t, ECR_RULE))
}

fn inspector_rule_differences(t: &Value) -> Vec<String> {
    let expected = BTreeSet::from([
        format!("bus {DEFAULT_BUS}"),
        format!("source {INSPECTOR_SOURCE}"),
        format!("detail-type {INSPECTOR_DETAIL_TYPE}"),
        format!("detail.scanStatus.statusCodeValue {INSPECTOR_INACTIVE}"),
    ]);
    differences(&expected, &rule_facts(t, INSPECTOR_RULE))
}

/// Whether an EventBridge pattern matches an event. Only what the template uses is supported
/// (nested objects, lists of exact values); a content filter (`prefix`, `anything-but`, ...)
/// panics rather than being matched wrongly.
fn matches(pattern: &Value, event: &Value) -> bool {
    pattern.as_object().unwrap_or_else(|| panic!("pattern {pattern} is not an object")).iter().all(|(key, p)| {
        let e = &event[key];
        match p {
            Value::Object(_) => matches(p, e),
            Value::Array(allowed) => {
                if let Some(filter) = allowed.iter().find(|a| a.is_object() || a.is_array()) {
                    panic!("content filter {filter} is not supported by this matcher");
                }
                let values = match e {
                    Value::Array(values) => values.iter().collect(),
                    other => list(other),
                };
                values.into_iter().any(|v| allowed.contains(v))
            }
            other => panic!("pattern value {other} must be a list or an object"),
        }
    })
}

/// The rules of a (resolved) template whose pattern matches `event`, as if they were on one bus
/// (they are when `EventBusName` is `default`).
fn routed_by(r: &Value, event: &Value) -> Vec<String> {
    r["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v["Type"] == "AWS::Events::Rule")
        .filter(|(_, v)| matches(&v["Properties"]["EventPattern"], event))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The sample events of `events/` (not the schemas): file name and JSON.
fn samples() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".schema.json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (name, serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", p.display())))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// How the rules of the variant with every rule route the samples and the notifications: every
/// sample the code stores must reach exactly one rule; an ECR scan the code ignores none (the
/// ECR rule filters on the failure statuses); a notification none (publishing to the product's
/// bus or the default bus must not come back to the function).
fn routing_problems(t: &Value) -> Vec<String> {
    let r = resolve(t, &Variant::of(t, &[("EnableAwsScanSources", "true")]));
    let mut out = Vec::new();
    for (name, sample) in samples() {
        let routed = routed_by(&r, &sample);
        let stored = matches!(event::parse(sample.clone()), Ok(Parsed::Failure(_)));
        if stored && routed.len() != 1 {
            out.push(format!("{name}: stored by the code, routed by {routed:?}"));
        }
        if !stored && sample["detail-type"] == ECR_DETAIL_TYPE && !routed.is_empty() {
            out.push(format!("{name}: ignored by the code, routed by {routed:?}"));
        }
    }
    for detail_type in [notify::OPENED, notify::THRESHOLD_CROSSED] {
        let notification = json!({ "source": notify_config::DEFAULT_SOURCE, "detail-type": detail_type, "detail": {} });
        let routed = routed_by(&r, &notification);
        if !routed.is_empty() {
            out.push(format!("notification {detail_type}: routed by {routed:?}"));
        }
    }
    out
}

/// How a variant delivers events: the AWS rules exist when enabled; every rule has one target, the function (direct) or the
/// buffer queue (buffered), with the retries and dead-letter queue of the contract; the
/// dead-letter queue, the buffer queue and the function's invoke permissions let exactly the
/// rules of the variant send.
fn delivery_problems(t: &Value, variant: &Variant) -> Vec<String> {
    let r = resolve(t, variant);
    let resources = r["Resources"].as_object().expect("Resources");
    let label = &variant.label;
    let mut out = Vec::new();
    let rules: BTreeSet<String> =
        resources.iter().filter(|(_, v)| v["Type"] == "AWS::Events::Rule").map(|(id, _)| format!("{id}.Arn")).collect();
    let target = json!({
        "Id": "ingest",
        "Arn": { "Fn::GetAtt": [if variant.buffered() { BUFFER } else { INGEST }, "Arn"] },
        "RetryPolicy": { "MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400 },
        "DeadLetterConfig": { "Arn": { "Fn::GetAtt": [DEAD_LETTERS, "Arn"] } },
    });
    for (id, rule) in resources.iter().filter(|(_, v)| v["Type"] == "AWS::Events::Rule") {
        let targets = list(&rule["Properties"]["Targets"]);
        let [found] = targets.as_slice() else {
            out.push(format!("{label}: {id} has {} targets", targets.len()));
            continue;
        };
        let fields: BTreeSet<&String> =
            target.as_object().into_iter().chain(found.as_object()).flat_map(Map::keys).collect();
        for field in fields.into_iter().filter(|f| found[f.as_str()] != target[f.as_str()]) {
            let shown = if field == "Arn" { render(&found[field.as_str()]) } else { found[field.as_str()].to_string() };
            out.push(format!("{label}: {id}: target {field} is {shown}"));
        }
    }
    // Senders each queue policy allows: aws:SourceArn of its events.amazonaws.com statements.
    let senders = |policy: &str| -> BTreeSet<String> {
        resources
            .get(policy)
            .map(|p| list(&p["Properties"]["PolicyDocument"]["Statement"]))
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s["Effect"] == "Allow" && s["Principal"] == json!({ "Service": "events.amazonaws.com" }))
            .flat_map(|s| list(&s["Condition"]["ArnEquals"]["aws:SourceArn"]))
            .map(render)
            .collect()
    };
    let mut compare = |what: &str, expected: &BTreeSet<String>, found: BTreeSet<String>| {
        out.extend(differences(expected, &found).into_iter().map(|d| format!("{label}: {what}: {d}")));
    };
    let mut wanted = BTreeSet::from([format!("{SCAN_FAILED_RULE}.Arn")]);
    if variant.aws_sources() {
        wanted.extend([format!("{ECR_RULE}.Arn"), format!("{INSPECTOR_RULE}.Arn")]);
    }
    compare("rules", &wanted, rules.clone());
    compare("dead-letter queue senders", &rules, senders("DeadLetterQueuePolicy"));
    let none = BTreeSet::new();
    compare("buffer queue senders", if variant.buffered() { &rules } else { &none }, senders("BufferQueuePolicy"));
    let invokers: BTreeSet<String> = resources
        .values()
        .filter(|v| v["Type"] == "AWS::Lambda::Permission")
        .map(|v| &v["Properties"])
        .filter(|p| p["Principal"] == "events.amazonaws.com" && p["FunctionName"] == json!({ "Ref": INGEST }))
        .map(|p| render(&p["SourceArn"]))
        .collect();
    compare("rules that may invoke ingest", if variant.buffered() { &none } else { &rules }, invokers);
    out
}

/// The SQS event source mappings in any variant: `AWS::Lambda::EventSourceMapping` resources and
/// the `SQS` events of SAM functions, by name, with their properties.
fn sqs_mappings(t: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        match r["Type"].as_str() {
            Some("AWS::Lambda::EventSourceMapping") => out.push((id.clone(), &r["Properties"])),
            Some("AWS::Serverless::Function") => {
                for (name, event) in r["Properties"]["Events"].as_object().into_iter().flatten() {
                    if event["Type"] == "SQS" {
                        out.push((format!("{id}.{name}"), &event["Properties"]));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Mappings that would make a batch's failure retry every message of it: without
/// `ReportBatchItemFailures`, Lambda ignores the batch item failures the handler returns.
fn batch_response_problems(t: &Value) -> Vec<String> {
    sqs_mappings(t)
        .into_iter()
        .filter(|(_, p)| !items(&p["FunctionResponseTypes"]).contains(&&json!("ReportBatchItemFailures")))
        .map(|(id, _)| format!("{id}: no ReportBatchItemFailures"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The buffered path in `variant`: the queue and the mapping exist exactly when it is chosen;
/// then the queue is encrypted, redrives to the dead-letter queue after BufferMaxReceiveCount
/// receives, hides a received message for at least 6 times the function's timeout, and one
/// mapping reads it into the ingest function with the batch parameters.
fn buffer_problems(t: &Value, variant: &Variant) -> Vec<String> {
    let r = resolve(t, variant);
    let label = &variant.label;
    let mappings = sqs_mappings(&r);
    let queue = r["Resources"].get(BUFFER);
    let mut out = Vec::new();
    if !variant.buffered() {
        if queue.is_some() {
            out.push(format!("{label}: {BUFFER} exists on the direct path"));
        }
        out.extend(mappings.iter().map(|(id, _)| format!("{label}: {id} exists on the direct path")));
        return out;
    }
    let Some(queue) = queue.map(|q| &q["Properties"]) else {
        return vec![format!("{label}: no {BUFFER}")];
    };
    if queue["SqsManagedSseEnabled"] != true {
        out.push(format!("{label}: {BUFFER} is not encrypted"));
    }
    let redrive = json!({
        "deadLetterTargetArn": { "Fn::GetAtt": [DEAD_LETTERS, "Arn"] },
        "maxReceiveCount": { "Ref": "BufferMaxReceiveCount" },
    });
    if queue["RedrivePolicy"] != redrive {
        out.push(format!("{label}: {BUFFER} redrive policy is {}", queue["RedrivePolicy"]));
    }
    let timeout = r["Resources"][INGEST]["Properties"]["Timeout"].as_u64().unwrap_or(u64::MAX);
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap_or(30);
    if visibility < 6 * timeout {
        out.push(format!("{label}: visibility timeout {visibility} s < 6 x the function's timeout {timeout} s"));
    }
    let expected = json!({
        "EventSourceArn": { "Fn::GetAtt": [BUFFER, "Arn"] },
        "FunctionName": { "Ref": INGEST },
        "Enabled": true,
        "BatchSize": { "Ref": "BufferBatchSize" },
        "MaximumBatchingWindowInSeconds": { "Ref": "BufferBatchingWindowSeconds" },
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    });
    match mappings.as_slice() {
        [(_, p)] if **p == expected => {}
        other => out.push(format!("{label}: the buffer's mappings are {other:?}")),
    }
    out
}

/// A valid value for each variable a configuration reads.
fn config_value(name: &str) -> &'static str {
    match name {
        "NOTIFY_THRESHOLDS" => "10,100",
        "SDK_ATTEMPT_TIMEOUT_MS" => "2000",
        _ => "7",
    }
}

/// The names of the variables `IngestConfig::from_env` reads and gets a value for, when
/// notifications are on or off.
fn ingest_config_variables(notifications: bool) -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    let config = IngestConfig::from_env(|name| {
        if name == "NOTIFY_BUS_NAME" && !notifications {
            return None;
        }
        read.borrow_mut().insert(name.to_owned());
        Some(config_value(name).to_owned())
    });
    assert!(config.is_ok(), "{config:?}");
    read.into_inner()
}

/// The names of the variables `MaintenanceConfig::from_env` reads and gets a value for.
fn maintenance_config_variables() -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    let config = MaintenanceConfig::from_env(|name| {
        read.borrow_mut().insert(name.to_owned());
        Some(config_value(name).to_owned())
    });
    assert!(config.is_ok(), "{config:?}");
    read.into_inner()
}

/// The ingest function's environment in `variant`, with each `Ref` replaced by the parameter's
/// value, or by the resource's name for a resource.
fn ingest_environment(t: &Value, variant: &Variant) -> BTreeMap<String, String> {
    environment(t, variant, INGEST)
}

/// A function's environment in `variant`, as [`ingest_environment`].
fn environment(t: &Value, variant: &Variant, function: &str) -> BTreeMap<String, String> {
    let r = resolve(t, variant);
    r["Resources"][function]["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("Variables")
        .iter()
        .map(|(name, v)| {
            let value = match v.get("Ref").and_then(Value::as_str) {
                Some(p) => variant.params.get(p).cloned().unwrap_or_else(|| p.to_owned()),
                None => scalar(v),
            };
            (name.clone(), value)
        })
        .collect()
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

fn policy_route_differences(t: &Value, policy: &str, only_view: bool) -> Vec<String> {
    let expected = ROUTES
        .iter()
        .filter(|r| !only_view || r.permission == Permission::View)
        .map(|r| iam_route(r.method, r.path))
        .collect();
    differences(&expected, &policy_routes(t, policy))
}

// ---------------------------------------------------------------------------------- logs, alarms, schedule

/// Each function's logs: JSON, to its own log group (no other function's), kept
/// `LogRetentionDays`, which its role alone may write to.
fn log_problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (function, _) in FUNCTIONS {
        let logging = &resource(t, function)["Properties"]["LoggingConfig"];
        if logging["LogFormat"] != "JSON" {
            out.push(format!("{function}: LogFormat is {}", logging["LogFormat"]));
        }
        let Some(group) = logging["LogGroup"].get("Ref").and_then(Value::as_str) else {
            out.push(format!("{function}: LogGroup is {}", logging["LogGroup"]));
            continue;
        };
        if let Some(other) = seen.insert(group.to_owned(), function) {
            out.push(format!("{function}: shares {group} with {other}"));
        }
        let props = &resource(t, group)["Properties"];
        if props["RetentionInDays"] != json!({ "Ref": "LogRetentionDays" }) {
            out.push(format!("{group}: RetentionInDays is {}", props["RetentionInDays"]));
        }
        let logs: BTreeSet<String> =
            role_grants(t, &role_of(t, function)).into_iter().filter(|g| g.starts_with("logs:")).collect();
        let expected: BTreeSet<String> =
            ["logs:CreateLogStream", "logs:PutLogEvents"].map(|a| format!("{a} on {group}.Arn")).into();
        out.extend(differences(&expected, &logs).into_iter().map(|d| format!("{function}: logs: {d}")));
    }
    out.sort();
    out
}

/// Functions without an alarm on their `Errors` or `Throttles` (any sum over 0, notifying the
/// alarm topic when there is one).
fn alarm_problems(t: &Value) -> Vec<String> {
    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    for (_, r) in t["Resources"].as_object().into_iter().flatten() {
        let p = &r["Properties"];
        if r["Type"] != "AWS::CloudWatch::Alarm" || p["Namespace"] != "AWS/Lambda" {
            continue;
        }
        let sound = p["Statistic"] == "Sum"
            && p["Threshold"] == 0
            && p["ComparisonOperator"] == "GreaterThanThreshold"
            && p["AlarmActions"] == json!({ "Fn::If": ["HasAlarmTopic", [{ "Ref": "AlarmTopicArn" }], no_value()] });
        for dimension in list(&p["Dimensions"]).into_iter().filter(|d| d["Name"] == "FunctionName" && sound) {
            found.insert((render(&dimension["Value"]), render(&p["MetricName"])));
        }
    }
    let mut out = Vec::new();
    for (function, _) in FUNCTIONS {
        for metric in ["Errors", "Throttles"] {
            if !found.contains(&(function.to_owned(), metric.to_owned())) {
                out.push(format!("{function}: no {metric} alarm"));
            }
        }
    }
    out
}

/// The maintenance schedule: every 5 minutes, on time, an empty payload, no retry (the next run
/// is the retry), to the maintenance function with a role that scheduler.amazonaws.com of this
/// account alone assumes and that may invoke that function and nothing else.
fn schedule_problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let expected = json!({
        "Description": resource(t, SCHEDULE)["Properties"]["Description"],
        "ScheduleExpression": "rate(5 minutes)",
        "FlexibleTimeWindow": { "Mode": "OFF" },
        "State": "ENABLED",
        "Target": {
            "Arn": { "Fn::GetAtt": [MAINTENANCE, "Arn"] },
            "RoleArn": { "Fn::GetAtt": [SCHEDULE_ROLE, "Arn"] },
            "Input": "{}",
            "RetryPolicy": { "MaximumRetryAttempts": 0 },
        },
    });
    let schedule = resource(t, SCHEDULE);
    if schedule["Type"] != "AWS::Scheduler::Schedule" || schedule.get("Condition").is_some() {
        out.push(format!("{SCHEDULE}: type {} condition {}", schedule["Type"], schedule["Condition"]));
    }
    // Field by field, down to the leaves: `Target.Input is "[]"`.
    fn compare(path: &str, expected: &Value, found: &Value, out: &mut Vec<String>) {
        match (expected, found) {
            (Value::Object(e), Value::Object(f)) if !e.contains_key("Fn::GetAtt") => {
                for key in e.keys().chain(f.keys()).collect::<BTreeSet<_>>() {
                    let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    compare(
                        &path,
                        &e.get(key).cloned().unwrap_or(Value::Null),
                        &f.get(key).cloned().unwrap_or(Value::Null),
                        out,
                    );
                }
            }
            _ if expected != found => out.push(format!(
                "{SCHEDULE}: {path} is {}",
                if found.is_object() { render(found) } else { found.to_string() }
            )),
            _ => {}
        }
    }
    compare("", &expected, &schedule["Properties"], &mut out);
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "scheduler.amazonaws.com" },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } },
        }],
    });
    if resource(t, SCHEDULE_ROLE)["Properties"]["AssumeRolePolicyDocument"] != trust {
        out.push(format!("{SCHEDULE_ROLE}: trust policy is not scheduler.amazonaws.com of this account"));
    }
    let expected = BTreeSet::from([format!("lambda:InvokeFunction on {MAINTENANCE}.Arn")]);
    out.extend(
        differences(&expected, &role_grants(t, SCHEDULE_ROLE)).into_iter().map(|d| format!("{SCHEDULE_ROLE}: {d}")),
    );
    out.sort();
    out
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

/// The `Fn::If` item of a role's `Policies` whose true branch is the policy `policy_name`.
fn conditional_policy_mut<'a>(t: &'a mut Value, role: &str, policy_name: &str) -> &'a mut Value {
    t["Resources"][role]["Properties"]["Policies"]
        .as_array_mut()
        .and_then(|ps| ps.iter_mut().find(|p| p["Fn::If"][1]["PolicyName"] == json!(policy_name)))
        .unwrap_or_else(|| panic!("{role} has no conditional policy {policy_name}"))
}

fn pattern_mut<'a>(t: &'a mut Value, rule: &str) -> &'a mut Value {
    &mut t["Resources"][rule]["Properties"]["EventPattern"]
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
            "missing: index byDigest projection KEYS_ONLY",
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
    // The indexes' sort keys are attributes of the table, not keys of it.
    assert!(!table_facts(&t).contains(&format!("table key RANGE {SORT_KEY}")));
    assert!(!table_facts(&t).contains(&format!("table key RANGE {TIME_SORT_KEY}")));
}

// ---------------------------------------------------------------------------------- IAM

#[test]
fn ingest_role_grants_exactly_the_actions_of_ingest_in_any_variant() {
    let t = template();
    assert_eq!(action_differences(&t, INGEST, &ACTIONS.concat()), Vec::<String>::new());
    assert!(granted_actions(&t, INGEST).contains("events:PutEvents"));
}

#[test]
fn ingest_role_grants_each_action_on_its_resource_and_only_in_the_variants_that_call_it() {
    let t = template();
    for variant in variants(&t) {
        assert_eq!(ingest_grant_differences(&t, &variant), Vec::<String>::new(), "{}", variant.label);
    }
    let on = Variant::of(&t, &[("NotificationBusName", "ops"), ("BufferedIngest", "true")]);
    let granted = grants(&resolve(&t, &on), INGEST);
    assert!(granted.contains(&format!("events:PutEvents on {NOTIFICATION_BUS_ARN}")));
    assert!(granted.contains("dynamodb:Query on ${Table.Arn}/index/byTime"));
    assert!(granted.contains("sqs:ReceiveMessage on BufferQueue.Arn"));
    let defaults = grants(&resolve(&t, &Variant::of(&t, &[])), INGEST);
    assert!(!defaults.iter().any(|g| g.starts_with("events:") || g.contains("BufferQueue")), "{defaults:?}");
}

#[test]
fn grant_check_reports_publishing_granted_with_notifications_off() {
    let mut t = template();
    let policy = conditional_policy_mut(&mut t, "IngestFunctionRole", "notifications");
    *policy = policy["Fn::If"][1].clone();
    let off = Variant::of(&t, &[]);
    assert_eq!(
        ingest_grant_differences(&t, &off),
        [
            "extra: dynamodb:DeleteItem on Table.Arn".to_owned(),
            "extra: dynamodb:Query on ${Table.Arn}/index/byTime".to_owned(),
            format!("extra: events:PutEvents on {NOTIFICATION_BUS_ARN}"),
        ]
    );
    // With notifications on, the unconditional policy is what is expected.
    assert_eq!(ingest_grant_differences(&t, &Variant::of(&t, &[("NotificationBusName", "ops")])), Vec::<String>::new());
}

#[test]
fn grant_check_reports_the_buffer_queue_grant_on_another_queue_and_a_missing_consume_action() {
    let mut t = template();
    let policy = conditional_policy_mut(&mut t, "IngestFunctionRole", "buffer");
    let statement = &mut policy["Fn::If"][1]["PolicyDocument"]["Statement"][0];
    statement["Resource"] = json!({ "Fn::GetAtt": [DEAD_LETTERS, "Arn"] });
    statement["Action"].as_array_mut().expect("an Action list").retain(|a| a != "sqs:GetQueueAttributes");
    let buffered = Variant::of(&t, &[("BufferedIngest", "true")]);
    assert_eq!(
        ingest_grant_differences(&t, &buffered),
        [
            "extra: sqs:DeleteMessage on DeadLetterQueue.Arn",
            "extra: sqs:ReceiveMessage on DeadLetterQueue.Arn",
            "missing: sqs:DeleteMessage on BufferQueue.Arn",
            "missing: sqs:GetQueueAttributes on BufferQueue.Arn",
            "missing: sqs:ReceiveMessage on BufferQueue.Arn",
        ]
    );
}

#[test]
fn api_role_grants_exactly_the_api_actions_query_on_the_table_and_its_indexes_the_rest_on_the_table() {
    let t = template();
    assert_eq!(action_differences(&t, API, &api::ACTIONS.concat()), Vec::<String>::new());
    assert_eq!(api_grant_differences(&t), Vec::<String>::new());
    assert_eq!(
        dynamodb_resources(&t, API),
        BTreeSet::from(["${Table.Arn}/index/*".to_owned(), "Table.Arn".to_owned()])
    );
    // Not vacuous: the administrators' writes are among them.
    assert!(granted_actions(&t, API).contains("dynamodb:BatchWriteItem"));
}

#[test]
fn api_grant_check_reports_a_write_granted_on_the_indexes() {
    let mut t = template();
    statements_mut(&mut t, "ApiFunctionRole", "dynamodb")[1]["Resource"] = json!({ "Fn::Sub": "${Table.Arn}/index/*" });
    assert_eq!(
        api_grant_differences(&t),
        [
            "extra: dynamodb:BatchGetItem on ${Table.Arn}/index/*",
            "extra: dynamodb:BatchWriteItem on ${Table.Arn}/index/*",
            "extra: dynamodb:GetItem on ${Table.Arn}/index/*",
            "extra: dynamodb:PutItem on ${Table.Arn}/index/*",
            "extra: dynamodb:UpdateItem on ${Table.Arn}/index/*",
            "missing: dynamodb:BatchGetItem on Table.Arn",
            "missing: dynamodb:BatchWriteItem on Table.Arn",
            "missing: dynamodb:GetItem on Table.Arn",
            "missing: dynamodb:PutItem on Table.Arn",
            "missing: dynamodb:UpdateItem on Table.Arn",
        ]
    );
}

#[test]
fn maintenance_role_grants_exactly_the_maintenance_actions_query_on_by_time_the_rest_on_the_table() {
    let t = template();
    assert_eq!(action_differences(&t, MAINTENANCE, &maintenance::ACTIONS.concat()), Vec::<String>::new());
    assert_eq!(maintenance_grant_differences(&t), Vec::<String>::new());
    assert!(!expected_maintenance_grants().is_empty());
}

#[test]
fn maintenance_grant_check_reports_query_on_every_index_and_an_extra_delete() {
    let mut t = template();
    let statements = statements_mut(&mut t, "MaintenanceFunctionRole", "dynamodb");
    statements[0]["Resource"] = json!({ "Fn::Sub": "${Table.Arn}/index/*" });
    statements[1]["Action"].as_array_mut().expect("an Action list").push(json!("dynamodb:DeleteItem"));
    assert_eq!(
        maintenance_grant_differences(&t),
        [
            "extra: dynamodb:DeleteItem on Table.Arn",
            "extra: dynamodb:Query on ${Table.Arn}/index/*",
            "missing: dynamodb:Query on ${Table.Arn}/index/byTime",
        ]
    );
    assert_eq!(action_differences(&t, MAINTENANCE, &maintenance::ACTIONS.concat()), ["extra: dynamodb:DeleteItem"]);
}

#[test]
fn action_check_reports_an_extra_granted_action() {
    let mut t = template();
    first_actions_mut(&mut t, "IngestFunctionRole", "dynamodb").push(json!("dynamodb:Scan"));
    assert_eq!(action_differences(&t, INGEST, &ACTIONS.concat()), ["extra: dynamodb:Scan"]);
    // The other functions are untouched.
    assert_eq!(action_differences(&t, API, &api::ACTIONS.concat()), Vec::<String>::new());
    assert_eq!(action_differences(&t, MAINTENANCE, &maintenance::ACTIONS.concat()), Vec::<String>::new());
}

#[test]
fn action_check_reports_a_declared_action_the_role_lacks() {
    let mut t = template();
    first_actions_mut(&mut t, "ApiFunctionRole", "dynamodb").retain(|a| a != "dynamodb:Query");
    assert_eq!(action_differences(&t, API, &api::ACTIONS.concat()), ["missing: dynamodb:Query"]);
}

#[test]
fn action_check_reads_conditional_policies_and_reports_the_notification_actions_when_they_go() {
    let mut t = template();
    t["Resources"]["IngestFunctionRole"]["Properties"]["Policies"]
        .as_array_mut()
        .expect("Policies")
        .retain(|p| p["Fn::If"][1]["PolicyName"] != "notifications");
    assert_eq!(
        action_differences(&t, INGEST, &ACTIONS.concat()),
        ["missing: dynamodb:DeleteItem", "missing: dynamodb:Query", "missing: events:PutEvents"]
    );
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
    // Inside a conditional policy too.
    let policy = conditional_policy_mut(&mut t, "IngestFunctionRole", "notifications");
    policy["Fn::If"][1]["PolicyDocument"]["Statement"][2]["Action"] = json!(["events:PutEvents", "events:*"]);
    assert_eq!(
        wildcard_grants(&t),
        [
            "ApiFunction: policy template {\"DynamoDBCrudPolicy\":{\"TableName\":{\"Ref\":\"Table\"}}}",
            "ApiFunctionRole: action dynamodb:*",
            "IngestFunctionRole: action events:*",
            "IngestFunctionRole: resource *",
        ]
    );
}

#[test]
fn ingest_on_failure_destination_goes_to_the_queue_it_may_send_to() {
    let t = template();
    let dlq = json!({ "Fn::GetAtt": [DEAD_LETTERS, "Arn"] });
    let ingest = &resource(&t, INGEST)["Properties"];
    let on_failure = &ingest["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(on_failure["Destination"], dlq);
    assert_eq!(ingest["EventInvokeConfig"]["MaximumRetryAttempts"], 2);
    let sends: Vec<&Value> = allow_statements(&t, INGEST)
        .into_iter()
        .filter(|s| items(&s["Action"]).iter().any(|a| *a == "sqs:SendMessage"))
        .collect();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["Resource"], dlq);
    let queue_policy = &resource(&t, "DeadLetterQueuePolicy")["Properties"]["PolicyDocument"];
    let role_sends: Vec<&Value> = items(&queue_policy["Statement"])
        .into_iter()
        .filter(|s| s["Effect"] == "Allow" && s["Principal"].get("AWS").is_some())
        .collect();
    assert_eq!(role_sends.len(), 1);
    assert_eq!(role_sends[0]["Principal"], json!({ "AWS": { "Fn::GetAtt": ["IngestFunctionRole", "Arn"] } }));
    for queue in [DEAD_LETTERS, BUFFER] {
        assert_eq!(resource(&t, queue)["Properties"]["SqsManagedSseEnabled"], true, "{queue}");
    }
    let dead_letters = &resource(&t, DEAD_LETTERS)["Properties"];
    assert_eq!(dead_letters["MessageRetentionPeriod"], 14 * 24 * 3600);
    // Moved messages keep their first enqueue time: the dead-letter queue must keep them longer.
    let buffer_retention = resource(&t, BUFFER)["Properties"]["MessageRetentionPeriod"].as_u64().unwrap_or(345_600);
    assert!(buffer_retention < 14 * 24 * 3600);
}

// ---------------------------------------------------------------------------------- rules and delivery

#[test]
fn rule_matches_the_event_contracts_detail_type() {
    let t = template();
    let pattern = &resource(&t, SCAN_FAILED_RULE)["Properties"]["EventPattern"];
    assert_eq!(pattern, &json!({ "detail-type": [DETAIL_TYPE] }));
}

#[test]
fn aws_rules_match_the_aws_sources_detail_types_and_ecr_failure_statuses_on_the_default_bus() {
    let t = template();
    assert_eq!(ecr_rule_differences(&t), Vec::<String>::new());
    assert_eq!(inspector_rule_differences(&t), Vec::<String>::new());
    assert_eq!(rule_facts(&t, ECR_RULE).iter().filter(|f| f.starts_with("detail.scan-status ")).count(), 5);
    for (aws, present) in [("true", true), ("false", false)] {
        let r = resolve(&t, &Variant::of(&t, &[("EnableAwsScanSources", aws)]));
        for rule in [ECR_RULE, INSPECTOR_RULE] {
            assert_eq!(r["Resources"].get(rule).is_some(), present, "{rule} with EnableAwsScanSources={aws}");
        }
    }
    assert_eq!(t["Parameters"]["EnableAwsScanSources"]["Default"], "true");
}

#[test]
fn aws_rule_checks_report_a_changed_status_list_source_and_detail_type() {
    let mut t = template();
    let statuses = pattern_mut(&mut t, ECR_RULE)["detail"]["scan-status"].as_array_mut().expect("statuses");
    statuses.retain(|s| s != "LIMIT_EXCEEDED");
    statuses.push(json!("COMPLETE"));
    pattern_mut(&mut t, ECR_RULE)["source"] = json!(["aws.ecr-public"]);
    pattern_mut(&mut t, INSPECTOR_RULE)["detail-type"] = json!(["Inspector2 Finding"]);
    t["Resources"][INSPECTOR_RULE]["Properties"]["EventBusName"] = json!("scan-failures");
    assert_eq!(
        ecr_rule_differences(&t),
        [
            "extra: detail.scan-status COMPLETE",
            "extra: source aws.ecr-public",
            "missing: detail.scan-status LIMIT_EXCEEDED",
            "missing: source aws.ecr",
        ]
    );
    assert_eq!(
        inspector_rule_differences(&t),
        [
            "extra: bus scan-failures",
            "extra: detail-type Inspector2 Finding",
            "missing: bus default",
            "missing: detail-type Inspector2 Coverage",
        ]
    );
}

#[test]
fn every_stored_sample_reaches_exactly_one_rule_and_ignored_ecr_scans_and_notifications_none() {
    let t = template();
    assert_eq!(routing_problems(&t), Vec::<String>::new());
    // Not vacuous: the samples include stored ECR, Inspector and contract events.
    let r = resolve(&t, &Variant::of(&t, &[]));
    let mut routed: BTreeMap<String, usize> = BTreeMap::new();
    for (_, sample) in samples() {
        if matches!(event::parse(sample.clone()), Ok(Parsed::Failure(_))) {
            for rule in routed_by(&r, &sample) {
                *routed.entry(rule).or_default() += 1;
            }
        }
    }
    assert_eq!(routed.keys().collect::<Vec<_>>(), [ECR_RULE, INSPECTOR_RULE, SCAN_FAILED_RULE]);
    assert_eq!(routed[ECR_RULE], 4);
}

#[test]
fn routing_check_reports_failure_samples_a_narrowed_rule_drops_and_a_rule_catching_notifications() {
    let mut t = template();
    pattern_mut(&mut t, ECR_RULE)["detail"]["scan-status"] = json!(["FAILED", "COMPLETE"]);
    pattern_mut(&mut t, SCAN_FAILED_RULE)["detail-type"] = json!([DETAIL_TYPE, notify::OPENED]);
    assert_eq!(
        routing_problems(&t),
        [
            "aws-ecr-02-unsupported-image.json: stored by the code, routed by []",
            "aws-ecr-03-limit-exceeded.json: stored by the code, routed by []",
            "aws-ecr-04-scan-eligibility-expired.json: stored by the code, routed by []",
            "aws-ecr-05-complete.json: ignored by the code, routed by [\"EcrScanRule\"]",
            "notification Scan Failure Group Opened: routed by [\"ScanFailedRule\"]",
        ]
    );
}

#[test]
fn every_variant_delivers_each_rule_to_its_path_and_lets_exactly_its_rules_send() {
    let t = template();
    for variant in variants(&t) {
        assert_eq!(delivery_problems(&t, &variant), Vec::<String>::new(), "{}", variant.label);
    }
}

#[test]
fn delivery_check_reports_a_rule_on_the_wrong_path_and_a_rule_the_queues_do_not_accept() {
    let mut t = template();
    // The Inspector rule always invokes the function; the ECR rule's dead letters are refused.
    t["Resources"][INSPECTOR_RULE]["Properties"]["Targets"][0]["Arn"] = json!({ "Fn::GetAtt": [INGEST, "Arn"] });
    t["Resources"]["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .retain(|s| s["Fn::If"][1]["Sid"] != "EcrScanRuleDeadLetters");
    let buffered = Variant::of(&t, &[("BufferedIngest", "true")]);
    assert_eq!(
        delivery_problems(&t, &buffered),
        [
            "BufferedIngest=true: InspectorCoverageRule: target Arn is IngestFunction.Arn",
            "BufferedIngest=true: dead-letter queue senders: missing: EcrScanRule.Arn",
        ]
    );
    // The direct path still lets the Inspector rule invoke the function.
    let direct = Variant::of(&t, &[]);
    assert_eq!(delivery_problems(&t, &direct), ["defaults: dead-letter queue senders: missing: EcrScanRule.Arn"]);
}

#[test]
fn delivery_check_reports_an_invoke_permission_left_on_the_buffered_path() {
    let mut t = template();
    t["Resources"]["EcrScanInvokePermission"]["Condition"] = json!("HasAwsScanSources");
    let buffered = Variant::of(&t, &[("BufferedIngest", "true")]);
    assert_eq!(
        delivery_problems(&t, &buffered),
        ["BufferedIngest=true: rules that may invoke ingest: extra: EcrScanRule.Arn"]
    );
}

#[test]
fn no_variant_refers_to_a_resource_it_does_not_create() {
    let t = template();
    for variant in variants(&t) {
        assert_eq!(dangling_references(&t, &variant), Vec::<String>::new(), "{}", variant.label);
    }
}

#[test]
fn reference_check_reports_the_buffer_queue_referred_to_on_the_direct_path() {
    let mut t = template();
    t["Resources"]["IngestBufferEventSourceMapping"].as_object_mut().expect("a resource").remove("Condition");
    assert_eq!(
        dangling_references(&t, &Variant::of(&t, &[])),
        ["defaults: Resources.IngestBufferEventSourceMapping refers to BufferQueue, which is not created"]
    );
}

// ---------------------------------------------------------------------------------- buffered path

#[test]
fn the_buffered_path_exists_only_when_chosen_and_reads_the_buffer_in_reported_batches() {
    let t = template();
    for variant in variants(&t) {
        assert_eq!(buffer_problems(&t, &variant), Vec::<String>::new(), "{}", variant.label);
    }
    assert_eq!(t["Parameters"]["BufferedIngest"]["Default"], "false");
    let p = &t["Parameters"];
    assert_eq!(
        (&p["BufferBatchSize"]["Default"], &p["BufferBatchingWindowSeconds"]["Default"]),
        (&json!(100), &json!(5))
    );
    assert_eq!(p["BufferMaxReceiveCount"]["Default"], 5);
    // Lambda refuses a batch over 10 without a batching window, and the handler over MAX_BATCH_RECORDS.
    assert!(p["BufferBatchingWindowSeconds"]["MinValue"].as_u64() >= Some(1));
    assert!(p["BufferBatchSize"]["MaxValue"].as_u64().is_some_and(|m| m as usize <= MAX_BATCH_RECORDS));
}

#[test]
fn every_sqs_mapping_reports_batch_item_failures() {
    let t = template();
    assert!(!sqs_mappings(&t).is_empty(), "the template has the buffered path's mapping");
    assert_eq!(batch_response_problems(&t), Vec::<String>::new());
}

#[test]
fn batch_response_check_reports_a_mapping_and_a_sam_sqs_event_without_item_failures() {
    let mut t = template();
    t["Resources"]["IngestBufferEventSourceMapping"]["Properties"]
        .as_object_mut()
        .expect("props")
        .remove("FunctionResponseTypes");
    t["Resources"][INGEST]["Properties"]["Events"] =
        json!({ "Buffer": { "Type": "SQS", "Properties": { "Queue": { "Fn::GetAtt": [BUFFER, "Arn"] } } } });
    assert_eq!(
        batch_response_problems(&t),
        [
            "IngestBufferEventSourceMapping: no ReportBatchItemFailures",
            "IngestFunction.Buffer: no ReportBatchItemFailures"
        ]
    );
}

#[test]
fn buffer_check_reports_a_short_visibility_timeout_and_a_redrive_elsewhere() {
    let mut t = template();
    t["Resources"][BUFFER]["Properties"]["VisibilityTimeout"] = json!(300);
    t["Resources"][BUFFER]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = json!(1);
    let buffered = Variant::of(&t, &[("BufferedIngest", "true")]);
    assert_eq!(
        buffer_problems(&t, &buffered),
        [
            "BufferedIngest=true: BufferQueue redrive policy is {\"deadLetterTargetArn\":{\"Fn::GetAtt\":[\"DeadLetterQueue\",\"Arn\"]},\"maxReceiveCount\":1}",
            "BufferedIngest=true: visibility timeout 300 s < 6 x the function's timeout 60 s",
        ]
    );
    assert_eq!(buffer_problems(&t, &Variant::of(&t, &[])), Vec::<String>::new(), "the direct path has no queue");
}

// ---------------------------------------------------------------------------------- configuration

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
    // Ingest: checked per variant below. Api: the variables ApiConfig::from_env reads.
    assert_eq!(
        names(API),
        ["ADMIN_VIEW_PRINCIPALS", "ADMIN_WRITE_PRINCIPALS", "RETENTION_DAYS", "SDK_ATTEMPT_TIMEOUT_MS", "TABLE_NAME"]
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
    for (function, binary) in FUNCTIONS {
        let metadata = &resource(&t, function)["Metadata"];
        assert_eq!(metadata["BuildMethod"], "rust-cargolambda", "{function}");
        assert_eq!(metadata["BuildProperties"]["Binary"], binary, "{function}");
        // Runtime, handler and architecture come from Globals.
        let props = &resource(&t, function)["Properties"];
        for key in ["Runtime", "Handler", "Architectures", "CodeUri"] {
            assert!(props.get(key).is_none(), "{function} overrides the global {key}");
        }
    }
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!([{ "Ref": "Architecture" }]));
    // The api answers within the HTTP API's 30 s integration timeout; summaries need the memory.
    let api = &resource(&t, API)["Properties"];
    assert_eq!((&api["Timeout"], &api["MemorySize"]), (&json!(29), &json!(512)));
}

#[test]
fn maintenance_gets_exactly_the_variables_its_config_reads_and_runs_alone_for_up_to_5_minutes() {
    let t = template();
    for variant in variants(&t) {
        let env = environment(&t, &variant, MAINTENANCE);
        let names: BTreeSet<String> = env.keys().cloned().collect();
        assert_eq!(names, maintenance_config_variables(), "{}", variant.label);
        let config = MaintenanceConfig::from_env(|name| env.get(name).cloned())
            .unwrap_or_else(|e| panic!("{}: the template's configuration is refused: {e}", variant.label));
        assert_eq!(
            (config.table_name.as_str(), config.retention.get(), config.max_items, config.sdk),
            (TABLE, 4, DEFAULT_MAX_ITEMS, SdkTimeouts::default()),
            "{}",
            variant.label
        );
    }
    let p = &t["Parameters"]["RestampMaxItems"];
    assert_eq!((&p["MinValue"], &p["MaxValue"]), (&json!(1), &json!(100_000)));
    let p = &t["Parameters"]["SdkAttemptTimeoutMs"];
    assert_eq!(
        (&p["Default"], &p["MinValue"], &p["MaxValue"]),
        (&json!(DEFAULT_SDK_ATTEMPT_TIMEOUT_MS), &json!(100), &json!(60_000))
    );
    let props = &resource(&t, MAINTENANCE)["Properties"];
    assert_eq!((&props["Timeout"], &props["ReservedConcurrentExecutions"]), (&json!(300), &json!(1)));
    assert_eq!(props["EventInvokeConfig"]["MaximumRetryAttempts"], 0);
    assert!(props.get("Events").is_none(), "the schedule is MaintenanceSchedule, not a SAM event");
}

#[test]
fn maintenance_variable_check_reports_a_missing_batch_size() {
    let mut t = template();
    t["Resources"][MAINTENANCE]["Properties"]["Environment"]["Variables"]
        .as_object_mut()
        .expect("Variables")
        .remove("RESTAMP_MAX_ITEMS");
    let env = environment(&t, &Variant::of(&t, &[]), MAINTENANCE);
    let names: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(differences(&maintenance_config_variables(), &names), ["missing: RESTAMP_MAX_ITEMS"]);
}

#[test]
fn every_function_logs_json_to_its_own_log_group_and_has_errors_and_throttles_alarms() {
    let t = template();
    assert_eq!(log_problems(&t), Vec::<String>::new());
    assert_eq!(alarm_problems(&t), Vec::<String>::new());
}

#[test]
fn log_and_alarm_checks_report_a_shared_log_group_and_a_missing_alarm() {
    let mut t = template();
    t["Resources"][MAINTENANCE]["Properties"]["LoggingConfig"]["LogGroup"] = json!({ "Ref": "ApiLogGroup" });
    t["Resources"].as_object_mut().expect("Resources").remove("MaintenanceThrottlesAlarm");
    t["Resources"]["ApiErrorsAlarm"]["Properties"]["Threshold"] = json!(5);
    assert_eq!(
        log_problems(&t),
        [
            "MaintenanceFunction: logs: extra: logs:CreateLogStream on MaintenanceLogGroup.Arn",
            "MaintenanceFunction: logs: extra: logs:PutLogEvents on MaintenanceLogGroup.Arn",
            "MaintenanceFunction: logs: missing: logs:CreateLogStream on ApiLogGroup.Arn",
            "MaintenanceFunction: logs: missing: logs:PutLogEvents on ApiLogGroup.Arn",
            "MaintenanceFunction: shares ApiLogGroup with ApiFunction",
        ]
    );
    assert_eq!(alarm_problems(&t), ["ApiFunction: no Errors alarm", "MaintenanceFunction: no Throttles alarm"]);
}

#[test]
fn the_schedule_runs_maintenance_every_5_minutes_with_a_role_that_may_invoke_only_it() {
    assert_eq!(schedule_problems(&template()), Vec::<String>::new());
}

#[test]
fn schedule_check_reports_retries_a_flexible_window_another_target_and_a_role_invoking_another_function() {
    let mut t = template();
    let target = &mut t["Resources"][SCHEDULE]["Properties"]["Target"];
    target["RetryPolicy"]["MaximumRetryAttempts"] = json!(185);
    target["Arn"] = json!({ "Fn::GetAtt": [API, "Arn"] });
    t["Resources"][SCHEDULE]["Properties"]["FlexibleTimeWindow"] =
        json!({ "Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5 });
    statements_mut(&mut t, SCHEDULE_ROLE, "invoke-maintenance")[0]["Resource"] =
        json!([{ "Fn::GetAtt": [MAINTENANCE, "Arn"] }, { "Fn::GetAtt": [API, "Arn"] }]);
    assert_eq!(
        schedule_problems(&t),
        [
            "MaintenanceSchedule: FlexibleTimeWindow.MaximumWindowInMinutes is 5",
            "MaintenanceSchedule: FlexibleTimeWindow.Mode is \"FLEXIBLE\"",
            "MaintenanceSchedule: Target.Arn is ApiFunction.Arn",
            "MaintenanceSchedule: Target.RetryPolicy.MaximumRetryAttempts is 185",
            "MaintenanceScheduleRole: extra: lambda:InvokeFunction on ApiFunction.Arn",
        ]
    );
}

#[test]
fn ingest_gets_exactly_the_variables_its_config_reads_and_they_mean_what_the_parameters_say() {
    let t = template();
    for variant in variants(&t) {
        let env = ingest_environment(&t, &variant);
        let names: BTreeSet<String> = env.keys().cloned().collect();
        assert_eq!(names, ingest_config_variables(variant.notifications()), "{}", variant.label);
        let config = IngestConfig::from_env(|name| env.get(name).cloned())
            .unwrap_or_else(|e| panic!("{}: the template's configuration is refused: {e}", variant.label));
        assert_eq!(config.sdk, SdkTimeouts::default(), "{}", variant.label);
        match config.notify {
            Some(n) => {
                assert!(variant.notifications(), "{}", variant.label);
                assert_eq!(Some(&n.bus), variant.params.get("NotificationBusName"));
                assert_eq!(
                    (n.source.as_str(), n.thresholds),
                    (notify_config::DEFAULT_SOURCE, notify_config::DEFAULT_THRESHOLDS.to_vec())
                );
            }
            None => assert!(!variant.notifications(), "{}", variant.label),
        }
    }
}

#[test]
fn notification_parameters_default_to_off_and_to_the_codes_source_and_thresholds() {
    let t = template();
    let p = &t["Parameters"];
    assert_eq!(p["NotificationBusName"]["Default"], "");
    assert_eq!(p["NotificationSource"]["Default"], notify_config::DEFAULT_SOURCE);
    let thresholds = p["NotificationThresholds"]["Default"].as_str().expect("a string default");
    let parsed = NotifyConfig::from_env(|name| match name {
        "NOTIFY_BUS_NAME" => Some("ops".to_owned()),
        "NOTIFY_THRESHOLDS" => Some(thresholds.to_owned()),
        _ => None,
    });
    assert_eq!(parsed.map(|c| c.map(|c| c.thresholds)), Ok(Some(notify_config::DEFAULT_THRESHOLDS.to_vec())));
}

#[test]
fn variable_check_reports_notification_variables_set_with_notifications_off() {
    let mut t = template();
    t["Resources"][INGEST]["Properties"]["Environment"]["Variables"]["NOTIFY_SOURCE"] =
        json!({ "Ref": "NotificationSource" });
    let env = ingest_environment(&t, &Variant::of(&t, &[]));
    let names: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(differences(&ingest_config_variables(false), &names), ["extra: NOTIFY_SOURCE"]);
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
fn view_policy_covers_exactly_the_view_routes_and_admin_policy_every_route() {
    let t = template();
    assert_eq!(policy_route_differences(&t, VIEW_POLICY, true), Vec::<String>::new());
    assert_eq!(policy_route_differences(&t, ADMIN_POLICY, false), Vec::<String>::new());
    assert!(policy_routes(&t, VIEW_POLICY).contains("GET /v1/administration/events/*"));
    // The write routes are the admin policy's alone, and every View route is a GET.
    assert!(policy_routes(&t, ADMIN_POLICY).contains("POST /v1/administration/events/*/triage"));
    assert!(!policy_routes(&t, VIEW_POLICY).iter().any(|r| !r.starts_with("GET ")));
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
fn policy_route_check_reports_a_write_route_in_the_view_policy_and_one_missing_from_the_admin_policy() {
    let mut t = template();
    let put = json!({ "Fn::Sub": format!("{ROUTE_ARN_PREFIX}PUT/v1/config/administration-events") });
    t["Resources"][VIEW_POLICY]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
        .as_array_mut()
        .expect("a Resource list")
        .push(put.clone());
    t["Resources"][ADMIN_POLICY]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
        .as_array_mut()
        .expect("a Resource list")
        .retain(|r| *r != put);
    assert_eq!(policy_route_differences(&t, VIEW_POLICY, true), ["extra: PUT /v1/config/administration-events"]);
    assert_eq!(policy_route_differences(&t, ADMIN_POLICY, false), ["missing: PUT /v1/config/administration-events"]);
}

#[test]
fn outputs_name_what_deployers_and_callers_need() {
    let t = template();
    let outputs = |variant: &Variant| -> BTreeSet<String> {
        resolve(&t, variant)["Outputs"].as_object().expect("Outputs").keys().cloned().collect()
    };
    let mut wanted: BTreeSet<String> = [
        "AdminEventsAdminPolicyArn",
        "AdminEventsViewPolicyArn",
        "ApiUrl",
        "DeadLetterQueueUrl",
        "EventBusArn",
        "EventBusName",
        "TableName",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(outputs(&Variant::of(&t, &[])), wanted);
    wanted.insert("BufferQueueUrl".to_owned());
    assert_eq!(outputs(&Variant::of(&t, &[("BufferedIngest", "true")])), wanted);
}
