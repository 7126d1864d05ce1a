//! A CloudFormation evaluator for `infra/template.yaml`, enough for `tests/template.rs` to
//! check the template against the code ([`checks`]).
//!
//! The template is parsed with its CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, ...)
//! turned into their long JSON forms. It has variants chosen by parameters (direct or buffered
//! path, AWS scan sources on or off, notifications on or off): a check either reads every branch
//! of every `Fn::If` at once (the actions granted in any variant, [`branches`], [`items`]), or
//! runs on each variant ([`variants`]), resolved as CloudFormation would ([`resolve`]:
//! resources and outputs whose condition is false dropped, `Fn::If` replaced by its chosen
//! branch, `AWS::NoValue` removed). EventBridge patterns are matched as EventBridge would
//! ([`matches`]), for what the template uses. The `*_mut` helpers edit a parsed template, for
//! the tests that show a check reports exactly a mutation.

pub mod checks;
pub mod monitoring;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

// ---------------------------------------------------------------------------------- parsing

pub fn template() -> Value {
    load(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml"))
}

/// `infra/member.yaml`: the stack each member account and region runs.
pub fn member_template() -> Value {
    load(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/member.yaml"))
}

/// The whole numbers from `lo` to `hi` a numeric parameter admits: a String's `AllowedPattern`
/// read as CloudFormation reads it, swept to 200,000 (none of the template's goes further), or a
/// Number's `MinValue` and `MaxValue`. `None` when it admits none, or names neither.
pub fn admitted_range(t: &Value, name: &str) -> Option<(u64, u64)> {
    let p = &t["Parameters"][name];
    if let Some(pattern) = p["AllowedPattern"].as_str() {
        let re = regex_lite::Regex::new(pattern).ok()?;
        let mut admitted = (0..=200_000u64).filter(|n| re.is_match(&n.to_string()));
        let lo = admitted.next()?;
        return Some((lo, admitted.last().unwrap_or(lo)));
    }
    Some((p["MinValue"].as_u64()?, p["MaxValue"].as_u64()?))
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    to_json(yaml)
}

/// YAML to JSON, with CloudFormation's short tags in their long form: `!Ref X` is
/// `{"Ref": X}`, `!GetAtt A.B` is `{"Fn::GetAtt": [A, B]}`, `!Condition C` is
/// `{"Condition": C}` and any other `!Name v` is `{"Fn::Name": v}`.
pub fn to_json(yaml: serde_yaml_ng::Value) -> Value {
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

pub fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t["Resources"].get(id).unwrap_or_else(|| panic!("no resource {id} in the template"))
}

/// `x` or `[x, ...]` as a list.
pub fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

pub fn no_value() -> Value {
    json!({ "Ref": "AWS::NoValue" })
}

/// Every value `v` may take in some variant: both branches of an `Fn::If`, recursively, without
/// `AWS::NoValue`.
pub fn branches(v: &Value) -> Vec<&Value> {
    match v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        Some([_, yes, no]) => branches(yes).into_iter().chain(branches(no)).collect(),
        _ if *v == no_value() => Vec::new(),
        _ => vec![v],
    }
}

/// [`list`] through [`branches`]: the items of a list in any variant.
pub fn items(v: &Value) -> Vec<&Value> {
    branches(v).into_iter().flat_map(list).flat_map(branches).collect()
}

/// A resource reference as text: `Table.Arn` for a GetAtt, `Table` for a Ref, the string of a
/// `!Sub`, the JSON otherwise.
pub fn render(v: &Value) -> String {
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
pub fn differences(code: &BTreeSet<String>, template: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = code
        .difference(template)
        .map(|x| format!("missing: {x}"))
        .chain(template.difference(code).map(|x| format!("extra: {x}")))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------- variants

/// One deployable variant: every parameter's value (the template's defaults, some overridden).
#[derive(Debug, Clone)]
pub struct Variant {
    pub label: String,
    pub params: BTreeMap<String, String>,
}

impl Variant {
    pub fn of(t: &Value, overrides: &[(&str, &str)]) -> Self {
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

    pub fn is(&self, param: &str, value: &str) -> bool {
        self.params.get(param).map(String::as_str) == Some(value)
    }

    pub fn buffered(&self) -> bool {
        self.is("BufferedIngest", "true")
    }

    pub fn aws_sources(&self) -> bool {
        self.is("EnableAwsScanSources", "true")
    }

    pub fn notifications(&self) -> bool {
        !self.is("NotificationBusName", "")
    }

    /// Other accounts may put events on the bus (an organization or listed accounts).
    pub fn cross_account(&self) -> bool {
        !self.is("OrganizationId", "") || !self.is("SourceAccountIds", "")
    }

    /// The stack's bus takes ECR and Inspector failures forwarded by member stacks (other
    /// accounts', and this account's other regions): the AWS sources on, and a bus other than
    /// `default` (where the stack's own rules take them).
    pub fn forwarded(&self) -> bool {
        self.aws_sources() && !self.is("EventBusName", "default")
    }
}

/// Every combination of the parameters that select branches.
pub fn variants(t: &Value) -> Vec<Variant> {
    let mut out = Vec::new();
    for buffered in ["false", "true"] {
        for aws in ["true", "false"] {
            for bus in ["", "ops"] {
                for event_bus in ["", "existing-bus", "default"] {
                    for organization in ["", "o-a1b2c3d4e5"] {
                        out.push(Variant::of(
                            t,
                            &[
                                ("BufferedIngest", buffered),
                                ("EnableAwsScanSources", aws),
                                ("NotificationBusName", bus),
                                ("EventBusName", event_bus),
                                ("OrganizationId", organization),
                            ],
                        ));
                    }
                }
            }
        }
    }
    out
}

/// A parameter default or condition operand as CloudFormation compares it: a string.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether condition expression `v` holds in `variant` (`Fn::Equals`, `Fn::Not`, `Fn::And`,
/// `Fn::Or`, `Condition`; an operand is a literal or a `Ref` to a parameter).
pub fn holds(t: &Value, v: &Value, variant: &Variant) -> bool {
    holds_in(t, v, variant, Within::Conditions)
}

/// Where an expression is: `Rules` take no `Condition` (CloudFormation refuses the template).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Within {
    Conditions,
    Rules,
}

fn holds_in(t: &Value, v: &Value, variant: &Variant, within: Within) -> bool {
    let operand = |o: &Value| match o.get("Ref").and_then(Value::as_str) {
        Some(name) => variant.params.get(name).cloned().unwrap_or_else(|| panic!("{name} is not a parameter")),
        None if o.is_object() || o.is_array() => panic!("unsupported condition operand {o}"),
        None => scalar(o),
    };
    let (function, args) = v.as_object().and_then(|m| m.iter().next()).unwrap_or_else(|| panic!("condition {v}"));
    let args_list = || args.as_array().unwrap_or_else(|| panic!("{function} takes a list, got {args}"));
    match function.as_str() {
        "Fn::Equals" => operand(&args_list()[0]) == operand(&args_list()[1]),
        "Fn::Not" => !holds_in(t, &args_list()[0], variant, within),
        "Fn::And" => args_list().iter().all(|a| holds_in(t, a, variant, within)),
        "Fn::Or" => args_list().iter().any(|a| holds_in(t, a, variant, within)),
        "Condition" if within == Within::Rules => panic!("Condition {args} inside Rules, which take none"),
        "Condition" => condition(t, args.as_str().unwrap_or_default(), variant),
        other => panic!("unsupported condition function {other}"),
    }
}

/// The `AssertDescription` of every assertion of the template's `Rules` that `variant` breaks
/// (CloudFormation refuses such a stack before creating anything).
pub fn broken_rules(t: &Value, variant: &Variant) -> Vec<String> {
    let Some(rules) = t.get("Rules").and_then(Value::as_object) else { return Vec::new() };
    rules
        .values()
        .filter(|rule| rule.get("RuleCondition").is_none_or(|c| holds_in(t, c, variant, Within::Rules)))
        .flat_map(|rule| rule["Assertions"].as_array().cloned().unwrap_or_default())
        .filter(|a| !holds_in(t, &a["Assert"], variant, Within::Rules))
        .map(|a| a["AssertDescription"].as_str().unwrap_or("(no description)").to_owned())
        .collect()
}

pub fn condition(t: &Value, name: &str, variant: &Variant) -> bool {
    let expression = t["Conditions"].get(name).unwrap_or_else(|| panic!("no condition {name}"));
    holds(t, expression, variant)
}

/// The template as CloudFormation deploys it in `variant`: resources and outputs whose
/// condition is false dropped, each `Fn::If` replaced by its branch, `AWS::NoValue` removed,
/// `Fn::Split` of a literal, a parameter or a `Fn::Sub` of parameters split (of a pseudo
/// parameter, `AWS::StackId`, kept: its value is the deployment's).
pub fn resolve(t: &Value, variant: &Variant) -> Value {
    fn value(t: &Value, v: &Value, variant: &Variant) -> Option<Value> {
        if *v == no_value() {
            return None;
        }
        if let Some([c, yes, no]) = v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
            let chosen = if condition(t, c.as_str().unwrap_or_default(), variant) { yes } else { no };
            return value(t, chosen, variant);
        }
        let pseudo = |source: &Value| source.get("Ref").and_then(Value::as_str).is_some_and(|p| p.starts_with("AWS::"));
        if let Some([separator, source]) =
            v.get("Fn::Split").and_then(Value::as_array).map(Vec::as_slice).filter(|s| !s.get(1).is_some_and(pseudo))
        {
            let param =
                |p: &str| variant.params.get(p).cloned().unwrap_or_else(|| panic!("Fn::Split of {p}: not a parameter"));
            let text = match (source.get("Ref").and_then(Value::as_str), source.get("Fn::Sub").and_then(Value::as_str))
            {
                (Some(p), _) => param(p),
                (None, Some(sub)) => {
                    variant.params.keys().fold(sub.to_owned(), |text, p| text.replace(&format!("${{{p}}}"), &param(p)))
                }
                (None, None) => scalar(source),
            };
            let separator = separator.as_str().unwrap_or_else(|| panic!("Fn::Split separator {separator}"));
            return Some(Value::Array(text.split(separator).map(|p| Value::String(p.to_owned())).collect()));
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
pub fn references(v: &Value, out: &mut BTreeSet<String>) {
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
pub fn dangling_references(t: &Value, variant: &Variant) -> Vec<String> {
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

// ---------------------------------------------------------------------------------- EventBridge patterns

/// Whether an EventBridge pattern matches an event. Only what the template uses is supported
/// (nested objects, lists of exact values and `wildcard` filters); any other content filter
/// (`prefix`, `anything-but`, ...) panics rather than being matched wrongly.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    pattern.as_object().unwrap_or_else(|| panic!("pattern {pattern} is not an object")).iter().all(|(key, p)| {
        let e = &event[key];
        match p {
            Value::Object(_) => matches(p, e),
            Value::Array(allowed) => {
                let values = match e {
                    Value::Array(values) => values.iter().collect(),
                    other => list(other),
                };
                values.into_iter().any(|v| allowed.iter().any(|a| admits(a, v)))
            }
            other => panic!("pattern value {other} must be a list or an object"),
        }
    })
}

/// Whether one entry of a pattern's list admits `value`: an exact value, or a `wildcard`
/// filter (`*` any run of characters, as EventBridge reads it; an escape panics, unsupported).
fn admits(entry: &Value, value: &Value) -> bool {
    match entry.get("wildcard").and_then(Value::as_str) {
        Some(glob) if entry.as_object().is_some_and(|o| o.len() == 1) && !glob.contains('\\') => {
            value.as_str().is_some_and(|text| glob_matches(glob, text))
        }
        _ if entry.is_object() || entry.is_array() => panic!("content filter {entry} is not supported by this matcher"),
        _ => entry == value,
    }
}

fn glob_matches(glob: &str, text: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else { return rest.is_empty() };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The rules of a (resolved) template whose pattern matches `event`, as if they were on one bus
/// (they are when `EventBusName` is `default`).
pub fn routed_by(r: &Value, event: &Value) -> Vec<String> {
    rules_matching(r, event, |_| true)
}

/// Which bus a rule listens on: `default`, or the product's bus (any other name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Default,
    Product,
}

impl Bus {
    pub fn of_rule(rule: &Value) -> Self {
        if rule["Properties"]["EventBusName"] == "default" {
            Self::Default
        } else {
            Self::Product
        }
    }
}

/// The rules on `bus` of a (resolved) template whose pattern matches `event`.
pub fn routed_on(r: &Value, bus: Bus, event: &Value) -> Vec<String> {
    rules_matching(r, event, |rule| Bus::of_rule(rule) == bus)
}

fn rules_matching(r: &Value, event: &Value, on: impl Fn(&Value) -> bool) -> Vec<String> {
    r["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v["Type"] == "AWS::Events::Rule" && on(v))
        .filter(|(_, v)| matches(&v["Properties"]["EventPattern"], event))
        .map(|(id, _)| id.clone())
        .collect()
}

/// `<action> on <resource>` of every Allow statement of a role's inline policies, any service.
pub fn role_grants(t: &Value, role: &str) -> BTreeSet<String> {
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

// ---------------------------------------------------------------------------------- helpers for mutations

pub fn statements_mut<'a>(t: &'a mut Value, role: &str, policy_name: &str) -> &'a mut Vec<Value> {
    t["Resources"][role]["Properties"]["Policies"]
        .as_array_mut()
        .and_then(|ps| ps.iter_mut().find(|p| p["PolicyName"] == json!(policy_name)))
        .and_then(|p| p["PolicyDocument"]["Statement"].as_array_mut())
        .unwrap_or_else(|| panic!("{role} has no policy {policy_name}"))
}

pub fn first_actions_mut<'a>(t: &'a mut Value, role: &str, policy_name: &str) -> &'a mut Vec<Value> {
    statements_mut(t, role, policy_name)[0]["Action"].as_array_mut().expect("an Action list")
}

/// The `Fn::If` item of a role's `Policies` whose true branch is the policy `policy_name`.
pub fn conditional_policy_mut<'a>(t: &'a mut Value, role: &str, policy_name: &str) -> &'a mut Value {
    t["Resources"][role]["Properties"]["Policies"]
        .as_array_mut()
        .and_then(|ps| ps.iter_mut().find(|p| p["Fn::If"][1]["PolicyName"] == json!(policy_name)))
        .unwrap_or_else(|| panic!("{role} has no conditional policy {policy_name}"))
}

pub fn pattern_mut<'a>(t: &'a mut Value, rule: &str) -> &'a mut Value {
    &mut t["Resources"][rule]["Properties"]["EventPattern"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_filter_admits_the_strings_its_stars_span_and_nothing_else() {
        let filter = json!({ "wildcard": "arn:*:ecr:*" });
        let admitted = |v: &str| admits(&filter, &json!(v));
        assert!(admitted("arn:aws:ecr:us-east-1:123456789012:repository/team/api/sha256:00"));
        assert!(admitted("arn:aws-cn:ecr:cn-north-1:123456789012:repository/x"));
        assert!(admitted("arn::ecr:"));
        assert!(!admitted("arn:aws:ec2:us-east-1:123456789012:instance/i-0c2a343f1948d5205"));
        assert!(!admitted("xarn:aws:ecr:"));
        assert!(!admitted("arn:aws:ecr"));
        assert!(!admits(&filter, &json!(7)));
        assert!(admits(&json!({ "wildcard": "a*b*b" }), &json!("abb")));
        assert!(!admits(&json!({ "wildcard": "a*bb" }), &json!("ab")));
        assert!(admits(&json!({ "wildcard": "exact" }), &json!("exact")));
        assert!(!admits(&json!({ "wildcard": "exact" }), &json!("exactly")));
    }
}
