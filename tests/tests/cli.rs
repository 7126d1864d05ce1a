//! `scanfail` end to end on the local stack: `scanfail run -- roxctl …` (a stand-in printing
//! real roxctl output) → moto's EventBridge bus → the template's rule → the SQS buffer → the
//! poller → the ingest function (real runtime path, `cargo lambda watch`) → DynamoDB Local →
//! the api function ← `scanfail events …`. And the admin side's errors, each one line with its
//! documented exit code.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::bus::LocalBus;
use integration_tests::cli::{command, scanfail, Ran};
use integration_tests::{
    dynamodb_client, dynamodb_endpoint, free_port, fresh_store_on, invoke_http, repo_root, unique_name, FaultProxy,
    Moto, Watch,
};
use serde_json::{json, Value};

const ADMIN: &str = "arn:aws:iam::123456789012:user/local-admin";

fn roxctl_dir() -> PathBuf {
    repo_root().join("tests/fixtures/roxctl")
}

/// The stack of one test: DynamoDB Local, watch with both functions (the api acting as a
/// view-only `ADMIN`), moto with the bus, and the poller running until drop.
struct Stack {
    watch: Watch,
    bus: Arc<LocalBus>,
    moto: Moto,
    /// Envelopes handed to the ingest function so far.
    delivered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    poller: Option<tokio::task::JoinHandle<()>>,
}

impl Stack {
    async fn start() -> Self {
        let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), "cli").await;
        let watch = Watch::start(
            &["ingest", "api"],
            store.table(),
            &[("LOCAL_PRINCIPAL", ADMIN), ("ADMIN_VIEW_PRINCIPALS", ADMIN), ("RETENTION_DAYS", "30")],
            None,
        );
        let moto = Moto::start(free_port());
        let bus = Arc::new(LocalBus::create(&moto.endpoint, &unique_name("scan-failures"), 2).await);
        let stop = Arc::new(AtomicBool::new(false));
        let port = watch.port;
        let delivered = Arc::new(AtomicUsize::new(0));
        let (b, s, d) = (bus.clone(), stop.clone(), delivered.clone());
        let poller = tokio::spawn(async move {
            let deliver = move |event: &Value| {
                d.fetch_add(event["Records"].as_array().map_or(0, Vec::len), Ordering::SeqCst);
                tokio::task::block_in_place(|| invoke_http(port, "ingest", event))
            };
            b.run(&deliver, s).await;
        });
        Self { watch, bus, moto, delivered, stop, poller: Some(poller) }
    }

    /// What a user's shell would have: credentials, region, the bus and the API.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.moto.endpoint.clone()),
            ("SCANFAIL_BUS", self.bus.bus.clone()),
            ("SCANFAIL_ENDPOINT", format!("http://127.0.0.1:{}/lambda-url/api", self.watch.port)),
        ]
    }

    fn roxctl(&self, scenario: &str, args: &[&str]) -> Ran {
        let mut env = self.env();
        env.push(("ROXCTL_SCENARIO", scenario.to_owned()));
        let mut all = vec!["run", "--"];
        all.extend_from_slice(args);
        scanfail(&all, &env, Some(&roxctl_dir()))
    }

    fn cli(&self, args: &[&str]) -> Ran {
        scanfail(args, &self.env(), None)
    }

    /// The events of `image`, waiting (up to 60 s) until `expected` of them are stored.
    fn events_of(&self, image: &str, expected: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let ran = self.cli(&["events", "list", "--image", image, "--output", "json"]);
            assert_eq!(ran.code, 0, "events list: {ran:?}");
            let answer: Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"));
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            if events.len() >= expected || started.elapsed() > Duration::from_secs(60) {
                return events;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Waits until the buffer queue is empty (every published event delivered).
    async fn drained(&self) {
        let started = Instant::now();
        while self.bus.depth(&self.bus.queue_url).await > 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "the buffer queue did not drain");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            p.abort();
        }
    }
}

fn reason_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["scanFailure"]["reason"].as_str().unwrap_or("")).collect()
}

/// Each roxctl scan that fails is one event on the bus and one group with the reason its real
/// output means; the scanner's exit code and output pass through untouched. Policy violations,
/// `--fail` findings and successes publish nothing (no group of their images exists once the
/// queue has drained, and the total is exactly the failures').
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roxctl_failures_reach_the_api_through_the_bus_and_other_outcomes_publish_nothing() {
    let stack = Stack::start().await;

    let ran = stack.roxctl("image-scan-unauthorized", &["roxctl", "image", "scan", "-i", "quay.io/acme/web:1.4"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.stdout, "stand-in roxctl: image scan -i quay.io/acme/web:1.4\n");
    assert!(ran.stderr.starts_with("ERROR:\tScanning image failed"), "roxctl's stderr passes through: {ran:?}");
    assert!(
        ran.stderr.ends_with(&format!(
            "scanfail: reported 1 failed scan(s) (REGISTRY_UNAUTHORIZED) to the bus {}\n",
            stack.bus.bus
        )),
        "{ran:?}"
    );

    let ran = stack.roxctl(
        "image-check-unreachable",
        &["roxctl", "-e", "central.example.com:443", "image", "check", "--image=quay.io/acme/api:2"],
    );
    assert_eq!(ran.code, 1, "{ran:?}");
    let ran = stack.roxctl("image-sbom-v4-disabled", &["roxctl", "image", "sbom", "-i", "quay.io/acme/worker:3"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let deployment = roxctl_dir().join("deployment.yaml");
    let deployment = deployment.to_string_lossy();
    let ran = stack.roxctl("deployment-check-unauthenticated", &["roxctl", "deployment", "check", "-f", &deployment]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr
            .ends_with(&format!("reported 2 failed scan(s) (CENTRAL_AUTH_FAILED) to the bus {}\n", stack.bus.bus)),
        "{ran:?}"
    );

    for (scenario, args, said) in [
        (
            "image-check-policy-violation",
            ["roxctl", "image", "check", "-i", "quay.io/acme/policy:1"],
            "a policy violation",
        ),
        (
            "image-scan-findings",
            ["roxctl", "image", "scan", "-i", "quay.io/acme/findings:1"],
            "vulnerabilities found (--fail)",
        ),
    ] {
        let ran = stack.roxctl(scenario, &args);
        assert_eq!(ran.code, 1, "{ran:?}");
        assert!(ran.stderr.ends_with(&format!("scanfail: not a scan failure ({said}): nothing reported\n")), "{ran:?}");
    }
    let ran = stack.roxctl("success", &["roxctl", "image", "scan", "-i", "quay.io/acme/ok:1"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");

    assert_eq!(reason_of(&stack.events_of("quay.io/acme/web:1.4", 1)), ["REGISTRY_UNAUTHORIZED"]);
    let check = stack.events_of("quay.io/acme/api:2", 1);
    assert_eq!(reason_of(&check), ["CENTRAL_UNREACHABLE"]);
    assert_eq!(check[0]["scanFailure"]["operationCounts"], serde_json::json!({"image check": 1}));
    assert_eq!(
        check[0]["message"],
        "checking image failed after 1 retries: retrieving alerts: could not check build-time alerts: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp: lookup central.example.com: no such host\""
    );
    assert_eq!(reason_of(&stack.events_of("quay.io/acme/worker:3", 1)), ["SBOM_UNSUPPORTED"]);
    for image in ["quay.io/acme/checkout:7", "quay.io/acme/checkout-migrate:7"] {
        let events = stack.events_of(image, 1);
        assert_eq!(reason_of(&events), ["CENTRAL_AUTH_FAILED"], "{image}");
        assert_eq!(events[0]["scanFailure"]["deployments"], serde_json::json!(["shop/checkout"]), "{image}");
        assert_eq!(events[0]["scanFailure"]["operationCounts"], serde_json::json!({"deployment check": 1}));
        let agent = events[0]["scanFailure"]["userAgents"][0].as_str().unwrap_or_default();
        assert!(agent.starts_with("scanfail/") && agent.ends_with(" roxctl"), "{agent}");
    }

    stack.drained().await;
    for image in ["quay.io/acme/policy:1", "quay.io/acme/findings:1", "quay.io/acme/ok:1"] {
        assert!(stack.events_of(image, 0).is_empty(), "{image} was published");
    }
    let count = stack.cli(&["events", "count", "--output", "json"]);
    assert_eq!(count.stdout.trim(), r#"{"count":5}"#, "{count:?}");
    assert_eq!(stack.bus.depth(&stack.bus.dead_letter_url).await, 0);

    // An answer that cannot be written (a full disk: /dev/full) is an error of its own, where it
    // exited 0 with nothing written; a reader that stopped reading is none.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = command(&["events", "count", "--output", "json"], &stack.env(), None)
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (Some(74), "scanfail: cannot write the answer on standard output: No space left on device (os error 28)\n")
    );
    let mut closed = command(&["events", "list", "--output", "json"], &stack.env(), None)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(closed.stdout.take());
    let out = closed.wait_with_output().unwrap();
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()), (Some(0), ""));
}

/// A roxctl error past the 4 KiB the product stores (a lookup that failed at 31 registries) is
/// published whole, within the 64 KiB the ingest function accepts, which classifies and groups
/// it whole: its one 401, past the first 4 KiB, decides the reason, where the 4 KiB `scanfail`
/// sent before read as a timeout. Stored by its start, 4 KiB. Another scanner's last lines past
/// 4 KiB are stored by their end, the error they end on (sent whole and unmarked, their start
/// was stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_is_classified_whole_and_stored_by_the_end_that_holds_its_error() {
    use scan_failures_domain::classify::{classify, Reason};
    use scan_failures_domain::event::{bounds, truncate, TRUNCATION_MARKER};
    let stack = Stack::start().await;
    let said = std::fs::read_to_string(roxctl_dir().join("image-scan-many-registries.stderr")).unwrap();
    let message = said.trim_end().trim_start_matches("ERROR:\t").to_owned();
    assert!(message.len() > bounds::MESSAGE_STORED, "{}", message.len());
    // The fault: the first 4 KiB alone read as another reason.
    assert_eq!(classify(None, &truncate(message.clone(), bounds::MESSAGE_STORED)), Reason::Timeout);
    let ran = stack.roxctl("image-scan-many-registries", &["roxctl", "image", "scan", "-i", "quay.io/acme/many:1"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.ends_with(&format!(
            "scanfail: reported 1 failed scan(s) (REGISTRY_UNAUTHORIZED) to the bus {}\n",
            stack.bus.bus
        )),
        "{ran:?}"
    );
    let events = stack.events_of("quay.io/acme/many:1", 1);
    assert_eq!(reason_of(&events), ["REGISTRY_UNAUTHORIZED"]);
    let stored = events[0]["message"].as_str().unwrap_or_default();
    assert_eq!(stored, truncate(message, bounds::MESSAGE_STORED));
    assert!(stored.ends_with(TRUNCATION_MARKER));
    // Another scanner's last lines past 4 KiB are stored by their end, the error they end on.
    let tail = "FATAL: unauthorized: authentication required";
    let script = format!("head -c 6000 /dev/zero | tr '\\0' x >&2; printf '\\n{tail}\\n' >&2; exit 1");
    let ran = scanfail(
        &["run", "--operation", "image-scan", "--image", "quay.io/acme/other:1", "--", "sh", "-c", &script],
        &stack.env(),
        None,
    );
    assert_eq!(ran.code, 1, "{ran:?}");
    let events = stack.events_of("quay.io/acme/other:1", 1);
    assert_eq!(reason_of(&events), ["REGISTRY_UNAUTHORIZED"]);
    let stored = events[0]["message"].as_str().unwrap_or_default();
    assert!(stored.starts_with("[truncated]…x") && stored.ends_with(tail), "{stored}");
    assert!(stored.len() <= bounds::MESSAGE_STORED && stored.len() > bounds::MESSAGE_STORED - 4, "{}", stored.len());
}

/// A `PutEvents` whose answer is lost after EventBridge took its event is sent again by the SDK,
/// and EventBridge gives the copy an id of its own: two envelopes of one failed scan. The
/// `occurrenceId` scanfail puts in both makes them one occurrence. The fault is proven: the
/// proxy in front of the bus lost exactly one answer, and the ingest function was handed both
/// envelopes. Without the id (the EventBridge id deciding), the group counts 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_sent_again_after_its_answer_was_lost_counts_once() {
    let stack = Stack::start().await;
    let moto_port = stack.moto.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default();
    let proxy = FaultProxy::start(moto_port);
    proxy.lose_responses(1);
    let mut env = stack.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL_EVENTBRIDGE");
    env.push(("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("http://127.0.0.1:{}", proxy.port)));
    let image = "quay.io/acme/lost-answer:1";
    let ran = scanfail(
        &["report", "--operation", "image scan", "--image", image, "--message", "context deadline exceeded"],
        &env,
        None,
    );
    assert_eq!(ran.code, 0, "the SDK's second attempt was answered: {ran:?}");
    assert_eq!(proxy.lost(), 1, "the first answer was lost");

    let started = Instant::now();
    while stack.delivered.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "both copies reach ingest");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.drained().await;
    assert_eq!(stack.delivered.load(Ordering::SeqCst), 2, "two envelopes, one per PutEvents");
    let events = stack.events_of(image, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["numOccurrences"], "1", "{:?}", events[0]);
    assert_eq!(stack.bus.depth(&stack.bus.dead_letter_url).await, 0);
}

/// A deployment check whose YAML names one image wrongly (an unrendered template variable)
/// reports the images it names rightly, and says which it left out and why in its one line;
/// the scanner's code stands, and `--require-report` turns the gap into 75.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_check_with_one_invalid_image_reports_the_others_and_names_it() {
    let stack = Stack::start().await;
    let dir = std::env::temp_dir().join(unique_name("partial"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let yaml = dir.join("deployment.yaml");
    std::fs::write(
        &yaml,
        "kind: Deployment\nmetadata: {name: cart, namespace: shop}\nspec: {template: {spec: {containers: [\
         {name: cart, image: \"${CART_IMAGE}\"}, {name: proxy, image: quay.io/acme/cart-proxy:3}]}}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let yaml = yaml.to_string_lossy();
    let check = ["roxctl", "deployment", "check", "-f", yaml.as_ref()];
    let ran = stack.roxctl("deployment-check-unauthenticated", &check);
    assert_eq!(ran.code, 1, "the scanner's code: {ran:?}");
    let said: Vec<&str> = ran.stderr.lines().filter(|l| l.starts_with("scanfail:")).collect();
    assert_eq!(
        said,
        [format!(
            "scanfail: reported 1 of 2 failed scan(s) (CENTRAL_AUTH_FAILED) to the bus {}; not reported: ${{CART_IMAGE}}: detail.image.name: is not a valid image reference: has an invalid repository path \"library/${{CART_IMAGE}}\" (lower-case letters, digits and . _ - / only)",
            stack.bus.bus
        )],
        "{ran:?}"
    );
    let events = stack.events_of("quay.io/acme/cart-proxy:3", 1);
    assert_eq!(reason_of(&events), ["CENTRAL_AUTH_FAILED"]);
    assert_eq!(events[0]["scanFailure"]["deployments"], json!(["shop/cart"]));

    let mut args = vec!["run", "--require-report", "--"];
    args.extend_from_slice(&check);
    let mut env = stack.env();
    env.push(("ROXCTL_SCENARIO", "deployment-check-unauthenticated".to_owned()));
    let ran = scanfail(&args, &env, Some(&roxctl_dir()));
    assert_eq!(ran.code, 75, "{ran:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scanfail run` dates its event when the scanner failed, not when it started: a scan that
/// retries for minutes (here one that takes 2 s) fails at its end, and the group's last
/// occurrence, the time windows and the trend's days go by that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_dated_when_its_scanner_failed_not_when_it_started() {
    let moto = Moto::start(free_port());
    let bus = LocalBus::create(&moto.endpoint, &unique_name("dated"), 2).await;
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto.endpoint.clone()),
        ("SCANFAIL_BUS", bus.bus.clone()),
    ];
    let scanner = "sleep 2; echo 'context deadline exceeded' >&2; exit 3";
    let before = time::OffsetDateTime::now_utc();
    let args = ["run", "--operation", "image-scan", "--image", "quay.io/acme/slow:1", "--", "sh", "-c", scanner];
    let ran = scanfail(&args, &env, None);
    assert_eq!(ran.code, 3, "{ran:?}");
    let published = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    while published.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "the event reached the buffer queue");
        bus.poll_once(&|event: &Value| {
            for r in event["Records"].as_array().into_iter().flatten() {
                let body: Value = serde_json::from_str(r["body"].as_str().unwrap_or_default()).unwrap_or_default();
                published.lock().unwrap().push(body);
            }
            Ok(json!({ "batchItemFailures": [] }))
        })
        .await;
    }
    let envelope = published.lock().unwrap()[0].clone();
    let occurred = envelope["detail"]["occurredAt"].as_str().unwrap_or_default().to_owned();
    let occurred = time::OffsetDateTime::parse(&occurred, &time::format_description::well_known::Rfc3339).unwrap();
    let slept = occurred - before;
    assert!(slept >= time::Duration::seconds(2), "occurredAt {occurred} is {slept} after the run began");
}

/// A bus that cannot be reached, or does not exist, or no credentials, leave the scanner's exit
/// code as it is, with one line that says why; `--require-report` turns it into 75, and
/// `scanfail report` exits with the cause's documented code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_that_cannot_take_the_report_keeps_the_scanners_code_and_says_why_in_one_line() {
    let closed = free_port();
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("http://127.0.0.1:{closed}")),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("ROXCTL_SCENARIO", "image-scan-unauthorized".to_owned()),
    ];
    let ran =
        scanfail(&["run", "--", "roxctl", "image", "scan", "-i", "quay.io/acme/web:1.4"], &env, Some(&roxctl_dir()));
    assert_eq!(ran.code, 1, "{ran:?}");
    let last: Vec<&str> = ran.stderr.lines().filter(|l| l.starts_with("scanfail:")).collect();
    assert_eq!(
        last,
        ["scanfail: the scan failed and was not reported: cannot reach EventBridge (set the region, or AWS_ENDPOINT_URL_EVENTBRIDGE for a local bus): dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)"],
        "{ran:?}"
    );
    let ran =
        scanfail(&["run", "--require-report", "--", "roxctl", "image", "scan", "-i", "x:1"], &env, Some(&roxctl_dir()));
    assert_eq!(ran.code, 75, "{ran:?}");
    // A newline in the key (a secret pasted with one): the SDK's signer unwrapped its header
    // and `run` aborted with 134 instead of the scanner's code.
    let mut pasted = env.clone();
    pasted[0].1 = "testing\n".to_owned();
    let ran = scanfail(&["run", "--", "roxctl", "image", "scan", "-i", "x:1"], &pasted, Some(&roxctl_dir()));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.ends_with("scanfail: the scan failed and was not reported: the AWS access key id holds a control character (a stray newline or carriage return in its variable or profile?)\n"), "{ran:?}");
    env.retain(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"));
    let ran = scanfail(&["run", "--", "roxctl", "image", "scan", "-i", "x:1"], &env, Some(&roxctl_dir()));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.ends_with("scanfail: the scan failed and was not reported: no AWS credentials found (environment, profile, SSO, web identity or instance role); sign in, e.g. `aws sso login`, or set AWS_PROFILE\n"), "{ran:?}");
}

/// The admin side's failures: no credentials (3), a wrong endpoint (4), a 403 (5), a 400 (6),
/// each one line naming the cause and no `Debug` dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_errors_are_one_line_with_their_documented_exit_code() {
    let stack = Stack::start().await;

    let no_credentials: Vec<(&str, String)> =
        stack.env().into_iter().filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET")).collect();
    let ran = scanfail(&["events", "count"], &no_credentials, None);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (3, "scanfail: no AWS credentials found (environment, profile, SSO, web identity or instance role); sign in, e.g. `aws sso login`, or set AWS_PROFILE\n"),
        "{ran:?}"
    );

    for (variable, value, what) in
        [("AWS_ACCESS_KEY_ID", "testing\n", "access key id"), ("AWS_REGION", "us-east-1\r", "region")]
    {
        let env: Vec<(&str, String)> =
            stack.env().into_iter().map(|(k, v)| if k == variable { (k, value.to_owned()) } else { (k, v) }).collect();
        let ran = scanfail(&["events", "count"], &env, None);
        let said = format!("scanfail: the AWS {what} holds a control character (a stray newline or carriage return in its variable or profile?)\n");
        assert_eq!((ran.code, ran.stderr.as_str()), (3, said.as_str()), "{ran:?}");
    }

    let closed = free_port();
    let ran = stack.cli(&["events", "count", "--endpoint", &format!("http://127.0.0.1:{closed}")]);
    assert_eq!(ran.code, 4, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with(&format!("scanfail: cannot reach http://127.0.0.1:{closed}/v1/count/administration/events: ")),
        "{ran:?}"
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");

    // The api runs with a view-only principal: a write is the function's own 403.
    let ran = stack.cli(&["events", "triage", "00000000-0000-5000-8000-000000000000", "--state", "resolved"]);
    assert_eq!(ran.code, 5, "{ran:?}");
    assert!(ran.stderr.starts_with("scanfail: access denied (HTTP 403): "), "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");

    let ran = stack.cli(&["events", "list", "--account", "not-an-account"]);
    assert_eq!(ran.code, 6, "{ran:?}");
    assert!(ran.stderr.starts_with("scanfail: refused (HTTP 400): filter.account"), "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");

    let ran = stack.cli(&["events", "list", "--level", "fatal"]);
    assert_eq!(ran.code, 2, "a usage error is clap's: {ran:?}");
    assert!(!ran.stderr.contains("panicked"), "{ran:?}");
}

/// A DynamoDB the api cannot reach (the network to it cut: new connections refused) is a 503 with `Retry-After: 2` through the real runtime path, not a 500: `scanfail` waits
/// the 2 s it names and sends the request again, up to 3 attempts, saying so on standard error.
/// Held out, the last answer stands (exit 7, its message one line); healed after the first
/// answer, the second attempt is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_out_of_reach_is_a_503_that_scanfail_waits_out_and_sends_again() {
    use std::io::BufRead as _;

    let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), "cli-busy").await;
    let upstream: u16 = dynamodb_endpoint().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap();
    let proxy = Arc::new(FaultProxy::start(upstream));
    let through_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let watch = Watch::start(
        &["api"],
        store.table(),
        &[("LOCAL_PRINCIPAL", ADMIN), ("ADMIN_VIEW_PRINCIPALS", ADMIN)],
        Some(&through_proxy),
    );
    let env = api_env(watch.port);
    let count = ["events", "count", "--output", "json"];
    let note = |attempt: u32| {
        format!("scanfail: the API asked to come back later (HTTP 503): sending the request again in 2 s, attempt {attempt} of 3")
    };

    proxy.partition();
    let started = std::time::Instant::now();
    let held_out = tokio::task::spawn_blocking({
        let env = env.clone();
        move || scanfail(&count, &env, None)
    })
    .await
    .unwrap();
    // Two waits of the 2 s the answers named (a client that did not wait would be done at once).
    assert!(started.elapsed() >= Duration::from_secs(4), "the held-out run took {:?}", started.elapsed());
    let lines: Vec<&str> = held_out.stderr.lines().collect();
    assert_eq!((held_out.code, lines.len()), (7, 3), "{held_out:?}");
    assert_eq!((lines[0], lines[1]), (note(2).as_str(), note(3).as_str()), "{held_out:?}");
    assert!(
        lines[2].starts_with(
            "scanfail: the API failed (HTTP 503): the table is busy or out of reach for now (DynamoDB throttled the \
             request, or it kept meeting other writes of the same items): send it again in 2 s; quote request id \""
        ),
        "{held_out:?}"
    );

    let healed = tokio::task::spawn_blocking({
        let proxy = proxy.clone();
        move || {
            let mut child = command(&count, &env, None)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let mut said = Vec::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let line = line.unwrap();
                if said.is_empty() {
                    // The first answer was the 503: the network comes back during the wait.
                    proxy.heal();
                }
                said.push(line);
            }
            let out = child.wait_with_output().unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stdout).trim().to_owned(), said)
        }
    })
    .await
    .unwrap();
    assert_eq!(healed, (Some(0), r#"{"count":0}"#.to_owned(), vec![note(2)]));
}

/// A fresh table holding [`integration_tests::matches_across_a_read_bound`], and the api on it
/// for a writer, reading at most 100 index entries a request.
async fn seeded_api_at_a_bound_of_100(prefix: &str) -> (scan_failures_aws::dynamo::Store, Watch) {
    let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), prefix).await;
    let now = time::OffsetDateTime::now_utc();
    integration_tests::seed_groups(&store, &integration_tests::matches_across_a_read_bound(now)).await;
    let watch = Watch::start(
        &["api"],
        store.table(),
        &[("LOCAL_PRINCIPAL", ADMIN), ("ADMIN_WRITE_PRINCIPALS", ADMIN), ("API_MAX_ITEMS_READ", "100")],
        None,
    );
    (store, watch)
}

/// A shell's environment for the admin commands against the api on `port` (no bus).
fn api_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("SCANFAIL_ENDPOINT", format!("http://127.0.0.1:{port}/lambda-url/api")),
    ]
}

/// `scanfail events list --cursor` starts where an earlier listing's page ended, alone or with
/// `--all`: the two listings hold every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_goes_on_from_the_cursor_an_earlier_one_answered() {
    let (_store, watch) = seeded_api_at_a_bound_of_100("cli-list-cursor").await;
    let env = api_env(watch.port);
    let list = |extra: &[&str]| {
        let mut args = vec!["events", "list", "--repository", "quay.io/acme/small", "--limit", "2", "--output", "json"];
        args.extend_from_slice(extra);
        let ran = scanfail(&args, &env, None);
        assert_eq!(ran.code, 0, "{ran:?}");
        serde_json::from_str::<Value>(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"))
    };
    let names = |answer: &Value| -> Vec<String> {
        answer["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = list(&[]);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = list(&["--cursor", &cursor]);
    let rest = list(&["--cursor", &cursor, "--all"]);
    assert_eq!(rest.get("nextCursor"), None, "{rest}");
    let mut seen = names(&first);
    assert_eq!(names(&second), names(&rest)[..2]);
    seen.extend(names(&rest));
    let mut expected: Vec<String> = (120..125).map(|n| format!("quay.io/acme/small:{n}")).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

/// `scanfail events triage` without `--note` keeps the event's note, as the console does
/// (before, the API's contract cleared it: a change of state alone erased another
/// administrator's note); it sends the version it read, so a stale `--if-version` still
/// refuses; `--clear-note` removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_triage_without_a_note_keeps_the_events_note_and_clear_note_removes_it() {
    let (store, watch) = seeded_api_at_a_bound_of_100("cli-triage-note").await;
    let env = api_env(watch.port);
    let id = integration_tests::all_groups(&store).await[0].id.clone();
    let triage = |extra: &[&str]| {
        let mut args = vec!["events", "triage", id.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", "json"]);
        scanfail(&args, &env, None)
    };
    let shown = |ran: &Ran| -> (i32, Option<String>, Option<String>, Option<u64>) {
        let answer: Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"));
        let t = &answer["event"]["scanFailure"]["triage"];
        (ran.code, t["state"].as_str().map(str::to_owned), t["note"].as_str().map(str::to_owned), t["version"].as_u64())
    };
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        shown(&triage(&["--state", "acknowledged", "--note", "tracked in SEC-1"])),
        (0, s("acknowledged"), s("tracked in SEC-1"), Some(1))
    );
    assert_eq!(shown(&triage(&["--state", "resolved"])), (0, s("resolved"), s("tracked in SEC-1"), Some(2)));
    let stale = triage(&["--state", "open", "--if-version", "1"]);
    assert_eq!(stale.code, 6, "{stale:?}");
    assert!(stale.stderr.starts_with("scanfail: refused (HTTP 409): "), "{stale:?}");
    assert_eq!(shown(&triage(&["--state", "open", "--clear-note"])), (0, s("open"), None, Some(3)));
    let both = triage(&["--state", "open", "--clear-note", "--note", "x"]);
    assert_eq!(both.code, 2, "a usage error is clap's: {both:?}");
}

/// `scanfail events delete` goes on from each answer's cursor: a cleanup whose matches lie past
/// the API's read bound, and in a second repository, is deleted whole in one command (before,
/// the CLI repeated the request from the start, and the API answered 400 `too broad` once the
/// matches it could reach were gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_matches_lie_past_the_read_bound_follows_the_cursor_to_the_end() {
    let (store, watch) = seeded_api_at_a_bound_of_100("cli-delete").await;
    let env = api_env(watch.port);
    let args = [
        "events",
        "delete",
        "--repository",
        "quay.io/acme/big",
        "--repository",
        "quay.io/acme/small",
        "--reason",
        "TIMEOUT",
        "--yes",
        "--output",
        "json",
    ];
    let ran = tokio::task::spawn_blocking(move || scanfail(&args, &env, None)).await.unwrap();
    assert_eq!((ran.code, ran.stdout.trim()), (0, r#"{"deleted":25,"kept":0,"more":false}"#), "{ran:?}");
    let left = integration_tests::all_groups(&store).await;
    assert_eq!((left.len(), left.iter().all(|g| g.reason == "RATE_LIMITED")), (100, true));
}

/// A cleanup whose second round fails says what its first round deleted before the error
/// (before, only the error: the 10 deletions, which cannot be undone, went unsaid). The failure
/// is real: a group item past the first round's read bound that no reader can decode (its
/// occurrence count is text), so the second round's read answers 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_fails_partway_says_what_it_deleted_before_the_failure() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (store, watch) = seeded_api_at_a_bound_of_100("cli-delete-fails").await;
    // Group 115: a TIMEOUT of `big` past the first round's 100 entries.
    let all = integration_tests::all_groups(&store).await;
    let spoilt = all.iter().find(|g| g.resource_name.ends_with(":115")).map(|g| g.id.clone()).unwrap();
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("{}{spoilt}", scan_failures_aws::dynamo::GROUP_KEY_PREFIX)))
        .update_expression("SET numOccurrences = :s")
        .expression_attribute_values(":s", AttributeValue::S("many".into()))
        .send()
        .await
        .unwrap();
    let env = api_env(watch.port);
    let args =
        ["events", "delete", "--repository", "quay.io/acme/big", "--reason", "TIMEOUT", "--yes", "--output", "json"];
    let ran = tokio::task::spawn_blocking(move || scanfail(&args, &env, None)).await.unwrap();
    assert_eq!((ran.code, ran.stdout.as_str()), (7, ""), "{ran:?}");
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{ran:?}");
    assert_eq!(lines[0], "scanfail: deleted 10 event(s) (and kept 0) before the failure below: delete again to go on");
    assert!(
        lines[1].starts_with("scanfail: the API failed (HTTP 500): the request could not be served; quote request id"),
        "{ran:?}"
    );
    assert_eq!(integration_tests::group_items(&store).await.len(), 115, "the first round's 10 deleted");
}

/// `--stack NAME` reads the API's URL from the stack's `ApiUrl` output (moto's CloudFormation);
/// a missing stack and a stack without that output are one line each, exit 6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_name_stands_for_its_api_url() {
    let stack = Stack::start().await;
    let cfn = aws_sdk_cloudformation::Client::new(&integration_tests::bus::moto_config(&stack.moto.endpoint));
    let api = format!("http://127.0.0.1:{}/lambda-url/api", stack.watch.port);
    for (name, outputs) in
        [("scan-failures", json!({"ApiUrl": {"Value": api}})), ("other", json!({"QueueUrl": {"Value": "x"}}))]
    {
        let template = json!({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs});
        cfn.create_stack().stack_name(name).template_body(template.to_string()).send().await.unwrap();
    }
    // An endpoint exported earlier (as `make local` suggests) does not block `--stack`, nor win over it.
    let mut env: Vec<(&str, String)> = stack.env().into_iter().filter(|(k, _)| *k != "SCANFAIL_ENDPOINT").collect();
    env.push(("SCANFAIL_ENDPOINT", "http://127.0.0.1:9/not-the-api".to_owned()));
    env.push(("AWS_ENDPOINT_URL_CLOUDFORMATION", stack.moto.endpoint.clone()));
    let ran = scanfail(&["events", "count", "--stack", "scan-failures", "--output", "json"], &env, None);
    assert_eq!((ran.code, ran.stdout.trim()), (0, r#"{"count":0}"#), "{ran:?}");
    let ran = scanfail(&["events", "count", "--stack", "missing"], &env, None);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (6, "scanfail: no stack \"missing\" in this account and region (set AWS_REGION or the profile's region)\n"),
        "{ran:?}"
    );
    let ran = scanfail(&["events", "count", "--stack", "other"], &env, None);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (6, "scanfail: the stack \"other\" has no ApiUrl output: is it a scan-failures stack?\n"),
        "{ran:?}"
    );
}

/// `scanfail run` of a scanner that traps `signal` (saying "got SIGNAL" and exiting 7), its
/// command given `setup`, sent `signal` once the scanner runs: the run's exit code and standard
/// error. The scanner ends by itself after 30 s, whatever happens to the test.
fn signalled_run(signal: &str, setup: impl FnOnce(&mut std::process::Command)) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(unique_name(&format!("sig{signal}")));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready");
    let script = format!(
        "trap 'echo got {signal} >&2; exit 7' {signal}; touch {}; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
        ready.display()
    );
    let mut run = command(
        &["run", "--operation", "image-scan", "--image", "quay.io/acme/web:1", "--", "sh", "-c", &script],
        &[],
        None,
    );
    setup(&mut run);
    let child = run.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "the scanner did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent =
        std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    ended_within(child, Duration::from_secs(20))
}

/// `docker stop` and CI runners signal the process they started, not its children: a SIGTERM to
/// `scanfail run` reaches the scanner, which ends its own way, and `scanfail` exits with the
/// scanner's code (it died of the signal before, leaving the scanner running). A cancelled scan
/// is no scan failure: nothing is reported (before, the scanner's exit 7 was published as one).
#[test]
fn a_sigterm_to_scanfail_run_reaches_the_scanner_and_its_code_is_kept() {
    let (code, stderr) = signalled_run("TERM", |_| {});
    assert_eq!(code, Some(7), "{stderr}");
    assert_eq!(
        stderr,
        "got TERM\nscanfail: sh was stopped by SIGTERM: a cancelled scan is no scan failure; nothing reported\n"
    );
}

/// A SIGINT sent to `scanfail` alone (a supervisor's `kill -INT`, a container's `STOPSIGNAL
/// SIGINT`: here `scanfail` leads its own process group, in no terminal's foreground) reaches
/// the scanner, and the cancelled scan is not reported. Before, it was caught and never passed
/// on: the scanner ran on until it ended by itself.
#[test]
fn a_sigint_sent_to_scanfail_alone_reaches_the_scanner() {
    use std::os::unix::process::CommandExt as _;
    let (code, stderr) = signalled_run("INT", |run| {
        run.process_group(0).stdin(std::process::Stdio::null());
    });
    assert_eq!(code, Some(7), "{stderr}");
    assert_eq!(
        stderr,
        "got INT\nscanfail: sh was stopped by SIGINT: a cancelled scan is no scan failure; nothing reported\n"
    );
}

/// A scanner whose output goes to a reader that stops reading (`scanfail run -- roxctl … | head`)
/// dies of SIGPIPE: its scan did not fail, and nothing is reported, though the bus would take
/// it. Before, exit 141 was published as a failed scan of reason UNKNOWN.
#[test]
fn a_scanner_ended_by_sigpipe_from_its_reader_is_no_scan_failure() {
    use std::io::Read as _;
    let env: Vec<(&str, String)> = vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        (
            "AWS_ENDPOINT_URL_EVENTBRIDGE",
            format!("http://127.0.0.1:{}", answering(r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}"#)),
        ),
        ("SCANFAIL_BUS", "scan-failures".into()),
    ];
    let args = ["run", "--operation", "image-scan", "--image", "quay.io/acme/web:1", "--", "sh", "-c", "exec yes"];
    let mut child = command(&args, &env, None)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader takes what it wants and goes: `| head -c 16`.
    let mut taken = [0_u8; 16];
    child.stdout.take().unwrap().read_exact(&mut taken).unwrap();
    assert_eq!(&taken, b"y\ny\ny\ny\ny\ny\ny\ny\n");
    let (code, stderr) = ended_within(child, Duration::from_secs(60));
    assert_eq!(code, Some(141), "{stderr}");
    assert_eq!(
        stderr,
        "scanfail: sh was ended by SIGPIPE: what read its output stopped reading, which is no scan failure; nothing reported\n"
    );
}

/// `--stack` without a region is a usage error naming the region, exit 2 as the exit-code table
/// says. Before, the stack lookup failed to resolve CloudFormation's endpoint and said it could
/// not reach CloudFormation, exit 4.
#[test]
fn a_stack_named_without_a_region_is_a_usage_error_naming_the_region() {
    let env: Vec<(&str, String)> =
        vec![("AWS_ACCESS_KEY_ID", "testing".into()), ("AWS_SECRET_ACCESS_KEY", "testing".into())];
    let ran = scanfail(&["events", "count", "--stack", "prod"], &env, None);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (2, "scanfail: no region: neither the endpoint's host nor the configuration names one; set AWS_REGION or the profile's region\n"),
        "{ran:?}"
    );
}

/// `--stack` with a carriage return in the region (a variable pasted with one) is the same exit 3
/// and line as without `--stack`. Before, the region was checked only after the stack lookup,
/// which an endpoint override let reach the SDK's signer: it answered exit 6 with an empty
/// reason ("CloudFormation refused to describe \"prod\": :").
#[test]
fn a_stack_named_with_a_control_character_in_the_region_is_refused_before_the_lookup() {
    let env: Vec<(&str, String)> = vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "eu-west-1\r".into()),
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", "http://127.0.0.1:9".into()),
    ];
    let ran = scanfail(&["events", "count", "--stack", "prod"], &env, None);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (3, "scanfail: the AWS region holds a control character (a stray newline or carriage return in its variable or profile?)\n"),
        "{ran:?}"
    );
}

/// `events list --all` whose later page fails prints the events of the pages before it and the
/// failed page's cursor, then the failure with its exit code, so the listing goes on from there.
/// Before, the pages read were dropped and no cursor was given. A stand-in endpoint answers
/// (no local API fails on a chosen page).
#[test]
fn a_listing_whose_later_page_fails_prints_what_it_read_and_where_to_go_on() {
    let listed = |output: &str| {
        let port = answering_in_turn(
            "application/json",
            vec![
                (200, r#"{"events":[{"id":"e-1"}],"nextCursor":"c1"}"#),
                (500, r#"{"error":"INTERNAL","message":"boom"}"#),
            ],
        );
        scanfail(&["events", "list", "--all", "--output", output], &api_env(port), None)
    };
    let ran = listed("json");
    assert_eq!(ran.code, 7, "{ran:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&ran.stdout).ok(),
        Some(json!({"events": [{"id": "e-1"}], "nextCursor": "c1"})),
        "{ran:?}"
    );
    assert_eq!(
        ran.stderr.lines().next(),
        Some("scanfail: listed 1 events in 1 page(s) before the failure below: go on with --cursor c1"),
        "{ran:?}"
    );
    assert!(ran.stderr.lines().nth(1).is_some_and(|l| l.starts_with("scanfail: the API failed (HTTP 500)")), "{ran:?}");

    // As a table, the line is said once, on standard error, as in JSON. Before, the table on
    // standard output ended with it too, and a terminal showed it twice.
    let ran = listed("table");
    assert_eq!(ran.code, 7, "{ran:?}");
    assert!(!ran.stdout.contains("go on with"), "{ran:?}");
    assert!(ran.stdout.contains("e-1"), "{ran:?}");
    assert_eq!(ran.stderr.matches("go on with --cursor c1").count(), 1, "{ran:?}");
}

/// An endpoint that accepts connections and never answers (a proxy or a firewall holding them):
/// its port, and how many connections it has accepted.
fn black_hole() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted)
}

/// An endpoint that answers every request with `body` (status 200): what no local bus answers.
fn answering(body: &'static str) -> u16 {
    answering_in_turn("application/x-amz-json-1.1", vec![(200, body)])
}

/// An endpoint that answers its requests with `answers` (status, body of `content_type`) in
/// turn, the last to every later one: what no local server answers on a chosen request.
fn answering_in_turn(content_type: &'static str, answers: Vec<(u16, &'static str)>) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().flatten().enumerate() {
            let (status, body) = answers[n.min(answers.len() - 1)];
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            let head = format!("HTTP/1.1 {status} Answer\r\nContent-Type: {content_type}\r\nConnection: close");
            let _ = write!(&stream, "{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        }
    });
    port
}

/// A `PutEvents` answer that names no failed entry but gives the entry no event id (here, no
/// entries at all, with a failed count of 1) is not a report on the bus: the run says so and
/// the scanner's code stands. Before, every entry without an error code counted as reported,
/// and the run said nothing. No local bus answers so: a stand-in endpoint does.
#[test]
fn an_answer_without_an_event_id_for_the_entry_is_not_counted_as_reported() {
    for body in [r#"{"FailedEntryCount":1,"Entries":[]}"#, r#"{"FailedEntryCount":0,"Entries":[{}]}"#] {
        let (code, stderr) = ended_within(failing_scan_reporting_to(answering(body)), Duration::from_secs(90));
        assert_eq!(code, Some(3), "{body}: {stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some(
                "scanfail: the scan failed and was not reported: 1 of 1 events were not accepted: NoEventId: the bus \
                 answered no event id and no error for it"
            ),
            "{body}"
        );
    }
}

/// `scanfail run` of a scanner that fails (exit 3), reporting to the EventBridge endpoint on `port`.
fn failing_scan_reporting_to(port: u16) -> std::process::Child {
    let env: Vec<(&str, String)> = vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("http://127.0.0.1:{port}")),
        ("SCANFAIL_BUS", "scan-failures".into()),
    ];
    let args = [
        "run",
        "--operation",
        "image-scan",
        "--image",
        "quay.io/acme/web:1",
        "--",
        "sh",
        "-c",
        "echo 'context deadline exceeded' >&2; exit 3",
    ];
    command(&args, &env, None).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()
}

/// Waits for `child` to end, killing it and failing after `within` (it hung).
fn ended_within(mut child: std::process::Child, within: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {within:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A bus endpoint that never answers is given up (the SDK has no timeout of its own: the run
/// waited for ever), and the scanner's code stands.
#[test]
fn a_bus_that_never_answers_is_given_up_and_the_scanners_code_stands() {
    let (port, accepted) = black_hole();
    let (code, stderr) = ended_within(failing_scan_reporting_to(port), Duration::from_secs(90));
    assert!(accepted.load(Ordering::SeqCst) > 0, "the report went to the black hole");
    assert_eq!(code, Some(3), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("scanfail: the scan failed and was not reported: "), "{stderr}");
}

/// SIGTERM while the report is being sent ends the run at once, saying so (the scanner's signal
/// handling had made it deaf to a second `docker stop` until the calls ended).
#[test]
fn a_stop_signal_while_reporting_ends_the_run() {
    let (port, accepted) = black_hole();
    let child = failing_scan_reporting_to(port);
    let started = Instant::now();
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the report was never sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let (code, stderr) = ended_within(child, Duration::from_secs(60));
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.ends_with("scanfail: stopped by SIGTERM while reporting: the failed scan may not have been reported\n"),
        "{stderr}"
    );
}
