//! Properties of the domain, checked on generated inputs (proptest, stable, no I/O).
//!
//! - Whatever the event, a parsed occurrence's stored strings are within their bounds, cut text
//!   ends with the truncation marker, an accepted event was within the accepted bounds, and
//!   parsing never panics.
//! - A stored group item never exceeds DynamoDB's 400 KB item limit, even at every bound at once,
//!   and its index keys stay within DynamoDB's key limits.
//! - Image normalization is idempotent.
//! - Any single-byte edit of a cursor is refused.
//!
//! See RELIABILITY.md, section "Properties", for the figures.

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;

use scan_failures_aws::dynamo::item::{self, GroupItem as _, StateItem as _};
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use scan_failures_aws::dynamo::schema;
use scan_failures_domain::event::{self, bounds, Parsed, CUT_START, TRUNCATION_MARKER};
use scan_failures_domain::group::daily;
use scan_failures_domain::group::triage::{self, TriageEntry};
use scan_failures_domain::group::{GroupRecord, GroupState, MAX_SET_ENTRIES};
use scan_failures_domain::image::{ImageRef, MAX_REFERENCE_BYTES};
use scan_failures_http::auth::MAX_CALLER_BYTES;
use scan_failures_http::cursor;
use serde_json::{json, Value};

/// DynamoDB's item size limit.
const ITEM_LIMIT: usize = 400 * 1024;
/// Largest partition key value of a table or index, and largest sort key value.
const PARTITION_KEY_LIMIT: usize = 2048;
const SORT_KEY_LIMIT: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Strings

/// Text pieces that make generated strings awkward: multi-byte characters of every width,
/// whitespace, controls, quotes, the marker itself, JSON and regex syntax.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ./:_-]{1,12}",
        2 => any::<String>(),
        1 => Just("é".to_owned()),
        1 => Just("日本".to_owned()),
        1 => Just("𝄞🦀".to_owned()),
        1 => Just(" \t\n ".to_owned()),
        1 => Just(TRUNCATION_MARKER.to_owned()),
        1 => Just(CUT_START.to_owned()),
        1 => Just("\"\\{}[]\u{0}\u{7f}".to_owned()),
        1 => Just("status=401 (404) 10.0.0.1:443 sha256:".to_owned()),
    ]
}

/// A string of about `len` bytes made of repeated pieces (cheap even at 70 KiB).
fn sized(max_len: usize) -> impl Strategy<Value = String> {
    (prop::collection::vec(piece(), 1..6), 0..=max_len).prop_map(|(pieces, len)| {
        let mut s = String::with_capacity(len + 8);
        'fill: loop {
            for p in &pieces {
                if s.len() >= len {
                    break 'fill;
                }
                s.push_str(p);
            }
            if pieces.iter().all(String::is_empty) {
                break;
            }
        }
        s
    })
}

/// Lengths that matter for a bound: around it, at it, far from it.
fn around(bound: usize, max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        sized(64),
        sized(max),
        (bound.saturating_sub(16)..=bound + 16).prop_flat_map(|n| sized(n).prop_map(move |s| cut_or_pad(s, n))),
    ]
}

/// `s` cut or padded with `x` to exactly `n` bytes (on a character boundary, so maybe n - 3).
fn cut_or_pad(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut cut = n;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    while s.len() < n {
        s.push('x');
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Envelopes

fn image_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => reference(),
        1 => any::<String>(),
        1 => sized(MAX_REFERENCE_BYTES + 64),
    ]
}

/// Structured references: optional registry (host, port, case), path, tag, digest.
fn reference() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        Just(String::new()),
        Just("quay.io/".to_owned()),
        Just("Quay.IO:443/".to_owned()),
        Just("localhost:5000/".to_owned()),
        Just("index.docker.io/".to_owned()),
        Just("123456789012.dkr.ecr.eu-west-1.amazonaws.com/".to_owned()),
        "[a-zA-Z0-9.-]{1,12}(:[0-9]{1,5})?/",
    ];
    let path = "[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?(/[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?){0,3}";
    let tag = prop_oneof![Just(String::new()), ":[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}"];
    let digest = prop_oneof![Just(String::new()), "@sha256:[0-9a-f]{64}"];
    (host, path, tag, digest).prop_map(|(h, p, t, d)| format!("{h}{p}{t}{d}"))
}

fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        (2000u32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60, "(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])")
            .prop_map(|(y, mo, d, h, mi, s, z)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.123{z}")),
        Just("2026-11-25T10:00:00Z".to_owned()),
        "[0-9T:Z.+-]{0,30}",
    ]
}

fn maybe<T: Strategy + 'static>(s: T) -> impl Strategy<Value = Option<T::Value>>
where
    T::Value: Clone,
{
    prop_oneof![1 => Just(None), 3 => s.prop_map(Some)]
}

fn envelope() -> impl Strategy<Value = Value> {
    let head = (
        prop_oneof![4 => "[a-f0-9-]{1,40}", 1 => around(bounds::EVENT_ID, 300)],
        prop_oneof![9 => Just("Image Scan Failed".to_owned()), 1 => any::<String>()],
        prop_oneof![4 => "[a-z.]{1,30}", 1 => around(bounds::SOURCE, 300)],
        prop_oneof![9 => "[0-9]{12}", 1 => "[0-9a]{0,14}"],
        timestamp(),
        prop_oneof![4 => Just("eu-west-1".to_owned()), 1 => around(bounds::REGION, 80)],
        prop_oneof![
            3 => prop::collection::vec("[a-z:/0-9]{0,40}", 0..4),
            1 => prop::collection::vec(around(bounds::RESOURCE, 2100), 0..70),
        ],
    );
    let detail = (
        prop_oneof![
            9 => prop::sample::select(vec!["image scan", "image check", "image sbom", "deployment check"])
                .prop_map(str::to_owned),
            1 => any::<String>()
        ],
        prop_oneof![9 => prop::sample::select(vec!["roxctl", "api"]).prop_map(str::to_owned), 1 => any::<String>()],
        prop_oneof![6 => Just(None), 1 => Just(Some("success")), 1 => Just(Some("failure"))],
        image_name(),
        maybe(prop_oneof!["sha256:[0-9a-f]{64}", any::<String>()]),
        maybe((around(bounds::DEPLOYMENT_NAME, 300), around(bounds::NAMESPACE, 80))),
        maybe(around(bounds::CLUSTER, 600)),
        (
            prop_oneof![
                3 => sized(600),
                2 => around(bounds::MESSAGE_STORED, 5000),
                1 => around(bounds::MESSAGE_ACCEPTED, 70 * 1024),
                1 => sized(70 * 1024),
            ],
            maybe(prop_oneof![Just("TIMEOUT".to_owned()), Just("UNKNOWN".to_owned()), around(bounds::ERROR_CODE, 100)]),
        ),
        maybe((maybe(around(bounds::INITIATOR_ID, 3000)), maybe(around(bounds::USER_AGENT, 800)))),
        maybe(timestamp()),
    );
    (head, detail).prop_map(|((id, dt, source, account, time, region, resources), d)| {
        let (operation, origin, outcome, name, digest, deployment, cluster, (message, code), initiator, occurred) = d;
        let mut detail = json!({
            "operation": operation,
            "origin": origin,
            "image": {"name": name},
            "error": {"message": message},
        });
        if let Some(o) = outcome {
            detail["outcome"] = json!(o);
        }
        if let Some(dg) = digest {
            detail["image"]["digest"] = json!(dg);
        }
        if let Some((name, namespace)) = deployment {
            detail["deployment"] = json!({"name": name, "namespace": namespace});
        }
        if let Some(c) = cluster {
            detail["cluster"] = json!(c);
        }
        if let Some(c) = code {
            detail["error"]["code"] = json!(c);
        }
        if let Some((id, ua)) = initiator {
            detail["initiator"] = json!({"id": id, "userAgent": ua});
        }
        if let Some(t) = occurred {
            detail["occurredAt"] = json!(t);
        }
        json!({
            "version": "0", "id": id, "detail-type": dt, "source": source, "account": account,
            "time": time, "region": region, "resources": resources, "detail": detail,
        })
    })
}

fn text_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// An envelope the parser accepts as a failure, for [`one_field_varied`] to vary.
fn valid_envelope() -> Value {
    json!({
        "version": "0", "id": "e-1", "detail-type": "Image Scan Failed", "source": "test.properties",
        "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {
            "operation": "image scan", "origin": "api", "image": {"name": "quay.io/acme/web:1.4"},
            "error": {"message": "context deadline exceeded"}, "occurredAt": "2026-11-25T10:00:00Z",
        },
    })
}

/// A valid envelope with one free-text field or the image drawn around its bound: most are
/// accepted failures, so the property checks what they store (of [`envelope`]'s, where every
/// field is drawn at once, a few in a hundred are).
fn one_field_varied() -> impl Strategy<Value = Value> {
    let set = |path: &'static [&'static str]| {
        move |v: Value| {
            let mut e = valid_envelope();
            let (last, parents) = path.split_last().expect("a path");
            let parent = parents.iter().fold(&mut e, |e, k| &mut e[*k]);
            parent[*last] = v;
            e
        }
    };
    prop_oneof![
        3 => prop_oneof![
            2 => around(bounds::MESSAGE_STORED, 5000),
            1 => around(bounds::MESSAGE_ACCEPTED, 70 * 1024),
            1 => sized(600),
        ].prop_map(Value::from).prop_map(set(&["detail", "error", "message"])),
        1 => around(bounds::CLUSTER, 600).prop_map(Value::from).prop_map(set(&["detail", "cluster"])),
        1 => around(bounds::INITIATOR_ID, 3000).prop_map(|id| json!({"id": id})).prop_map(set(&["detail", "initiator"])),
        1 => around(bounds::USER_AGENT, 800).prop_map(|ua| json!({"userAgent": ua})).prop_map(set(&["detail", "initiator"])),
        1 => (around(bounds::DEPLOYMENT_NAME, 300), around(bounds::NAMESPACE, 80))
            .prop_map(|(name, namespace)| json!({"name": name, "namespace": namespace}))
            .prop_map(set(&["detail", "deployment"])),
        1 => image_name().prop_map(Value::from).prop_map(set(&["detail", "image", "name"])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the event: never a panic; an accepted event was within the accepted bounds;
    /// every stored string is within its bound and a cut one ends with the marker.
    #[test]
    fn a_parsed_occurrence_keeps_every_string_within_its_bound(e in envelope()) {
        every_string_within_its_bound(e)?;
    }

    /// The same, one field at a time around its bound, so that most envelopes are stored.
    #[test]
    fn a_stored_occurrence_keeps_every_string_within_its_bound_one_field_at_a_time(e in one_field_varied()) {
        every_string_within_its_bound(e)?;
    }
}

/// The properties above hold only of what their generators reach, and they check a stored
/// string only for an accepted failure: of 256 envelopes drawn as `one_field_varied` draws them
/// (a fixed seed), at least half are accepted failures and 11 had their message cut, so that a
/// stricter parser or a narrower generator is heard rather than passing on nothing.
#[test]
fn the_envelope_generator_reaches_accepted_failures_and_cut_messages() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let mut runner =
        TestRunner::new_with_rng(ProptestConfig::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let mut reached = |strategy: &dyn Fn() -> BoxedStrategy<Value>| {
        let (mut failures, mut cut) = (0, 0);
        for _ in 0..256 {
            let e = strategy().new_tree(&mut runner).expect("an envelope").current();
            if let Ok(Parsed::Failure(o)) = event::parse(e) {
                failures += 1;
                cut += usize::from(o.message.ends_with(TRUNCATION_MARKER) || o.message.starts_with(CUT_START));
            }
        }
        (failures, cut)
    };
    // Every field drawn at once, most envelopes are refused (6 accepted failures, 2 cut, on
    // 2026-12-06): that property is mostly about refusals, never a panic.
    let all_at_once = reached(&|| envelope().boxed());
    println!("COVERAGE envelope(): {all_at_once:?} (accepted failures, messages cut) of 256");
    assert!(
        all_at_once.0 >= 3,
        "envelope(): {} accepted failures of 256: its stored strings go unchecked",
        all_at_once.0
    );
    // One field at a time (216 and 22 on 2026-12-06): the stored strings are checked.
    let (failures, cut) = reached(&|| one_field_varied().boxed());
    assert!(failures >= 128 && cut >= 11, "one_field_varied(): {failures} accepted failures, {cut} cut, of 256");
}

/// The property above, for one envelope: also called on fixed inputs below.
fn every_string_within_its_bound(e: Value) -> Result<(), TestCaseError> {
    let given = e.clone();
    let parsed = event::parse(e);
    if parsed.is_ok() {
        let message = text_at(&given, &["detail", "error", "message"]).unwrap_or_default();
        let resources = given["resources"].as_array().map(Vec::as_slice).unwrap_or_default();
        prop_assert!(resources.len() <= bounds::RESOURCES);
        prop_assert!(resources.iter().all(|r| r.as_str().is_some_and(|r| r.len() <= bounds::RESOURCE)));
        if !matches!(parsed, Ok(Parsed::Success { .. })) {
            prop_assert!(message.len() <= bounds::MESSAGE_ACCEPTED, "accepted a {}-byte message", message.len());
        }
    }
    if let Ok(Parsed::Failure(o)) = parsed {
        prop_assert!(o.message.len() <= bounds::MESSAGE_STORED);
        prop_assert!(o.cluster.as_ref().is_none_or(|c| c.len() <= bounds::CLUSTER));
        prop_assert!(o.initiator.id.as_ref().is_none_or(|c| c.len() <= bounds::INITIATOR_ID));
        prop_assert!(o.initiator.user_agent.as_ref().is_none_or(|c| c.len() <= bounds::USER_AGENT));
        // The message is stored redacted, then bounded.
        let message = text_at(&given, &["detail", "error", "message"]).map(checks::message_as_stored);
        if let Some(m) = message.as_ref().filter(|m| m.len() > bounds::MESSAGE_STORED) {
            // Cut at its end, or, when its producer cut its start, kept by its end.
            if m.starts_with(CUT_START) {
                prop_assert!(o.message.starts_with(CUT_START));
            } else {
                prop_assert!(o.message.ends_with(TRUNCATION_MARKER));
            }
        }
        checks::free_text("detail.error.message", message.as_deref(), Some(o.message.as_str()), bounds::MESSAGE_STORED);
        for (path, stored, max) in [
            (&["detail", "cluster"][..], o.cluster.as_deref(), bounds::CLUSTER),
            (&["detail", "initiator", "id"][..], o.initiator.id.as_deref(), bounds::INITIATOR_ID),
            (&["detail", "initiator", "userAgent"][..], o.initiator.user_agent.as_deref(), bounds::USER_AGENT),
        ] {
            checks::free_text(&path.join("."), text_at(&given, path), stored, max);
        }
        checks::image(&o.image);
    }
    Ok(())
}

/// Found by a review (2026-12-06), not yet by a run: since the parser redacts secrets (5e3691a)
/// the property above compared the stored message with the one given, so a message such as
/// `pwd:x`, which its generator can produce (rarely: about one CI run in a few hundred), failed
/// "changed though within its bound", and one of repeated `pwd:xxxxxxx ` past the bound, which
/// redaction brings within it, failed for want of the truncation marker.
#[test]
fn a_message_holding_a_secret_keeps_every_string_within_its_bound() {
    let long = "pwd:xxxxxxx ".repeat(400);
    for message in ["pwd:x", long.as_str()] {
        let (_, mut e) = integration_tests::samples("ingest-05").remove(0);
        e["detail"]["error"]["message"] = message.into();
        every_string_within_its_bound(e).unwrap_or_else(|f| panic!("{}: {f}", &message[..5]));
    }
}

// ---------------------------------------------------------------------------------------------
// Item size

/// The size DynamoDB bills and limits for a value, per "Item sizes and formats" in the DynamoDB
/// developer guide: strings and binaries their bytes, numbers 1 byte per two significant digits
/// plus 1, booleans and null 1 byte, lists and maps 3 bytes plus 1 byte per element plus their
/// elements (a map element: its key's bytes and its value), sets the sum of their elements.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
        AttributeValue::Ns(ns) => ns.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => panic!("unknown attribute type {v:?}"),
    }
}

/// Rounded up, so the computed size is an upper bound.
fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(name, v)| name.len() + value_size(v)).sum()
}

/// The item as the store writes it ([`GroupRecord::to_item`]) with the derived attributes kept:
/// items written before they were dropped carry them, so the worst case includes them (and they
/// decode back as stored, whatever the record's other fields).
fn stored_item(g: &GroupRecord) -> HashMap<String, AttributeValue> {
    let mut item = g.to_item().expect("a record encodes");
    let full: HashMap<String, AttributeValue> = serde_dynamo::to_item(g).expect("a record encodes");
    for name in scan_failures_domain::group::DERIVED_ATTRIBUTES {
        if let Some(v) = full.get(name) {
            item.insert(name.to_owned(), v.clone());
        }
    }
    item
}

/// `n` distinct strings of exactly `len` bytes.
fn distinct(prefix: &str, n: usize, len: usize) -> Vec<String> {
    (0..n).map(|i| cut_or_pad(format!("{prefix}{i:02}-"), len)).collect()
}

/// The longest normalized name a reference within the bound produces: a bare name gains
/// `docker.io/library/` and `:latest` (how long an input may be for that depends on whether the
/// normalized name must itself be within the bound).
fn longest_reference() -> ImageRef {
    let r = (0..=MAX_REFERENCE_BYTES)
        .rev()
        .find_map(|n| ImageRef::parse(&"a".repeat(n)).ok())
        .expect("some bare name parses");
    assert!(r.normalized().len() >= MAX_REFERENCE_BYTES, "{} bytes", r.normalized().len());
    r
}

const TS: &str = "2026-11-25T10:00:00.000Z";

/// Every string at its bound, every remembered set full of entries at their bounds, every
/// counter at its largest value.
fn worst_case_group() -> GroupRecord {
    let r = longest_reference();
    let longest_name = r.normalized();
    let set = |prefix: &str, len: usize| -> HashMap<String, String> {
        distinct(prefix, MAX_SET_ENTRIES, len).into_iter().map(|k| (k, TS.to_owned())).collect()
    };
    GroupRecord {
        id: "9ee70a69-22e4-50e6-8a2b-11a12cebc343".into(),
        domain: scan_failures_domain::fingerprint::DOMAIN.into(),
        resource_type: scan_failures_domain::fingerprint::RESOURCE_TYPE.into(),
        // Each as long as any reference can make it (a superset of what one image yields).
        resource_name: longest_name.clone(),
        resource_id: Some(format!("sha256:{}", "f".repeat(64))),
        repository: longest_name.clone(),
        registry: longest_name,
        reason: scan_failures_domain::classify::Reason::ALL
            .iter()
            .map(|r| r.code())
            .max_by_key(|c| c.len())
            .unwrap()
            .into(),
        level: "WARNING".into(),
        message: "m".repeat(bounds::MESSAGE_STORED),
        num_occurrences: u64::MAX,
        created_at: TS.into(),
        last_occurred_at: TS.into(),
        expires_at: i64::MAX,
        account: "123456789012".into(),
        region: "r".repeat(bounds::REGION),
        source: "s".repeat(bounds::SOURCE),
        op_counts: event::Operation::ALL.iter().map(|o| (o.key().to_owned(), u64::MAX)).collect(),
        origin_counts: event::Origin::ALL.iter().map(|o| (o.as_str().to_owned(), u64::MAX)).collect(),
        clusters: set("c", bounds::CLUSTER),
        deployments: set("n", bounds::NAMESPACE + 1 + bounds::DEPLOYMENT_NAME),
        initiators: set("i", bounds::INITIATOR_ID),
        user_agents: set("u", bounds::USER_AGENT),
    }
}

/// What an item holds beyond the record: triage (state, who, when, a note, the history) and
/// the per-day counts, as the store writes them.
fn add_state(item: &mut HashMap<String, AttributeValue>, history: usize, note_len: usize, days: usize) {
    let by = cut_or_pad("arn:aws:iam::123456789012:user/".to_owned(), MAX_CALLER_BYTES);
    let note = "n".repeat(note_len);
    let entries: Vec<TriageEntry> = (0..history)
        .map(|_| TriageEntry {
            state: "false_positive".into(),
            at: TS.into(),
            by: by.clone(),
            note: (note_len > 0).then(|| note.clone()),
        })
        .collect();
    let start = time::macros::date!(2026 - 01 - 01);
    let daily_map: HashMap<String, AttributeValue> = (0..days)
        .map(|d| {
            let day = start + time::Duration::days(d as i64);
            (day.to_string(), AttributeValue::N(u64::MAX.to_string()))
        })
        .collect();
    item.extend([
        (item::attr::STATE.to_owned(), AttributeValue::S("false_positive".into())),
        (item::attr::AT.to_owned(), AttributeValue::S(TS.into())),
        (item::attr::BY.to_owned(), AttributeValue::S(by)),
        (item::attr::NOTE.to_owned(), AttributeValue::S(note)),
        (item::attr::HISTORY.to_owned(), item::history_attribute(&entries)),
        (item::attr::VERSION.to_owned(), AttributeValue::N(u64::MAX.to_string())),
        (daily::ATTRIBUTE.to_owned(), AttributeValue::M(daily_map)),
    ]);
}

/// The worst-case record with a full triage history of the longest entries and every day of
/// per-day counts.
fn worst_case_item() -> HashMap<String, AttributeValue> {
    let mut item = stored_item(&worst_case_group());
    add_state(&mut item, triage::MAX_HISTORY, triage::MAX_NOTE_BYTES, daily::MAX_ENTRIES);
    item
}

fn assert_key_limits(item: &HashMap<String, AttributeValue>) {
    for index in schema::INDEXES {
        if let Some(AttributeValue::S(v)) = item.get(index.partition_key) {
            assert!(v.len() <= PARTITION_KEY_LIMIT, "{} key {} is {} bytes", index.name, index.partition_key, v.len());
        }
    }
    for index in schema::INDEXES {
        let Some(AttributeValue::S(sk)) = item.get(index.sort_key.attribute()) else { panic!("no sort key") };
        assert!(sk.len() <= SORT_KEY_LIMIT, "{} sort key is {} bytes", index.name, sk.len());
    }
}

/// The worst case stays far below 400 KB: under half of it, so that a future remembered set or
/// longer bound has room before it matters.
#[test]
fn the_largest_possible_group_item_is_far_below_dynamodbs_400_kb_limit() {
    let g = worst_case_group();
    let record_only = item_size(&stored_item(&g));
    let item = worst_case_item();
    let size = item_size(&item);
    println!(
        "worst-case group item: {size} bytes ({:.1} % of 400 KB; the record's attributes {record_only} bytes, \
         triage and daily counts the rest)",
        size as f64 * 100.0 / ITEM_LIMIT as f64
    );
    assert!(record_only > 60_000, "the worst case is not the worst case: {record_only} bytes");
    assert!(size < ITEM_LIMIT / 2, "worst-case group item is {size} bytes");
    assert_key_limits(&item);
    // It decodes back to the record and state it was written from.
    let state = GroupState::of_item(&item);
    assert_eq!(state.triage.history.len(), triage::MAX_HISTORY);
    assert_eq!(state.daily.len(), daily::MAX_ENTRIES);
    let back = GroupRecord::from_item(item).expect("decodes");
    assert_eq!(back, g);
}

#[test]
fn item_sizes_follow_dynamodbs_rules() {
    assert_eq!(number_size("0"), 2);
    assert_eq!(number_size("1"), 2);
    assert_eq!(number_size("12"), 2);
    assert_eq!(number_size("123"), 3);
    assert_eq!(number_size("18446744073709551615"), 11);
    let m = AttributeValue::M(HashMap::from([("ab".to_owned(), AttributeValue::S("xyz".into()))]));
    assert_eq!(value_size(&m), 3 + 1 + 2 + 3);
    assert_eq!(value_size(&AttributeValue::M(HashMap::new())), 3);
    assert_eq!(value_size(&AttributeValue::L(vec![AttributeValue::Bool(true)])), 5);
}

/// Text of at most `max` bytes, cut on a character boundary.
fn bounded_text(max: usize) -> impl Strategy<Value = String> {
    sized(max).prop_map(move |mut s| {
        let mut cut = s.len().min(max);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s
    })
}

/// A remembered set: up to 20 distinct values of at most `max_len` bytes.
fn remembered(max_len: usize) -> impl Strategy<Value = HashMap<String, String>> {
    prop::collection::vec(bounded_text(max_len), 0..=MAX_SET_ENTRIES)
        .prop_map(|keys| keys.into_iter().map(|k| (k, TS.to_owned())).collect())
}

fn random_group() -> impl Strategy<Value = GroupRecord> {
    (
        (reference(), maybe("sha256:[0-9a-f]{64}"), bounded_text(bounds::MESSAGE_STORED), any::<u64>()),
        (bounded_text(bounds::REGION), bounded_text(bounds::SOURCE)),
        (
            remembered(bounds::CLUSTER),
            remembered(bounds::NAMESPACE + 1 + bounds::DEPLOYMENT_NAME),
            remembered(bounds::INITIATOR_ID),
            remembered(bounds::USER_AGENT),
        ),
        (prop::collection::hash_map("[a-z_]{1,16}", any::<u64>(), 0..4), any::<i64>()),
    )
        .prop_map(|((name, digest, message, n), (region, source), sets, (ops, expires))| {
            let r = ImageRef::parse(&name).unwrap_or_else(|_| longest_reference());
            let reason = scan_failures_domain::classify::Reason::Unknown;
            GroupRecord {
                id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string(),
                domain: "Image Scanning".into(),
                resource_type: "Image".into(),
                resource_name: r.normalized(),
                resource_id: digest,
                repository: r.repository(),
                registry: r.registry.clone(),
                reason: reason.code().into(),
                level: reason.level().as_str().into(),
                message,
                num_occurrences: n,
                created_at: TS.into(),
                last_occurred_at: TS.into(),
                expires_at: expires,
                account: "123456789012".into(),
                region,
                source,
                op_counts: ops,
                origin_counts: HashMap::from([("api".to_owned(), n)]),
                clusters: sets.0,
                deployments: sets.1,
                initiators: sets.2,
                user_agents: sets.3,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random records within the bounds: never above the worst case, so never near 400 KB, and
    /// every one decodes back to itself.
    #[test]
    fn a_group_item_within_the_bounds_is_never_larger_than_the_worst_case(
        g in random_group(),
        history in 0..=triage::MAX_HISTORY,
        note_len in 0..=triage::MAX_NOTE_BYTES,
        days in 0..=daily::MAX_ENTRIES,
    ) {
        let worst = item_size(&worst_case_item());
        let mut item = stored_item(&g);
        add_state(&mut item, history, note_len, days);
        let size = item_size(&item);
        prop_assert!(size <= worst, "{size} bytes > worst case {worst}");
        prop_assert!(size < ITEM_LIMIT);
        assert_key_limits(&item);
        let back = GroupRecord::from_item(item).expect("decodes");
        prop_assert_eq!(back, g);
    }
}

// ---------------------------------------------------------------------------------------------
// Image normalization

/// What [`image_normalization_is_idempotent`] draws.
fn reference_or_any() -> impl Strategy<Value = String> {
    prop_oneof![4 => reference(), 1 => any::<String>()]
}

/// The property below checks only references the parser accepts: most it draws must be (on a
/// fixed seed), or a stricter parser would leave it checking nothing.
#[test]
fn the_reference_generator_reaches_accepted_references() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let mut runner =
        TestRunner::new_with_rng(ProptestConfig::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let accepted = (0..256)
        .filter(|_| ImageRef::parse(&reference_or_any().new_tree(&mut runner).expect("a reference").current()).is_ok())
        .count();
    println!("COVERAGE reference_or_any(): {accepted} of 256 accepted");
    assert!(accepted >= 128, "{accepted} of 256 accepted");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    /// normalized(parse(normalized(x))) == normalized(x) for every accepted x.
    #[test]
    fn image_normalization_is_idempotent(x in reference_or_any()) {
        if let Ok(r) = ImageRef::parse(&x) {
            let n = r.normalized();
            let again = ImageRef::parse(&n);
            prop_assert!(again.is_ok(), "{x:?} normalizes to {n:?}, which is refused: {again:?}");
            prop_assert_eq!(again.map(|a| a.normalized()).ok(), Some(n.clone()), "input {:?}", x);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cursors

/// A single-byte edit: replace, delete or insert one byte.
#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, u8),
    Delete(prop::sample::Index),
    Insert(prop::sample::Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Delete),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the key and query, a cursor with one byte replaced, deleted or inserted is
    /// refused (as the HTTP layer would hand it over: invalid UTF-8 decoded lossily).
    #[test]
    fn any_single_byte_edit_of_a_cursor_is_refused(
        key in prop_oneof![Just("2026-11-25T10:00:00.000Z#9ee70a69-22e4-50e6-8a2b-11a12cebc343".to_owned()), ".{0,120}"],
        query in "[A-Za-z0-9_-]{16}",
        e in edit(),
    ) {
        let c = cursor::encode(&key, &query);
        prop_assume!(c.len() <= cursor::MAX_CURSOR_BYTES);
        prop_assert_eq!(cursor::decode(&c, &query), Ok(key.clone()));
        let mut bytes = c.clone().into_bytes();
        match e {
            Edit::Replace(i, b) => {
                let i = i.index(bytes.len());
                prop_assume!(bytes[i] != b);
                bytes[i] = b;
            }
            Edit::Delete(i) => {
                bytes.remove(i.index(bytes.len()));
            }
            Edit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), b),
        }
        let edited = String::from_utf8_lossy(&bytes).into_owned();
        let decoded = cursor::decode(&edited, &query);
        prop_assert!(decoded.is_err(), "edited cursor {edited:?} accepted as {decoded:?}");
    }
}
