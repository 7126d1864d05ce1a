//! What the CLI's tests share: botocore, the AWS CLI's SigV4 signer (an implementation
//! independent of aws-sigv4), run from the tools venv.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// botocore signs `case` with `get_current_datetime` fixed to the case's time.
const BOTOCORE: &str = r#"
import datetime, json, sys
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

case = json.load(sys.stdin)
request = AWSRequest(method=case["method"], url=case["url"], data=case["body"].encode(), headers=case["headers"])
fixed = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc)
with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
    SigV4Auth(Credentials(case["key"], case["secret"], case["token"]), "execute-api", case["region"]).add_auth(request)
print(json.dumps({k.lower(): v for k, v in request.headers.items()}))
"#;

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        p.is_file(),
        "{} is missing (botocore comes with moto): run `make tools` (bash scripts/tools.sh)",
        p.display()
    );
    p
}

pub fn botocore(case: &Value) -> Value {
    let mut child = Command::new(python())
        .args(["-c", BOTOCORE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().expect("stdin").write_all(case.to_string().as_bytes()).expect("case written");
    let out = child.wait_with_output().expect("python ends");
    assert!(out.status.success(), "botocore failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("botocore's headers")
}
