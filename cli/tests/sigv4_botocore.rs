//! The CLI's SigV4 signature equals botocore's (the AWS CLI's signer, an implementation
//! independent of aws-sigv4) for the same request, time and credentials: repeated and encoded
//! query parameters, encoded path segments, bodies, session tokens, ports and path prefixes.

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use common::botocore;
use scanfail::api::client::signed_request;
use scanfail::api::query::{encode, segment};
use serde_json::{json, Value};

/// Signs `method url body` both ways and compares the signature headers.
fn same_signature(method: &str, url: &str, body: Option<Value>, token: Option<&str>, region: &str) {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_209_020); // 2026-12-02T10:57:00Z
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token.map(str::to_owned),
        None,
        "test",
    );
    let ours = signed_request(method, url, body.as_ref(), &credentials, region, time).expect("signed");
    let header = |name: &str| ours.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut sent = serde_json::Map::new();
    for name in ["host", "content-type"] {
        if let Some(v) = header(name) {
            sent.insert(name.to_owned(), json!(v));
        }
    }
    let theirs = botocore(&json!({
        "method": method, "url": url, "headers": sent,
        "body": body.map(|b| b.to_string()).unwrap_or_default(),
        "time": 1_796_209_020, "key": "AKIDEXAMPLE", "secret": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": token, "region": region,
    }));
    assert_eq!(header("x-amz-date").as_deref(), theirs["x-amz-date"].as_str(), "{method} {url}");
    assert_eq!(header("x-amz-security-token").as_deref(), theirs["x-amz-security-token"].as_str(), "{method} {url}");
    assert_eq!(header("authorization").as_deref(), theirs["authorization"].as_str(), "{method} {url}");
    assert!(header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/")));
}

const API: &str = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";

#[test]
fn a_list_with_repeated_and_encoded_parameters_is_signed_as_botocore_signs_it() {
    let query = encode(&[
        ("filter.reason", "TIMEOUT".to_owned()),
        ("filter.reason", "RATE_LIMITED".to_owned()),
        ("filter.resourceName", "quay.io/acme/web:1.4".to_owned()),
        ("filter.search", "manifest unknown + café ~ 100%".to_owned()),
        ("filter.from", "2026-12-01T10:30:00.000Z".to_owned()),
        ("filter.cluster", "b".to_owned()),
        ("filter.cluster", "a".to_owned()),
        ("pagination.limit", "1000".to_owned()),
    ]);
    same_signature("GET", &format!("{API}/v1/administration/events?{query}"), None, None, "eu-west-1");
}

#[test]
fn bodies_encoded_path_segments_and_session_tokens_are_signed_as_botocore_signs_them() {
    let id = segment("3f0c1c9e 8d2e/5a43");
    same_signature(
        "POST",
        &format!("{API}/v1/administration/events/{id}/triage"),
        Some(json!({"state": "false_positive", "note": "tracked in SEC-1234 — ok"})),
        Some("FwoGZXIvYXdzEXAMPLETOKEN//////////"),
        "eu-west-1",
    );
    same_signature(
        "PUT",
        &format!("{API}/v1/config/administration-events"),
        Some(json!({"retentionDays": 30})),
        None,
        "eu-west-1",
    );
    let query = encode(&[("filter.resourceName", "nginx".to_owned()), ("filter.reason", "UNKNOWN".to_owned())]);
    same_signature("DELETE", &format!("{API}/v1/administration/events?{query}"), None, None, "eu-west-1");
}

#[test]
fn a_port_and_a_path_prefix_are_signed_as_botocore_signs_them() {
    same_signature(
        "GET",
        "http://127.0.0.1:9000/lambda-url/api/v1/count/administration/events",
        None,
        None,
        "us-east-1",
    );
    same_signature(
        "GET",
        "https://scans.example.com/prod/v1/administration/events/trend?days=7",
        None,
        None,
        "ap-southeast-2",
    );
}
