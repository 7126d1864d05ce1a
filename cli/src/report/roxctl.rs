//! What a roxctl command line scans, and what its standard error says happened.
//!
//! roxctl exits 1 for every failure, so the kind of failure is read from the text it prints:
//! each error is one `ERROR:\t…` line (cobra's "Error: " prefix replaced by roxctl's printer,
//! `roxctl/maincommand/error_writer.go`), retries print `… Retrying after N seconds...` lines
//! before the final one, and policy violations and `--fail` findings are errors too, though the
//! scan itself worked (`roxctl/summaries/policy/policy_errors.go`, `roxctl/common/scan/errors.go`).

use std::path::PathBuf;

use scan_failures_domain::event::Operation;

/// A roxctl scan, as its arguments name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub operation: Operation,
    pub target: Target,
    /// `--cluster` where roxctl was given one (check and sbom take it).
    pub cluster: Option<String>,
    /// `deployment check -n/--namespace`: the namespace of deployments whose YAML names none
    /// (roxctl's default is `default`).
    pub namespace: Option<String>,
}

/// What the scan was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-i/--image REF`.
    Image(String),
    /// `deployment check -f FILE…`: roxctl never names the image that failed there.
    DeploymentFiles(Vec<PathBuf>),
}

/// Whether `program` is roxctl: its file name is `roxctl`, with or without a version suffix or
/// `.exe` (`roxctl-4.7`).
pub fn is_roxctl(program: &str) -> bool {
    let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
    name == "roxctl" || name.starts_with("roxctl-") || name.starts_with("roxctl.")
}

/// The scan `args` (roxctl's arguments, without the program) ask for, or `None` when they ask
/// for none of `image scan|check|sbom` and `deployment check`.
pub fn parse_args(args: &[String]) -> Option<Invocation> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let operation = words.windows(2).find_map(|pair| match pair {
        ["image", "scan"] => Some(Operation::ImageScan),
        ["image", "check"] => Some(Operation::ImageCheck),
        ["image", "sbom"] => Some(Operation::ImageSbom),
        ["deployment", "check"] => Some(Operation::DeploymentCheck),
        _ => None,
    })?;
    let target = if operation == Operation::DeploymentCheck {
        Target::DeploymentFiles(flag_values(&words, Some("-f"), "--file").into_iter().map(PathBuf::from).collect())
    } else {
        Target::Image(flag_values(&words, Some("-i"), "--image").pop()?)
    };
    let cluster = flag_values(&words, None, "--cluster").pop();
    let namespace = match operation {
        Operation::DeploymentCheck => flag_values(&words, Some("-n"), "--namespace").pop(),
        _ => None,
    };
    Some(Invocation { operation, target, cluster, namespace })
}

/// Every value of a flag, in the spellings cobra accepts: `-i REF`, `-iREF`, `-i=REF`,
/// `--image REF`, `--image=REF`. Nothing after `--` is a flag.
fn flag_values(words: &[&str], short: Option<&str>, long: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        if *word == "--" {
            break;
        }
        if Some(*word) == short || *word == long {
            if let Some(value) = rest.next() {
                values.push((*value).to_owned());
            }
        } else if let Some(value) = word.strip_prefix(long).and_then(|v| v.strip_prefix('=')) {
            values.push(value.to_owned());
        } else if let Some(value) =
            short.and_then(|s| word.strip_prefix(s)).filter(|v| !v.is_empty() && !word.starts_with("--"))
        {
            values.push(value.strip_prefix('=').unwrap_or(value).to_owned());
        }
    }
    values
}

/// What a failed roxctl run was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The scan worked and a policy failed the build: not a scan failure.
    PolicyViolation,
    /// `image scan --fail` found vulnerabilities: not a scan failure.
    Findings,
    /// The scan failed; the message to record.
    Failed(String),
}

/// Phrases of roxctl's policy-violation errors, lower case.
const POLICY_PHRASES: [&str; 3] =
    ["failed policies found", "breaking policies found", "violated a policy with ci enforcement set"];
/// The phrase of `--fail` findings, lower case.
const FINDINGS_PHRASE: &str = "vulnerabilities found";

/// The prefixes roxctl's printer puts on its lines.
const PREFIXES: [&str; 3] = ["ERROR:", "WARN:", "INFO:"];

/// The verdict on a failed roxctl run from its standard error (colour codes already removed).
pub fn verdict(stderr: &str) -> Verdict {
    let errors: Vec<String> =
        stderr.lines().filter_map(|l| l.trim_start().strip_prefix("ERROR:")).map(|e| e.to_ascii_lowercase()).collect();
    if errors.iter().any(|e| POLICY_PHRASES.iter().any(|p| e.contains(p))) {
        return Verdict::PolicyViolation;
    }
    let last = last_error(stderr);
    match &last {
        Some(message) if message.to_ascii_lowercase().contains(FINDINGS_PHRASE) => Verdict::Findings,
        Some(message) => Verdict::Failed(message.clone()),
        None => Verdict::Failed(super::stderr::last_lines(stderr)),
    }
}

/// The final `ERROR:` line without its prefix, with the lines that continue it (a wrapped error
/// such as "Could not connect to Central …" puts its hint and cause on the next lines), or
/// `None` when roxctl printed no error line.
fn last_error(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines.iter().rposition(|l| l.trim_start().starts_with("ERROR:"))?;
    let mut message = lines[start].trim_start().trim_start_matches("ERROR:").trim().to_owned();
    for line in &lines[start + 1..] {
        if PREFIXES.iter().any(|p| line.trim_start().starts_with(p)) {
            break;
        }
        if !line.trim().is_empty() {
            message.push('\n');
            message.push_str(line.trim_end());
        }
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn roxctl_is_recognised_by_its_file_name_only() {
        for yes in ["roxctl", "/usr/local/bin/roxctl", "./roxctl-4.7.2", "C:\\bin\\roxctl.exe"] {
            assert!(is_roxctl(yes), "{yes}");
        }
        for no in ["trivy", "/opt/roxctl/bin/grype", "myroxctl", "roxctlx"] {
            assert!(!is_roxctl(no), "{no}");
        }
    }

    #[test]
    fn the_image_commands_take_operation_and_image_from_every_flag_spelling() {
        let cases = [
            ("image scan -i nginx:1.25", Operation::ImageScan, "nginx:1.25"),
            ("image check --image quay.io/a/b:1", Operation::ImageCheck, "quay.io/a/b:1"),
            ("image sbom --image=quay.io/a/b@sha256:00", Operation::ImageSbom, "quay.io/a/b@sha256:00"),
            ("-e central:443 image scan -iregistry/x:2 --output json", Operation::ImageScan, "registry/x:2"),
            ("--insecure-skip-tls-verify image scan -i=x:3 --force", Operation::ImageScan, "x:3"),
        ];
        for (line, operation, image) in cases {
            let got = parse_args(&args(line));
            assert_eq!(
                got,
                Some(Invocation { operation, target: Target::Image(image.to_owned()), cluster: None, namespace: None }),
                "{line}"
            );
        }
    }

    #[test]
    fn deployment_check_takes_every_file_the_cluster_and_the_namespace() {
        let got =
            parse_args(&args("deployment check -f a.yaml --file b.yaml --file=c.yml --cluster prod-eu-1 -n shop"));
        assert_eq!(
            got,
            Some(Invocation {
                operation: Operation::DeploymentCheck,
                target: Target::DeploymentFiles(vec!["a.yaml".into(), "b.yaml".into(), "c.yml".into()]),
                cluster: Some("prod-eu-1".to_owned()),
                namespace: Some("shop".to_owned()),
            })
        );
    }

    #[test]
    fn other_roxctl_commands_and_an_image_command_without_image_scan_nothing() {
        for line in ["central whoami", "image scan", "deployment", "sensor generate k8s", "image scan -- -i x"] {
            assert_eq!(parse_args(&args(line)), None, "{line}");
        }
    }

    #[test]
    fn policy_violations_are_not_scan_failures() {
        let image_check = "WARN:\tA total of 2 policies have been violated\n\
            ERROR:\tfailed policies found: 1 policies violated that are failing the check\n\
            ERROR:\tPolicy \"Fixable CVSS >= 7\" - Possible remediation: \"upgrade\"\n\
            ERROR:\tViolated a policy with CI enforcement set\n";
        assert_eq!(verdict(image_check), Verdict::PolicyViolation);
        let deployment = "ERROR:\tbreaking policies found: failed policies found: 1 policies violated\n";
        assert_eq!(verdict(deployment), Verdict::PolicyViolation);
    }

    #[test]
    fn fail_findings_are_not_scan_failures() {
        let out = "WARN:\tA total of 3 unique vulnerabilities were found in 2 components\n\
            ERROR:\timage scan failed: vulnerabilities found: 3 vulnerabilities\n";
        assert_eq!(verdict(out), Verdict::Findings);
    }

    #[test]
    fn a_failure_records_the_final_error_line_not_the_retries() {
        let out = "ERROR:\tScanning image failed: retrieving image scan result: rpc error: code = Unavailable desc = x. Retrying after 3 seconds...\n\
            ERROR:\tScanning image failed: retrieving image scan result: rpc error: code = Unavailable desc = x. Retrying after 3 seconds...\n\
            ERROR:\timage scan failed after 2 retries: retrieving image scan result: rpc error: code = Unavailable desc = x\n";
        assert_eq!(
            verdict(out),
            Verdict::Failed(
                "image scan failed after 2 retries: retrieving image scan result: rpc error: code = Unavailable desc = x"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_wrapped_error_keeps_its_continuation_lines() {
        let out = "ERROR:\tCould not connect to Central at default endpoint (localhost:8443).\n\
            HINT: Configure the Central endpoint using the -e/--endpoint flag or ROX_ENDPOINT environment variable.\n\
            \x20     Example: roxctl -e central.example.com:443 <command>: dial tcp [::1]:8443: connect: connection refused\n\
            \n";
        assert_eq!(
            verdict(out),
            Verdict::Failed(
                "Could not connect to Central at default endpoint (localhost:8443).\n\
                 HINT: Configure the Central endpoint using the -e/--endpoint flag or ROX_ENDPOINT environment variable.\n\
                 \x20     Example: roxctl -e central.example.com:443 <command>: dial tcp [::1]:8443: connect: connection refused"
                    .to_owned()
            )
        );
    }

    #[test]
    fn without_an_error_line_the_last_lines_are_the_message() {
        assert_eq!(
            verdict("panic: runtime error\n\ngoroutine 1 [running]:\n"),
            Verdict::Failed("panic: runtime error\ngoroutine 1 [running]:".to_owned())
        );
    }
}
