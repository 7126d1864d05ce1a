//! What the console's server serves itself: the page's files, built into the binary, and the
//! catalog of the product's closed vocabularies (reason titles and hints, levels, operations,
//! origins, triage states) taken from the domain crate, so the page never holds a copy of them.

use scan_failures_domain::classify::{acs_level, Level, Reason};
use scan_failures_domain::event::{Operation, Origin};
use scan_failures_domain::group::triage::TriageState;
use serde_json::{json, Value};

/// One file of the page.
#[derive(Debug, PartialEq, Eq)]
pub struct File {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! file {
    ($path:literal, $type:expr) => {
        File { path: $path, content_type: $type, body: include_str!(concat!("../../console", $path)) }
    };
}

/// The page's files; `/` is `/index.html`.
pub const FILES: &[File] = &[
    file!("/index.html", "text/html; charset=utf-8"),
    file!("/app.css", "text/css; charset=utf-8"),
    file!("/favicon.svg", "image/svg+xml"),
    file!("/app.js", JS),
    file!("/api.js", JS),
    file!("/chart.js", JS),
    file!("/overview.js", JS),
    file!("/trend.js", JS),
    file!("/events.js", JS),
    file!("/event.js", JS),
    file!("/settings.js", JS),
];

/// The path of the catalog.
pub const CATALOG: &str = "/catalog.json";

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    File(&'static File),
    Catalog,
}

impl Served {
    pub fn of(path: &str) -> Option<Self> {
        let path = if path == "/" { "/index.html" } else { path };
        if path == CATALOG {
            return Some(Self::Catalog);
        }
        FILES.iter().find(|f| f.path == path).map(Self::File)
    }
}

/// The catalog the page reads once: every reason with its title, hint and level, in the
/// domain's order, and the other closed sets in the API's spelling.
pub fn catalog() -> Value {
    let level = |l: Level| acs_level(l.as_str());
    let reasons: Vec<Value> = Reason::ALL
        .iter()
        .map(|r| json!({"code": r.code(), "title": r.title(), "hint": r.hint(), "level": level(r.level())}))
        .collect();
    json!({
        "reasons": reasons,
        "levels": [level(Level::Error), level(Level::Warning)],
        "operations": Operation::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "origins": Origin::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "triageStates": TriageState::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "noteMaxBytes": scan_failures_domain::group::triage::MAX_NOTE_BYTES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_imports_is_served_and_every_served_file_is_used() {
        let sources: String = FILES.iter().map(|f| f.body).collect();
        for f in FILES.iter().filter(|f| f.path != "/index.html") {
            let name = &f.path[1..];
            assert!(
                sources.contains(&format!("\"./{name}\"")) || sources.contains(&format!("\"/{name}\"")),
                "{name} is not referenced"
            );
        }
        for import in sources.split("from \"./").skip(1) {
            let name = import.split('"').next().unwrap_or_default();
            assert!(Served::of(&format!("/{name}")).is_some(), "{name} is imported but not served");
        }
    }

    #[test]
    fn the_catalog_holds_every_reason_with_its_title_and_hint() {
        let c = catalog();
        assert_eq!(c["reasons"].as_array().map(Vec::len), Some(22));
        assert_eq!(c["reasons"][0]["code"], "REGISTRY_UNAUTHORIZED");
        assert_eq!(c["reasons"][0]["title"], Reason::RegistryUnauthorized.title());
        assert_eq!(c["reasons"][0]["level"], "ADMINISTRATION_EVENT_LEVEL_ERROR");
        assert_eq!(c["levels"][1], "ADMINISTRATION_EVENT_LEVEL_WARNING");
        assert_eq!(c["operations"][4], "registry scan");
        assert_eq!(c["triageStates"][2], "false_positive");
        assert_eq!(c["noteMaxBytes"], 1024);
    }

    #[test]
    fn the_root_is_the_page_and_unknown_paths_are_nothing() {
        assert_eq!(Served::of("/"), Served::of("/index.html"));
        assert!(Served::of("/").is_some());
        assert_eq!(Served::of("/catalog.json"), Some(Served::Catalog));
        assert_eq!(Served::of("/nope.js"), None);
        assert_eq!(Served::of("/../index.html"), None);
    }
}
