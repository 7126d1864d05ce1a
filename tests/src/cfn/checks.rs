//! The comparisons of the template with the code: small pure functions over the parsed template
//! ([`super`]) that return the differences as sorted strings (`missing: X` = the code has X and
//! the template does not, `extra: X` = the other way round), or the problems found. Each is
//! run by `tests/template.rs` on the template and on mutated copies of it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use api::routes::ROUTES;
use ingest::{ACTIONS, SQS_CONSUME};
use maintenance::MaintenanceConfig;
use scan_failures_aws::config::{self as notify_config, IngestConfig};
use scan_failures_aws::dynamo::outbox;
use scan_failures_aws::dynamo::rollup::redrive::actions::READ_STREAM;
use scan_failures_aws::dynamo::schema::{self, INDEXES, PARTITION_KEY, TTL_ATTRIBUTE};
use scan_failures_aws::dynamo::write::actions::RECORD;
use scan_failures_aws::eventbridge;
use scan_failures_domain::event::aws_sources::{
    ECR_DETAIL_TYPE, ECR_FAILURES, INSPECTOR_DETAIL_TYPE, NOT_AN_ECR_IMAGE,
};
use scan_failures_domain::event::{self, Parsed};
use scan_failures_domain::group::notification as notify;
use scan_failures_http::auth::Permission;
use serde_json::{json, Map, Value};

use super::{
    branches, differences, items, list, render, resolve, resource, role_grants, routed_on, scalar, Bus, Variant,
};

pub const INGEST: &str = "IngestFunction";
pub const API: &str = "ApiFunction";
pub const MAINTENANCE: &str = "MaintenanceFunction";
pub const ROLLUP: &str = "RollupFunction";
pub const SCHEDULE: &str = "MaintenanceSchedule";
pub const SCHEDULE_ROLE: &str = "MaintenanceScheduleRole";
pub const SCHEDULE_GROUP: &str = "MaintenanceScheduleGroup";
/// Every function of the template and its binary (`BuildProperties.Binary`).
pub const FUNCTIONS: [(&str, &str); 4] =
    [(INGEST, "ingest"), (API, "api"), (MAINTENANCE, "maintenance"), (ROLLUP, "rollup")];
pub const TABLE: &str = "Table";
pub const HTTP_API: &str = "HttpApi";
pub const VIEW_POLICY: &str = "AdminEventsViewPolicy";
pub const ADMIN_POLICY: &str = "AdminEventsAdminPolicy";
pub const SCAN_FAILED_RULE: &str = "ScanFailedRule";
pub const ECR_RULE: &str = "EcrScanRule";
pub const INSPECTOR_RULE: &str = "InspectorCoverageRule";
/// The same rules on the product's bus, for events forwarded from other accounts.
pub const FORWARDED_ECR_RULE: &str = "ForwardedEcrScanRule";
pub const FORWARDED_INSPECTOR_RULE: &str = "ForwardedInspectorCoverageRule";
/// `infra/member.yaml`'s rules and role.
pub const MEMBER_ECR_RULE: &str = "EcrScanForwardRule";
pub const MEMBER_INSPECTOR_RULE: &str = "InspectorCoverageForwardRule";
pub const MEMBER_NATIVE_RULE: &str = "NativeForwardRule";
pub const MEMBER_ROLE: &str = "ForwardRole";
pub const MEMBER_DEAD_LETTERS: &str = "ForwardDeadLetterQueue";
pub const BUFFER: &str = "BufferQueue";
pub const DEAD_LETTERS: &str = "DeadLetterQueue";

/// Services whose actions a function's crate declares; the template must grant exactly those.
pub const DECLARED_SERVICES: [&str; 3] = ["dynamodb", "events", "inspector2"];

/// Services whose grants are compared with resources: the declared ones and SQS (the buffer
/// queue, the on-failure destination).
pub const GRANT_SERVICES: [&str; 4] = ["dynamodb", "events", "inspector2", "sqs"];

/// What every route resource of the callers' policies starts with (any stage).
pub const ROUTE_ARN_PREFIX: &str = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/";

/// The notification bus, as the ingest role's `events:PutEvents` grant names it.
pub const NOTIFICATION_BUS_ARN: &str =
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${NotificationBusName}";

/// Where AWS services publish, and the sources of the services the AWS rules listen to (AWS's
/// names; the code reads only the detail types).
pub const DEFAULT_BUS: &str = "default";
pub const ECR_SOURCE: &str = "aws.ecr";
pub const INSPECTOR_SOURCE: &str = "aws.inspector2";
/// The Inspector coverage status whose reasons `aws_sources::parse_inspector` classifies.
pub const INSPECTOR_INACTIVE: &str = "INACTIVE";
/// The resources the Inspector rules take: Amazon ECR's, of any partition (an EventBridge
/// `wildcard`; coverage of EC2 instances and Lambda functions is `NOT_AN_ECR_IMAGE` to the code).
pub const ECR_ARN_WILDCARD: &str = "arn:*:ecr:*";

// ---------------------------------------------------------------------------------- table

/// The table as facts: `table key HASH pk`, `attribute pk S`, `index byTime key RANGE timeSk`,
/// `index byTime projection ALL`, `ttl expiresAt`.
pub fn table_facts(t: &Value) -> BTreeSet<String> {
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
pub fn schema_facts() -> BTreeSet<String> {
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

pub fn table_differences(t: &Value) -> Vec<String> {
    differences(&schema_facts(), &table_facts(t))
}

// ---------------------------------------------------------------------------------- IAM

/// Every Allow statement of a function's permissions, in any variant: its role's inline and
/// attached template-defined policies, or its SAM `Policies` statements when it has no `Role`.
pub fn allow_statements<'a>(t: &'a Value, function: &str) -> Vec<&'a Value> {
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
pub fn granted_actions(t: &Value, function: &str) -> BTreeSet<String> {
    allow_statements(t, function)
        .into_iter()
        .flat_map(|s| items(&s["Action"]))
        .map(render)
        .filter(|a| DECLARED_SERVICES.iter().any(|service| a.starts_with(&format!("{service}:"))))
        .collect()
}

pub fn action_differences(t: &Value, function: &str, declared: &[&str]) -> Vec<String> {
    let declared = declared.iter().map(|a| (*a).to_owned()).collect();
    differences(&declared, &granted_actions(t, function))
}

/// `<action> on <resource>` for every grant of [`GRANT_SERVICES`] to a function.
pub fn grants(t: &Value, function: &str) -> BTreeSet<String> {
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
pub fn expected_ingest_grants(variant: &Variant) -> BTreeSet<String> {
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

pub fn ingest_grant_differences(t: &Value, variant: &Variant) -> Vec<String> {
    differences(&expected_ingest_grants(variant), &grants(&resolve(t, variant), INGEST))
}

/// What the api role must grant: every action of `api::ACTIONS`, `Query` on every index (the
/// listings choose one by filter; no read queries the table itself), the others on the table.
pub fn expected_api_grants() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for action in api::ACTIONS.concat() {
        assert!(action.starts_with("dynamodb:"), "{action}: which resource does api call it on?");
        if action == "dynamodb:Query" {
            out.insert(format!("{action} on ${{Table.Arn}}/index/*"));
        } else {
            out.insert(format!("{action} on Table.Arn"));
        }
    }
    out
}

/// What the maintenance role must grant in `variant`: every action of `maintenance::ACTIONS`,
/// `Query` on the `byTime` index only (the re-stamp reads the groups through it), a redrive's
/// stream reads on the stream, the others on the table, and `maintenance::redrive::QUEUE_ACTIONS`
/// on the rollup failure queue; with the reconciler on, `maintenance::RECONCILE_ACTIONS` too
/// (Inspector's on `*`: `ListCoverage` has no resource-level permissions).
pub fn expected_maintenance_grants(variant: &Variant) -> BTreeSet<String> {
    let by_time = format!("${{Table.Arn}}/index/{}", schema::BY_TIME.name);
    let reconciling = variant.is("ReconcileInspector", "true");
    let notifying = !variant.is("NotificationBusName", "");
    let declared = maintenance::ACTIONS
        .concat()
        .into_iter()
        .chain(reconciling.then(|| maintenance::RECONCILE_ACTIONS.concat()).into_iter().flatten())
        .chain(notifying.then(|| maintenance::NOTIFY_ACTIONS.concat()).into_iter().flatten());
    declared
        .map(|action| {
            let resource = match action.split_once(':').map(|(service, _)| service) {
                Some("dynamodb") if action == "dynamodb:Query" => by_time.as_str(),
                Some("dynamodb") if READ_STREAM.contains(&action) => "Table.StreamArn",
                Some("dynamodb") => "Table.Arn",
                Some("inspector2") => "*",
                Some("events") => NOTIFICATION_BUS_ARN,
                _ => panic!("{action}: which resource does maintenance call it on?"),
            };
            format!("{action} on {resource}")
        })
        .chain(maintenance::redrive::QUEUE_ACTIONS.iter().map(|a| format!("{a} on RollupFailureQueue.Arn")))
        .collect()
}

/// What the rollup role must grant: `rollup::ACTIONS` on the table, `rollup::STREAM_CONSUME` on
/// its stream (the event source mapping's reads), and the failure queue's send. Each action on
/// its own resource: the same actions on swapped resources are as wrong as missing ones.
pub fn expected_rollup_grants() -> BTreeSet<String> {
    rollup::ACTIONS
        .concat()
        .into_iter()
        .map(|a| format!("{a} on Table.Arn"))
        .chain(rollup::STREAM_CONSUME.iter().map(|a| format!("{a} on Table.StreamArn")))
        .chain(["sqs:SendMessage on RollupFailureQueue.Arn".to_owned()])
        .collect()
}

pub fn rollup_grant_differences(t: &Value) -> Vec<String> {
    differences(&expected_rollup_grants(), &grants(t, ROLLUP))
}

pub fn api_grant_differences(t: &Value) -> Vec<String> {
    differences(&expected_api_grants(), &grants(t, API))
}

pub fn maintenance_grant_differences(t: &Value, variant: &Variant) -> Vec<String> {
    differences(&expected_maintenance_grants(variant), &grants(&resolve(t, variant), MAINTENANCE))
}

/// The role a function runs with (its `Role: !GetAtt X.Arn`).
pub fn role_of(t: &Value, function: &str) -> String {
    let role = &resource(t, function)["Properties"]["Role"];
    match role.get("Fn::GetAtt").and_then(Value::as_array).map(Vec::as_slice) {
        Some([id, attribute]) if attribute == "Arn" => render(id),
        _ => panic!("{function}'s Role must be a !GetAtt of a role in the template, got {role}"),
    }
}

/// The resources of a function's DynamoDB grants, rendered (`Table.Arn`, `${Table.Arn}/index/*`).
pub fn dynamodb_resources(t: &Value, function: &str) -> BTreeSet<String> {
    allow_statements(t, function)
        .into_iter()
        .filter(|s| items(&s["Action"]).iter().any(|a| render(a).starts_with("dynamodb:")))
        .flat_map(|s| items(&s["Resource"]))
        .map(render)
        .collect()
}

/// Actions IAM cannot scope to a resource (their service authorizes them on `*` only), so a
/// statement of these alone may name `Resource: "*"`.
pub const NO_RESOURCE_LEVEL: [&str; 1] = ["inspector2:ListCoverage"];

/// Grants anywhere in the template (roles, policies, SAM `Policies`), in any variant, that the
/// per-function checks could not see or bound, as `<resource id>: <what>`: an Allow whose action
/// has a `*`, whose resource is `*`, or that uses `NotAction` or `NotResource` (everything but);
/// a SAM policy template; a managed policy a role attaches by ARN rather than a template
/// `ManagedPolicy` (an AWS managed policy such as `AdministratorAccess`); and a policy resource
/// that attaches itself to roles, users or groups (its grants bypass the role's own list).
pub fn wildcard_grants(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        let props = &r["Properties"];
        let documents: Vec<&Value> = match r["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                items(&props["Policies"]).into_iter().flat_map(|p| branches(&p["PolicyDocument"])).collect()
            }
            Some(
                "AWS::IAM::ManagedPolicy"
                | "AWS::IAM::Policy"
                | "AWS::IAM::RolePolicy"
                | "AWS::IAM::UserPolicy"
                | "AWS::IAM::GroupPolicy",
            ) => branches(&props["PolicyDocument"]),
            Some("AWS::Serverless::Function") => items(&props["Policies"]),
            _ => Vec::new(),
        };
        if r["Type"].as_str() == Some("AWS::IAM::Role") {
            for arn in items(&props["ManagedPolicyArns"]) {
                let templated = arn
                    .get("Ref")
                    .and_then(Value::as_str)
                    .and_then(|target| t["Resources"].get(target))
                    .is_some_and(|p| p["Type"] == "AWS::IAM::ManagedPolicy");
                if !templated {
                    out.push(format!("{id}: managed policy {}", render(arn)));
                }
            }
        }
        for key in ["Roles", "Users", "Groups", "RoleName", "UserName", "GroupName"] {
            if r["Type"].as_str().is_some_and(|ty| ty.starts_with("AWS::IAM::") && ty.ends_with("Policy")) {
                for target in items(&props[key]) {
                    out.push(format!("{id}: attaches to {}", render(target)));
                }
            }
        }
        for statement in documents.into_iter().flat_map(|d| items(&d["Statement"])) {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            for key in ["NotAction", "NotResource"] {
                if !statement[key].is_null() {
                    out.push(format!("{id}: {key}"));
                }
            }
            for action in items(&statement["Action"]).into_iter().map(render).filter(|a| a.contains('*')) {
                out.push(format!("{id}: action {action}"));
            }
            // `Resource: "*"` only for actions that have no resource-level permissions at all.
            let actions: Vec<String> = items(&statement["Action"]).into_iter().map(render).collect();
            let unscoped = !actions.is_empty() && actions.iter().all(|a| NO_RESOURCE_LEVEL.contains(&a.as_str()));
            if items(&statement["Resource"]).into_iter().any(|r| render(r) == "*") && !unscoped {
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

/// Whether a template value is there in every variant (no branch of an `Fn::If` is
/// `AWS::NoValue`).
fn in_every_variant(v: &Value) -> bool {
    match v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        Some([_, yes, no]) => in_every_variant(yes) && in_every_variant(no),
        _ => !v.is_null() && *v != super::no_value(),
    }
}

/// What each kind of resource policy may allow: `(type, property holding the document, actions)`.
/// The key policy's administration statement (the account's root, `kms:*`) is the one other
/// grant a resource policy here may make.
const RESOURCE_POLICIES: [(&str, &str, &[&str]); 4] = [
    ("AWS::SQS::QueuePolicy", "PolicyDocument", &["sqs:SendMessage"]),
    ("AWS::SNS::TopicPolicy", "PolicyDocument", &["sns:Publish"]),
    ("AWS::KMS::Key", "KeyPolicy", &["kms:Decrypt", "kms:GenerateDataKey"]),
    ("AWS::Events::EventBusPolicy", "", &["events:PutEvents"]),
];

/// Allow statements of resource policies (queues, topics, keys, the bus) in any variant that
/// open them wider than delivery needs, as `<resource id>: <what>`: to anyone (`*`) without an
/// organization condition, to a service principal without `aws:SourceArn` or
/// `aws:SourceAccount` (any account's rule or alarm could use it: the confused deputy), or an
/// action beyond the one the policy exists for.
pub fn resource_policy_problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        let Some((_, property, allowed)) = RESOURCE_POLICIES.iter().find(|(ty, _, _)| r["Type"] == *ty) else {
            continue;
        };
        let props = &r["Properties"];
        let statements = match *property {
            // An EventBusPolicy's statement, or its older form: the statement's fields inline.
            "" if props["Statement"].is_null() => vec![props],
            "" => items(&props["Statement"]),
            _ => items(&props[*property]).into_iter().flat_map(|d| items(&d["Statement"])).collect(),
        };
        for s in statements.into_iter().filter(|s| s["Effect"] == "Allow") {
            // A condition key (in any case, as IAM reads them) present in every variant.
            let condition = |key: &str| {
                s["Condition"].as_object().into_iter().flatten().any(|(_, test)| {
                    test.as_object()
                        .into_iter()
                        .flatten()
                        .any(|(k, v)| k.eq_ignore_ascii_case(key) && in_every_variant(v))
                })
            };
            let actions: Vec<String> = items(&s["Action"]).into_iter().map(render).collect();
            let principals = branches(&s["Principal"]);
            let root = principals.iter().all(|p| {
                p["AWS"].get("Fn::Sub").and_then(Value::as_str)
                    == Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
            });
            if r["Type"] == "AWS::KMS::Key" && root && actions == ["kms:*"] {
                continue;
            }
            let anyone = principals.iter().any(|p| *p == "*" || items(&p["AWS"]).iter().any(|a| *a == "*"));
            let services: Vec<String> = principals.iter().flat_map(|p| items(&p["Service"])).map(render).collect();
            if anyone && !condition("aws:PrincipalOrgID") {
                out.push(format!("{id}: allows anyone"));
            }
            if !services.is_empty() && !condition("aws:SourceArn") && !condition("aws:SourceAccount") {
                out.push(format!("{id}: {} without aws:SourceArn or aws:SourceAccount", services.join(", ")));
            }
            for action in actions.iter().filter(|a| !allowed.contains(&a.as_str())) {
                out.push(format!("{id}: action {action}"));
            }
            if !s["NotAction"].is_null() || !s["NotPrincipal"].is_null() {
                out.push(format!("{id}: NotAction or NotPrincipal"));
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------- rules and delivery

/// A rule's event pattern as facts: `source aws.ecr`, `detail-type ECR Image Scan`,
/// `detail.scan-status FAILED`, plus `bus <name>`.
pub fn rule_facts(t: &Value, rule: &str) -> BTreeSet<String> {
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

pub fn ecr_rule_differences(t: &Value) -> Vec<String> {
    let mut expected = BTreeSet::from([
        format!("bus {DEFAULT_BUS}"),
        format!("source {ECR_SOURCE}"),
        format!("detail-type {ECR_DETAIL_TYPE}"),
    ]);
    expected.extend(ECR_FAILURES.iter().map(|(status, _)| format!("detail.scan-status {status}")));
    differences(&expected, &rule_facts(t, ECR_RULE))
}

pub fn inspector_rule_differences(t: &Value) -> Vec<String> {
    let expected = BTreeSet::from([
        format!("bus {DEFAULT_BUS}"),
        format!("source {INSPECTOR_SOURCE}"),
        format!("detail-type {INSPECTOR_DETAIL_TYPE}"),
        format!("detail.scanStatus.statusCodeValue {INSPECTOR_INACTIVE}"),
        format!("resources {}", json!({ "wildcard": ECR_ARN_WILDCARD })),
    ]);
    differences(&expected, &rule_facts(t, INSPECTOR_RULE))
}

/// The sample events of `events/` (not the schemas): file name and JSON.
pub fn samples() -> Vec<(String, Value)> {
    crate::fixtures::samples("").into_iter().filter(|(name, _)| !name.ends_with(".schema.json")).collect()
}

/// How the rules of the variant with every rule (AWS sources on, other accounts allowed) route
/// the samples and the notifications, bus by bus: every sample the code stores must reach
/// exactly one rule on the bus it arrives on (an AWS service's event on `default` from this
/// account, and on the product's bus when a member stack forwards it; the contract's events on
/// the product's bus only); an ECR scan the code ignores none (the ECR rules filter on the
/// failure statuses), nor an Inspector coverage event of anything but an ECR image (the
/// Inspector rules filter on the resource); a notification none on either bus (publishing to the product's bus or the
/// default bus must not come back to the function).
pub fn routing_problems(t: &Value) -> Vec<String> {
    let r = resolve(t, &Variant::of(t, &[("EnableAwsScanSources", "true"), ("OrganizationId", "o-a1b2c3d4e5")]));
    let mut out = Vec::new();
    for (name, sample) in samples() {
        let stored = matches!(event::parse(sample.clone()), Ok(Parsed::Failure(_)));
        let from_aws = sample["source"].as_str().is_some_and(|s| s.starts_with("aws."));
        let arrivals: &[(Bus, &str)] =
            if from_aws { &[(Bus::Default, ""), (Bus::Product, " forwarded")] } else { &[(Bus::Product, "")] };
        for (bus, how) in arrivals {
            let routed = routed_on(&r, *bus, &sample);
            if stored && routed.len() != 1 {
                out.push(format!("{name}{how}: stored by the code, routed by {routed:?}"));
            }
            let not_an_image =
                matches!(event::parse(sample.clone()), Ok(Parsed::Ignored { why, .. }) if why == NOT_AN_ECR_IMAGE);
            if !stored && (sample["detail-type"] == ECR_DETAIL_TYPE || not_an_image) && !routed.is_empty() {
                out.push(format!("{name}{how}: ignored by the code, routed by {routed:?}"));
            }
        }
        if !from_aws && !routed_on(&r, Bus::Default, &sample).is_empty() {
            out.push(format!("{name}: routed on the default bus"));
        }
    }
    for detail_type in [notify::OPENED, notify::THRESHOLD_CROSSED] {
        let notification = json!({ "source": notify_config::DEFAULT_SOURCE, "detail-type": detail_type, "detail": {} });
        for bus in [Bus::Default, Bus::Product] {
            let routed = routed_on(&r, bus, &notification);
            if !routed.is_empty() {
                out.push(format!("notification {detail_type}: routed by {routed:?}"));
            }
        }
    }
    out
}

/// The facts of a rule's pattern ([`rule_facts`] without its bus), of a resolved template.
fn pattern_facts(t: &Value, rule: &str) -> BTreeSet<String> {
    rule_facts(t, rule).into_iter().filter(|f| !f.starts_with("bus ")).collect()
}

/// Every copy of the AWS sources' patterns equals the one the code is checked against
/// ([`ecr_rule_differences`], [`inspector_rule_differences`] on the main template's rules on
/// `default`): the main template's forwarded rules and `member`'s forwarding rules.
pub fn pattern_copy_differences(main: &Value, member: &Value) -> Vec<String> {
    let main =
        resolve(main, &Variant::of(main, &[("EnableAwsScanSources", "true"), ("OrganizationId", "o-a1b2c3d4e5")]));
    let member = resolve(member, &Variant::of(member, &[("ForwardAwsScanSources", "true")]));
    let mut out = Vec::new();
    for (original, copies) in [
        (ECR_RULE, [(&main, FORWARDED_ECR_RULE), (&member, MEMBER_ECR_RULE)]),
        (INSPECTOR_RULE, [(&main, FORWARDED_INSPECTOR_RULE), (&member, MEMBER_INSPECTOR_RULE)]),
    ] {
        let expected = pattern_facts(&main, original);
        for (t, copy) in copies {
            out.extend(differences(&expected, &pattern_facts(t, copy)).into_iter().map(|d| format!("{copy}: {d}")));
        }
    }
    out
}

/// What `member` must be in `variant`: each rule on `default`, with one target, the central bus
/// through the forwarding role, with the contract's retries and the member's dead-letter queue,
/// which lets exactly the variant's rules send and is alarmed on as soon as it holds a message
/// (an alarm that tells when it clears, too); the role may do nothing but `events:PutEvents` on the central bus, and only EventBridge of
/// this account may assume it.
pub fn member_problems(member: &Value, variant: &Variant) -> Vec<String> {
    let r = resolve(member, variant);
    let label = &variant.label;
    let resources = r["Resources"].as_object().expect("Resources");
    let mut out = Vec::new();
    let target = json!({
        "Id": "central",
        "Arn": { "Ref": "CentralEventBusArn" },
        "RoleArn": { "Fn::GetAtt": [MEMBER_ROLE, "Arn"] },
        "RetryPolicy": { "MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400 },
        "DeadLetterConfig": { "Arn": { "Fn::GetAtt": [MEMBER_DEAD_LETTERS, "Arn"] } },
    });
    let mut rules = BTreeSet::new();
    for (id, rule) in resources.iter().filter(|(_, v)| v["Type"] == "AWS::Events::Rule") {
        rules.insert(format!("{id}.Arn"));
        if rule["Properties"]["EventBusName"] != "default" {
            out.push(format!("{label}: {id} is not on the default bus"));
        }
        if list(&rule["Properties"]["Targets"]) != [&target] {
            out.push(format!("{label}: {id}: targets {}", rule["Properties"]["Targets"]));
        }
    }
    let mut wanted = BTreeSet::new();
    if variant.is("ForwardAwsScanSources", "true") {
        wanted.extend([format!("{MEMBER_ECR_RULE}.Arn"), format!("{MEMBER_INSPECTOR_RULE}.Arn")]);
    }
    if variant.is("ForwardNativeEvents", "true") {
        wanted.insert(format!("{MEMBER_NATIVE_RULE}.Arn"));
    }
    out.extend(differences(&wanted, &rules).into_iter().map(|d| format!("{label}: rules: {d}")));
    let senders: BTreeSet<String> =
        list(&r["Resources"]["ForwardDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"])
            .into_iter()
            .filter(|s| s["Effect"] == "Allow" && s["Principal"] == json!({ "Service": "events.amazonaws.com" }))
            .flat_map(|s| list(&s["Condition"]["ArnEquals"]["aws:SourceArn"]))
            .map(render)
            .collect();
    out.extend(differences(&rules, &senders).into_iter().map(|d| format!("{label}: dead-letter queue senders: {d}")));
    let role = BTreeSet::from(["events:PutEvents on CentralEventBusArn".to_owned()]);
    out.extend(differences(&role, &role_grants(&r, MEMBER_ROLE)).into_iter().map(|d| format!("{label}: role: {d}")));
    let trust = &resource(&r, MEMBER_ROLE)["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    let expected_trust = json!([{
        "Effect": "Allow",
        "Principal": { "Service": "events.amazonaws.com" },
        "Action": "sts:AssumeRole",
        "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } },
    }]);
    if *trust != expected_trust {
        out.push(format!("{label}: role trust: {trust}"));
    }
    let depth = json!({
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{ "Name": "QueueName", "Value": { "Fn::GetAtt": [MEMBER_DEAD_LETTERS, "QueueName"] } }],
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
    });
    let alarmed = resources.values().any(|a| {
        a["Type"] == "AWS::CloudWatch::Alarm"
            && depth.as_object().into_iter().flatten().all(|(k, v)| a["Properties"][k] == *v)
    });
    if !alarmed {
        out.push(format!("{label}: no alarm on the dead-letter queue's depth"));
    }
    // As written, not as resolved: without AlarmTopicArn both resolve to nothing.
    let written = member["Resources"].as_object().into_iter().flatten();
    for (id, alarm) in written.filter(|(_, a)| a["Type"] == "AWS::CloudWatch::Alarm") {
        if alarm["Properties"]["OKActions"] != alarm["Properties"]["AlarmActions"] {
            out.push(format!("{label}: {id} does not tell its AlarmActions when it clears (OKActions)"));
        }
    }
    out
}

/// The member template's variants: what it forwards.
pub fn member_variants(member: &Value) -> Vec<Variant> {
    let mut out = Vec::new();
    for aws in ["true", "false"] {
        for native in ["false", "true"] {
            out.push(Variant::of(member, &[("ForwardAwsScanSources", aws), ("ForwardNativeEvents", native)]));
        }
    }
    out
}

/// How a variant delivers events: the AWS rules exist when enabled; every rule has one target, the function (direct) or the
/// buffer queue (buffered), with the retries and dead-letter queue of the contract; the
/// dead-letter queue, the buffer queue and the function's invoke permissions let exactly the
/// rules of the variant send (and the ingest role, its on-failure destination, the dead-letter
/// queue): any other Allow, whatever its principal, is reported.
pub fn delivery_problems(t: &Value, variant: &Variant) -> Vec<String> {
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
    // Senders each queue policy allows: aws:SourceArn of its events.amazonaws.com statements,
    // a role by its ARN, and any other Allow as what it allows (to differ from every sender).
    let senders = |policy: &str| -> BTreeSet<String> {
        resources
            .get(policy)
            .map(|p| list(&p["Properties"]["PolicyDocument"]["Statement"]))
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| {
                let arns = list(&s["Condition"]["ArnEquals"]["aws:SourceArn"]);
                if s["Principal"] == json!({ "Service": "events.amazonaws.com" }) && !arns.is_empty() {
                    arns.into_iter().map(render).collect()
                } else if s["Principal"]["AWS"].get("Fn::GetAtt").is_some() && s["Condition"].is_null() {
                    vec![render(&s["Principal"]["AWS"])]
                } else {
                    vec![format!("an Allow to {} on {}", s["Principal"], s["Condition"])]
                }
            })
            .collect()
    };
    let mut compare = |what: &str, expected: &BTreeSet<String>, found: BTreeSet<String>| {
        out.extend(differences(expected, &found).into_iter().map(|d| format!("{label}: {what}: {d}")));
    };
    let mut wanted = BTreeSet::from([format!("{SCAN_FAILED_RULE}.Arn")]);
    if variant.aws_sources() {
        wanted.extend([format!("{ECR_RULE}.Arn"), format!("{INSPECTOR_RULE}.Arn")]);
    }
    if variant.forwarded() {
        wanted.extend([format!("{FORWARDED_ECR_RULE}.Arn"), format!("{FORWARDED_INSPECTOR_RULE}.Arn")]);
    }
    compare("rules", &wanted, rules.clone());
    // And the ingest function's on-failure destination, through its role.
    let dead_letter_senders: BTreeSet<String> = rules.iter().cloned().chain([format!("{INGEST}Role.Arn")]).collect();
    compare("dead-letter queue senders", &dead_letter_senders, senders("DeadLetterQueuePolicy"));
    let none = BTreeSet::new();
    compare("buffer queue senders", if variant.buffered() { &rules } else { &none }, senders("BufferQueuePolicy"));
    // Every permission on ingest: a rule's by its SourceArn, any other as what it allows.
    let invokers: BTreeSet<String> = resources
        .values()
        .filter(|v| v["Type"] == "AWS::Lambda::Permission")
        .map(|v| &v["Properties"])
        .filter(|p| refers_to(&p["FunctionName"], INGEST))
        .map(|p| match (&p["Principal"], &p["SourceArn"]) {
            (principal, arn) if principal == "events.amazonaws.com" && !arn.is_null() => render(arn),
            (principal, arn) => format!("a permission for {principal} from {arn}"),
        })
        .collect();
    compare("rules that may invoke ingest", if variant.buffered() { &none } else { &rules }, invokers);
    out
}

/// The SQS event source mappings in any variant: `AWS::Lambda::EventSourceMapping` resources and
/// the `SQS` events of SAM functions, by name, with their properties.
pub fn sqs_mappings(t: &Value) -> Vec<(String, &Value)> {
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
pub fn batch_response_problems(t: &Value) -> Vec<String> {
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
/// receives, hides a received message for at least 6 times the function's timeout plus the
/// longest batching window, and one
/// mapping reads it into the ingest function with the batch parameters.
pub fn buffer_problems(t: &Value, variant: &Variant) -> Vec<String> {
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
    // The messages a batching window gathers are already invisible: the window counts too.
    let window = super::admitted_range(t, "BufferBatchingWindowSeconds").map_or(300, |(_, hi)| hi);
    if visibility < 6 * timeout + window {
        out.push(format!(
            "{label}: visibility timeout {visibility} s < 6 x the function's timeout {timeout} s + the longest batching window {window} s"
        ));
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
pub fn config_value(name: &str) -> &'static str {
    match name {
        "NOTIFY_THRESHOLDS" => "10,100",
        "SDK_ATTEMPT_TIMEOUT_MS" => "2000",
        "METRICS" => "on",
        "METRICS_BY_REASON" => "true",
        "RECONCILE_INSPECTOR" => "true",
        "RECONCILE_EVERY_MINUTES" => "360",
        _ => "7",
    }
}

/// The names of the variables `IngestConfig::from_env` reads and gets a value for, when
/// notifications are on or off.
pub fn ingest_config_variables(notifications: bool) -> BTreeSet<String> {
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

/// The names of the variables `MaintenanceConfig::from_env` reads and gets a value for, when
/// notifications are on or off.
pub fn maintenance_config_variables(notifications: bool) -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    let config = MaintenanceConfig::from_env(|name| {
        if name == "NOTIFY_BUS_NAME" && !notifications {
            return None;
        }
        read.borrow_mut().insert(name.to_owned());
        Some(config_value(name).to_owned())
    });
    assert!(config.is_ok(), "{config:?}");
    read.into_inner()
}

/// The ingest function's environment in `variant`, with each `Ref` replaced by the parameter's
/// value, or by the resource's name for a resource.
pub fn ingest_environment(t: &Value, variant: &Variant) -> BTreeMap<String, String> {
    environment(t, variant, INGEST)
}

/// A function's environment in `variant`, as [`ingest_environment`].
pub fn environment(t: &Value, variant: &Variant, function: &str) -> BTreeMap<String, String> {
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

pub fn code_routes() -> BTreeSet<String> {
    ROUTES.iter().map(|r| format!("{} {}", r.method.to_uppercase(), r.path)).collect()
}

/// The routes that read every matching group (count, summary, trend, and cleanup, which deletes
/// them too): throttled tighter.
pub fn heavy_routes() -> BTreeSet<String> {
    use ::api::routes::Action;
    ROUTES
        .iter()
        .filter(|r| matches!(r.action, Action::Count | Action::Summary | Action::Trend | Action::Delete))
        .map(|r| format!("{} {}", r.method.to_uppercase(), r.path))
        .collect()
}

/// Each heavy route has route settings below the HTTP API's defaults, and only they have any.
pub fn heavy_route_problems(t: &Value) -> Vec<String> {
    let props = &resource(t, HTTP_API)["Properties"];
    let defaults = &props["DefaultRouteSettings"];
    let settings = props["RouteSettings"].as_object().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for route in heavy_routes() {
        let Some(s) = settings.get(&route) else {
            out.push(format!("{route}: no route settings"));
            continue;
        };
        for key in ["ThrottlingBurstLimit", "ThrottlingRateLimit"] {
            let (mine, default) = (s[key].as_f64(), defaults[key].as_f64());
            if !matches!((mine, default), (Some(m), Some(d)) if m < d) {
                out.push(format!("{route}: {key} {} is not below the default {}", s[key], defaults[key]));
            }
        }
    }
    for route in settings.keys().filter(|r| !heavy_routes().contains(*r)) {
        out.push(format!("{route}: route settings on a route that is not heavy"));
    }
    out
}

/// `METHOD /path` of every `HttpApi` event of every function in the template.
pub fn template_routes(t: &Value) -> BTreeSet<String> {
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

pub fn route_differences(t: &Value) -> Vec<String> {
    differences(&code_routes(), &template_routes(t))
}

/// What would let a request reach a function without SigV4: the HTTP API's default authorizer
/// not being AWS_IAM, an `HttpApi` event on another API, or an event overriding the authorizer.
pub fn iam_auth_problems(t: &Value) -> Vec<String> {
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
pub fn policy_routes(t: &Value, policy: &str) -> BTreeSet<String> {
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
pub fn iam_route(method: &str, path: &str) -> String {
    let path: Vec<&str> = path
        .split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "*" } else { segment })
        .collect();
    format!("{} {}", method.to_uppercase(), path.join("/"))
}

pub fn policy_route_differences(t: &Value, policy: &str, only_view: bool) -> Vec<String> {
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
pub fn log_problems(t: &Value) -> Vec<String> {
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
/// alarm topic when there is one), and those with a failure destination (ingest's dead letters,
/// the rollup function's failure queue) without one on their `DestinationDeliveryFailures`: a
/// record Lambda cannot deliver there is lost.
pub fn alarm_problems(t: &Value) -> Vec<String> {
    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    for (_, r) in t["Resources"].as_object().into_iter().flatten() {
        let p = &r["Properties"];
        if r["Type"] != "AWS::CloudWatch::Alarm" || p["Namespace"] != "AWS/Lambda" {
            continue;
        }
        // Where the alarm goes: `monitoring::alarm_action_problems`.
        let sound = p["Statistic"] == "Sum" && p["Threshold"] == 0 && p["ComparisonOperator"] == "GreaterThanThreshold";
        for dimension in list(&p["Dimensions"]).into_iter().filter(|d| d["Name"] == "FunctionName" && sound) {
            found.insert((render(&dimension["Value"]), render(&p["MetricName"])));
        }
    }
    let mut out = Vec::new();
    for (function, _) in FUNCTIONS {
        let destination = matches!(function, INGEST | ROLLUP).then_some("DestinationDeliveryFailures");
        for metric in ["Errors", "Throttles"].into_iter().chain(destination) {
            if !found.contains(&(function.to_owned(), metric.to_owned())) {
                out.push(format!("{function}: no {metric} alarm"));
            }
        }
    }
    out
}

/// The table's throttling, read and write, each in an alarm summing its `<Kind>ThrottleEvents`
/// over the table and every index the schema declares (the table's metric leaves its indexes'
/// out, and a repeat is throttled by `byTime` first): `Write: missing: byTime` when an index is
/// left out, `Read: no alarm` when there is none. What an alarm sums is the `Id`s its
/// `SUM(METRICS())` returns over: every `MetricStat` of it.
pub fn throttling_alarm_problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["Read", "Write"] {
        let metric = format!("{kind}ThrottleEvents");
        let mut expected = BTreeSet::from(["table".to_owned()]);
        expected.extend(schema::INDEXES.iter().map(|i| i.name.to_owned()));
        let alarms: Vec<BTreeSet<String>> = t["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
            .map(|(_, r)| &r["Properties"])
            .filter(|p| p["Threshold"] == 0 && p["ComparisonOperator"] == "GreaterThanThreshold")
            .filter(|p| {
                list(&p["Metrics"]).iter().any(|m| m["Expression"] == "SUM(METRICS())" && m["ReturnData"] == true)
            })
            .map(|p| {
                list(&p["Metrics"])
                    .into_iter()
                    .map(|m| &m["MetricStat"])
                    .filter(|m| {
                        m["Metric"]["Namespace"] == "AWS/DynamoDB" && m["Metric"]["MetricName"] == json!(metric)
                    })
                    .filter(|m| m["Stat"] == "Sum")
                    .filter_map(|m| {
                        let dimensions = list(&m["Metric"]["Dimensions"]);
                        let table = dimensions
                            .iter()
                            .any(|d| d["Name"] == "TableName" && d["Value"] == json!({ "Ref": TABLE }));
                        let index = dimensions
                            .iter()
                            .find(|d| d["Name"] == "GlobalSecondaryIndexName")
                            .map(|d| render(&d["Value"]));
                        match (table, dimensions.len(), index) {
                            (true, 1, None) => Some("table".to_owned()),
                            (true, 2, Some(index)) => Some(index),
                            _ => None,
                        }
                    })
                    .collect()
            })
            .filter(|found: &BTreeSet<String>| !found.is_empty())
            .collect();
        match alarms.as_slice() {
            [] => out.push(format!("{kind}: no alarm")),
            [found] => out.extend(differences(&expected, found).into_iter().map(|d| format!("{kind}: {d}"))),
            _ => out.push(format!("{kind}: {} alarms", alarms.len())),
        }
    }
    out
}

/// The maintenance schedule: every 5 minutes, on time, an empty payload, no retry (the next run
/// is the retry), in the stack's own schedule group, to the maintenance function with a role
/// that scheduler.amazonaws.com assumes for that group's schedules alone and that may invoke
/// that function and nothing else.
pub fn schedule_problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let expected = json!({
        "Description": resource(t, SCHEDULE)["Properties"]["Description"],
        "GroupName": { "Ref": SCHEDULE_GROUP },
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
            "Condition": {
                "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } },
                "ArnEquals": { "aws:SourceArn": { "Fn::GetAtt": [SCHEDULE_GROUP, "Arn"] } },
            },
        }],
    });
    if resource(t, SCHEDULE_ROLE)["Properties"]["AssumeRolePolicyDocument"] != trust {
        out.push(format!("{SCHEDULE_ROLE}: trust policy is not scheduler.amazonaws.com for {SCHEDULE_GROUP} alone"));
    }
    if resource(t, SCHEDULE_GROUP)["Type"] != "AWS::Scheduler::ScheduleGroup" {
        out.push(format!("{SCHEDULE_GROUP}: type {}", resource(t, SCHEDULE_GROUP)["Type"]));
    }
    let expected = BTreeSet::from([format!("lambda:InvokeFunction on {MAINTENANCE}.Arn")]);
    out.extend(
        differences(&expected, &role_grants(t, SCHEDULE_ROLE)).into_iter().map(|d| format!("{SCHEDULE_ROLE}: {d}")),
    );
    out.sort();
    out
}

/// The tag the guard rails of `infra/guardrails/` deny direct invocation of the api function by.
pub const API_ROLE_TAG: (&str, &str) = ("scan-failures:role", "api");

/// The ways into the api function other than its own HTTP API's routes: an event that is not an
/// `HttpApi` route of this template's API, a function URL, a `AWS::Lambda::Permission` of its
/// own, or a missing guard-rail tag.
/// The statements of every policy document anywhere in `v` (a role's inline policies in either
/// branch of an `Fn::If`, a managed policy, a queue's or a bus's policy), not its trust policy.
pub fn policy_statements(v: &Value) -> Vec<&Value> {
    match v {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, x)| if k == "PolicyDocument" { items(&x["Statement"]) } else { policy_statements(x) })
            .collect(),
        Value::Array(a) => a.iter().flat_map(policy_statements).collect(),
        _ => Vec::new(),
    }
}

/// Whether IAM action pattern `pattern` (`*` any run, `?` one character, case-insensitive)
/// matches `action`.
pub fn glob(pattern: &str, action: &str) -> bool {
    fn at(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => at(&p[1..], a) || (!a.is_empty() && at(p, &a[1..])),
            (Some(b'?'), Some(_)) => at(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => at(&p[1..], &a[1..]),
            _ => false,
        }
    }
    at(pattern.as_bytes(), action.as_bytes())
}

/// Whether `v` names resource `id`: a `Ref`, a `Fn::GetAtt` of it, or a `Fn::Sub` mentioning
/// it, anywhere inside.
pub fn refers_to(v: &Value, id: &str) -> bool {
    match v {
        Value::Object(m) => {
            let names = |s: &str| s.contains(&format!("${{{id}}}")) || s.contains(&format!("${{{id}."));
            m.get("Ref").is_some_and(|r| r == id)
                || m.get("Fn::GetAtt").is_some_and(|g| {
                    g.as_array().and_then(|a| a.first()).is_some_and(|f| f == id)
                        || g.as_str().is_some_and(|s| s.split('.').next() == Some(id))
                })
                || m.get("Fn::Sub").is_some_and(|sub| match sub {
                    Value::String(s) => names(s),
                    Value::Array(a) => a.first().and_then(Value::as_str).is_some_and(names),
                    _ => false,
                })
                || m.values().any(|x| refers_to(x, id))
        }
        Value::Array(a) => a.iter().any(|x| refers_to(x, id)),
        _ => false,
    }
}

pub fn direct_invoke_problems(t: &Value) -> Vec<String> {
    let f = &t["Resources"][API];
    let mut out = Vec::new();
    for (name, event) in f["Properties"]["Events"].as_object().into_iter().flatten() {
        if event["Type"] != json!("HttpApi") || event["Properties"]["ApiId"] != json!({ "Ref": HTTP_API }) {
            out.push(format!("{API}.{name}: not a route of {HTTP_API}"));
        }
    }
    if !f["Properties"]["FunctionUrlConfig"].is_null() {
        out.push(format!("{API}: has a function URL"));
    }
    for (id, r) in t["Resources"].as_object().into_iter().flatten() {
        let target = &r["Properties"]["FunctionName"];
        let names_api = [
            json!({ "Ref": API }),
            json!({ "Fn::GetAtt": [API, "Arn"] }),
            json!({ "Fn::GetAtt": format!("{API}.Arn") }),
        ]
        .contains(target);
        if r["Type"] == json!("AWS::Lambda::Permission") && names_api {
            out.push(format!("{id}: a Lambda permission on {API}"));
        } else if id != API
            && !matches!(r["Type"].as_str(), Some("AWS::CloudWatch::Alarm" | "AWS::CloudWatch::Dashboard"))
            && refers_to(r, API)
        {
            // A URL, a mapping, a rule or schedule target, a grant to invoke it: a way in.
            out.push(format!("{id}: refers to {API} (only its routes, alarms and the dashboard may)"));
        }
        // A grant of invoking any function covers the api too: an action matching
        // lambda:InvokeFunction (or a NotAction), on a resource with a wildcard, however written
        // (a `!Sub`), or a NotResource.
        for statement in policy_statements(r) {
            let invokes = !statement["NotAction"].is_null()
                || items(&statement["Action"])
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| glob(a, "lambda:InvokeFunction")));
            let anywhere = !statement["NotResource"].is_null()
                || items(&statement["Resource"]).iter().any(|r| render(r).contains('*'));
            if statement["Effect"] == "Allow" && invokes && anywhere {
                out.push(format!("{id}: allows invoking any function"));
            }
        }
    }
    if f["Properties"]["Tags"][API_ROLE_TAG.0] != json!(API_ROLE_TAG.1) {
        out.push(format!("{API}: no tag {}={}", API_ROLE_TAG.0, API_ROLE_TAG.1));
    }
    out.sort();
    out
}

/// Where the template's retry ages and queue retention periods differ from
/// `scan_failures_aws::dynamo::write::redelivery`, the definition the idempotency marker
/// outlives.
pub fn redelivery_differences(t: &Value) -> Vec<String> {
    use scan_failures_aws::dynamo::write::redelivery::*;
    let mut out = Vec::new();
    let mut expect = |what: String, got: &Value, want: i64| {
        if got.as_i64() != Some(want) {
            out.push(format!("{what}: {} instead of {want}", render(got)));
        }
    };
    for rule in [SCAN_FAILED_RULE, ECR_RULE, INSPECTOR_RULE] {
        for (i, target) in t["Resources"][rule]["Properties"]["Targets"].as_array().into_iter().flatten().enumerate() {
            expect(
                format!("{rule} target {i} MaximumEventAgeInSeconds"),
                &target["RetryPolicy"]["MaximumEventAgeInSeconds"],
                EVENTBRIDGE_SECONDS,
            );
        }
    }
    expect(
        format!("{INGEST} EventInvokeConfig.MaximumEventAgeInSeconds"),
        &t["Resources"][INGEST]["Properties"]["EventInvokeConfig"]["MaximumEventAgeInSeconds"],
        LAMBDA_ASYNC_SECONDS,
    );
    expect(
        format!("{BUFFER} MessageRetentionPeriod"),
        &t["Resources"][BUFFER]["Properties"]["MessageRetentionPeriod"],
        BUFFER_RETENTION_SECONDS,
    );
    expect(
        format!("{DEAD_LETTERS} MessageRetentionPeriod"),
        &t["Resources"][DEAD_LETTERS]["Properties"]["MessageRetentionPeriod"],
        DEAD_LETTER_RETENTION_SECONDS,
    );
    out.sort();
    out
}
