//! `infra/template.yaml` against the code: the table's keys, indexes and TTL attribute are
//! `scan_failures_aws::dynamo::schema`'s; each function's role grants exactly the DynamoDB and EventBridge
//! actions its crate declares (`ingest::ACTIONS`, `api::ACTIONS`, `maintenance::ACTIONS`), each
//! on the resource it is called on, the ingest role `ingest::SQS_CONSUME` on the buffer queue,
//! and no wildcard; each function gets exactly the variables its configuration reads, its own
//! log group and its Errors and Throttles alarms, the table its read and write throttling alarms
//! over every index; the maintenance function runs on its schedule,
//! whose role may invoke only it; the rules match the contract's and
//! `scan_failures_domain::event::aws_sources`' detail types and statuses, and route every sample of `events/`
//! the code stores to exactly one rule; the HTTP API's routes are `api::routes::ROUTES`, all
//! behind AWS_IAM, and the callers' managed policies cover exactly the routes they should;
//! every `ScanFailures` metric of the dashboard and the alarms is one the functions emit, and
//! every alarm notifies a topic in every variant.
//!
//! The evaluator and the comparisons are `integration_tests::cfn` and `integration_tests::cfn::checks`:
//! each comparison returns the differences as sorted strings and is also run here on a mutated
//! copy of the template to show it reports exactly the mutation, so a green run means the
//! template agrees, not that the comparison is blind. cfn-lint and `sam validate` check the
//! rest, on every variant (scripts/infra-check.sh).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ingest::handler::MAX_BATCH_RECORDS;
use ingest::ACTIONS;
use integration_tests::cfn::checks::*;
use integration_tests::cfn::monitoring::*;
use integration_tests::cfn::*;
use maintenance::{MaintenanceConfig, DEFAULT_MAX_ITEMS};
use scan_failures_aws::config::{self as notify_config, NotifyConfig};
use scan_failures_aws::config::{
    IngestConfig, SdkTimeouts, DEFAULT_SDK_ATTEMPT_TIMEOUT_MS, SDK_ATTEMPT_TIMEOUT_MS_RANGE,
};
use scan_failures_aws::dynamo::schema::{self, SORT_KEY, TIME_SORT_KEY};
use scan_failures_domain::event::{self, Parsed, DETAIL_TYPE};
use scan_failures_domain::group::notification as notify;
use serde_json::{json, Map, Value};

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

/// The queues a template's `AWS::SQS::QueuePolicy` resources refuse plain HTTP on: a `Deny` of
/// `sqs:*` to everyone when `aws:SecureTransport` is false, on the queue it names.
fn tls_only_queues(t: &Value) -> BTreeSet<String> {
    let mut queues = BTreeSet::new();
    for policy in t["Resources"].as_object().into_iter().flat_map(|r| r.values()) {
        if policy["Type"] != json!("AWS::SQS::QueuePolicy") {
            continue;
        }
        for s in policy["Properties"]["PolicyDocument"]["Statement"].as_array().into_iter().flatten() {
            let refuses_plain_http = s["Effect"] == json!("Deny")
                && s["Principal"] == json!("*")
                && s["Action"] == json!("sqs:*")
                && s["Condition"] == json!({"Bool": {"aws:SecureTransport": "false"}});
            if let (true, Some(queue)) = (refuses_plain_http, s["Resource"]["Fn::GetAtt"][0].as_str()) {
                queues.insert(queue.to_owned());
            }
        }
    }
    queues
}

/// Every queue of both templates refuses plain HTTP (the rollups' failure queue had no policy).
#[test]
fn every_queue_refuses_plain_http() {
    for t in [template(), member_template()] {
        let queues: BTreeSet<String> = t["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|r| r.iter())
            .filter(|(_, r)| r["Type"] == json!("AWS::SQS::Queue"))
            .map(|(name, _)| name.clone())
            .collect();
        assert!(!queues.is_empty());
        assert_eq!(tls_only_queues(&t), queues);
    }
}

/// The ingest role publishes only the notifications, from the stack's source (before, it could
/// put any event on the notification bus, which may be one other rules read).
#[test]
fn ingest_role_publishes_only_the_notifications_detail_types_from_the_stacks_source() {
    // Both publishers: ingest, and maintenance's drain of the outbox.
    for role in ["IngestFunctionRole", "MaintenanceFunctionRole"] {
        let mut t = template();
        let policy = conditional_policy_mut(&mut t, role, "notifications");
        let statements = policy["Fn::If"][1]["PolicyDocument"]["Statement"].as_array().cloned().unwrap_or_default();
        let publish: Vec<&Value> = statements.iter().filter(|s| s["Action"] == json!("events:PutEvents")).collect();
        assert_eq!(publish.len(), 1, "{role}: {statements:?}");
        assert_eq!(
            publish[0]["Condition"],
            json!({
                "ForAllValues:StringEquals": {
                    "events:source": [{"Ref": "NotificationSource"}],
                    "events:detail-type": [notify::OPENED, notify::THRESHOLD_CROSSED, notify::REOPENED],
                },
                "Null": {"events:source": "false", "events:detail-type": "false"},
            }),
            "{role}"
        );
    }
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
fn api_role_grants_exactly_the_api_actions_query_on_its_indexes_the_rest_on_the_table() {
    let t = template();
    assert_eq!(action_differences(&t, API, &api::ACTIONS.concat()), Vec::<String>::new());
    assert_eq!(api_grant_differences(&t), Vec::<String>::new());
    assert_eq!(
        dynamodb_resources(&t, API),
        BTreeSet::from(["${Table.Arn}/index/*".to_owned(), "Table.Arn".to_owned()])
    );
    // Not vacuous: the administrators' writes are among them.
    assert!(granted_actions(&t, API).contains("dynamodb:DeleteItem"));
}

#[test]
fn api_grant_check_reports_a_write_granted_on_the_indexes() {
    let mut t = template();
    statements_mut(&mut t, "ApiFunctionRole", "dynamodb")[1]["Resource"] = json!({ "Fn::Sub": "${Table.Arn}/index/*" });
    assert_eq!(
        api_grant_differences(&t),
        [
            "extra: dynamodb:BatchGetItem on ${Table.Arn}/index/*",
            "extra: dynamodb:DeleteItem on ${Table.Arn}/index/*",
            "extra: dynamodb:GetItem on ${Table.Arn}/index/*",
            "extra: dynamodb:PutItem on ${Table.Arn}/index/*",
            "extra: dynamodb:UpdateItem on ${Table.Arn}/index/*",
            "missing: dynamodb:BatchGetItem on Table.Arn",
            "missing: dynamodb:DeleteItem on Table.Arn",
            "missing: dynamodb:GetItem on Table.Arn",
            "missing: dynamodb:PutItem on Table.Arn",
            "missing: dynamodb:UpdateItem on Table.Arn",
        ]
    );
}

#[test]
fn rollup_role_grants_exactly_its_writes_on_the_table_the_stream_reads_on_the_stream_and_its_failure_queue() {
    let t = template();
    assert_eq!(rollup_grant_differences(&t), Vec::<String>::new());
    // Not vacuous: the stream's reads and the table's writes are both there.
    let granted = grants(&t, ROLLUP);
    assert!(granted.contains("dynamodb:GetRecords on Table.StreamArn"), "{granted:?}");
    assert!(granted.contains("dynamodb:UpdateItem on Table.Arn"), "{granted:?}");
}

/// The check pairs each action with its resource: the stream's reads granted on the table and
/// the writes on the stream (the two statements' resources swapped) is what AWS refuses, the
/// mapping failing to create and every write AccessDenied, though the actions and the resources
/// are, as sets, the same. Before, the check compared the two sets only, and passed it.
#[test]
fn rollup_grant_check_reports_the_stream_and_table_resources_swapped() {
    let mut t = template();
    let statements = statements_mut(&mut t, "RollupFunctionRole", "dynamodb");
    let (table, stream) = (statements[0]["Resource"].clone(), statements[1]["Resource"].clone());
    statements[0]["Resource"] = stream;
    statements[1]["Resource"] = table;
    let problems = rollup_grant_differences(&t);
    assert!(problems.contains(&"missing: dynamodb:GetRecords on Table.StreamArn".to_owned()), "{problems:#?}");
    assert!(problems.contains(&"extra: dynamodb:GetRecords on Table.Arn".to_owned()), "{problems:#?}");
    assert!(problems.contains(&"missing: dynamodb:UpdateItem on Table.Arn".to_owned()), "{problems:#?}");
}

#[test]
fn the_table_streams_both_images_to_the_rollup_function_with_bisection_retries_a_filter_and_a_failure_queue() {
    let t = template();
    assert_eq!(
        t["Resources"][TABLE]["Properties"]["StreamSpecification"],
        json!({"StreamViewType": "NEW_AND_OLD_IMAGES"})
    );
    let e = &t["Resources"][ROLLUP]["Properties"]["Events"]["TableStream"];
    assert_eq!(e["Type"], "DynamoDB");
    let p = &e["Properties"];
    assert_eq!(p["Stream"], json!({"Fn::GetAtt": ["Table", "StreamArn"]}));
    assert_eq!(p["StartingPosition"], "TRIM_HORIZON");
    // The redrive refuses a description of a larger batch than the mapping delivers.
    assert_eq!(p["BatchSize"], json!(scan_failures_domain::rollup::given_up::MAX_BATCH_SIZE));
    assert_eq!(p["BisectBatchOnFunctionError"], true);
    assert_eq!(p["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    assert_eq!(p["MaximumRetryAttempts"], 10);
    // The batching window is the operator's trade of freshness for write cost: a minute of lag
    // at most.
    assert_eq!(p["MaximumBatchingWindowInSeconds"], json!({"Ref": "RollupBatchingWindowSeconds"}));
    let w = &t["Parameters"]["RollupBatchingWindowSeconds"];
    assert_eq!((&w["Default"], admitted_range(&t, "RollupBatchingWindowSeconds")), (&json!("1"), Some((0, 60))));
    assert_eq!(
        p["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": ["RollupFailureQueue", "Arn"]})
    );
    let pattern: Value = serde_json::from_str(p["FilterCriteria"]["Filters"][0]["Pattern"].as_str().unwrap()).unwrap();
    assert_eq!(
        pattern,
        json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": scan_failures_aws::dynamo::GROUP_KEY_PREFIX}]}}}})
    );
    // The api answers from the rollups the function keeps, unless the stack's switch says not.
    assert_eq!(
        t["Resources"][API]["Properties"]["Environment"]["Variables"]["API_READ_ROLLUPS"],
        json!({"Ref": "ApiReadRollups"})
    );
    assert_eq!(
        (&t["Parameters"]["ApiReadRollups"]["Default"], &t["Parameters"]["ApiReadRollups"]["AllowedValues"]),
        (&json!("true"), &json!(["true", "false"]))
    );
}

/// Every action the maintenance function may call in some variant: the re-stamp's, the
/// reconciler's when it is on, and the outbox's drain with notifications on.
fn maintenance_actions() -> Vec<&'static str> {
    maintenance::ACTIONS
        .concat()
        .into_iter()
        .chain(maintenance::RECONCILE_ACTIONS.concat())
        .chain(maintenance::NOTIFY_ACTIONS.concat())
        .collect()
}

#[test]
fn maintenance_role_grants_exactly_the_maintenance_actions_query_on_by_time_the_rest_on_the_table() {
    let t = template();
    assert_eq!(action_differences(&t, MAINTENANCE, &maintenance_actions()), Vec::<String>::new());
    for reconcile in ["false", "true"] {
        for bus in ["", "ops"] {
            let variant = Variant::of(&t, &[("ReconcileInspector", reconcile), ("NotificationBusName", bus)]);
            assert_eq!(maintenance_grant_differences(&t, &variant), Vec::<String>::new(), "{}", variant.label);
        }
    }
    // With notifications on, the outbox's drain: the published records' delete and the bus.
    let notifying = expected_maintenance_grants(&Variant::of(&t, &[("NotificationBusName", "ops")]));
    assert_eq!(
        notifying.difference(&expected_maintenance_grants(&Variant::of(&t, &[]))).cloned().collect::<Vec<_>>(),
        ["dynamodb:DeleteItem on Table.Arn".to_owned(), format!("events:PutEvents on {NOTIFICATION_BUS_ARN}")]
    );
    // Not vacuous: the reconciler adds Inspector's ListCoverage on * (the writer's transaction
    // is granted anyway: a redrive applies its batches' rollups with it).
    let on = expected_maintenance_grants(&Variant::of(&t, &[("ReconcileInspector", "true")]));
    let off = expected_maintenance_grants(&Variant::of(&t, &[]));
    assert_eq!(on.difference(&off).collect::<Vec<_>>(), ["inspector2:ListCoverage on *"]);
    // A redrive reads the stream and the failure queue, nothing else of either.
    let stream_and_queue: Vec<&String> =
        off.iter().filter(|g| g.ends_with("Table.StreamArn") || g.starts_with("sqs:")).collect();
    assert_eq!(
        stream_and_queue,
        [
            "dynamodb:GetRecords on Table.StreamArn",
            "dynamodb:GetShardIterator on Table.StreamArn",
            "sqs:ChangeMessageVisibility on RollupFailureQueue.Arn",
            "sqs:DeleteMessage on RollupFailureQueue.Arn",
            "sqs:ReceiveMessage on RollupFailureQueue.Arn",
        ]
    );
}

#[test]
fn maintenance_grant_check_reports_the_reconcilers_grants_outside_their_condition() {
    let mut t = template();
    let policies =
        t["Resources"]["MaintenanceFunctionRole"]["Properties"]["Policies"].as_array_mut().expect("Policies");
    let inspector = policies.iter_mut().find(|p| p.get("Fn::If").is_some()).expect("the conditional inspector policy");
    *inspector = inspector["Fn::If"][1].clone();
    assert_eq!(maintenance_grant_differences(&t, &Variant::of(&t, &[])), ["extra: inspector2:ListCoverage on *"]);
}

#[test]
fn maintenance_grant_check_reports_query_on_every_index_and_an_extra_batch_write() {
    let mut t = template();
    let statements = statements_mut(&mut t, "MaintenanceFunctionRole", "dynamodb");
    statements[0]["Resource"] = json!({ "Fn::Sub": "${Table.Arn}/index/*" });
    statements[1]["Action"].as_array_mut().expect("an Action list").push(json!("dynamodb:BatchWriteItem"));
    assert_eq!(
        maintenance_grant_differences(&t, &Variant::of(&t, &[])),
        [
            "extra: dynamodb:BatchWriteItem on Table.Arn",
            "extra: dynamodb:Query on ${Table.Arn}/index/*",
            "missing: dynamodb:Query on ${Table.Arn}/index/byTime",
        ]
    );
    assert_eq!(action_differences(&t, MAINTENANCE, &maintenance_actions()), ["extra: dynamodb:BatchWriteItem"]);
}

#[test]
fn action_check_reports_an_extra_granted_action() {
    let mut t = template();
    first_actions_mut(&mut t, "IngestFunctionRole", "dynamodb").push(json!("dynamodb:Scan"));
    assert_eq!(action_differences(&t, INGEST, &ACTIONS.concat()), ["extra: dynamodb:Scan"]);
    // The other functions are untouched.
    assert_eq!(action_differences(&t, API, &api::ACTIONS.concat()), Vec::<String>::new());
    assert_eq!(action_differences(&t, MAINTENANCE, &maintenance_actions()), Vec::<String>::new());
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
fn no_iam_statement_allows_a_wildcard_action_or_resource_or_uses_a_policy_template_or_an_outside_policy() {
    assert_eq!(wildcard_grants(&template()), Vec::<String>::new());
    assert_eq!(wildcard_grants(&member_template()), Vec::<String>::new());
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
    // `*` is allowed for ListCoverage alone (no resource-level permissions), not for an action
    // beside it.
    let inspector = conditional_policy_mut(&mut t, "MaintenanceFunctionRole", "inspector");
    inspector["Fn::If"][1]["PolicyDocument"]["Statement"][0]["Action"] =
        json!(["inspector2:ListCoverage", "inspector2:ListFindings"]);
    // Grants the per-function checks cannot bound: an AWS managed policy attached by ARN,
    // "everything but" an action, and a policy that attaches itself to a function's role.
    t["Resources"]["RollupFunctionRole"]["Properties"]["ManagedPolicyArns"] =
        json!(["arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess", { "Ref": VIEW_POLICY }]);
    statements_mut(&mut t, "MaintenanceFunctionRole", "logs")[0]
        .as_object_mut()
        .map(|s| s.insert("NotResource".into(), json!("arn:aws:logs:*:*:log-group:other")));
    let logs = &mut statements_mut(&mut t, "ApiFunctionRole", "logs")[0];
    let action = logs["Action"].take();
    logs["NotAction"] = action;
    // A statement inside a conditional policy document.
    let logs = &mut t["Resources"]["RollupFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    let document = logs.take();
    *logs = json!({ "Fn::If": ["IsBuffered", document, { "Statement": [{ "Effect": "Allow", "Action": "dynamodb:*", "Resource": "x" }] }] });
    t["Resources"]["Extra"] = json!({ "Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "extra", "Roles": [{ "Ref": "IngestFunctionRole" }],
        "PolicyDocument": { "Statement": [{ "Effect": "Allow", "Action": "dynamodb:DeleteTable", "Resource": { "Fn::GetAtt": [TABLE, "Arn"] } }] } } });
    assert_eq!(
        wildcard_grants(&t),
        [
            "ApiFunction: policy template {\"DynamoDBCrudPolicy\":{\"TableName\":{\"Ref\":\"Table\"}}}",
            "ApiFunctionRole: NotAction",
            "ApiFunctionRole: action dynamodb:*",
            "Extra: attaches to IngestFunctionRole",
            "IngestFunctionRole: action events:*",
            "IngestFunctionRole: resource *",
            "MaintenanceFunctionRole: NotResource",
            "MaintenanceFunctionRole: resource *",
            "RollupFunctionRole: action dynamodb:*",
            "RollupFunctionRole: managed policy arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
        ]
    );
}

#[test]
fn no_resource_policy_opens_a_queue_topic_key_or_the_bus_wider_than_its_senders() {
    assert_eq!(resource_policy_problems(&template()), Vec::<String>::new());
    assert_eq!(resource_policy_problems(&member_template()), Vec::<String>::new());
}

#[test]
fn resource_policy_check_reports_anyone_an_unconditioned_service_and_a_foreign_action() {
    let (mut t, mut member) = (template(), member_template());
    let anyone = json!({ "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*" });
    let statements = |t: &mut Value, id: &str, property: &str| -> Vec<Value> {
        t["Resources"][id]["Properties"][property]["Statement"].as_array().cloned().unwrap_or_default()
    };
    let mut rollup_failures = statements(&mut t, "RollupFailureQueuePolicy", "PolicyDocument");
    rollup_failures.push(anyone.clone());
    t["Resources"]["RollupFailureQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"] = json!(rollup_failures);
    let mut forward = statements(&mut member, "ForwardDeadLetterQueuePolicy", "PolicyDocument");
    forward.push(anyone);
    member["Resources"]["ForwardDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"] = json!(forward);
    // Any account's alarms could publish, and decrypt through the key.
    t["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"] = Value::Null;
    t["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"][1]["Condition"] = Value::Null;
    // A rule that may do more than send.
    t["Resources"]["BufferQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"] = json!("sqs:*");
    // A source condition absent in one variant, and anyone named in a list.
    let rule = &mut t["Resources"]["BufferQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    rule["Condition"]["ArnEquals"]["aws:SourceArn"] =
        json!({ "Fn::If": ["IsBuffered", { "Fn::GetAtt": ["ScanFailedRule", "Arn"] }, { "Ref": "AWS::NoValue" }] });
    t["Resources"]["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Principal"] =
        json!({ "AWS": ["*"] });
    assert_eq!(
        resource_policy_problems(&t),
        [
            "AlarmTopicKey: cloudwatch.amazonaws.com without aws:SourceArn or aws:SourceAccount",
            "AlarmTopicPolicy: cloudwatch.amazonaws.com without aws:SourceArn or aws:SourceAccount",
            "BufferQueuePolicy: action sqs:*",
            "BufferQueuePolicy: events.amazonaws.com without aws:SourceArn or aws:SourceAccount",
            "DeadLetterQueuePolicy: allows anyone",
            "RollupFailureQueuePolicy: allows anyone",
        ]
    );
    assert_eq!(resource_policy_problems(&member), ["ForwardDeadLetterQueuePolicy: allows anyone"]);
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

/// A message that fails every receive is received once per visibility timeout: with the most
/// receives the template admits, it must still reach the dead-letter queue with a day of the
/// buffer's retention to spare (a backlog before its first receive), or it would expire in the
/// buffer, lost.
#[test]
fn a_message_failing_every_receive_reaches_the_dead_letters_a_day_before_the_buffer_drops_it() {
    let t = template();
    assert_eq!(receive_budget_problems(&t), Vec::<String>::new());
    let mut wider = template();
    // 720, the bound before the batching window counted against the visibility timeout.
    wider["Parameters"]["BufferMaxReceiveCount"]["AllowedPattern"] =
        json!("^([1-9][0-9]?|[1-6][0-9]{2}|7[01][0-9]|720)$");
    assert_eq!(
        receive_budget_problems(&wider),
        ["BufferMaxReceiveCount 720 receives take 301980 s of the buffer's 345600 s retention, leaving less than a day"]
    );
}

fn receive_budget_problems(t: &Value) -> Vec<String> {
    let most = admitted_range(t, "BufferMaxReceiveCount").map_or(u64::MAX, |(_, hi)| hi);
    let queue = &resource(t, BUFFER)["Properties"];
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap_or(30);
    let retention = queue["MessageRetentionPeriod"].as_u64().unwrap_or(345_600);
    let taken = most.saturating_sub(1).saturating_mul(visibility);
    if taken.saturating_add(24 * 3600) <= retention {
        return Vec::new();
    }
    vec![format!(
        "BufferMaxReceiveCount {most} receives take {taken} s of the buffer's {retention} s retention, leaving less than a day"
    )]
}

/// The SDK's three attempts at the longest bound the template admits, and their back-off (at
/// most 1 s and 2 s, the standard retry's), end before the direct path's timeout and inside the
/// margin a buffered batch keeps before its deadline: a DynamoDB that stops answering fails the
/// write, which is reported, rather than cutting the invocation off (a buffered batch would
/// come back whole, every message spending a receive). 60000, the bound before, took 183 s.
#[test]
fn the_sdks_attempts_at_their_longest_fit_the_ingest_timeout_and_its_write_margin() {
    let t = template();
    assert_eq!(sdk_budget_problems(&t), Vec::<String>::new());
    let mut wider = template();
    wider["Parameters"]["SdkAttemptTimeoutMs"]["AllowedPattern"] = json!("^([1-9][0-9]{2,3}|[1-5][0-9]{4}|60000)$");
    assert_eq!(
        sdk_budget_problems(&wider),
        [
            "3 attempts of 60000 ms and 3 s of back-off take 183 s, past the direct path's 10 s timeout",
            "3 attempts of 60000 ms and 3 s of back-off take 183 s, past a buffered batch's 10 s write margin"
        ]
    );
}

fn sdk_budget_problems(t: &Value) -> Vec<String> {
    let most = admitted(t, "SdkAttemptTimeoutMs").last().copied().unwrap_or(u64::MAX);
    let taken = Duration::from_millis(most.saturating_mul(3)) + Duration::from_secs(3);
    let direct = resolve(t, &Variant::of(t, &[("BufferedIngest", "false")]));
    let timeout = Duration::from_secs(resource(&direct, INGEST)["Properties"]["Timeout"].as_u64().unwrap_or(0));
    let mut out = Vec::new();
    let said = format!("3 attempts of {most} ms and 3 s of back-off take {} s", taken.as_secs());
    if taken > timeout {
        out.push(format!("{said}, past the direct path's {} s timeout", timeout.as_secs()));
    }
    if taken > ingest::handler::WRITE_MARGIN {
        out.push(format!("{said}, past a buffered batch's {} s write margin", ingest::handler::WRITE_MARGIN.as_secs()));
    }
    out
}

// ---------------------------------------------------------------------------------- rules and delivery

#[test]
fn rule_matches_the_event_contracts_detail_type() {
    let t = template();
    let r = resolve(&t, &Variant::of(&t, &[]));
    let pattern = &resource(&r, SCAN_FAILED_RULE)["Properties"]["EventPattern"];
    assert_eq!(pattern, &json!({ "detail-type": [DETAIL_TYPE] }));
    assert_eq!(t["Parameters"]["AllowedSources"]["Default"], "");
}

/// An "Image Scan Failed" event with `source`, as a producer puts it.
fn scan_failed_from(source: &str) -> Value {
    json!({ "source": source, "detail-type": DETAIL_TYPE, "account": "111122223333", "detail": {} })
}

#[test]
fn with_allowed_sources_an_event_of_any_other_source_never_reaches_the_function() {
    let t = template();
    let r = resolve(&t, &Variant::of(&t, &[("AllowedSources", "scanfail,ci.pipeline")]));
    assert_eq!(
        resource(&r, SCAN_FAILED_RULE)["Properties"]["EventPattern"],
        json!({ "detail-type": [DETAIL_TYPE], "source": ["scanfail", "ci.pipeline"] })
    );
    for (source, routed) in [("scanfail", true), ("ci.pipeline", true), ("forged", false), ("scanfail.x", false)] {
        let rules = routed_on(&r, Bus::Product, &scan_failed_from(source));
        assert_eq!(rules == [SCAN_FAILED_RULE], routed, "{source}: {rules:?}");
    }
    // Without the allow-list every source is accepted.
    let open = resolve(&t, &Variant::of(&t, &[]));
    assert_eq!(routed_on(&open, Bus::Product, &scan_failed_from("forged")), [SCAN_FAILED_RULE]);
}

#[test]
fn the_bus_lets_exactly_the_organization_and_the_listed_accounts_put_events() {
    let t = template();
    let policies = |r: &Value| -> Vec<Value> {
        r["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| v["Type"] == "AWS::Events::EventBusPolicy")
            .map(|(_, v)| v["Properties"]["Statement"].clone())
            .collect()
    };
    // Default deny: no statement at all without either parameter.
    assert_eq!(policies(&resolve(&t, &Variant::of(&t, &[]))), Vec::<Value>::new());
    let bus = json!({ "Fn::GetAtt": ["EventBus", "Arn"] });
    let r = resolve(
        &t,
        &Variant::of(&t, &[("OrganizationId", "o-a1b2c3d4e5"), ("SourceAccountIds", "111122223333,444455556666")]),
    );
    // Only the intake's detail-types, the code's own.
    let intake = [
        scan_failures_domain::event::native::DETAIL_TYPE,
        scan_failures_domain::event::aws_sources::ECR_DETAIL_TYPE,
        scan_failures_domain::event::aws_sources::INSPECTOR_DETAIL_TYPE,
    ];
    // ForAllValues holds for a request without the key: the Null guard requires it.
    let only = json!({ "ForAllValues:StringEquals": { "events:detail-type": intake },
        "Null": { "events:detail-type": "false" } });
    assert_eq!(
        policies(&r),
        [
            json!({ "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": bus,
                "Condition": { "StringEquals": { "aws:PrincipalOrgID": { "Ref": "OrganizationId" } },
                    "ForAllValues:StringEquals": only["ForAllValues:StringEquals"], "Null": only["Null"] } }),
            json!({ "Effect": "Allow", "Principal": { "AWS": ["111122223333", "444455556666"] },
                "Action": "events:PutEvents", "Resource": bus, "Condition": only }),
        ]
    );
    // With AllowedSources, only those sources and the forwarded AWS ones.
    let r = resolve(
        &t,
        &Variant::of(&t, &[("OrganizationId", "o-a1b2c3d4e5"), ("AllowedSources", "scanfail,ci.pipeline")]),
    );
    assert_eq!(
        policies(&r)[0]["Condition"]["ForAllValues:StringEquals"],
        json!({ "events:detail-type": intake, "events:source": ["scanfail", "ci.pipeline", "aws.ecr", "aws.inspector2"] })
    );
    assert_eq!(
        policies(&r)[0]["Condition"]["Null"],
        json!({ "events:detail-type": "false", "events:source": "false" })
    );
    // Without the AWS sources, forwarded ECR and Inspector events are refused at PutEvents (a
    // member's dead-letter queue keeps them), not accepted for no rule: before, they were lost.
    let r = resolve(
        &t,
        &Variant::of(
            &t,
            &[
                ("OrganizationId", "o-a1b2c3d4e5"),
                ("SourceAccountIds", "111122223333"),
                ("AllowedSources", "scanfail"),
                ("EnableAwsScanSources", "false"),
            ],
        ),
    );
    for policy in policies(&r) {
        assert_eq!(
            policy["Condition"]["ForAllValues:StringEquals"],
            json!({ "events:detail-type": [scan_failures_domain::event::native::DETAIL_TYPE], "events:source": ["scanfail"] })
        );
    }
    assert_eq!(policies(&r).len(), 2);
    // On an existing bus, the policy names it.
    let r = resolve(&t, &Variant::of(&t, &[("OrganizationId", "o-a1b2c3d4e5"), ("EventBusName", "existing-bus")]));
    assert_eq!(
        policies(&r)[0]["Resource"],
        json!({ "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" })
    );
}

#[test]
fn every_copy_of_the_aws_patterns_in_both_templates_is_the_one_checked_against_the_code() {
    let (t, member) = (template(), member_template());
    assert_eq!(pattern_copy_differences(&t, &member), Vec::<String>::new());
    // The forwarded rules exist whenever member stacks may forward: from other accounts, and
    // from this account's other regions, which need no bus policy (before, they existed only
    // with OrganizationId or SourceAccountIds, and a single account's other regions forwarded
    // to no rule). On the default bus, the stack's own rules take the forwarded events.
    for (organization, bus, present) in
        [("", "", true), ("o-a1b2c3d4e5", "", true), ("", "existing-bus", true), ("o-a1b2c3d4e5", "default", false)]
    {
        let r = resolve(&t, &Variant::of(&t, &[("OrganizationId", organization), ("EventBusName", bus)]));
        for rule in [FORWARDED_ECR_RULE, FORWARDED_INSPECTOR_RULE] {
            assert_eq!(r["Resources"].get(rule).is_some(), present, "{rule} with {organization:?} on {bus:?}");
            if present {
                assert_eq!(Bus::of_rule(&r["Resources"][rule]), Bus::Product);
            }
        }
    }
}

#[test]
fn pattern_copy_check_reports_a_status_dropped_from_the_member_copy_and_a_source_changed_in_the_forwarded_one() {
    let (mut t, mut member) = (template(), member_template());
    pattern_mut(&mut member, MEMBER_ECR_RULE)["detail"]["scan-status"]
        .as_array_mut()
        .expect("statuses")
        .retain(|s| s != "FINDINGS_UNAVAILABLE");
    pattern_mut(&mut t, FORWARDED_INSPECTOR_RULE)["source"] = json!(["aws.inspector"]);
    assert_eq!(
        pattern_copy_differences(&t, &member),
        [
            "EcrScanForwardRule: missing: detail.scan-status FINDINGS_UNAVAILABLE",
            "ForwardedInspectorCoverageRule: extra: source aws.inspector",
            "ForwardedInspectorCoverageRule: missing: source aws.inspector2",
        ]
    );
}

#[test]
fn the_member_template_forwards_each_rule_to_the_central_bus_with_a_role_that_may_only_put_events_there() {
    let member = member_template();
    for variant in member_variants(&member) {
        assert_eq!(member_problems(&member, &variant), Vec::<String>::new(), "{}", variant.label);
    }
    assert_eq!(member["Parameters"]["ForwardAwsScanSources"]["Default"], "true");
    assert_eq!(member["Parameters"]["ForwardNativeEvents"]["Default"], "false");
    assert_eq!(member["Parameters"]["AllowedSources"]["Default"], "");
    let native = resolve(&member, &Variant::of(&member, &[("ForwardNativeEvents", "true")]));
    assert_eq!(
        resource(&native, MEMBER_NATIVE_RULE)["Properties"]["EventPattern"],
        json!({ "detail-type": [DETAIL_TYPE] })
    );
}

/// With the central stack's `AllowedSources` given to the member, its native rule forwards
/// those sources only. Before, it forwarded every source: the central bus refused the others,
/// they filled the member's dead-letter queue, and the documented replay (which admits any
/// non-AWS source without `--allowed-sources`) put them through to the ingest function.
#[test]
fn a_member_forwards_only_the_sources_the_central_bus_admits() {
    let member = member_template();
    let variant = Variant::of(&member, &[("ForwardNativeEvents", "true"), ("AllowedSources", "scanfail,ci.pipeline")]);
    assert_eq!(member_problems(&member, &variant), Vec::<String>::new());
    let native = resolve(&member, &variant);
    assert_eq!(
        resource(&native, MEMBER_NATIVE_RULE)["Properties"]["EventPattern"],
        json!({ "detail-type": [DETAIL_TYPE], "source": ["scanfail", "ci.pipeline"] })
    );
    // The same pattern as the parameter's twin in the central template.
    assert_eq!(
        member["Parameters"]["AllowedSources"]["AllowedPattern"],
        template()["Parameters"]["AllowedSources"]["AllowedPattern"]
    );
}

/// A bus policy's statement id is its physical id, unique in the account and region: a second
/// stack there (staging beside production) with its own bus failed to create on a fixed one.
/// It is also at most 64 characters (CloudFormation's schema): built from the stack name, which
/// may be 128, it failed to deploy for any name over 40 characters.
#[test]
fn every_bus_policy_statement_id_is_the_stacks_own_and_fits_for_the_longest_stack_name() {
    let t = template();
    let variant = Variant::of(&t, &[("OrganizationId", "o-a1b2c3d4e5"), ("SourceAccountIds", "210987654321")]);
    let r = resolve(&t, &variant);
    let name = "s".repeat(128);
    let stack_id = |uuid: &str| format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/{uuid}");
    let ids = |uuid: &str| -> Vec<String> {
        r["Resources"]
            .as_object()
            .expect("Resources")
            .values()
            .filter(|v| v["Type"] == "AWS::Events::EventBusPolicy")
            .map(|v| statement_id(&v["Properties"]["StatementId"], &name, &stack_id(uuid)))
            .collect()
    };
    let (one, other) = (ids("0f4e8a52-7b1d-11ef-9c3a-0a1b2c3d4e5f"), ids("9a8b7c6d-1111-4222-8333-944455556666"));
    assert!(one.iter().all(|id| id.len() <= 64), "longer than 64 characters: {one:?}");
    assert_eq!(
        one,
        [
            "organization-put-events-0f4e8a52-7b1d-11ef-9c3a-0a1b2c3d4e5f",
            "accounts-put-events-0f4e8a52-7b1d-11ef-9c3a-0a1b2c3d4e5f"
        ]
    );
    assert!(one.iter().all(|id| !other.contains(id)), "{one:?} {other:?}");
}

/// A statement id as CloudFormation evaluates it, for the two forms a template could use:
/// `!Sub` of the stack name, and `!Join` of a literal and a part of the stack id's `!Split`.
fn statement_id(v: &Value, stack_name: &str, stack_id: &str) -> String {
    if let Some(text) = v["Fn::Sub"].as_str() {
        return text.replace("${AWS::StackName}", stack_name);
    }
    let join = &v["Fn::Join"];
    let parts = join[1].as_array().expect("Fn::Join parts");
    let part = |p: &Value| -> String {
        if let Some(lit) = p.as_str() {
            return lit.to_owned();
        }
        let select = &p["Fn::Select"];
        let split = &select[1]["Fn::Split"];
        assert_eq!(split[1], json!({ "Ref": "AWS::StackId" }), "{p}");
        let pieces: Vec<&str> = stack_id.split(split[0].as_str().expect("separator")).collect();
        pieces[usize::try_from(select[0].as_u64().expect("index")).expect("index")].to_owned()
    };
    parts.iter().map(part).collect::<Vec<_>>().join(join[0].as_str().expect("separator"))
}

#[test]
fn member_check_reports_a_wider_role_a_rule_without_its_dead_letters_another_target_and_a_deaf_alarm() {
    let mut member = member_template();
    let statements = statements_mut(&mut member, MEMBER_ROLE, "put-central-bus");
    statements[0]["Action"] = json!(["events:PutEvents", "events:PutRule"]);
    statements[0]["Resource"] = json!("*");
    member["Resources"][MEMBER_INSPECTOR_RULE]["Properties"]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] =
        json!(3);
    member["Resources"]["ForwardDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .retain(|s| s["Fn::If"][1]["Sid"] != "EcrScanForwardRuleDeadLetters");
    member["Resources"]["ForwardDeadLetterAlarm"]["Properties"]["Threshold"] = json!(10);
    member["Resources"]["ForwardDeadLetterAlarm"]["Properties"]
        .as_object_mut()
        .expect("Properties")
        .remove("OKActions");
    let problems = member_problems(&member, &Variant::of(&member, &[]));
    assert_eq!(problems.len(), 7, "{problems:#?}");
    assert!(problems[0].starts_with("defaults: InspectorCoverageForwardRule: targets "), "{}", problems[0]);
    assert!(problems[0].contains(r#""MaximumRetryAttempts":3"#), "{}", problems[0]);
    assert_eq!(problems[1], "defaults: dead-letter queue senders: missing: EcrScanForwardRule.Arn");
    assert_eq!(
        problems[2..],
        [
            "defaults: role: extra: events:PutEvents on *",
            "defaults: role: extra: events:PutRule on *",
            "defaults: role: missing: events:PutEvents on CentralEventBusArn",
            "defaults: no alarm on the dead-letter queue's depth",
            "defaults: ForwardDeadLetterAlarm does not tell its AlarmActions when it clears (OKActions)",
        ]
    );
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
    assert_eq!(
        routed.keys().collect::<Vec<_>>(),
        [ECR_RULE, FORWARDED_ECR_RULE, FORWARDED_INSPECTOR_RULE, INSPECTOR_RULE, SCAN_FAILED_RULE]
    );
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
fn routing_check_reports_an_ec2_instances_inspector_coverage_when_the_rules_take_every_resource() {
    let mut t = template();
    for rule in [INSPECTOR_RULE, FORWARDED_INSPECTOR_RULE] {
        pattern_mut(&mut t, rule).as_object_mut().expect("pattern").remove("resources");
    }
    assert_eq!(
        routing_problems(&t),
        [
            "aws-inspector-03-ec2-instance.json: ignored by the code, routed by [\"InspectorCoverageRule\"]",
            "aws-inspector-03-ec2-instance.json forwarded: ignored by the code, routed by [\"ForwardedInspectorCoverageRule\"]",
        ]
    );
    assert_eq!(inspector_rule_differences(&t), ["missing: resources {\"wildcard\":\"arn:*:ecr:*\"}"]);
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

/// An Allow to another principal on the buffer's queue, or a permission on ingest for another
/// principal, lets callers put failures in past the bus policy and `AllowedSources`: both are
/// reported. (The check looked at the `events.amazonaws.com` statements alone before.)
#[test]
fn delivery_check_reports_an_allow_to_another_principal_on_the_queue_or_the_function() {
    let mut t = template();
    t["Resources"]["BufferQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(json!({ "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*" }));
    t["Resources"]["AnyoneMayInvoke"] = json!({ "Type": "AWS::Lambda::Permission",
        "Properties": { "FunctionName": { "Fn::GetAtt": [INGEST, "Arn"] }, "Principal": "*", "Action": "lambda:InvokeFunction" } });
    let buffered = Variant::of(&t, &[("BufferedIngest", "true")]);
    assert_eq!(
        delivery_problems(&t, &buffered),
        [
            "BufferedIngest=true: buffer queue senders: extra: an Allow to \"*\" on null",
            "BufferedIngest=true: rules that may invoke ingest: extra: a permission for \"*\" from null",
        ]
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
        (&json!("100"), &json!("5"))
    );
    assert_eq!(p["BufferMaxReceiveCount"]["Default"], "5");
    // The mapping polls no more batches at once than the reservation runs (Lambda's floor is 2,
    // its ceiling 1000); a reservation of 1, which cannot cap it, is refused on this path.
    let reservation =
        regex_lite::Regex::new(p["IngestReservedConcurrency"]["AllowedPattern"].as_str().expect("a pattern"))
            .expect("a pattern regex-lite reads");
    for value in ["0", "2", "10", "999", "1000"] {
        assert!(reservation.is_match(value), "{value} is refused");
    }
    // A number CloudFormation would compare as other text than "0" or "1", or past Lambda's cap.
    for value in ["01", "00", "1.0", "0.0", "1e0", "-1", "+2", " 2", "1001", ""] {
        assert!(!reservation.is_match(value), "{value:?} is accepted");
    }
    for (reserved, cap) in [("0", None), ("2", Some(json!({"Ref": "IngestReservedConcurrency"})))] {
        let variant = Variant::of(&t, &[("BufferedIngest", "true"), ("IngestReservedConcurrency", reserved)]);
        let mapping = &resolve(&t, &variant)["Resources"]["IngestBufferEventSourceMapping"]["Properties"];
        assert_eq!(mapping["ScalingConfig"].get("MaximumConcurrency").cloned(), cap, "reserved {reserved}");
        assert_eq!(broken_rules(&t, &variant), Vec::<String>::new(), "reserved {reserved}");
    }
    let one = Variant::of(&t, &[("BufferedIngest", "true"), ("IngestReservedConcurrency", "1")]);
    assert_eq!(
        broken_rules(&t, &one),
        ["With BufferedIngest=true, IngestReservedConcurrency must be 0 (unreserved) or at least 2: the queue's mapping cannot poll fewer than 2 batches at once."]
    );
    let direct = Variant::of(&t, &[("BufferedIngest", "false"), ("IngestReservedConcurrency", "1")]);
    assert_eq!(broken_rules(&t, &direct), Vec::<String>::new(), "the direct path has no mapping to cap");
    // Lambda refuses a batch over 10 without a batching window, and the handler over MAX_BATCH_RECORDS.
    assert!(admitted_range(&t, "BufferBatchingWindowSeconds").is_some_and(|(lo, _)| lo >= 1));
    assert!(admitted_range(&t, "BufferBatchSize").is_some_and(|(_, hi)| hi as usize <= MAX_BATCH_RECORDS));
}

#[test]
#[should_panic(expected = "Condition \"IsBuffered\" inside Rules, which take none")]
fn the_rules_harness_refuses_a_condition_as_cloudformation_does() {
    let mut t = template();
    t["Rules"]["BufferedIngestReservesTwoOrNone"]["RuleCondition"] = json!({ "Condition": "IsBuffered" });
    broken_rules(&t, &Variant::of(&t, &[("BufferedIngest", "true")]));
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
            "BufferedIngest=true: visibility timeout 300 s < 6 x the function's timeout 60 s + the longest batching window 60 s",
        ]
    );
    assert_eq!(buffer_problems(&t, &Variant::of(&t, &[])), Vec::<String>::new(), "the direct path has no queue");
    // 360 s, six times the timeout, left no room for a batching window of 300 s, the bound before.
    let mut t = template();
    t["Resources"][BUFFER]["Properties"]["VisibilityTimeout"] = json!(360);
    t["Parameters"]["BufferBatchingWindowSeconds"]["AllowedPattern"] = json!("^([1-9][0-9]?|[12][0-9]{2}|300)$");
    assert_eq!(
        buffer_problems(&t, &Variant::of(&t, &[("BufferedIngest", "true")])),
        ["BufferedIngest=true: visibility timeout 360 s < 6 x the function's timeout 60 s + the longest batching window 300 s"]
    );
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
        [
            "ADMIN_VIEW_PRINCIPALS",
            "ADMIN_WRITE_PRINCIPALS",
            "API_MAX_ITEMS_READ",
            "API_READ_ROLLUPS",
            "METRICS",
            "METRICS_STACK",
            "RETENTION_DAYS",
            "SDK_ATTEMPT_TIMEOUT_MS",
            "TABLE_NAME"
        ]
        .map(str::to_owned)
        .into_iter()
        .collect::<BTreeSet<_>>()
    );
    // Rollup: the variables RollupConfig::from_env reads.
    assert_eq!(names(ROLLUP), BTreeSet::from(["SDK_ATTEMPT_TIMEOUT_MS".to_owned(), "TABLE_NAME".to_owned()]));
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap();
    assert!(!text.contains("LOCAL_PRINCIPAL"), "the template must never set LOCAL_PRINCIPAL");
    // Its range: every_numeric_parameter_admits_exactly_the_whole_numbers_its_functions_accept.
    assert_eq!(t["Parameters"]["RetentionDays"]["Default"], "4");
    // A RetentionDays change reaches ingest before the re-stamp that waits for it.
    assert_eq!(resource(&t, "MaintenanceFunction")["DependsOn"], json!("IngestFunction"));
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
fn the_api_runs_with_reserved_concurrency_and_the_routes_that_read_every_match_are_throttled_tighter() {
    let t = template();
    assert_eq!(heavy_route_problems(&t), Vec::<String>::new());
    assert_eq!(
        heavy_routes(),
        [
            "DELETE /v1/administration/events",
            "GET /v1/administration/events/summary",
            "GET /v1/administration/events/trend",
            "GET /v1/count/administration/events"
        ]
        .map(str::to_owned)
        .into_iter()
        .collect::<BTreeSet<_>>()
    );
    let api = &resource(&t, API)["Properties"];
    assert_eq!(api["ReservedConcurrentExecutions"], json!({ "Ref": "ApiReservedConcurrency" }));
    let p = &t["Parameters"]["ApiReservedConcurrency"];
    assert_eq!(
        (&p["Default"], admitted_range(&t, "ApiReservedConcurrency").map(|(lo, _)| lo)),
        (&json!("10"), Some(1))
    );
    let items = admitted(&t, "ApiMaxItemsRead");
    assert_eq!(
        (&t["Parameters"]["ApiMaxItemsRead"]["Default"], items.first(), items.last()),
        (
            &json!(scan_failures_aws::config::DEFAULT_MAX_ITEMS_READ.to_string()),
            Some(scan_failures_aws::config::MAX_ITEMS_READ_RANGE.start()),
            Some(scan_failures_aws::config::MAX_ITEMS_READ_RANGE.end())
        )
    );
}

#[test]
fn heavy_route_check_reports_a_route_left_at_the_default_and_one_throttled_looser() {
    let mut t = template();
    let settings = t["Resources"][HTTP_API]["Properties"]["RouteSettings"].as_object_mut().expect("RouteSettings");
    settings.remove("GET /v1/administration/events/trend");
    settings["GET /v1/count/administration/events"]["ThrottlingRateLimit"] = json!(100);
    assert_eq!(
        heavy_route_problems(&t),
        [
            "GET /v1/administration/events/trend: no route settings",
            "GET /v1/count/administration/events: ThrottlingRateLimit 100 is not below the default 20",
        ]
    );
}

#[test]
fn maintenance_gets_exactly_the_variables_its_config_reads_and_runs_alone_for_up_to_5_minutes() {
    let t = template();
    for variant in variants(&t) {
        let env = environment(&t, &variant, MAINTENANCE);
        let names: BTreeSet<String> = env.keys().cloned().collect();
        assert_eq!(names, maintenance_config_variables(variant.notifications()), "{}", variant.label);
        let config = MaintenanceConfig::from_env(|name| env.get(name).cloned())
            .unwrap_or_else(|e| panic!("{}: the template's configuration is refused: {e}", variant.label));
        assert_eq!(
            (config.table_name.as_str(), config.retention.get(), config.max_items, config.sdk),
            (TABLE, 4, DEFAULT_MAX_ITEMS, SdkTimeouts::default()),
            "{}",
            variant.label
        );
    }
    let restamp = admitted(&t, "RestampMaxItems");
    assert_eq!((restamp.first(), restamp.last()), (Some(&1), Some(&100_000)));
    let sdk = admitted(&t, "SdkAttemptTimeoutMs");
    assert_eq!(
        (&t["Parameters"]["SdkAttemptTimeoutMs"]["Default"], sdk.first(), sdk.last()),
        (
            &json!(DEFAULT_SDK_ATTEMPT_TIMEOUT_MS.to_string()),
            Some(SDK_ATTEMPT_TIMEOUT_MS_RANGE.start()),
            Some(SDK_ATTEMPT_TIMEOUT_MS_RANGE.end())
        )
    );
    let props = &resource(&t, MAINTENANCE)["Properties"];
    assert_eq!((&props["Timeout"], &props["ReservedConcurrentExecutions"]), (&json!(300), &json!(1)));
    assert_eq!(props["EventInvokeConfig"]["MaximumRetryAttempts"], 0);
    // A throttled run is not queued behind the next (Lambda's default keeps it up to 6 hours).
    assert_eq!(props["EventInvokeConfig"]["MaximumEventAgeInSeconds"], 240);
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
    assert_eq!(differences(&maintenance_config_variables(false), &names), ["missing: RESTAMP_MAX_ITEMS"]);
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
    t["Resources"].as_object_mut().expect("Resources").remove("RollupDestinationFailuresAlarm");
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
    assert_eq!(
        alarm_problems(&t),
        [
            "ApiFunction: no Errors alarm",
            "MaintenanceFunction: no Throttles alarm",
            "RollupFunction: no DestinationDeliveryFailures alarm"
        ]
    );
}

#[test]
fn the_tables_read_and_write_throttling_is_alarmed_on_over_the_table_and_every_index() {
    assert_eq!(throttling_alarm_problems(&template()), Vec::<String>::new());
}

#[test]
fn throttling_check_reports_an_index_left_out_and_a_missing_alarm() {
    let mut t = template();
    t["Resources"]["TableWriteThrottlingAlarm"]["Properties"]["Metrics"]
        .as_array_mut()
        .expect("metrics")
        .retain(|m| m["Id"] != "bytime");
    t["Resources"].as_object_mut().expect("Resources").remove("TableReadThrottlingAlarm");
    assert_eq!(throttling_alarm_problems(&t), ["Read: no alarm", "Write: missing: byTime"]);
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
    // Any schedule of the account could use a role trusted on the account alone.
    let trust = &mut t["Resources"][SCHEDULE_ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    trust["Condition"].as_object_mut().expect("a condition").remove("ArnEquals");
    t["Resources"][SCHEDULE]["Properties"].as_object_mut().expect("properties").remove("GroupName");
    assert_eq!(
        schedule_problems(&t),
        [
            "MaintenanceSchedule: FlexibleTimeWindow.MaximumWindowInMinutes is 5",
            "MaintenanceSchedule: FlexibleTimeWindow.Mode is \"FLEXIBLE\"",
            "MaintenanceSchedule: GroupName is null",
            "MaintenanceSchedule: Target.Arn is ApiFunction.Arn",
            "MaintenanceSchedule: Target.RetryPolicy.MaximumRetryAttempts is 185",
            "MaintenanceScheduleRole: extra: lambda:InvokeFunction on ApiFunction.Arn",
            "MaintenanceScheduleRole: trust policy is not scheduler.amazonaws.com for MaintenanceScheduleGroup alone",
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
        // The re-stamp job waits for the longest invocation the template allows.
        let r = resolve(&t, &variant);
        let timeout = r["Resources"]["IngestFunction"]["Properties"]["Timeout"].as_u64();
        assert!(
            timeout.is_some_and(|s| s <= scan_failures_domain::retention::INGEST_LONGEST_INVOCATION.as_secs()),
            "{}: ingest's Timeout {timeout:?}",
            variant.label
        );
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

/// Case 2 of the reliability review: markers lived 48 h while the queues keep messages 4 and 14
/// days, so an envelope moved back from the dead-letter queue after 48 h counted again. The
/// template's ages and retention periods are the definition the marker outlives.
#[test]
fn every_way_back_of_an_envelope_is_shorter_than_its_idempotency_marker() {
    use scan_failures_aws::dynamo::write::redelivery::*;
    assert_eq!(redelivery_differences(&template()), Vec::<String>::new());
    assert_eq!(MARKER_SECONDS, 1_749_600, "every way back chained, and a day more: 20 days 6 hours");
    let mut t = template();
    t["Resources"][DEAD_LETTERS]["Properties"]["MessageRetentionPeriod"] = json!(1_209_601);
    t["Resources"][INGEST]["Properties"]["EventInvokeConfig"]
        .as_object_mut()
        .unwrap()
        .remove("MaximumEventAgeInSeconds");
    assert_eq!(
        redelivery_differences(&t),
        [
            "DeadLetterQueue MessageRetentionPeriod: 1209601 instead of 1209600",
            "IngestFunction EventInvokeConfig.MaximumEventAgeInSeconds: null instead of 21600",
        ]
    );
}

/// Case 9 of the reliability review: invoking the api function directly skips API Gateway and
/// its IAM authorization, and lets the invoker write any caller ARN into the request context.
/// The template leaves one way in (this API's routes) and tags the function for the guard rails.
#[test]
fn only_the_stacks_http_api_invokes_the_api_function_and_the_guard_rails_deny_the_rest() {
    assert_eq!(direct_invoke_problems(&template()), Vec::<String>::new());
    let mut t = template();
    t["Resources"][API]["Properties"]["Events"]["Direct"] = json!({ "Type": "Api", "Properties": {} });
    t["Resources"][API]["Properties"]["FunctionUrlConfig"] = json!({ "AuthType": "NONE" });
    t["Resources"]["OpenDoor"] = json!({ "Type": "AWS::Lambda::Permission",
        "Properties": { "FunctionName": { "Fn::GetAtt": [API, "Arn"] }, "Principal": "*", "Action": "lambda:InvokeFunction" } });
    t["Resources"][API]["Properties"]["Tags"] = json!({});
    // Ways in beside the function's own properties: a URL resource, a mapping, a rule's target,
    // and a role allowed to invoke every function (the check saw permissions alone before).
    t["Resources"]["Url"] = json!({ "Type": "AWS::Lambda::Url", "Properties": { "TargetFunctionArn": { "Ref": API }, "AuthType": "NONE" } });
    t["Resources"]["Mapping"] = json!({ "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": { "FunctionName": { "Fn::Sub": "${ApiFunction.Arn}" }, "EventSourceArn": "arn:aws:sqs:us-east-1:111122223333:q" } });
    t["Resources"]["Rule"] = json!({ "Type": "AWS::Events::Rule",
        "Properties": { "Targets": [{ "Id": "api", "Arn": { "Fn::GetAtt": format!("{API}.Arn") } }] } });
    t["Resources"]["Invoker"] = json!({ "Type": "AWS::IAM::Role", "Properties": { "Policies": [{ "PolicyName": "p",
        "PolicyDocument": { "Statement": [{ "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*" }] } }] } });
    t["Resources"]["GlobInvoker"] = json!({ "Type": "AWS::IAM::ManagedPolicy", "Properties": { "PolicyDocument": {
        "Statement": [{ "Effect": "Allow", "Action": ["logs:PutLogEvents", "lambda:Invoke*"],
            "Resource": { "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*" } }] } } });
    assert_eq!(
        direct_invoke_problems(&t),
        [
            "ApiFunction.Direct: not a route of HttpApi",
            "ApiFunction: has a function URL",
            "ApiFunction: no tag scan-failures:role=api",
            "GlobInvoker: allows invoking any function",
            "Invoker: allows invoking any function",
            "Mapping: refers to ApiFunction (only its routes, alarms and the dashboard may)",
            "OpenDoor: a Lambda permission on ApiFunction",
            "Rule: refers to ApiFunction (only its routes, alarms and the dashboard may)",
            "Url: refers to ApiFunction (only its routes, alarms and the dashboard may)",
        ]
    );
    for file in ["deny-direct-api-invoke.scp.json", "deny-direct-api-invoke.boundary.json"] {
        let text = std::fs::read_to_string(integration_tests::repo_root().join("infra/guardrails").join(file)).unwrap();
        let policy: Value = serde_json::from_str(&text).unwrap();
        let deny: Vec<&Value> =
            policy["Statement"].as_array().unwrap().iter().filter(|s| s["Effect"] == "Deny").collect();
        let boundary = file.ends_with(".boundary.json");
        assert_eq!(deny.len(), if boundary { 8 } else { 3 }, "{file}");
        if boundary {
            boundary_protects_itself(&deny[3..], file);
        }
        let deny = &deny[..3];
        let tag = format!("aws:ResourceTag/{}", API_ROLE_TAG.0);
        for d in deny {
            assert_eq!(d["Resource"], "*", "{file}");
            assert_eq!(d["Condition"]["StringEquals"][tag.as_str()], API_ROLE_TAG.1, "{file}");
        }
        assert!(deny[0]["Action"].as_array().unwrap().contains(&json!("lambda:InvokeFunction")), "{file}");
        // Whoever may tag functions cannot take the tag off the api, or change it, and invoke it.
        assert_eq!(deny[1]["Action"], json!(["lambda:TagResource", "lambda:UntagResource"]), "{file}");
        assert_eq!(deny[1]["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"], json!([API_ROLE_TAG.0]), "{file}");
        // Nor open the api to another principal (a rule, another account: neither bound by these
        // policies) or replace its code or configuration, but for the role that deploys it.
        assert_eq!(
            deny[2]["Action"],
            json!(["lambda:AddPermission", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"]),
            "{file}"
        );
        assert!(
            deny[2]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
                .as_str()
                // Any partition: `arn:aws:` would match no role in aws-cn or aws-us-gov, and
                // every deployment there would be refused.
                .is_some_and(|a| a.starts_with("arn:*:iam::*:role/")),
            "{file}"
        );
    }
}

/// The name security.md tells an administrator to create the permissions boundary under, which
/// its own statements name.
const BOUNDARY_ARN: &str = "arn:*:iam::*:policy/ScanFailuresDenyDirectApiInvoke";

/// A permissions boundary a bound principal could take off, change, leave off a principal it
/// creates, or get round by granting to (or assuming) a principal it does not bind, bounds
/// nothing: a bound role with IAM write would act through an unbound one and invoke the api
/// with a forged context.
fn boundary_protects_itself(deny: &[&Value], file: &str) {
    assert_eq!(deny[0]["Action"], json!(["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"]));
    assert_eq!((&deny[0]["Resource"], &deny[0]["Condition"]), (&json!("*"), &Value::Null), "{file}: unconditional");
    assert_eq!(
        deny[1]["Action"],
        json!(["iam:CreateRole", "iam:CreateUser", "iam:PutRolePermissionsBoundary", "iam:PutUserPermissionsBoundary"])
    );
    assert_eq!(deny[1]["Condition"]["StringNotLike"]["iam:PermissionsBoundary"], BOUNDARY_ARN, "{file}");
    assert_eq!(
        deny[2]["Action"],
        json!([
            "iam:CreatePolicyVersion",
            "iam:DeletePolicy",
            "iam:DeletePolicyVersion",
            "iam:SetDefaultPolicyVersion"
        ])
    );
    assert_eq!(deny[2]["Resource"], BOUNDARY_ARN, "{file}");
    // Nor grant to, or change who may assume, a principal it does not bind.
    assert_eq!(
        deny[3]["Action"],
        json!([
            "iam:AttachRolePolicy",
            "iam:AttachUserPolicy",
            "iam:DeleteRolePolicy",
            "iam:DeleteUserPolicy",
            "iam:DetachRolePolicy",
            "iam:DetachUserPolicy",
            "iam:PutRolePolicy",
            "iam:PutUserPolicy"
        ])
    );
    assert_eq!(deny[3]["Condition"]["StringNotLike"]["iam:PermissionsBoundary"], BOUNDARY_ARN, "{file}");
    assert_eq!(deny[4]["Action"], json!(["iam:UpdateAssumeRolePolicy"]), "{file}");
    let name = BOUNDARY_ARN.rsplit('/').next().unwrap_or_default();
    let security = std::fs::read_to_string(integration_tests::repo_root().join("docs/src/security.md")).unwrap();
    assert!(security.contains(&format!("`{name}`")), "security.md names the boundary's policy {name}");
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
        "AlarmTopicArn",
        "ApiUrl",
        "DashboardUrl",
        "DeadLetterQueueUrl",
        "EventBusArn",
        "EventBusName",
        "IngestFunctionName",
        "MaintenanceFunctionName",
        "RollupFailureQueueUrl",
        "TableName",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(outputs(&Variant::of(&t, &[])), wanted);
    wanted.insert("BufferQueueUrl".to_owned());
    assert_eq!(outputs(&Variant::of(&t, &[("BufferedIngest", "true")])), wanted);
}

// ---------------------------------------------------------------------------------- monitoring

#[test]
fn every_dashboard_and_alarm_metric_of_the_namespace_is_one_the_functions_emit() {
    let t = template();
    assert_eq!(unknown_metric_problems(&t), Vec::<String>::new());
    let shown = dashboard_metrics(&dashboard_body(&t));
    // What the dashboard must show of the functions' own metrics (AWS's are below).
    for metric in [
        "Occurrences [Stack, Reason]",
        "Occurrences [Stack, Origin]",
        "NewGroups [Stack]",
        "Duplicates [Stack]",
        "Rejected [Stack]",
        "StoreErrors [Stack]",
        "Requests [Stack, StatusClass]",
        "InternalErrors [Stack]",
        "Latency [Stack]",
        "ItemsRead [Stack, Route]",
        "RestampLag [Stack]",
        "RollupBatchesRedriven [Stack]",
        "RollupBatchesLeft [Stack]",
        "RollupBatchesSuperseded [Stack]",
    ] {
        assert!(shown.contains(metric), "the dashboard does not show {metric}: {shown:?}");
    }
    let text = dashboard_body(&t).to_string();
    for aws in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "\"5xx\"",
        "\"Throttles\"",
        "\"Duration\"",
        "\"IteratorAge\"",
        "\"RollupFailureQueue.QueueName\"",
    ] {
        assert!(text.contains(aws), "the dashboard does not show {aws}");
    }
    for function in ["IngestFunction", "ApiFunction", "MaintenanceFunction"] {
        assert_eq!(text.matches(&format!("\"{function}\"")).count(), 3, "errors, throttles and duration of {function}");
    }
    assert_eq!(
        text.matches("\"RollupFunction\"").count(),
        4,
        "errors, throttles, duration and the stream's iterator age of the rollup function"
    );
    assert_eq!(
        alarm_metrics(&t),
        [
            "InternalErrors [Stack]",
            "Occurrences [Stack]",
            "OutboxOldestAge [Stack]",
            "RestampLag [Stack]",
            "StoreErrors [Stack]"
        ]
        .map(str::to_owned)
        .into_iter()
        .collect::<BTreeSet<_>>()
    );
}

#[test]
fn metric_check_reports_a_renamed_dashboard_metric_and_an_alarm_on_a_dimension_set_never_published() {
    let mut t = template();
    let body = &mut t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
    *body = json!(body.as_str().unwrap_or_default().replace("\"NewGroups\"", "\"NewGroup\"").replace(
        "{ScanFailures,Stack,Reason} MetricName=\\\"Occurrences\\\"",
        "{ScanFailures,Stack,Cluster} MetricName=\\\"Occurrences\\\""
    ));
    t["Resources"]["ApiInternalErrorsAlarm"]["Properties"]["Dimensions"]
        .as_array_mut()
        .expect("Dimensions")
        .push(json!({"Name": "Route", "Value": "GET /v1/administration/events"}));
    assert_eq!(
        unknown_metric_problems(&t),
        [
            "dashboard: NewGroup [Stack] is not emitted",
            "dashboard: Occurrences [Stack, Cluster] is not emitted",
            "alarm: InternalErrors [Stack, Route] is not emitted",
        ]
    );
}

/// The variants of [`variants`], each with an alarm topic given and created, with and without
/// an email.
fn alarm_variants(t: &Value) -> Vec<Variant> {
    let mut out = Vec::new();
    for base in variants(t) {
        for (topic, email) in [("", ""), ("", "ops@example.com"), ("arn:aws:sns:us-east-1:111122223333:ops", "")] {
            let mut v = base.clone();
            v.params.insert("AlarmTopicArn".to_owned(), topic.to_owned());
            v.params.insert("AlarmEmail".to_owned(), email.to_owned());
            v.label = format!("{} AlarmTopicArn={topic:?} AlarmEmail={email:?}", v.label);
            out.push(v);
        }
    }
    out
}

#[test]
fn every_alarm_notifies_a_topic_whatever_the_parameters_and_a_created_topic_is_encrypted() {
    let t = template();
    for variant in alarm_variants(&t) {
        assert_eq!(alarm_action_problems(&t, &variant), Vec::<String>::new());
        let r = resolve(&t, &variant);
        let created = r["Resources"].get("AlarmTopic");
        assert_eq!(created.is_some(), variant.is("AlarmTopicArn", ""), "{}", variant.label);
        if let Some(topic) = created {
            assert_eq!(topic["Properties"]["KmsMasterKeyId"], json!({"Ref": "AlarmTopicKey"}), "{}", variant.label);
        }
        let subscribed = r["Resources"].get("AlarmEmailSubscription").map(|s| &s["Properties"]["Endpoint"]);
        let expected = (!variant.is("AlarmEmail", "") && created.is_some()).then(|| json!({"Ref": "AlarmEmail"}));
        assert_eq!(subscribed, expected.as_ref(), "{}", variant.label);
    }
    let alarms = ["HttpApi5xxAlarm", "ApiInternalErrorsAlarm", "OccurrencesAnomalyAlarm"];
    for alarm in alarms {
        assert_eq!(resource(&t, alarm)["Type"], "AWS::CloudWatch::Alarm", "{alarm}");
    }
    let anomaly = &resource(&t, "OccurrencesAnomalyAlarm")["Properties"];
    assert_eq!(
        (&anomaly["ThresholdMetricId"], &anomaly["ComparisonOperator"], &anomaly["Metrics"][1]["Expression"]),
        (&json!("band"), &json!("GreaterThanUpperThreshold"), &json!("ANOMALY_DETECTION_BAND(stored, 3)"))
    );
}

/// The alarms on the functions' own metrics (namespace ScanFailures) exist exactly when the
/// metrics are on: off, they watched nothing and never fired, and the docs did not say so. On,
/// the maintenance heartbeat is among them, and on the buffered path the store errors.
#[test]
fn alarms_on_the_functions_metrics_exist_only_with_metrics_on() {
    let t = template();
    let watching = |params: &[(&str, &str)]| -> BTreeSet<String> {
        let r = resolve(&t, &Variant::of(&t, params));
        r["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|rs| rs.iter())
            .filter(|(_, v)| v["Type"] == json!("AWS::CloudWatch::Alarm") && v.to_string().contains("\"ScanFailures\""))
            .map(|(name, _)| name.clone())
            .collect()
    };
    let on = [("NotificationBusName", "ops"), ("BufferedIngest", "true")];
    assert_eq!(
        watching(&on),
        [
            "ApiInternalErrorsAlarm",
            "MaintenanceSilentAlarm",
            "OccurrencesAnomalyAlarm",
            "OutboxPendingAlarm",
            "StoreErrorsAlarm"
        ]
        .map(str::to_owned)
        .into_iter()
        .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        watching(&[("NotificationBusName", "ops"), ("BufferedIngest", "true"), ("Metrics", "off")]),
        BTreeSet::new()
    );
    let heartbeat = &resource(&t, "MaintenanceSilentAlarm")["Properties"];
    assert_eq!(
        (&heartbeat["MetricName"], &heartbeat["Statistic"], &heartbeat["TreatMissingData"]),
        (&json!("RestampLag"), &json!("SampleCount"), &json!("breaching"))
    );
}

/// A stopped maintenance schedule is heard with metrics on or off: one heartbeat alarm in each,
/// which breaches when its metric is missing. Off, it counts Lambda's invocations.
#[test]
fn a_stopped_maintenance_schedule_is_heard_with_metrics_on_or_off() {
    let t = template();
    let heartbeats = |metrics: &str| -> Vec<(String, Value, Value)> {
        let r = resolve(&t, &Variant::of(&t, &[("Metrics", metrics)]));
        r["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| v["Type"] == json!("AWS::CloudWatch::Alarm"))
            .filter(|(_, v)| v["Properties"]["TreatMissingData"] == json!("breaching"))
            .map(|(name, v)| {
                let p = &v["Properties"];
                (name.clone(), p["Namespace"].clone(), p["MetricName"].clone())
            })
            .collect()
    };
    assert_eq!(heartbeats("on"), [("MaintenanceSilentAlarm".to_owned(), json!("ScanFailures"), json!("RestampLag"))]);
    assert_eq!(
        heartbeats("off"),
        [("MaintenanceNotInvokedAlarm".to_owned(), json!("AWS/Lambda"), json!("Invocations"))]
    );
    let off = &resource(&t, "MaintenanceNotInvokedAlarm")["Properties"];
    assert_eq!(
        (&off["Dimensions"], &off["Statistic"], &off["Threshold"], &off["ComparisonOperator"]),
        (
            &json!([{ "Name": "FunctionName", "Value": { "Ref": MAINTENANCE } }]),
            &json!("Sum"),
            &json!(1),
            &json!("LessThanThreshold")
        )
    );
}

#[test]
fn alarm_action_check_reports_an_alarm_without_action_one_notifying_a_topic_the_variant_lacks_and_one_silent_when_it_clears(
) {
    let mut t = template();
    t["Resources"]["HttpApi5xxAlarm"]["Properties"].as_object_mut().expect("Properties").remove("AlarmActions");
    t["Resources"]["ApiInternalErrorsAlarm"]["Properties"]["AlarmActions"] = json!([{"Ref": "AlarmTopic"}]);
    t["Resources"]["RollupFailuresAlarm"]["Properties"].as_object_mut().expect("Properties").remove("OKActions");
    let given = Variant::of(&t, &[("AlarmTopicArn", "arn:aws:sns:us-east-1:111122223333:ops")]);
    assert_eq!(
        alarm_action_problems(&t, &given),
        [
            "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops: ApiInternalErrorsAlarm does not tell its AlarmActions when it clears (OKActions)",
            "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops: ApiInternalErrorsAlarm notifies AlarmTopic, which this variant does not have",
            "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops: HttpApi5xxAlarm does not tell its AlarmActions when it clears (OKActions)",
            "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops: HttpApi5xxAlarm has no action",
            "AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops: RollupFailuresAlarm does not tell its AlarmActions when it clears (OKActions)",
        ]
    );
}

// ------------------------------------------------------ what a parameter admits, as read

/// The parameters a function parses at start, with the variable they reach: a value it
/// refuses stops it at start, every invocation failing until the stack is deployed again, so
/// each is a String whose pattern admits what the function accepts, refused at deploy instead.
/// (A Number parameter took `4.5`; the principal lists took any text.)
const NUMERIC_PARAMETERS: [(&str, &str); 6] = [
    ("RetentionDays", "RETENTION_DAYS"),
    ("ApiMaxItemsRead", "API_MAX_ITEMS_READ"),
    ("RestampMaxItems", "RESTAMP_MAX_ITEMS"),
    ("SdkAttemptTimeoutMs", "SDK_ATTEMPT_TIMEOUT_MS"),
    ("ReconcileEveryMinutes", "RECONCILE_EVERY_MINUTES"),
    ("ReconcileMaxPages", "RECONCILE_MAX_PAGES"),
];

/// A parameter's `AllowedPattern`, read as CloudFormation reads it (regex-lite has no
/// look-around: a pattern with one is read by [`notification_source_rest`]).
fn allowed_pattern(t: &Value, name: &str) -> regex_lite::Regex {
    let p = t["Parameters"][name]["AllowedPattern"].as_str().unwrap_or_else(|| panic!("{name}: no AllowedPattern"));
    regex_lite::Regex::new(p).unwrap_or_else(|e| panic!("{name}'s pattern: {e}"))
}

/// The whole numbers up to 200,000 a parameter's pattern admits, written plainly.
fn admitted(t: &Value, name: &str) -> Vec<u64> {
    let re = allowed_pattern(t, name);
    (0..=200_000u64).filter(|n| re.is_match(&n.to_string())).collect()
}

/// Whether `function` starts with `env` (its environment in the template) but `var` = `value`.
fn starts_with(env: &BTreeMap<String, String>, function: &str, var: &str, value: &str) -> bool {
    let get = |k: &str| if k == var { Some(value.to_owned()) } else { env.get(k).cloned() };
    match function {
        INGEST => IngestConfig::from_env(get).is_ok(),
        API => notify_config::ApiConfig::from_env(get).is_ok(),
        MAINTENANCE => MaintenanceConfig::from_env(get).is_ok(),
        ROLLUP => notify_config::RollupConfig::from_env(get).is_ok(),
        other => panic!("no configuration reader for {other}"),
    }
}

#[test]
fn every_numeric_parameter_admits_exactly_the_whole_numbers_its_functions_accept() {
    let t = template();
    for (name, var) in NUMERIC_PARAMETERS {
        let p = &t["Parameters"][name];
        assert_eq!(p["Type"], "String", "{name}");
        let readers: Vec<(&str, BTreeMap<String, String>)> = FUNCTIONS
            .iter()
            // The reconciler's variables are read when it is on.
            .map(|(f, _)| (*f, environment(&t, &Variant::of(&t, &[("ReconcileInspector", "true")]), f)))
            .filter(|(_, env)| env.contains_key(var))
            .collect();
        assert!(!readers.is_empty(), "{name}: no function reads {var}");
        let admitted = admitted(&t, name);
        let (lo, hi) = (admitted[0], admitted[admitted.len() - 1]);
        // Contiguous: every whole number between the ends.
        assert_eq!(admitted.len() as u64, hi - lo + 1, "{name}");
        assert!(admitted.contains(&p["Default"].as_str().and_then(|d| d.parse().ok()).unwrap_or(u64::MAX)), "{name}");
        // The first reader over every number to twice the top; the others at the edges.
        let (first, env) = &readers[0];
        let accepted: Vec<u64> = (0..=2 * hi + 1).filter(|n| starts_with(env, first, var, &n.to_string())).collect();
        // Compared as ranges, contiguous (a difference is then one of the ends).
        let range = |v: &[u64]| (v.first().copied(), v.last().copied(), v.len());
        assert_eq!(range(&accepted), range(&admitted), "{name}: {first} against the pattern");
        for (f, env) in &readers[1..] {
            for n in [lo - 1, lo, hi, hi + 1] {
                assert_eq!(starts_with(env, f, var, &n.to_string()), admitted.contains(&n), "{name} = {n} in {f}");
            }
        }
        refuses_other_spellings(&t, name, lo, hi);
    }
}

/// Other spellings of a number than the plain one, which a function might read, or a service
/// or CloudFormation's comparisons take, otherwise: each refused by `name`'s pattern.
fn refuses_other_spellings(t: &Value, name: &str, lo: u64, hi: u64) {
    let re = allowed_pattern(t, name);
    for odd in [
        format!("{lo}.0"),
        format!("0{lo}"),
        format!("+{lo}"),
        format!(" {lo}"),
        format!("{lo}e0"),
        format!("{hi}.5"),
        "-1".into(),
        "".into(),
    ] {
        assert!(!re.is_match(&odd), "{name} admits {odd:?}");
    }
}

/// The numeric parameters that reach resource properties (a reservation, a mapping's batch and
/// window, the redrive's receives), with the range each admits: Strings with a pattern, like the
/// ones the functions read, so that `4.5` or `05` is refused at deploy (as a Number, `4.5`
/// reached the service, which failed the update and rolled it back, at best).
const RESOURCE_NUMERIC_PARAMETERS: [(&str, u64, u64); 5] = [
    ("ApiReservedConcurrency", 1, 1000),
    ("BufferBatchSize", 1, 1000),
    ("BufferBatchingWindowSeconds", 1, 60),
    ("RollupBatchingWindowSeconds", 0, 60),
    ("BufferMaxReceiveCount", 1, 600),
];

#[test]
fn every_numeric_parameter_of_a_resource_admits_exactly_its_whole_numbers() {
    let t = template();
    for (name, lo, hi) in RESOURCE_NUMERIC_PARAMETERS {
        let p = &t["Parameters"][name];
        assert_eq!(p["Type"], "String", "{name}");
        let admitted = admitted(&t, name);
        assert_eq!(admitted, (lo..=hi).collect::<Vec<u64>>(), "{name}");
        let default = p["Default"].as_str().and_then(|d| d.parse::<u64>().ok());
        assert!(default.is_some_and(|d| (lo..=hi).contains(&d)), "{name}: default {}", p["Default"]);
        assert_eq!(p["ConstraintDescription"], format!("a whole number from {lo} to {hi}, without leading zeros"));
        refuses_other_spellings(&t, name, lo, hi);
    }
    // No Number is left but the log retention, whose AllowedValues name each value.
    let numbers: Vec<&String> = t["Parameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, p)| p["Type"] == "Number")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(numbers, ["LogRetentionDays"]);
}

#[test]
fn the_principal_parameters_admit_what_the_api_accepts_at_start() {
    let t = template();
    assert_eq!(
        t["Parameters"]["AdminViewPrincipals"]["AllowedPattern"],
        t["Parameters"]["AdminWritePrincipals"]["AllowedPattern"]
    );
    let re = allowed_pattern(&t, "AdminViewPrincipals");
    // The whole list's bound holds the function's per pattern (2,048 bytes) and count (100: an
    // ARN pattern is at least 27 bytes).
    let most = t["Parameters"]["AdminViewPrincipals"]["MaxLength"].as_u64().expect("a MaxLength") as usize;
    assert_eq!(most, 2048);
    let admits = |value: &str| re.is_match(value) && value.chars().count() <= most;
    let many: Vec<String> = (0..50).map(|i| format!("arn:aws:iam::123456789012:user/u{i}")).collect();
    let fits = [
        "".to_owned(),
        "arn:aws:iam::123456789012:user/alice".into(),
        " arn:aws:iam::123456789012:role/Admin , arn:aws-us-gov:sts::123456789012:assumed-role/Admin/* ".into(),
        "arn:aws:iam::123456789012:role/team/*,arn:aws-iso-b:iam::123456789012:*".into(),
        ",arn:aws-cn:iam::123456789012:user/a,".into(),
        "arn:aws-eusc:sts::123456789012:assumed-role/Admin /*".into(),
        many.join(","),
    ];
    let unfit = [
        "arn:aws:sts::123456789012:assumed-role/Admin/jane".to_owned(),
        "arn:aws:sts::123456789012:assumed-role/*/*".into(),
        "arn:aws:sts::123456789012:assumed-role/a/b/*".into(),
        "arn:aws:sts::123456789012:assumed-role//*".into(),
        "123456789012".into(),
        "*".into(),
        "arn:*:iam::123456789012:user/a".into(),
        "arn:aws:iam::12345678901:user/a".into(),
        "arn:aws:iam:us-east-1:123456789012:user/a".into(),
        "arn:aws:s3:::bucket".into(),
        "arn:awz:iam::123456789012:user/a".into(),
        "arn:aws:iam::123456789012:user/a,arn:aws:iam::*:user/b".into(),
        // Past the list's bound, which holds the function's per pattern and count.
        format!("{},arn:aws:iam::123456789012:user/u{}", many.join(","), "a".repeat(400)),
        format!("arn:aws:iam::123456789012:user/{}", "a".repeat(2048)),
        // 1,041 characters, 2,051 bytes: past the function's 2,048 bytes for a pattern.
        format!("arn:aws:iam::123456789012:user/{}", "\u{e9}".repeat(1010)),
        "arn:aws:sts::123456789012:assumed-role/Adm\u{ef}n/*".into(),
    ];
    for value in fits.iter().chain(&unfit) {
        let api = scan_failures_http::auth::Principals::parse_checked(value);
        let fit = fits.contains(value);
        assert_eq!(admits(value), fit, "{value:.80}");
        if fit {
            assert_eq!(api, Ok(scan_failures_http::auth::Principals::parse(value)), "{value:.80}");
        }
    }
}

/// `NotificationSource` without its leading `(?!aws\.)`, which regex-lite cannot read (the
/// test holds `aws.` sources to the function's refusal instead).
fn notification_source_rest(t: &Value) -> regex_lite::Regex {
    let p = t["Parameters"]["NotificationSource"]["AllowedPattern"].as_str().expect("a pattern");
    let rest = p.strip_prefix("^(?!aws\\.)").expect("the pattern refuses aws. first");
    regex_lite::Regex::new(&format!("^{rest}")).expect("a pattern regex-lite reads")
}

/// What the pattern admits is what ingest and maintenance publish as, exactly: the role's
/// condition names the parameter, so a source they would publish otherwise (the blank, read as
/// the default) has every `PutEvents` denied, its notifications expiring in the outbox.
#[test]
fn the_notification_source_admitted_is_the_source_the_functions_publish_as() {
    let t = template();
    let re = notification_source_rest(&t);
    let on = Variant::of(&t, &[("NotificationBusName", "default")]);
    let published = |value: &str| {
        let mut env = environment(&t, &on, INGEST);
        env.insert("NOTIFY_SOURCE".into(), value.into());
        NotifyConfig::from_env(|k| env.get(k).cloned()).ok().flatten().map(|c| c.source)
    };
    for fit in ["scan-failures", "a", "acme.scanners", "my source ", &"s".repeat(256)] {
        assert!(re.is_match(fit), "{fit:.40} is refused");
        assert_eq!(published(fit).as_deref(), Some(fit));
    }
    for unfit in ["", "   ", " scan-failures", "\tx", "sc\u{e4}nner", &"s".repeat(257), &"\u{e4}".repeat(200)] {
        assert!(!re.is_match(unfit), "{unfit:.40} is admitted");
    }
    // The look-ahead's part, read by the function.
    assert_eq!(published("aws.scanner"), None);
}

/// A space after a comma was kept in the source the rule matches, so that source's events
/// matched no rule and were dropped by EventBridge: no dead letter, no alarm.
#[test]
fn allowed_sources_admit_no_spaces() {
    let t = template();
    let re = allowed_pattern(&t, "AllowedSources");
    for fit in ["", "scanfail", "scanfail,ci.pipeline"] {
        assert!(re.is_match(fit), "{fit}");
    }
    for unfit in [
        "scanfail, ci.pipeline",
        "scanfail,\u{a0}ci.pipeline",
        " scanfail",
        "scanfail ",
        "scan fail",
        "scanfail,",
        ",scanfail",
        "a\tb",
    ] {
        assert!(!re.is_match(unfit), "{unfit:?}");
    }
}
