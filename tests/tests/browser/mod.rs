//! Debian's chromium, headless, driven over the DevTools protocol: one browser per test, with
//! everything its console reports as an error collected (uncaught exceptions, `console.error`,
//! failed loads, CSP violations), and waits on a condition of the page instead of sleeps.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::browser::tab::Tab;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Log, Page as Cdp, Runtime};
use headless_chrome::{Browser, LaunchOptions};
use serde_json::Value;

/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a condition of the page may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// A headless chromium with one tab.
pub struct Page {
    _browser: Browser,
    tab: Arc<Tab>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Page {
    /// Starts chromium (failing with the install command when it is missing) with a window of
    /// 1280×`height` and no network of its own beyond the pages it is sent to.
    pub fn open(height: u32) -> Self {
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: run `make tools` (scripts/tools.sh installs Debian's chromium with apt-get; \
             without root: sudo apt-get install chromium)"
        );
        // Without the background-networking flags chromium keeps calling Google's hosts, which
        // this closed network refuses.
        let args: Vec<&OsStr> = [
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(PathBuf::from(CHROMIUM)))
            .headless(true)
            .sandbox(false)
            .window_size(Some((1280, height)))
            .idle_browser_timeout(Duration::from_secs(600))
            .args(args)
            .build()
            .expect("chromium's launch options");
        let browser = Browser::new(options).unwrap_or_else(|e| panic!("start {CHROMIUM}: {e}"));
        let tab = browser.new_tab().expect("a tab");
        tab.set_default_timeout(PATIENCE);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = errors.clone();
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let error = match event {
                Event::LogEntryAdded(e) if e.params.entry.level == Log::LogEntryLevel::Error => {
                    Some(format!("{}: {} ({:?})", "log", e.params.entry.text, e.params.entry.url))
                }
                Event::RuntimeConsoleAPICalled(e)
                    if e.params.Type == Runtime::ConsoleAPICalledEventTypeOption::Error =>
                {
                    Some(format!("console.error: {:?}", e.params.args.iter().map(|a| &a.value).collect::<Vec<_>>()))
                }
                Event::RuntimeExceptionThrown(e) => Some(format!("exception: {:?}", e.params.exception_details)),
                _ => None,
            };
            if let Some(error) = error {
                seen.lock().unwrap().push(error);
            }
        }))
        .expect("a listener");
        tab.enable_log().expect("the log domain");
        tab.enable_runtime().expect("the runtime domain");
        Self { _browser: browser, tab, errors }
    }

    /// Navigates to `url` (a new document, or only a new fragment); the caller waits for what
    /// it expects to see ([`Self::wait_view`]).
    pub fn goto(&self, url: &str) {
        self.tab.navigate_to(url).unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The value of `expression` (awaited when it is a promise), through JSON; `None` when the
    /// page could not evaluate it (a document being replaced, say).
    fn try_eval(&self, expression: &str) -> Option<Value> {
        let wrapped = format!("(async () => JSON.stringify(await ({expression})))()");
        match self.tab.evaluate(&wrapped, true).ok()?.value {
            Some(Value::String(json)) => serde_json::from_str(&json).ok(),
            _ => Some(Value::Null),
        }
    }

    /// The value of `expression` (awaited when it is a promise), through JSON.
    pub fn eval(&self, expression: &str) -> Value {
        self.try_eval(expression).unwrap_or_else(|| panic!("evaluate {expression}: the page could not"))
    }

    /// Waits until `condition` (a JavaScript expression) is true, failing with `what` and the
    /// page's text after [`PATIENCE`].
    pub fn wait(&self, condition: &str, what: &str) {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if self.try_eval(condition) == Some(Value::Bool(true)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: not within {PATIENCE:?}; the page reads:\n{}", self.text("body"));
    }

    /// Waits for the view `name` to have rendered the URL the page is at (the console stamps
    /// the fragment it rendered on the body when it is done).
    pub fn wait_view(&self, name: &str) {
        self.wait(
            &format!("document.body.dataset.view === '{name}' && document.body.dataset.route === location.hash"),
            &format!("the {name} view"),
        );
    }

    /// The text of the first element matching `selector` ("" when there is none).
    pub fn text(&self, selector: &str) -> String {
        let js = format!("document.querySelector({})?.innerText ?? ''", Value::from(selector));
        self.eval(&js).as_str().unwrap_or_default().to_owned()
    }

    /// The texts of every element matching `selector`.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let js = format!("[...document.querySelectorAll({})].map((e) => e.innerText)", Value::from(selector));
        serde_json::from_value(self.eval(&js)).unwrap_or_default()
    }

    /// A real click (the mouse at the element's centre).
    pub fn click(&self, selector: &str) {
        self.tab
            .wait_for_element(selector)
            .and_then(|e| e.click().map(|_| ()))
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    /// Clicks `selector` and types `text` into it with the keyboard, replacing what it held.
    pub fn type_into(&self, selector: &str, text: &str) {
        self.click(selector);
        self.eval(&format!("document.querySelector({}).select()", Value::from(selector)));
        self.tab.type_str(text).unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    }

    /// Presses `key` (`Enter`, `Tab`) where the focus is.
    pub fn press(&self, key: &str) {
        self.tab.press_key(key).unwrap_or_else(|e| panic!("press {key}: {e}"));
    }

    /// Chooses the option `value` of the select `selector`, as a pick from its list does (the
    /// value set, then a `change` event).
    pub fn choose(&self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const s = document.querySelector({sel}); s.value = {v}; s.dispatchEvent(new Event('change')); return s.value; }})()",
            sel = Value::from(selector),
            v = Value::from(value)
        );
        assert_eq!(self.eval(&js), Value::from(value), "{selector} has no option {value}");
    }

    /// A PNG of the whole page.
    pub fn screenshot(&self) -> Vec<u8> {
        self.tab
            .capture_screenshot(Cdp::CaptureScreenshotFormatOption::Png, None, None, true)
            .unwrap_or_else(|e| panic!("screenshot: {e}"))
    }

    /// What the browser's console reported as errors so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}
