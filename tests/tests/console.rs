//! `scanfail console` in headless chromium against the local stack: DynamoDB Local holding
//! failures recorded by the ingest handler, the api function behind `cargo lambda watch` (as a
//! writer, or as a viewer), and the `scanfail console` binary signing the page's calls. Each
//! view loads the local data, a filter narrows the list, paging walks every event once, the
//! chart draws what the trend route answers, a writer's triage shows in the history, a
//! viewer's write attempt reads "view permission only", and the browser's console reports no
//! error. The screenshots in the README and the book are taken here
//! (`SCANFAIL_SCREENSHOTS=docs/src/screenshots`).

mod browser;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use browser::Page;
use integration_tests::cli::command;
use integration_tests::{dynamodb_client, dynamodb_endpoint, fixtures, fresh_store_on, repo_root, Reaped, Watch};
use scan_failures_domain::classify::Reason;
use scan_failures_domain::retention::RetentionDays;
use serde_json::{json, Value};
use time::OffsetDateTime;

const WRITER: &str = "arn:aws:iam::123456789012:role/SecurityAdmin";
const VIEWER: &str = "arn:aws:iam::123456789012:role/SecurityViewer";
/// What the page says when a write is refused (cli/console/api.js).
const VIEW_ONLY: &str = "Your IAM identity has view permission only: ask for it to be added to the stack's \
                         AdminWritePrincipals to triage, delete or change the retention.";
const IMAGES: usize = 25;
const REASONS: [Reason; 5] =
    [Reason::RegistryUnauthorized, Reason::ImageNotFound, Reason::Timeout, Reason::RateLimited, Reason::Unknown];

/// Image `k` of the workload.
fn image(k: usize) -> String {
    format!("quay.io/acme/svc-{k}:1.{k}")
}

/// Image `k` fails `1 + k % 3` times with reason `k % 5`, the latest `2k` hours ago, from
/// cluster `prod-{k % 3}`, deployment `shop/svc-{k}`, by the CI role with roxctl.
fn workload(now: OffsetDateTime) -> Vec<Value> {
    let mut sent = Vec::new();
    for k in 0..IMAGES {
        for j in 0..(1 + k % 3) {
            let at = scan_failures_domain::time_fmt::format(
                now - time::Duration::hours(2 * k as i64) - time::Duration::minutes(10 * j as i64 + 1),
            );
            let reason = REASONS[k % 5];
            let mut detail = fixtures::failure_at(
                ["image scan", "image check"][j % 2],
                ["roxctl", "api"][k % 2],
                &image(k),
                &format!("scanning {}: {} (attempt {j})", image(k), reason.title()),
                &at,
            );
            detail["error"]["code"] = reason.code().into();
            detail["cluster"] = format!("prod-{}", k % 3).into();
            detail["deployment"] = json!({"namespace": "shop", "name": format!("svc-{k}")});
            detail["initiator"] =
                json!({"id": "arn:aws:iam::123456789012:role/ci-scanner", "userAgent": "roxctl/4.7.0"});
            sent.push(fixtures::envelope(&format!("console-{k}-{j}"), "com.example.ci", &at, detail));
        }
    }
    sent
}

fn failures_of(k: usize) -> u64 {
    1 + (k % 3) as u64
}

/// The api as `principal` (a writer or a viewer), and `scanfail console` in front of it.
struct Console {
    /// The api the console relays to (`None`: a stand-in of the test's).
    _watch: Option<Watch>,
    /// Killed on drop, also when the test fails before the console is whole.
    process: Reaped,
    url: String,
}

impl Console {
    fn start(table: &str, principal: &str) -> Self {
        Self::start_with(table, principal, &[])
    }

    /// [`Self::start`] with the api's environment extended by `extra`.
    fn start_with(table: &str, principal: &str, extra: &[(&str, &str)]) -> Self {
        Self::spawn(table, principal, extra, Stdio::inherit())
    }

    /// [`Self::start`] with the console's standard error written to `log`.
    fn start_logged(table: &str, principal: &str, log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        Self::spawn(table, principal, &[], Stdio::from(file))
    }

    fn spawn(table: &str, principal: &str, extra: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut vars = vec![
            ("LOCAL_PRINCIPAL", principal),
            ("ADMIN_VIEW_PRINCIPALS", VIEWER),
            ("ADMIN_WRITE_PRINCIPALS", WRITER),
            ("RETENTION_DAYS", "30"),
        ];
        vars.extend_from_slice(extra);
        let watch = Watch::start(&["api"], table, &vars, None);
        let endpoint = format!("http://127.0.0.1:{}/lambda-url/api", watch.port);
        Self::relaying_to(Some(watch), &endpoint, stderr)
    }

    /// The console in front of the server at `endpoint` (`watch`: the api, kept running).
    fn relaying_to(watch: Option<Watch>, endpoint: &str, stderr: Stdio) -> Self {
        let env = vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("SCANFAIL_ENDPOINT", endpoint.to_owned()),
        ];
        let mut process = Reaped(
            command(&["console", "--port", "0"], &env, None)
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("start scanfail console: {e}")),
        );
        // Only the first line is read, then the pipe is closed: the console must go on serving.
        let stdout = process.stdout.take().expect("the console's stdout");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).expect("the console prints its URL");
        let url =
            first.trim().strip_prefix("scanfail console: ").unwrap_or_else(|| panic!("no URL in {first:?}")).to_owned();
        Self { _watch: watch, process, url }
    }

    /// The console's address without the token (the tab keeps it after the first load).
    fn base(&self) -> &str {
        self.url.split_once("/#token=").map_or(&self.url, |(base, _)| base)
    }

    /// The token of the printed URL.
    fn token(&self) -> &str {
        self.url.split_once("#token=").map_or("", |(_, token)| token)
    }

    /// `page` at `#/{fragment}`, once its view has rendered.
    fn show(&self, page: &Page, fragment: &str) {
        page.goto(&format!("{}/#/{fragment}", self.base()));
        page.wait_view(fragment.split(['?', '/']).next().unwrap_or_default());
    }
}

/// A fresh table holding the workload, recorded by the ingest handler as it would be.
async fn recorded(prefix: &str) -> String {
    let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), prefix).await;
    let ingest = ingest::handler::Ingest::new(store.clone(), RetentionDays::new(30).unwrap());
    for envelope in workload(OffsetDateTime::now_utc()) {
        ingest.handle(envelope).await.unwrap();
    }
    store.table().to_owned()
}

/// A page of the console: the printed URL opened (the page keeps its token), then `view` rendered.
fn open(console: &Console, view: &str, height: u32) -> Page {
    let page = Page::open(height);
    page.goto(&console.url);
    page.wait_view("overview");
    console.show(&page, view);
    page
}

/// Where screenshots go: `target/console-screenshots/`, and `$SCANFAIL_SCREENSHOTS` when set
/// (the README's and the book's are taken with `SCANFAIL_SCREENSHOTS=docs/src/screenshots`).
fn keep_screenshot(page: &Page, name: &str) {
    let png = page.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 1280, "{name} is as wide as the window");
    let mut dirs = vec![repo_root().join("target/console-screenshots")];
    if let Ok(dir) = std::env::var("SCANFAIL_SCREENSHOTS") {
        dirs.push(repo_root().join(dir));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(&dir).join(format!("{name}.png")), &png).unwrap();
    }
}

/// The API's own answer to `path`, fetched by the page through the console with the token the
/// page keeps.
fn api(page: &Page, path: &str) -> Value {
    page.eval(&format!(
        "fetch({}, {{headers: {{'x-scanfail-token': sessionStorage.getItem('scanfail-console-token')}}}}).then((r) => r.json())",
        Value::from(path)
    ))
}

/// The request heads a server on a free port of 127.0.0.1 receives until one asks for `/`
/// (a browser may open a connection ahead and send nothing on it); each answered with a page.
fn another_server_on_the_host() -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = std::thread::spawn(move || {
        let mut heads = Vec::new();
        for stream in listener.incoming().take(10) {
            let mut stream = stream.unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nelsewhere",
            );
            let asked_for_the_root = head.starts_with("GET / ");
            heads.push(head);
            if asked_for_the_root {
                break;
            }
        }
        heads
    });
    (port, heads)
}

/// A stand-in for the API on a free port: every request's line (`GET /v1/…?… HTTP/1.1`) is
/// answered with `answer`'s status and JSON body. For answers the local api gives only at a
/// scale or a fault a test cannot reach (an empty page that goes on, a summary out of time,
/// API Gateway's own refusal).
fn stand_in_api(answer: fn(&str) -> (u16, String)) -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let (status, body) = answer(head.lines().next().unwrap_or_default());
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    port
}

/// What the console shows for answers the local api does not give at this scale: a page of no
/// events that has a cursor (a filter the indexes do not cover reads a bounded number of
/// records: none of those matched) says so and links the next page, rather than "no event
/// matches"; a summary's detail out of time (503) leaves the rest of the overview standing;
/// API Gateway's own 403 is shown with its message (an expired signature reads as such); a
/// shared link's time with an offset is shown in UTC, to the second; a malformed escape in an
/// event link does not stop the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_scale_and_faults_read_as_what_they_are() {
    fn answer(line: &str) -> (u16, String) {
        let totals = r#""totals":{"groups":3,"occurrences":7},"byReason":{"TIMEOUT":{"groups":3,"occurrences":7}},"byLevel":{},"byOperation":{},"byOrigin":{},"truncated":[]"#;
        match line.split(' ').nth(1).unwrap_or_default() {
            // A reason this console's catalog does not know (an API newer than it).
            p if p.starts_with("/v1/administration/events/trend") => (
                200,
                r#"{"from":"2026-11-25","until":"2026-11-25","completeFrom":"2026-11-25","totals":{"occurrences":5,"newGroups":1},"series":[{"date":"2026-11-25","occurrences":5,"newGroups":1,"byReason":{"NEW_REASON":{"occurrences":5,"newGroups":1}}}]}"#.to_owned(),
            ),
            p if p.starts_with("/v1/administration/events/summary") && p.contains("summary.detail=true") => (
                503,
                r#"{"code":503,"error":"unavailable","message":"the request did not finish in time: narrow it, or send it again later"}"#.to_owned(),
            ),
            p if p.starts_with("/v1/administration/events/summary") => {
                (200, format!(r#"{{{totals},"omitted":["topImages","accounts","byCluster"]}}"#))
            }
            p if p.starts_with("/v1/count/") => (200, r#"{"count":3}"#.to_owned()),
            // The next page takes its time (a broad filter read to its bound).
            p if p.contains("pagination.cursor=c2") => {
                std::thread::sleep(std::time::Duration::from_secs(3));
                (200, r#"{"events":[]}"#.to_owned())
            }
            p if p.starts_with("/v1/administration/events?") => (200, r#"{"events":[],"nextCursor":"c2"}"#.to_owned()),
            _ => (403, r#"{"message":"Signature expired: 20261125T100000Z is now earlier than 20261125T100100Z"}"#.to_owned()),
        }
    }
    let port = stand_in_api(answer);
    let console = Console::relaying_to(None, &format!("http://127.0.0.1:{port}"), Stdio::inherit());
    let page = open(&console, "overview", 1000);
    assert!(page.text("#totals").starts_with("3 failure groups, 7 failed scans"), "{}", page.text("#totals"));
    assert_eq!(
        page.text("#top-images"),
        "Top images and the account drill-down: the request did not finish in time: narrow it, or send it again later"
    );

    console.show(&page, "events?filter.search=x");
    assert!(page.eval("!!document.getElementById('next-page')") == json!(true));
    assert_eq!(page.text(".events .note"), "No event matched in the records this page read; the next page reads on.");
    // While the next page loads, the page before it stays dimmed (before, it stood as it was,
    // under the new page's URL, for as long as the answer took).
    page.click("#next-page");
    page.wait("document.getElementById('view').getAttribute('aria-busy') === 'true'", "the next page asked for");
    assert_eq!(page.eval("getComputedStyle(document.querySelector('#view > *')).opacity"), json!("0.45"));
    page.wait("document.getElementById('view').getAttribute('aria-busy') === 'false'", "the next page shown");

    // The trend draws a reason the catalog does not know, by its code (it was left out: no bar,
    // "0 failed scans" in the chart, against the totals' 5).
    console.show(&page, "trend");
    assert_eq!(
        page.eval("document.querySelectorAll('figure svg')[0].getAttribute('aria-label')"),
        json!("Failed scans per day, by reason: 5 failed scans over 1 days")
    );
    assert_eq!(page.eval("document.querySelectorAll('figure')[0].querySelectorAll('rect').length"), json!(1));
    assert_eq!(page.text("figure .legend"), "NEW_REASON");

    console.show(&page, "events?filter.from=2026-11-25T10:00:30%2B02:00&filter.until=2026-11-25T12:00:00.5");
    assert_eq!(page.eval("document.getElementById('f-from').value"), json!("2026-11-25T08:00:30"));
    // The browser writes the input's value without trailing zeros.
    assert_eq!(page.eval("document.getElementById('f-until').value"), json!("2026-11-25T12:00:00.5"));

    console.show(&page, "event/abc");
    assert!(
        page.text("#problem").contains("API Gateway said: Signature expired: 20261125T100000Z"),
        "{}",
        page.text("#problem")
    );
    // Shown (the router went on), with the console's own refusal of a path with an escape.
    console.show(&page, "event/%E0");
    assert_eq!(page.text("#problem"), "not a console page or an API route");
    // The browser logs the answers that failed (as it should), and no script error.
    let errors = page.errors();
    assert!(errors.iter().all(|e| e.starts_with("log: Failed to load resource: ")), "{errors:?}");
    assert_eq!(errors.len(), 4, "{errors:?}");
}

/// Another server of 127.0.0.1 that the admin's browser visits while the console is open (a
/// page of another local user's, say) receives nothing of the console's token. The console once
/// traded it for a cookie, and a browser sends a host's cookies to every port of it: that server
/// could then have called the API with the admin's credentials through the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_other_server_on_the_host_that_the_browser_visits_receives_the_consoles_token() {
    let table = recorded("console-token").await;
    let console = Console::start(&table, WRITER);
    assert_eq!(console.token().len(), 64, "{}", console.url);
    let page = open(&console, "events", 1000);
    assert_eq!(page.text("#matching"), format!("{IMAGES} matching events."));
    let (port, heads) = another_server_on_the_host();
    page.goto(&format!("http://127.0.0.1:{port}/"));
    let heads = heads.join().unwrap();
    assert!(heads.last().is_some_and(|h| h.starts_with("GET / HTTP/1.1")), "{heads:?}");
    for head in &heads {
        assert!(!head.contains(console.token()), "the token reached another port of the host:\n{head}");
    }
    // Back on the console, the tab still has its token.
    console.show(&page, "events");
    assert_eq!(page.text("#matching"), format!("{IMAGES} matching events."));
}

/// Another local user can connect to the console's port (it is on 127.0.0.1, open to every
/// user of the machine). Connections that send nothing, more than the process may open files
/// (its limit lowered with `prlimit` to 8 above what it holds), do not stop it: it says it
/// could not accept (once, on its standard error), goes on once they close, and answers the
/// page's next call. And one that stays silent is closed by the console after `READ_TIMEOUT`.
/// Before, the first failed accept ended the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_past_the_consoles_file_limit_do_not_stop_it() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let table = recorded("console-flood").await;
    let log = std::env::temp_dir().join(integration_tests::unique_name("console-flood")).with_extension("log");
    let mut console = Console::start_logged(&table, WRITER, &log);
    let pid = console.process.id();
    let port: u16 = console.base().rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap();
    let held = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let limit = format!("--nofile={0}:{0}", held + 8);
    let lowered = std::process::Command::new("prlimit").args(["--pid", &pid.to_string(), &limit]).status();
    assert!(lowered.is_ok_and(|s| s.success()), "prlimit (Debian's util-linux: apt-get install util-linux) {limit}");
    let silent: Vec<TcpStream> = (0..16).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    // Until the console has taken all it can and failed to accept the next.
    let fd_count = || std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let refused = "could not accept a connection (Too many open files (os error 24)); trying again";
    let started = Instant::now();
    while !(fd_count() >= held + 8 && said().contains(refused)) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the console never reached its file limit ({} of {} files) or never said {refused:?}: {}",
            fd_count(),
            held + 8,
            said()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The fault happened, was said once (not once per try), and the console is still running.
    assert_eq!(said().matches(refused).count(), 1, "{}", said());
    assert_eq!(console.process.try_wait().unwrap(), None, "the console stopped at the failed accept");
    drop(silent);
    let call = |path: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Scanfail-Token: {}\r\nConnection: close\r\n\r\n",
            console.token()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let answer = call("/v1/count/administration/events");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A connection that stays silent is closed by the console, its place freed.
    let mut quiet = TcpStream::connect(("127.0.0.1", port)).unwrap();
    quiet.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = quiet.read(&mut buf);
    let waited = started.elapsed();
    // Closed (`Ok(0)`) before the client's own 30 s read timeout, and not before the console's.
    assert!(matches!(read, Ok(0)), "closed, not answered: {read:?}");
    assert!(waited >= scanfail::console::READ_TIMEOUT - Duration::from_secs(1), "{waited:?}");
    let _ = std::fs::remove_file(&log);
}

/// A connection that asks for answers and reads none of them (another local user holding the
/// console's places: 256 such connections kept the page from being served for good) is closed
/// once an answer's write has waited `WRITE_TIMEOUT`, and its place freed. Shown on one: 4,000
/// pipelined requests for the largest asset, about 35 MB of answers, more than loopback's
/// buffers hold; the console's socket for it is gone from `/proc/<pid>/fd` no sooner than the
/// deadline after the writes stalled, and the answers that reached the client stop well short
/// of what was asked (the fault: the writes did stall).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_reads_no_answer_is_closed_after_the_write_deadline() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let table = recorded("console-stall").await;
    let console = Console::start(&table, WRITER);
    let pid = console.process.id();
    let port: u16 = console.base().rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap();
    let sockets = || {
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count()
        })
    };
    let before = sockets();
    let asset = scanfail::console::assets::Served::of("/events.js").map(|_| "/events.js").unwrap();
    let size = include_str!("../../cli/console/events.js").len();
    let asked = 4_000;
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request =
        format!("GET {asset} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Scanfail-Token: {}\r\n\r\n", console.token());
    // Written on a thread of its own: once the console stops reading, the requests' last bytes
    // wait in the buffers until it closes the connection.
    let mut writer = stalled.try_clone().unwrap();
    let requests = request.repeat(asked);
    std::thread::spawn(move || writer.write_all(requests.as_bytes()));
    let started = Instant::now();
    while sockets() == before {
        assert!(started.elapsed() < Duration::from_secs(5), "the console never accepted the connection");
        std::thread::sleep(Duration::from_millis(20));
    }
    while sockets() > before {
        assert!(started.elapsed() < Duration::from_secs(40), "the stalled connection was never closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let closed_after = started.elapsed();
    assert!(closed_after >= scanfail::console::WRITE_TIMEOUT - Duration::from_secs(1), "{closed_after:?}");
    stalled.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answered = Vec::new();
    let _ = stalled.read_to_end(&mut answered);
    assert!(answered.len() < asked * size / 2, "{} bytes of {} answered", answered.len(), asked * size);
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answered[..answered.len().min(200)])
    );
}

/// `--open` hands the desktop's opener (here a stand-in `xdg-open` first on the PATH, which
/// records what it was given) a redirect file in `$XDG_RUNTIME_DIR` that leads to the printed
/// URL; Ctrl-C (SIGINT) stops the console with success and removes the file at once, long
/// before its 30 s. (Before, the file stayed in the temporary directory for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_console_and_removes_the_redirect_file_of_open() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(integration_tests::unique_name("console-open-file"));
    let (bin, runtime) = (dir.join("bin"), dir.join("runtime"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, "#!/bin/sh\nprintf '%s' \"$1\" > \"$(dirname \"$0\")/opened\"\n").unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let table = recorded("console-ctrl-c").await;
    let watch = Watch::start(&["api"], &table, &[("LOCAL_PRINCIPAL", WRITER), ("ADMIN_VIEW_PRINCIPALS", VIEWER)], None);
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("SCANFAIL_ENDPOINT", format!("http://127.0.0.1:{}/lambda-url/api", watch.port)),
        ("XDG_RUNTIME_DIR", runtime.display().to_string()),
    ];
    let mut process = Reaped(
        command(&["console", "--port", "0", "--open"], &env, Some(&bin))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start scanfail console: {e}")),
    );
    let mut first = String::new();
    BufReader::new(process.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("scanfail console: ").unwrap().to_owned();
    let started = Instant::now();
    while !bin.join("opened").exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "the opener was not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    let page = PathBuf::from(std::fs::read_to_string(bin.join("opened")).unwrap());
    assert_eq!(page.parent(), Some(runtime.as_path()));
    assert!(std::fs::read_to_string(&page).unwrap().contains(&format!("url={url}\"")));
    let sent = std::process::Command::new("kill").args(["-INT", &process.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = process.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "Ctrl-C did not stop the console");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(!page.exists(), "the redirect file outlived the console");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--open` sends the browser through a file only the user can read, which the browser counts as
/// another site: the console it leads to loads and reads the API, and the token leaves the
/// address bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_opened_through_its_redirect_file_loads_and_reads_the_api() {
    let table = recorded("console-open").await;
    let console = Console::start(&table, WRITER);
    let dir = std::env::temp_dir().join(format!("scanfail-console-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = scanfail::console::launch::write_redirect(&dir, 1, &console.url).unwrap();
    let page = Page::open(1000);
    page.goto(&format!("file://{}", file.display()));
    page.wait("location.protocol === 'http:'", "the console's address");
    page.wait_view("overview");
    assert_eq!(page.eval("location.href"), json!(format!("{}/", console.base())));
    let occurrences: u64 = (0..IMAGES).map(failures_of).sum();
    assert!(
        page.text("#totals").starts_with(&format!("{IMAGES} failure groups, {occurrences} failed scans")),
        "{}",
        page.text("body")
    );
    assert_eq!(page.errors(), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_loads_the_local_data_the_chart_draws_and_the_browser_reports_no_error() {
    let table = recorded("console-views").await;
    let console = Console::start(&table, WRITER);
    let page = open(&console, "overview", 1700);
    // The keyboard reaches the skip link first, then the views.
    page.press("Tab");
    assert_eq!(page.eval("document.activeElement.textContent"), json!("Skip to the content"));
    page.press("Tab");
    assert_eq!(page.eval("document.activeElement.textContent"), json!("Overview"));

    // Overview: totals, each reason with its title and hint, the drill-down, the top images.
    let occurrences: u64 = (0..IMAGES).map(failures_of).sum();
    assert_eq!(
        page.text("#totals"),
        format!(
            "{IMAGES} failure groups, {occurrences} failed scans in the retention window (false positives left out)."
        )
    );
    let reasons = page.texts("#by-reason tbody tr");
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    for reason in REASONS {
        // The code on its own line (IMAGE_NOT_FOUND's hint names MANIFEST_UNKNOWN).
        let code = format!("\n{}\t", reason.code());
        let row = reasons.iter().find(|r| r.contains(&code)).unwrap_or_else(|| panic!("{reason:?} in {reasons:?}"));
        assert!(row.contains(reason.title()) && row.contains(reason.hint()), "{row}");
    }
    let top = page.texts("#top-images tbody tr");
    assert_eq!(top.len(), 20, "summary.top=20");
    assert!(top[0].starts_with("quay.io/acme/svc-"), "{top:?}");
    assert!(top[0].ends_with("\t1\t3"), "an image with 3 failures leads: {top:?}");
    // The drill-down opens with the keyboard: account, then registry, then its repositories.
    page.eval("document.querySelector('details.account summary').focus()");
    page.press("Enter");
    page.eval("document.querySelector('details.registry summary').focus()");
    page.press("Enter");
    page.wait("document.querySelector('details.registry').open", "the registry opened");
    let repositories = page.texts("details.registry table tbody tr");
    assert_eq!(repositories.len(), 20, "at most 20 repositories per registry: {repositories:?}");
    assert!(page.text("details.account summary").starts_with(&format!("Account 123456789012: {IMAGES} events")));
    keep_screenshot(&page, "overview");

    // Trend: 7, 30 and 90 days; the first chart has one segment per day and reason with
    // failures, exactly as the trend route answers.
    for days in [7, 30, 90] {
        console.show(&page, &format!("trend?days={days}"));
        let trend = api(&page, &format!("/v1/administration/events/trend?days={days}"));
        let expected: usize = trend["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["byReason"].as_object().unwrap().values().filter(|t| t["occurrences"] != 0).count())
            .sum();
        assert_eq!(trend["totals"]["occurrences"], occurrences, "every failure is in the last {days} days");
        assert_eq!(page.eval("document.querySelectorAll('figure')[0].querySelectorAll('g.day').length"), json!(days));
        assert_eq!(
            page.eval("document.querySelectorAll('figure')[0].querySelectorAll('rect').length"),
            json!(expected)
        );
        let drawn: f64 = serde_json::from_value(page.eval(
            "[...document.querySelectorAll('figure')[0].querySelectorAll('rect')].reduce((s, r) => s + r.getBBox().height, 0)",
        ))
        .unwrap();
        assert!(drawn > 100.0, "the bars have height: {drawn}");
        assert_eq!(page.eval("document.querySelectorAll('figure')[0].querySelectorAll('.legend li').length"), json!(5));
        // Each reason its own colour: UNKNOWN (the catalog's 13th) shared the 1st's,
        // REGISTRY_UNAUTHORIZED's, when colours went by the catalog's order.
        let fills = "[...new Set([...document.querySelectorAll('figure')[0].querySelectorAll('rect')].map((r) => r.dataset.series + ' ' + r.getAttribute('fill')))]";
        let fills: Vec<String> = serde_json::from_value(page.eval(fills)).unwrap();
        let colours: BTreeSet<&str> = fills.iter().filter_map(|f| f.split(' ').nth(1)).collect();
        assert_eq!((fills.len(), colours.len()), (5, 5), "{fills:?}");
        assert!(page
            .text("#trend-totals")
            .contains(&format!("{occurrences} failed scans, {IMAGES} new failure groups")));
        if days == 7 {
            keep_screenshot(&page, "trend");
        }
    }

    // Events: the first page, most recent first.
    console.show(&page, "events");
    assert_eq!(page.text("#matching"), format!("{IMAGES} matching events."));
    let rows = page.texts("#events tbody tr");
    assert_eq!(rows.len(), IMAGES);
    assert!(rows[0].starts_with(&image(0)), "{rows:?}");

    // Event: image 7 (reason 2, timeout), everything the API holds about it.
    page.click("#events tbody tr:nth-child(8) a");
    page.wait_view("event");
    assert_eq!(page.text("h2"), image(7));
    assert_eq!(page.text("#hint"), Reason::Timeout.hint());
    assert!(page.text("#message").starts_with(&format!("scanning {}: ", image(7))));
    let body = page.text("main");
    for expected in [
        "prod-1",
        "shop/svc-7",
        "arn:aws:iam::123456789012:role/ci-scanner",
        "roxctl/4.7.0",
        "image scan\t1",
        "image check\t1",
        "api\t2",
        "Expires",
        "First failed",
    ] {
        assert!(body.contains(expected), "{expected:?} in {body}");
    }
    keep_screenshot(&page, "event");

    assert_eq!(page.errors(), Vec::<String>::new(), "the browser's console reported errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_narrows_the_list_and_is_kept_in_the_url_and_paging_walks_every_event_once() {
    let table = recorded("console-list").await;
    let console = Console::start(&table, WRITER);
    let page = open(&console, "events?pagination.limit=10", 1000);

    // Paging: 10 a page, every event once.
    let all: BTreeSet<String> = api(&page, "/v1/administration/events?pagination.limit=100")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), IMAGES);
    let ids = "[...document.querySelectorAll('#events tbody tr')].map((r) => r.dataset.id)";
    let mut walked: Vec<String> = Vec::new();
    let mut pages = 0;
    loop {
        let ids: Vec<String> = serde_json::from_value(page.eval(ids)).unwrap();
        assert!(ids.len() <= 10);
        // The count (a throttled route) is asked on the first page only.
        assert_eq!(page.eval("!!document.getElementById('matching')"), json!(pages == 0), "page {pages}");
        walked.extend(ids);
        pages += 1;
        if page.eval("!!document.getElementById('next-page')") != json!(true) {
            break;
        }
        let before = page.eval("location.hash");
        page.click("#next-page");
        page.wait(&format!("location.hash !== {before}"), "the next page's URL");
        page.wait_view("events");
    }
    assert_eq!(pages, 3);
    assert_eq!(walked.len(), IMAGES, "no event twice: {walked:?}");
    assert_eq!(walked.iter().cloned().collect::<BTreeSet<_>>(), all);

    // A link's own page size (the API takes 1 to 1000) is the one shown, and Apply keeps it.
    // Before, the control offered 10, 25, 50 and 100 only: it showed 10 over 13 rows, and Apply
    // sent 10.
    console.show(&page, "events?pagination.limit=13");
    assert_eq!(page.texts("#events tbody tr").len(), 13);
    assert_eq!(page.eval("document.getElementById('f-limit').value"), json!("13"));
    page.choose("#f-filter-reason", Reason::Timeout.code());
    page.click("#filters button[type=submit]");
    page.wait("location.hash.includes('filter.reason=TIMEOUT')", "the reason in the URL");
    assert!(
        page.eval("location.hash").as_str().is_some_and(|h| h.contains("pagination.limit=13")),
        "{}",
        page.eval("location.hash")
    );

    // A reason chosen and a search term typed narrow the list; the URL keeps them.
    console.show(&page, "events");
    page.choose("#f-filter-reason", Reason::Timeout.code());
    page.click("#filters button[type=submit]");
    page.wait("location.hash.includes('filter.reason=TIMEOUT')", "the reason in the URL");
    page.wait_view("events");
    let timeouts: Vec<usize> = (0..IMAGES).filter(|k| k % 5 == 2).collect();
    let rows = page.texts("#events tbody tr");
    assert_eq!(rows.len(), timeouts.len(), "{rows:?}");
    assert!(rows.iter().all(|r| r.contains(Reason::Timeout.title())), "{rows:?}");
    assert_eq!(page.text("#matching"), format!("{} matching events.", timeouts.len()));
    page.type_into("#f-filter-search", "svc-12");
    page.click("#filters button[type=submit]");
    page.wait("location.hash.includes('filter.search=svc-12')", "the search in the URL");
    page.wait_view("events");
    let rows = page.texts("#events tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with(&image(12)));
    // The region narrows too: every event was reported from eu-west-1.
    page.type_into("#f-filter-region", "us-east-2");
    page.click("#filters button[type=submit]");
    page.wait("location.hash.includes('filter.region=us-east-2')", "the region in the URL");
    page.wait_view("events");
    assert_eq!(page.texts("#events tbody tr"), Vec::<String>::new());
    page.type_into("#f-filter-region", "eu-west-1");
    page.click("#filters button[type=submit]");
    page.wait("location.hash.includes('filter.region=eu-west-1')", "the region in the URL");
    page.wait_view("events");
    assert_eq!(page.texts("#events tbody tr"), rows);

    // The URL alone gives the same view (what a shared link does).
    let shared = page.eval("location.href").as_str().unwrap().to_owned();
    let other = Page::open(1000);
    other.goto(&console.url);
    other.wait_view("overview");
    other.goto(&shared);
    other.wait_view("events");
    assert_eq!(other.texts("#events tbody tr"), rows);
    assert_eq!(other.eval("document.getElementById('f-filter-reason').value"), json!("TIMEOUT"));
    assert_eq!(other.eval("document.getElementById('f-filter-search').value"), json!("svc-12"));

    // Several values of a filter (any of them matches) are shown, and Apply keeps them all.
    // Before, the form showed the first of each and Apply sent only that: a shared link's view
    // changed at the next Apply, without a word.
    console.show(
        &page,
        "events?filter.reason=TIMEOUT&filter.reason=RATE_LIMITED&filter.cluster=prod-0&filter.cluster=prod-1",
    );
    let both: Vec<usize> = (0..IMAGES).filter(|k| [2, 3].contains(&(k % 5)) && k % 3 != 2).collect();
    assert_eq!(page.texts("#events tbody tr").len(), both.len());
    assert_eq!(
        page.eval("[...document.getElementById('f-filter-reason').selectedOptions].map((o) => o.value)"),
        json!(["TIMEOUT", "RATE_LIMITED"])
    );
    assert_eq!(
        page.eval("[...document.querySelectorAll('#filters [name=\"filter.cluster\"]')].map((i) => i.value)"),
        json!(["prod-0", "prod-1"])
    );
    page.type_into("#f-filter-region", "eu-west-1");
    page.click("#filters button[type=submit]");
    page.wait("location.hash.includes('filter.region=eu-west-1')", "the region in the URL");
    page.wait_view("events");
    let hash = page.eval("location.hash");
    for kept in
        ["filter.reason=TIMEOUT", "filter.reason=RATE_LIMITED", "filter.cluster=prod-0", "filter.cluster=prod-1"]
    {
        assert!(hash.as_str().unwrap().contains(kept), "{kept} in {hash}");
    }
    let rows = page.texts("#events tbody tr");
    assert_eq!(rows.len(), both.len(), "{rows:?}");
    assert_eq!(page.text("#matching"), format!("{} matching events.", both.len()));

    // Oldest first, from the column's header.
    console.show(&page, "events");
    page.click("#sort-last");
    page.wait("location.hash.includes('reversed=true')", "the order in the URL");
    page.wait_view("events");
    assert!(page.texts("#events tbody tr")[0].starts_with(&image(IMAGES - 1)));

    assert_eq!(page.errors(), Vec::<String>::new());
    assert_eq!(other.errors(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_actions_apply_and_show_and_a_viewers_attempts_read_view_permission_only() {
    let table = recorded("console-write").await;
    let writer = Console::start(&table, WRITER);
    let viewer = Console::start(&table, VIEWER);

    // The writer triages image 3 as a false positive with a note: the history shows it, and the
    // default list leaves it out.
    let page = open(&writer, "events", 1000);
    page.click("#events tbody tr:nth-child(4) a");
    page.wait_view("event");
    assert_eq!(page.text("h2"), image(3));
    page.choose("#triage-state", "false_positive");
    // A note within the textarea's 1,024 characters but past the API's 1,024 bytes is refused
    // by the page, before any request, with its size.
    page.type_into("#triage-note", &"é".repeat(600));
    page.click("#triage button[type=submit]");
    page.wait("document.getElementById('triage-status').getAttribute('role') === 'alert'", "the note refused");
    assert_eq!(page.text("#triage-status"), "The note is 1,200 bytes of UTF-8; at most 1,024. Shorten it.");
    assert_eq!(page.texts("#history tbody tr"), Vec::<String>::new(), "nothing was sent");
    page.type_into("#triage-note", "base image unreadable by the scanner; SEC-1234");
    page.click("#triage button[type=submit]");
    page.wait("document.querySelector('.done')?.innerText === 'Triage saved.'", "the triage saved");
    let history = page.texts("#history tbody tr");
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(history[0].starts_with("false positive\t"), "{history:?}");
    assert!(
        history[0].ends_with(&format!("\t{WRITER}\tbase image unreadable by the scanner; SEC-1234")),
        "{history:?}"
    );
    // A change of state alone keeps the note: the form holds it and sends it again. Before, it
    // sent the state only, and the API's contract (no note: none) cleared it.
    assert_eq!(
        page.eval("document.getElementById('triage-note').value"),
        json!("base image unreadable by the scanner; SEC-1234")
    );
    for (state, shown) in [("acknowledged", "acknowledged\t"), ("false_positive", "false positive\t")] {
        page.choose("#triage-state", state);
        page.eval("document.querySelector('.done')?.remove()");
        page.click("#triage button[type=submit]");
        page.wait("document.querySelector('.done')?.innerText === 'Triage saved.'", "the triage saved");
        let history = page.texts("#history tbody tr");
        assert!(history[0].starts_with(shown), "{history:?}");
        assert!(history[0].ends_with("\tbase image unreadable by the scanner; SEC-1234"), "{history:?}");
    }
    // Two clicks on Save before the answer make one triage: the button is disabled while it
    // runs (before, each click sent one, and the history took two entries).
    page.choose("#triage-state", "acknowledged");
    page.eval("document.querySelector('.done')?.remove()");
    page.eval("((save) => (save.click(), save.click(), true))(document.querySelector('#triage button[type=submit]'))");
    page.wait("document.querySelector('.done')?.innerText === 'Triage saved.'", "the triage saved");
    let after = api(
        &page,
        &format!(
            "/v1/administration/events/{}",
            page.eval("location.hash.split('/').pop()").as_str().unwrap_or_default()
        ),
    );
    assert_eq!(after["event"]["scanFailure"]["triage"]["history"].as_array().map(Vec::len), Some(4), "{after}");
    // A triage made elsewhere since this page read the event (another administrator's) is not
    // overwritten: the page sends the version it read and shows the API's 409, and the
    // other triage's note stays.
    let id = page.eval("location.hash.split('/').pop()").as_str().unwrap_or_default().to_owned();
    let elsewhere = page.eval(&format!(
        "fetch('/v1/administration/events/{id}/triage', {{method: 'POST', headers: {{'x-scanfail-token': \
         sessionStorage.getItem('scanfail-console-token'), 'content-type': 'application/json'}}, body: \
         JSON.stringify({{state: 'resolved', note: 'fixed upstream \\u202egpj.exe'}})}}).then((r) => r.status)"
    ));
    assert_eq!(elsewhere, json!(200));
    page.choose("#triage-state", "false_positive");
    page.click("#triage button[type=submit]");
    page.wait("document.getElementById('triage-status').getAttribute('role') === 'alert'", "the triage refused");
    assert_eq!(
        page.text("#triage-status"),
        format!(
            "the event's triage is at version 5, not 4: it is now resolved, set by {WRITER} at {}; read the event \
             again before triaging it. The page has read it again and shows it as it is now, with your state kept: \
             save again to apply it.",
            api(&page, &format!("/v1/administration/events/{id}"))["event"]["scanFailure"]["triage"]["triagedAt"]
                .as_str()
                .unwrap_or_default()
        )
    );
    let after = api(&page, &format!("/v1/administration/events/{id}"));
    assert_eq!(
        (&after["event"]["scanFailure"]["triage"]["state"], &after["event"]["scanFailure"]["triage"]["note"]),
        (&json!("resolved"), &json!("fixed upstream \u{202e}gpj.exe"))
    );
    // The page has read the event again: the other triage is in view, the state chosen here
    // kept, the note (not edited here) now the other's. Its bidirectional override is shown
    // escaped, as `scanfail` prints it (not "fixed upstream exe.jpg"), and the form keeps it as
    // it is, to send back unchanged. Saving again applies the choice, against the new version.
    let history = page.texts("#history tbody tr");
    assert!(history[0].ends_with(&format!("\t{WRITER}\tfixed upstream \\u{{202e}}gpj.exe")), "{history:?}");
    assert_eq!(page.eval("document.getElementById('triage-note').value"), json!("fixed upstream \u{202e}gpj.exe"));
    assert_eq!(page.eval("document.getElementById('triage-state').value"), json!("false_positive"));
    page.eval("document.querySelector('.done')?.remove()");
    page.click("#triage button[type=submit]");
    page.wait("document.querySelector('.done')?.innerText === 'Triage saved.'", "the triage saved");
    let after = api(&page, &format!("/v1/administration/events/{id}"));
    assert_eq!(
        (&after["event"]["scanFailure"]["triage"]["state"], &after["event"]["scanFailure"]["triage"]["version"]),
        (&json!("false_positive"), &json!(6))
    );
    // Refused again with only the note edited here: the other triage's state is shown (not this
    // page's stale one, which saving would have put back), the note edited here is kept.
    let elsewhere = page.eval(&format!(
        "fetch('/v1/administration/events/{id}/triage', {{method: 'POST', headers: {{'x-scanfail-token': \
         sessionStorage.getItem('scanfail-console-token'), 'content-type': 'application/json'}}, body: \
         JSON.stringify({{state: 'acknowledged', note: 'theirs'}})}}).then((r) => r.status)"
    ));
    assert_eq!(elsewhere, json!(200));
    page.eval("document.getElementById('triage-note').value = 'mine'");
    page.click("#triage button[type=submit]");
    page.wait("document.getElementById('triage-status').getAttribute('role') === 'alert'", "the triage refused");
    assert!(
        page.text("#triage-status").ends_with(
            ". The page has read it again and shows it as it is now, with your note kept: save again to apply it."
        ),
        "{}",
        page.text("#triage-status")
    );
    assert_eq!(page.eval("document.getElementById('triage-state').value"), json!("acknowledged"));
    assert_eq!(page.eval("document.getElementById('triage-note').value"), json!("mine"));
    page.choose("#triage-state", "false_positive");
    page.eval("document.querySelector('.done')?.remove()");
    page.click("#triage button[type=submit]");
    page.wait("document.querySelector('.done')?.innerText === 'Triage saved.'", "the triage saved");
    let after = api(&page, &format!("/v1/administration/events/{id}"));
    let t = &after["event"]["scanFailure"]["triage"];
    assert_eq!((&t["state"], &t["note"], &t["version"]), (&json!("false_positive"), &json!("mine"), &json!(8)));
    writer.show(&page, "events");
    assert_eq!(page.text("#matching"), format!("{} matching events.", IMAGES - 1));

    // The writer changes the retention.
    writer.show(&page, "settings");
    page.type_into("#retention-days", "20");
    page.click("#retention button[type=submit]");
    page.wait(
        "document.getElementById('retention-status')?.innerText === 'Retention set to 20 days.'",
        "the retention set",
    );
    let facts = page.text("#retention-facts");
    assert!(facts.contains("20 days") && facts.contains(&format!("through the API by {WRITER}")), "{facts}");

    // The writer deletes image 5's events, after confirming.
    writer.show(&page, "events?filter.search=svc-5:");
    page.click("#events tbody tr:first-child a");
    page.wait_view("event");
    assert_eq!(page.text("h2"), image(5));
    assert_eq!(page.eval("document.getElementById('delete-confirm').hidden"), json!(true));
    page.click("#delete-ask");
    page.wait("!document.getElementById('delete-confirm').hidden", "the confirmation");
    page.click("#delete-yes");
    page.wait("document.getElementById('delete-status').innerText.startsWith('Deleted')", "the deletion");
    assert_eq!(page.text("#delete-status"), format!("Deleted 1 event of {}. Back to the events", image(5)));
    writer.show(&page, "events");
    assert_eq!(page.text("#matching"), format!("{} matching events.", IMAGES - 2));
    // The browser logs the two refused triages' answers, and nothing else.
    let refused = format!(
        "log: Failed to load resource: the server responded with a status of 409 (Conflict) (Some(\"{}/v1/administration/events/{id}/triage\"))",
        writer.base()
    );
    assert_eq!(page.errors(), [refused.clone(), refused]);

    // The viewer sees the same events, and each write reads "view permission only".
    let seen = open(&viewer, "events", 1000);
    assert_eq!(seen.text("#matching"), format!("{} matching events.", IMAGES - 2));
    seen.click("#events tbody tr:first-child a");
    seen.wait_view("event");
    seen.choose("#triage-state", "acknowledged");
    seen.click("#triage button[type=submit]");
    seen.wait("document.getElementById('triage-status').innerText.startsWith('Your')", "the refusal");
    assert_eq!(seen.text("#triage-status"), VIEW_ONLY);
    assert_eq!(seen.texts("#history tbody tr"), Vec::<String>::new(), "nothing was triaged");
    seen.click("#delete-ask");
    seen.click("#delete-yes");
    seen.wait("document.getElementById('delete-status').innerText.startsWith('Your')", "the refusal");
    assert_eq!(seen.text("#delete-status"), VIEW_ONLY);
    viewer.show(&seen, "settings");
    seen.click("#retention button[type=submit]");
    seen.wait("document.getElementById('retention-status').innerText.startsWith('Your')", "the refusal");
    assert_eq!(seen.text("#retention-status"), VIEW_ONLY);
    // The browser reports each refused call as a failed load, and nothing else.
    let errors = seen.errors();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().all(|e| e.contains("status of 403")), "{errors:?}");
}

/// Deleting an image's events goes on from the cursor each round answers until none is left, as
/// `scanfail events delete` does: 130 groups of one image behind a read bound of 100 take two
/// rounds (the page stopped after the first, said "more remain" and left 30).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_images_events_goes_on_from_each_rounds_cursor_until_none_is_left() {
    const GROUPS: usize = 130;
    const IMAGE: &str = "quay.io/acme/many:1";
    let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), "console-delete-rounds").await;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<_> =
        (0..GROUPS).map(|n| fixtures::synthetic_group(n, IMAGE, Reason::Timeout, now, n as i64 + 1)).collect();
    integration_tests::seed_groups(&store, &groups).await;
    let console = Console::start_with(store.table(), WRITER, &[("API_MAX_ITEMS_READ", "100")]);
    let page = open(&console, &format!("event/{}", groups[0].id), 900);
    // The bound is in force: reading the image's 130 groups at once is refused, so one round
    // cannot have deleted them all.
    let count = format!("/v1/count/administration/events?filter.resourceName={IMAGE}");
    let refused = api(&page, &count);
    assert_eq!((&refused["code"], &refused["error"]), (&json!(400), &json!("too broad")), "{refused}");
    page.click("#delete-ask");
    page.wait("!document.getElementById('delete-confirm').hidden", "the confirmation");
    // Two clicks make one deletion, which counts every event (before, two ran at once, each
    // counting what it deleted, and the last to end said so).
    page.eval("((yes) => (yes.click(), yes.click(), true))(document.getElementById('delete-yes'))");
    page.wait("document.getElementById('delete-status').innerText.startsWith('Deleted')", "the deletion");
    assert_eq!(page.text("#delete-status"), format!("Deleted {GROUPS} events of {IMAGE}. Back to the events"));
    let left = api(&page, &count);
    assert_eq!(left["count"], json!(0), "{left}");
    // The overview the printed URL opens on is too broad for this bound (a 400 it shows); nothing else failed.
    let errors: Vec<String> = page.errors().into_iter().filter(|e| !e.contains("400 (Bad Request)")).collect();
    assert_eq!(errors, Vec::<String>::new());
}

/// An image name of 300 characters without a break (a valid name) wraps in the event's heading
/// and the events table instead of widening the page past the window (it was 7,000 px wide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_image_name_wraps_within_the_window() {
    let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), "console-long-name").await;
    let image = format!("quay.io/acme/{}:1", "a".repeat(300));
    let group = fixtures::synthetic_group(0, &image, Reason::Timeout, OffsetDateTime::now_utc(), 1);
    integration_tests::seed_groups(&store, std::slice::from_ref(&group)).await;
    let console = Console::start(store.table(), WRITER);
    let page = open(&console, "events", 900);
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(page.eval(fits), json!(true), "events: {}", page.eval("document.documentElement.scrollWidth"));
    console.show(&page, &format!("event/{}", group.id));
    assert_eq!(page.text("h2"), image);
    assert_eq!(page.eval(fits), json!(true), "event: {}", page.eval("document.documentElement.scrollWidth"));
}
