//! The reference book (`docs/`) against the code, so that a fact that drifts fails here instead
//! of misleading a reader: the book builds, every internal link and anchor resolves, every
//! environment variable the functions and `scanfail` read is on the configuration page with its
//! default (and none they do not read), and every route, reason code and `scanfail` subcommand
//! is in the reference.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;
use integration_tests::{repo_root, INSTALL_HINT};
use scan_failures_domain::classify::Reason;

fn src() -> PathBuf {
    repo_root().join("docs/src")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn page(name: &str) -> String {
    read(&src().join(name))
}

/// The text of `markdown` outside fenced code blocks.
fn prose(markdown: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The targets of the inline links `[text](target)` of `markdown`, outside code.
fn links(markdown: &str) -> Vec<String> {
    let text = prose(markdown);
    let mut found = Vec::new();
    for line in text.lines() {
        // Inline code spans are not links.
        let line: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// mdBook's anchor of a heading: its text without markup, lower-cased, spaces as `-`, only
/// letters, digits, `-` and `_` kept; a repeated anchor gets `-1`, `-2`…
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose(markdown).lines().filter(|l| l.starts_with('#')) {
        let text = line.trim_start_matches('#').trim();
        let mut plain = String::new();
        let mut rest = text;
        // [text](url) → text
        while let Some(open) = rest.find('[') {
            plain.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match (after.find("]("), after.find(')')) {
                (Some(close), Some(end)) if close < end => {
                    plain.push_str(&after[..close]);
                    rest = &after[end + 1..];
                }
                _ => {
                    plain.push('[');
                    rest = after;
                }
            }
        }
        plain.push_str(rest);
        let id: String = plain
            .chars()
            .filter_map(|c| match c {
                c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_ascii_lowercase()),
                c if c.is_whitespace() => Some('-'),
                _ => None,
            })
            .collect();
        let n = seen.entry(id.clone()).or_default();
        out.insert(if *n == 0 { id.clone() } else { format!("{id}-{n}") });
        *n += 1;
    }
    out
}

/// The book's pages, the README and the two documents the book includes.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.extend(["README.md", "RELIABILITY.md", "BENCHMARKS.md"].map(|f| repo_root().join(f)));
    docs
}

/// What is wrong with the link `target` of `from` ("" when nothing).
fn broken(from: &Path, target: &str) -> Option<String> {
    if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = target.split_once('#').map_or((target, None), |(p, a)| (p, Some(a)));
    let file = if path.is_empty() { from.to_path_buf() } else { from.parent().unwrap().join(path) };
    if !file.exists() {
        return Some(format!("{target}: no file {}", file.display()));
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|e| e != "md") {
        return Some(format!("{target}: an anchor into a file that is not Markdown"));
    }
    (!anchors(&read(&file)).contains(anchor)).then(|| format!("{target}: {} has no heading #{anchor}", file.display()))
}

#[test]
fn the_book_builds_and_every_internal_link_and_anchor_resolves() {
    let mdbook = repo_root().join(".tools/cargo/bin/mdbook");
    assert!(mdbook.is_file(), "{} is missing: {INSTALL_HINT}", mdbook.display());
    let out_dir = std::env::temp_dir().join(integration_tests::unique_name("book"));
    let out = Command::new(&mdbook)
        .args(["build", "docs", "--dest-dir"])
        .arg(&out_dir)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("run mdbook: {e}"));
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mdbook build failed:\n{log}");
    assert!(!log.contains("WARN") && !log.contains("ERROR"), "mdbook warned:\n{log}");
    assert!(out_dir.join("configuration.html").is_file());
    let _ = std::fs::remove_dir_all(&out_dir);

    // Every page is in the table of contents, and the table of contents names no other.
    let summary = page("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    let pages: BTreeSet<String> = documents()
        .iter()
        .filter(|p| p.starts_with(src()))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "SUMMARY.md")
        .collect();
    assert_eq!(listed, pages, "docs/src/SUMMARY.md against the pages in docs/src");

    let mut problems = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for target in links(&text) {
            if let Some(problem) = broken(&doc, &target) {
                problems.push(format!("{}: {problem}", doc.display()));
            }
            // The included documents are read from docs/src too: their links must hold there.
            if doc.parent() == Some(repo_root().as_path()) && doc.file_name().is_some_and(|n| n != "README.md") {
                if let Some(problem) = broken(&src().join("included.md"), &target) {
                    problems.push(format!("{} (as included in the book): {problem}", doc.display()));
                }
            }
        }
    }
    assert_eq!(problems, Vec::<String>::new());
}

/// The rows of the table under the heading `## {section}` of the configuration page: the
/// variables of each row (every backquoted name in its first cell) and its cells.
fn configuration(section: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let text = page("configuration.md");
    let heading = format!("\n## {section}\n");
    let body = text.split(&heading).nth(1).unwrap_or_else(|| panic!("configuration.md has no section {section:?}"));
    let body = body.split("\n## ").next().unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l.trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect();
            let names = cells[0].split('`').skip(1).step_by(2).map(str::to_owned).collect();
            (names, cells)
        })
        .collect()
}

/// The variables `load` asks for, through an injected `var` answering from `env`.
fn asked(env: &[(&str, &str)], load: impl Fn(&dyn Fn(&str) -> Option<String>)) -> BTreeSet<String> {
    let seen = RefCell::new(BTreeSet::new());
    let var = |name: &str| {
        seen.borrow_mut().insert(name.to_owned());
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    load(&var);
    seen.into_inner()
}

#[test]
fn every_variable_a_function_reads_is_on_the_configuration_page_with_its_default_and_no_other() {
    // Every optional part switched on, so that each conditional read happens.
    let env = [
        ("TABLE_NAME", "t"),
        ("NOTIFY_BUS_NAME", "bus"),
        ("RECONCILE_INSPECTOR", "true"),
        ("LOCAL_PRINCIPAL", "arn:aws:iam::123456789012:user/local"),
    ];
    let mut read: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    read.insert(
        "ingest",
        asked(&env, |v| {
            let _ = scan_failures_aws::config::IngestConfig::from_env(v).unwrap();
        }),
    );
    read.insert(
        "api",
        asked(&env, |v| {
            let _ = scan_failures_aws::config::ApiConfig::from_env(v).unwrap();
        }),
    );
    read.insert(
        "maintenance",
        asked(&env, |v| {
            let _ = maintenance::MaintenanceConfig::from_env(v).unwrap();
        }),
    );
    read.insert(
        "rollup",
        asked(&env, |v| {
            let _ = scan_failures_aws::config::RollupConfig::from_env(v).unwrap();
        }),
    );
    // Every function's logging filter, read by tracing-subscriber's `Targets` (telemetry.rs).
    for names in read.values_mut() {
        names.insert("RUST_LOG".to_owned());
    }

    let rows = configuration("The functions");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (names, cells) in &rows {
        assert_eq!(cells.len(), 4, "variable | functions | default | meaning: {cells:?}");
        assert!(!cells[2].is_empty(), "{names:?} has no default");
        let functions: BTreeSet<String> = if cells[1] == "all" {
            read.keys().map(|f| (*f).to_owned()).collect()
        } else {
            cells[1].split(", ").map(str::to_owned).collect()
        };
        for name in names {
            assert!(documented.insert(name.clone(), functions.clone()).is_none(), "{name} is listed twice");
        }
    }
    let mut actual: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (function, names) in &read {
        for name in names {
            actual.entry(name.clone()).or_default().insert((*function).to_owned());
        }
    }
    assert_eq!(documented, actual, "configuration.md, The functions: variable → the functions that read it");
}

#[test]
fn every_variable_scanfail_reads_is_on_the_configuration_page_with_its_default_and_no_other() {
    let mut read = BTreeSet::new();
    let command = scanfail::args::Cli::command();
    let mut stack = vec![&command];
    while let Some(c) = stack.pop() {
        read.extend(c.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()));
        stack.extend(c.get_subcommands());
    }
    // The CI job recorded as a report's initiator: each CI's branch.
    for env in [
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_REPOSITORY", "r"), ("GITHUB_RUN_ID", "1")][..],
        &[("GITLAB_CI", "true")][..],
        &[("JENKINS_URL", "u"), ("JOB_NAME", "j")][..],
    ] {
        read.extend(asked(env, |v| {
            let _ = scanfail::report::initiator::from_ci(v);
        }));
    }
    // Where `console --open` writes its redirect file.
    read.extend(asked(&[], |v| {
        let _ = scanfail::console::launch::redirect_dir(v);
    }));
    let rows = configuration("scanfail");
    let mut documented = BTreeSet::new();
    for (names, cells) in &rows {
        assert_eq!(cells.len(), 4, "variable | commands | default | meaning: {cells:?}");
        assert!(!cells[2].is_empty(), "{names:?} has no default");
        documented.extend(names.iter().cloned());
    }
    assert_eq!(documented, read, "configuration.md, scanfail: the variables scanfail reads");
}

#[test]
fn every_tooling_variable_on_the_configuration_page_is_read_by_a_script_or_a_test() {
    let mut sources = String::new();
    for dir in ["scripts", "tests/src", "tests/tests", "bench/src", ".ci"] {
        let mut stack = vec![repo_root().join(dir)];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.file_name().is_some_and(|n| n != "docs.rs") {
                sources.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    sources.push_str(&read(&repo_root().join("Makefile")));
    let rows = configuration("make local, the tests and the benchmarks");
    assert!(rows.len() >= 5, "the table of tooling variables has {} rows", rows.len());
    for (names, cells) in rows {
        assert!(!cells[2].is_empty(), "{names:?} has no default");
        for name in names {
            let used = [format!("${{{name}:"), format!("${name}"), format!("\"{name}\""), format!("{name} ?=")];
            assert!(used.iter().any(|u| sources.contains(u)), "{name} is documented but no script or test reads it");
        }
    }
}

#[test]
fn every_route_parameter_and_reason_code_is_in_the_api_reference() {
    let api = page("api.md");
    for route in api::routes::ROUTES {
        let row = format!("\n| `{} {}` |", route.method, route.path);
        assert!(api.contains(&row), "docs/src/api.md's table of routes has no row {row:?}");
    }
    let rows =
        api.lines().filter(|l| l.starts_with("| `GET /") || l.starts_with("| `P") || l.starts_with("| `DELETE /"));
    assert_eq!(rows.count(), api::routes::ROUTES.len(), "docs/src/api.md lists a route the router does not have");
    use scan_failures_http::params::{COUNT_PARAMS, DELETE_PARAMS, LIST_PARAMS, SUMMARY_PARAMS, TREND_PARAMS};
    for name in [LIST_PARAMS, COUNT_PARAMS, SUMMARY_PARAMS, TREND_PARAMS, DELETE_PARAMS].concat() {
        assert!(api.contains(&format!("`{name}`")), "docs/src/api.md does not document the parameter {name}");
    }
    let reference = api + &page("events.md");
    for reason in Reason::ALL {
        assert!(
            reference.contains(&format!("`{}`", reason.code())),
            "no page of the reference names {}",
            reason.code()
        );
    }
}

#[test]
fn every_scanfail_subcommand_is_on_the_cli_page() {
    let cli = page("cli.md");
    let root = scanfail::args::Cli::command();
    let mut missing = Vec::new();
    let mut stack: Vec<(String, &clap::Command)> = vec![("scanfail".to_owned(), &root)];
    while let Some((path, c)) = stack.pop() {
        for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
            let full = format!("{path} {}", sub.get_name());
            if !cli.contains(&format!("`{full}")) {
                missing.push(full.clone());
            }
            stack.push((full, sub));
        }
    }
    assert_eq!(missing, Vec::<String>::new(), "subcommands docs/src/cli.md does not show as `scanfail …`");
}

/// The ranges `scanfail` checks before sending are the API's own, and the book's CLI page says
/// them: a range narrower than the API's refuses what it takes, a wider one sends what it
/// refuses (exit 6 where the page promises a usage error, exit 2).
#[test]
fn the_clis_ranges_are_the_apis_and_the_cli_page_says_them() {
    use clap::Parser as _;
    use scan_failures_domain::group::daily::MAX_TREND_DAYS;
    use scan_failures_domain::group::triage::MAX_NOTE_BYTES;
    use scan_failures_http::params::{MAX_LIMIT, MAX_TOP};
    let takes = |words: String| scanfail::args::Cli::try_parse_from(words.split_whitespace()).is_ok();
    for (flag, command, most) in [
        ("--limit", "events list", MAX_LIMIT),
        ("--top", "events summary", MAX_TOP),
        ("--days", "events trend", MAX_TREND_DAYS),
    ] {
        let at = |n: u32| takes(format!("scanfail {command} {flag} {n}"));
        assert_eq!((at(0), at(1), at(most), at(most + 1)), (false, true, true, false), "{flag}");
    }
    let note = |bytes: usize| takes(format!("scanfail events triage g --state open --note {}", "n".repeat(bytes)));
    assert_eq!((note(MAX_NOTE_BYTES), note(MAX_NOTE_BYTES + 1)), (true, false));
    let page = std::fs::read_to_string(repo_root().join("docs/src/cli.md")).unwrap();
    let said = format!(
        "Ranges, checked before any\nrequest: `--limit` 1–{MAX_LIMIT}, `--top` 1–{MAX_TOP}, `--days` 1–{MAX_TREND_DAYS}, `--note` at most {} bytes.",
        thousands(MAX_NOTE_BYTES)
    );
    assert!(page.contains(&said), "docs/src/cli.md does not say: {said}");
}

/// `1,024`, as the book writes numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every `aws lambda invoke` of the maintenance function in the book waits for its answer longer
/// than the function's timeout: the AWS CLI stops reading after 60 s by default and sends the
/// invocation again, which the function's one reserved execution, still running the first,
/// refuses (`TooManyRequestsException`), so the reader would get an error and never the report.
#[test]
fn every_documented_invoke_of_the_maintenance_function_outwaits_its_timeout() {
    let t = integration_tests::cfn::template();
    let timeout =
        integration_tests::cfn::resource(&t, "MaintenanceFunction")["Properties"]["Timeout"].as_u64().unwrap();
    let mut invokes = 0;
    for doc in documents() {
        let text = read(&doc);
        for command in text.split("aws lambda invoke").skip(1) {
            // The command's lines: each ending in a backslash goes on to the next.
            let mut lines = Vec::new();
            for line in command.lines() {
                lines.push(line.trim_end_matches('\\'));
                if !line.ends_with('\\') {
                    break;
                }
            }
            let command = lines.join(" ");
            if !command.contains("$MAINTENANCE_FUNCTION") {
                continue;
            }
            invokes += 1;
            let waits = command
                .split_whitespace()
                .skip_while(|w| *w != "--cli-read-timeout")
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok());
            assert!(
                waits.is_some_and(|n| n > timeout),
                "{}: `aws lambda invoke{command}` waits {waits:?}, the function runs up to {timeout} s",
                doc.display()
            );
        }
    }
    assert_eq!(invokes, 2, "the redrive and the restart");
}
