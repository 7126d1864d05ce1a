//! The producer side: `scanfail run -- <scanner>` and `scanfail report`.
//!
//! Publishing never changes the scanner's exit code: a report that cannot be published is one
//! line on standard error, and the scanner's code stands unless `--require-report`.

pub mod deployment;
pub mod event;
pub mod initiator;
pub mod publish;
pub mod roxctl;
pub mod run;
pub mod stderr;
mod yaml_loose;
mod yaml_size;

use scan_failures_domain::event::{EventError, Operation, Origin};
use scan_failures_domain::redact;
use scan_failures_domain::text::error_chain;
use thiserror::Error;
use time::OffsetDateTime;

use crate::args::{ContextArgs, ReportArgs, RunArgs};
use crate::{exit, say};
use event::Report;
use publish::Publisher;
use roxctl::{Target, Verdict};

/// What `run` reports if the scan fails, decided before the scanner starts, so that a command
/// line it cannot report on is refused at once rather than on the first failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub operation: Operation,
    pub origin: Origin,
    pub target: Target,
    pub cluster: Option<String>,
    /// The namespace of deployments whose YAML names none.
    pub namespace: String,
    /// Read the failure the way roxctl prints it.
    pub roxctl: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("`{0}` is not a roxctl scan (image scan|check|sbom -i IMAGE, deployment check -f FILE); give --operation and --image to report its failures")]
    NotARoxctlScan(String),
    #[error("{0} is not roxctl: give --operation and --image to report its failures")]
    NeedsTarget(String),
    #[error("deployment check without -f FILE: roxctl names no image to report")]
    NoDeploymentFiles,
    #[error("--deployment does not apply to deployment check: each image is reported with its workload's namespace/name from the files")]
    DeploymentOfFiles,
}

/// `command` as said back in a message, with the values of flags that carry a secret masked
/// (`-p`/`--password`, and any flag naming a password, secret or token, in each spelling,
/// `-pVALUE` too, which roxctl's flag parser takes as `-p VALUE`): standard error often lands in
/// a CI log that more people read than the scanner's secrets.
pub fn said(command: &[String]) -> String {
    let secret = |flag: &str| {
        let name = flag.trim_start_matches('-').to_ascii_lowercase();
        flag == "-p" || ["password", "passwd", "secret", "token"].iter().any(|s| name.contains(s))
    };
    let mut out = Vec::with_capacity(command.len());
    let mut mask_next = false;
    for word in command {
        if mask_next {
            out.push("***".to_owned());
            mask_next = false;
            continue;
        }
        match word.split_once('=') {
            Some((flag, _)) if flag.starts_with('-') && secret(flag) => out.push(format!("{flag}=***")),
            _ if word.len() > 2 && word.starts_with("-p") && !word.starts_with("--") => out.push("-p***".to_owned()),
            _ if word.starts_with('-') && secret(word) => {
                out.push(word.clone());
                mask_next = true;
            }
            _ => out.push(word.clone()),
        }
    }
    // And a URL's password, in a flag's value or anywhere else (`-e https://admin:pw@central`).
    redact::secrets(&out.join(" ")).into_owned()
}

/// The plan for `command` (the scanner and its arguments) under `args`' flags.
pub fn plan(args: &RunArgs) -> Result<Plan, PlanError> {
    let (program, rest) = args.command.split_first().ok_or_else(|| PlanError::NeedsTarget(String::new()))?;
    let is_roxctl = roxctl::is_roxctl(program);
    let from_args = if is_roxctl { roxctl::parse_args(rest) } else { None };
    let origin = args.origin.unwrap_or(if is_roxctl { Origin::Roxctl } else { Origin::Api });
    let (operation, target, cluster, namespace) = match (args.operation, &args.image, from_args) {
        (Some(operation), Some(image), found) => {
            (operation, Target::Image(image.clone()), found.and_then(|f| f.cluster), None)
        }
        (_, _, Some(found)) => (found.operation, found.target, found.cluster, found.namespace),
        _ if is_roxctl => return Err(PlanError::NotARoxctlScan(said(&args.command))),
        _ => return Err(PlanError::NeedsTarget(program.clone())),
    };
    if let Target::DeploymentFiles(files) = &target {
        if files.is_empty() {
            return Err(PlanError::NoDeploymentFiles);
        }
        if args.context.deployment.is_some() {
            return Err(PlanError::DeploymentOfFiles);
        }
    }
    Ok(Plan {
        operation,
        origin,
        target,
        cluster: args.context.cluster.clone().or(cluster),
        namespace: namespace.unwrap_or_else(|| "default".to_owned()),
        roxctl: is_roxctl,
    })
}

/// What a failed run reports: one report per image, or why it reports nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The scan worked and failed the build on purpose (a policy, `--fail` findings).
    NotAScanFailure(&'static str),
    /// `left_out`: the deployment files hold more images than a run reports
    /// ([`deployment::MAX_IMAGES`]), and the reports are the first ones; `unread`: deployment
    /// files that could not be read again (pipes), whose images are not among them.
    Reports { reports: Vec<Report>, left_out: bool, unread: Vec<std::path::PathBuf> },
}

/// An image a failed run reports, and the deployment (namespace, name) that runs it.
type ImageToReport = (String, Option<(String, String)>);

/// The reports of a run that exited with `code` and printed `stderr` (`context.initiator`
/// already resolved: the flag, else the CI job).
pub fn outcome(
    plan: &Plan,
    context: &ContextArgs,
    code: i32,
    stderr: &str,
    scanner: &str,
    now: OffsetDateTime,
) -> Result<Outcome, deployment::DeploymentError> {
    let message = match if plan.roxctl { roxctl::verdict(stderr) } else { Verdict::Failed(stderr::last_lines(stderr)) }
    {
        Verdict::PolicyViolation => return Ok(Outcome::NotAScanFailure("a policy violation")),
        Verdict::Findings => return Ok(Outcome::NotAScanFailure("vulnerabilities found (--fail)")),
        Verdict::Failed(m) if m.trim().is_empty() => format!("{scanner} exited with code {code}"),
        Verdict::Failed(m) => m,
    };
    let (images, left_out, unread): (Vec<ImageToReport>, bool, Vec<std::path::PathBuf>) = match &plan.target {
        Target::Image(image) => (vec![(image.clone(), context.deployment.clone())], false, Vec::new()),
        Target::DeploymentFiles(files) => {
            let found = deployment::images_of_files(files, &plan.namespace)?;
            if found.images.is_empty() {
                return Err(deployment::DeploymentError::NoImages { files: files.clone() });
            }
            let images = found.images.into_iter().map(|d| (d.image, Some((d.namespace, d.name)))).collect();
            (images, found.cut, found.unread)
        }
    };
    let user_agent = initiator::user_agent(Some(scanner));
    let reports = images
        .into_iter()
        .map(|(image, deployment)| Report {
            operation: plan.operation,
            origin: plan.origin,
            image,
            deployment,
            cluster: plan.cluster.clone(),
            message: message.clone(),
            code: None,
            initiator: context.initiator.clone(),
            user_agent: user_agent.clone(),
            occurred_at: now,
            occurrence_id: new_occurrence_id(),
        })
        .collect();
    Ok(Outcome::Reports { reports, left_out, unread })
}

/// A failed scan's id when its sender gives none: a random UUID, made once per failed scan
/// before the first send.
fn new_occurrence_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The CI job of this process's environment.
fn ci_initiator() -> Option<String> {
    initiator::from_ci(|k| std::env::var(k).ok())
}

/// `scanfail run`: the scanner's exit code, or [`exit::NOT_REPORTED`] under `--require-report`.
pub async fn run(mut args: RunArgs) -> i32 {
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            say(&e.to_string());
            return i32::from(exit::USAGE);
        }
    };
    let (program, rest) = match args.command.split_first() {
        Some(split) => split,
        None => return i32::from(exit::USAGE),
    };
    let mut signals = match run::Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            say(&error_chain(&e));
            return e.exit_code();
        }
    };
    let finished = match run::run(program, rest, &mut signals).await {
        Ok(f) => f,
        Err(e) => {
            say(&error_chain(&e));
            return e.exit_code();
        }
    };
    if finished.code == 0 {
        return 0;
    }
    if let Some(n) = finished.stopped {
        say(&match n {
            run::SIGPIPE => format!(
                "{program} was ended by SIGPIPE: what read its output stopped reading, which is no scan failure; nothing reported"
            ),
            _ => format!("{program} was stopped by {}: a cancelled scan is no scan failure; nothing reported", run::signal_name(n)),
        });
        return finished.code;
    }
    // The failure happened when the scanner gave up, which for a scan that retries is minutes
    // after it started: the time its group's last occurrence, windows and trend days go by.
    let failed_at = OffsetDateTime::now_utc();
    let not_reported = if args.require_report { i32::from(exit::NOT_REPORTED) } else { finished.code };
    args.context.initiator = args.context.initiator.take().or_else(ci_initiator);
    let (reports, left_out) =
        match outcome(&plan, &args.context, finished.code, &finished.stderr.text(), program, failed_at) {
            Ok(Outcome::NotAScanFailure(why)) => {
                say(&format!("not a scan failure ({why}): nothing reported"));
                return finished.code;
            }
            Ok(Outcome::Reports { reports, left_out, unread }) => {
                if left_out {
                    say(&format!(
                        "the deployment files name more than {} images: only the first {} are reported",
                        deployment::MAX_IMAGES,
                        deployment::MAX_IMAGES
                    ));
                }
                for path in unread.iter().cloned() {
                    say(&format!("not reported: {}", deployment::DeploymentError::NotAFile { path }));
                }
                (reports, left_out || !unread.is_empty())
            }
            Err(e) => {
                say(&format!("the scan failed but cannot be reported: {}", error_chain(&e)));
                return not_reported;
            }
        };
    let (reports, refused) = event::checked(reports, &args.bus.source);
    if reports.is_empty() {
        say(&format!("the scan failed but cannot be reported: {}", refusals(&refused)));
        return not_reported;
    }
    let config = crate::aws::load().await;
    let publisher = Publisher::new(&config, args.bus.bus, args.bus.source);
    // A stop signal while reporting ends the run, or one since the scanner ended (kept by
    // `signals`): the handlers replaced the default action, so without this a second
    // `docker stop` or Ctrl-C went unheard until the calls ended.
    let sent = tokio::select! {
        sent = publisher.publish(&reports) => sent,
        (n, _) = signals.next() => {
            say(&format!("stopped by {} while reporting: the failed scan may not have been reported", run::signal_name(n)));
            return 128 + n;
        }
    };
    match sent {
        Ok(n) => {
            let reason = reports.first().map(|r| r.reason().code()).unwrap_or_default();
            say(&published(n, reason, publisher.bus(), &refused));
            if all_reported(&refused, left_out) {
                finished.code
            } else {
                not_reported
            }
        }
        Err(stopped) => {
            say(&unpublished(&stopped, &refused));
            not_reported
        }
    }
}

/// Whether every failed image of a run was reported once its reports are published: none was
/// refused by the contract's check, and none left out (past [`deployment::MAX_IMAGES`], or in
/// a deployment file that could not be read again), whose failed scans were not reported
/// either: `--require-report` exits 75 for them too.
fn all_reported(refused: &[(Report, EventError)], left_out: bool) -> bool {
    refused.is_empty() && !left_out
}

/// What `run` says when publishing stopped: whether some reports were on the bus by then, and
/// the ones left out before it started.
fn unpublished(stopped: &publish::Stopped, refused: &[(Report, EventError)]) -> String {
    let sent = if stopped.sent > 0 { "was reported in part" } else { "was not reported" };
    let left_out =
        if refused.is_empty() { String::new() } else { format!("; also not reported: {}", refusals(refused)) };
    format!("the scan failed and {sent}: {}{left_out}", error_chain(&stopped.error))
}

/// What `run` says once `n` reports are on the bus and `refused` were not sent.
fn published(n: usize, reason: &str, bus: &str, refused: &[(Report, EventError)]) -> String {
    if refused.is_empty() {
        return format!("reported {n} failed scan(s) ({reason}) to the bus {bus}");
    }
    let total = n + refused.len();
    format!("reported {n} of {total} failed scan(s) ({reason}) to the bus {bus}; not reported: {}", refusals(refused))
}

/// The first refused report's image and why, and how many more there are.
fn refusals(refused: &[(Report, EventError)]) -> String {
    let Some(((report, why), rest)) = refused.split_first() else { return String::new() };
    let image = scan_failures_domain::event::truncate(report.image.clone(), 256);
    let more = if rest.is_empty() { String::new() } else { format!(" (and {} more)", rest.len()) };
    format!("{}: {why}{more}", crate::output::printable(&image))
}

/// `scanfail report`: 0 when published, else the failure's exit code.
pub async fn report(args: ReportArgs) -> i32 {
    let report = Report {
        operation: args.operation,
        origin: args.origin,
        image: args.image,
        deployment: args.context.deployment,
        cluster: args.context.cluster,
        message: args.message,
        code: args.code.map(|c| c.code().to_owned()),
        initiator: args.context.initiator.or_else(ci_initiator),
        user_agent: initiator::user_agent(None),
        occurred_at: OffsetDateTime::now_utc(),
        occurrence_id: args.occurrence_id.unwrap_or_else(new_occurrence_id),
    };
    let config = crate::aws::load().await;
    let publisher = Publisher::new(&config, args.bus.bus, args.bus.source);
    match publisher.publish(std::slice::from_ref(&report)).await {
        Ok(_) => {
            say(&format!(
                "reported a failed scan of {} ({}) to the bus {}",
                report.image,
                report.reason().code(),
                publisher.bus()
            ));
            0
        }
        Err(stopped) => {
            say(&format!("not reported: {}", error_chain(&stopped.error)));
            i32::from(stopped.error.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::BusArgs;

    fn args(command: &str) -> RunArgs {
        RunArgs {
            bus: BusArgs { bus: "scan-failures".into(), source: "scanfail".into() },
            operation: None,
            image: None,
            origin: None,
            context: ContextArgs { cluster: None, deployment: None, initiator: Some("job-1".into()) },
            require_report: false,
            command: command.split_whitespace().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn roxctl_is_planned_from_its_arguments_and_other_scanners_from_flags() {
        let p = plan(&args("roxctl image check -i nginx --cluster prod")).unwrap();
        assert_eq!(
            (p.operation, p.origin, p.target, p.cluster.as_deref(), p.roxctl),
            (Operation::ImageCheck, Origin::Roxctl, Target::Image("nginx".into()), Some("prod"), true)
        );
        let trivy = RunArgs {
            operation: Some(Operation::ImageScan),
            image: Some("alpine:3".into()),
            ..args("trivy image alpine:3")
        };
        let p = plan(&trivy).unwrap();
        assert_eq!((p.operation, p.origin, p.roxctl), (Operation::ImageScan, Origin::Api, false));
    }

    #[test]
    fn a_command_line_that_names_no_image_is_refused_before_running() {
        assert_eq!(
            plan(&args("roxctl central whoami")),
            Err(PlanError::NotARoxctlScan("roxctl central whoami".into()))
        );
        assert_eq!(plan(&args("trivy image alpine")), Err(PlanError::NeedsTarget("trivy".into())));
        assert_eq!(plan(&args("roxctl deployment check")), Err(PlanError::NoDeploymentFiles));
        let mut named = args("roxctl deployment check -f k8s/web.yaml");
        named.context.deployment = Some(("shop".into(), "web".into()));
        assert_eq!(plan(&named), Err(PlanError::DeploymentOfFiles));
    }

    /// Before, such a run said "the scan failed but cannot be reported: " and nothing after it.
    #[test]
    fn deployment_files_without_a_workload_image_say_so() {
        let dir = std::env::temp_dir().join(format!("scanfail-no-images-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("service.yaml");
        std::fs::write(&file, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n").unwrap();
        let p = plan(&args(&format!("roxctl deployment check -f {}", file.display()))).unwrap();
        let err =
            outcome(&p, &args("x").context, 1, "ERROR:\tboom\n", "roxctl", OffsetDateTime::UNIX_EPOCH).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no workload image (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod) in {}",
                file.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Past the images a run reports, the outcome says so (before, they were left out unsaid).
    #[test]
    fn deployment_files_with_more_images_than_a_run_reports_say_the_rest_is_left_out() {
        let dir = std::env::temp_dir().join(format!("scanfail-many-images-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("many.yaml");
        let pods: String = (0..deployment::MAX_IMAGES + 1)
            .map(|n| format!("---\nkind: Pod\nmetadata: {{name: p{n}}}\nspec: {{containers: [{{image: img{n}}}]}}\n"))
            .collect();
        std::fs::write(&file, pods).unwrap();
        let p = plan(&args(&format!("roxctl deployment check -f {}", file.display()))).unwrap();
        let got = outcome(&p, &args("x").context, 1, "ERROR:\tboom\n", "roxctl", OffsetDateTime::UNIX_EPOCH).unwrap();
        let Outcome::Reports { reports, left_out, .. } = got else { panic!("{got:?}") };
        assert_eq!((reports.len(), left_out), (deployment::MAX_IMAGES, true));
        std::fs::remove_dir_all(&dir).unwrap();
        // Their failed scans were not reported: `--require-report` exits 75 for them, as for
        // images refused by the contract (before, the scanner's code stood).
        assert!(!all_reported(&[], true));
        assert!(all_reported(&[], false));
    }

    #[test]
    fn a_command_line_said_back_masks_the_values_of_secret_flags() {
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            said(&words(
                "roxctl -e central:443 -p hunter2 central whoami --password=x --api-token t --token-file f -n ns"
            )),
            "roxctl -e central:443 -p *** central whoami --password=*** --api-token *** --token-file *** -n ns"
        );
        assert_eq!(
            plan(&args("roxctl -p hunter2 central whoami")),
            Err(PlanError::NotARoxctlScan("roxctl -p *** central whoami".into()))
        );
        // The value attached to the short flag, as roxctl (cobra) also accepts it.
        assert_eq!(said(&words("roxctl -phunter2 central whoami -p=x")), "roxctl -p*** central whoami -p=***");
        assert_eq!(
            said(&words("roxctl -e https://admin:pw@central:443 central whoami")),
            "roxctl -e https://admin:***@central:443 central whoami"
        );
    }

    #[test]
    fn a_failed_scan_reports_the_image_with_the_final_error() {
        let p = plan(&args("roxctl image scan -i quay.io/acme/web:1.4")).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let got = outcome(
            &p,
            &args("x").context,
            1,
            "ERROR:\tretry. Retrying after 3 seconds...\nERROR:\tboom: code = Unauthenticated\n",
            "roxctl",
            now,
        )
        .unwrap();
        let Outcome::Reports { reports, left_out: false, .. } = got else { panic!("{got:?}") };
        assert_eq!(reports.len(), 1);
        assert_eq!(
            (reports[0].image.as_str(), reports[0].message.as_str()),
            ("quay.io/acme/web:1.4", "boom: code = Unauthenticated")
        );
        assert_eq!(reports[0].initiator.as_deref(), Some("job-1"));
        assert!(reports[0].user_agent.ends_with(" roxctl"));
        let id = uuid::Uuid::parse_str(&reports[0].occurrence_id).map(|u| u.get_version_num());
        assert_eq!(id, Ok(4), "a random id of its own: {}", reports[0].occurrence_id);
    }

    #[test]
    fn policy_violations_and_findings_report_nothing() {
        let p = plan(&args("roxctl image check -i nginx")).unwrap();
        let ctx = args("x").context;
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            outcome(&p, &ctx, 1, "ERROR:\tViolated a policy with CI enforcement set\n", "roxctl", now).unwrap(),
            Outcome::NotAScanFailure("a policy violation")
        );
        assert_eq!(
            outcome(
                &p,
                &ctx,
                1,
                "ERROR:\timage scan failed: vulnerabilities found: 2 vulnerabilities\n",
                "roxctl",
                now
            )
            .unwrap(),
            Outcome::NotAScanFailure("vulnerabilities found (--fail)")
        );
    }

    #[test]
    fn a_silent_failure_says_how_the_scanner_exited() {
        let trivy = RunArgs {
            operation: Some(Operation::ImageScan),
            image: Some("alpine:3".into()),
            ..args("trivy image alpine:3")
        };
        let p = plan(&trivy).unwrap();
        let Ok(Outcome::Reports { reports, .. }) =
            outcome(&p, &trivy.context, 2, "", "trivy", OffsetDateTime::UNIX_EPOCH)
        else {
            panic!()
        };
        assert_eq!(reports[0].message, "trivy exited with code 2");
    }

    #[test]
    fn a_run_reported_in_part_names_the_first_image_left_out_and_counts_the_rest() {
        let p = plan(&args("roxctl image scan -i quay.io/acme/a:1")).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let Ok(Outcome::Reports { reports, .. }) = outcome(&p, &args("x").context, 1, "ERROR:\tboom\n", "roxctl", now)
        else {
            panic!("a failed scan")
        };
        let named = |image: &str| Report { image: image.into(), ..reports[0].clone() };
        let (valid, refused) = event::checked(
            vec![named("Bad\u{1b}]52;c;x\u{7}Image"), named("also bad"), reports[0].clone()],
            "scanfail",
        );
        assert_eq!(valid.len(), 1);
        assert_eq!(published(1, "UNKNOWN", "b", &[]), "reported 1 failed scan(s) (UNKNOWN) to the bus b");
        assert_eq!(
            published(1, "UNKNOWN", "b", &refused),
            "reported 1 of 3 failed scan(s) (UNKNOWN) to the bus b; not reported: Bad\\u{1b}]52;c;x\\u{7}Image: detail.image.name: is not a valid image reference: must not contain whitespace or control characters (and 1 more)"
        );
    }

    #[test]
    fn a_run_stopped_after_some_requests_says_it_was_reported_in_part() {
        let entries = |failed: usize| publish::PublishError::EntriesFailed {
            failed,
            total: 12,
            code: "InternalFailure".into(),
            message: "x".into(),
        };
        let stopped = |sent: usize, error| publish::Stopped { sent, error };
        assert_eq!(
            unpublished(&stopped(9, entries(3)), &[]),
            "the scan failed and was reported in part: 3 of 12 events were not accepted: InternalFailure: x"
        );
        assert_eq!(
            unpublished(&stopped(0, entries(12)), &[]),
            "the scan failed and was not reported: 12 of 12 events were not accepted: InternalFailure: x"
        );
        // A second request throttled after the first one's 10 entries were accepted.
        assert_eq!(
            unpublished(&stopped(10, publish::PublishError::Throttled), &[]),
            "the scan failed and was reported in part: EventBridge throttled the request; try again later"
        );
        let p = plan(&args("roxctl image scan -i quay.io/acme/a:1")).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let Ok(Outcome::Reports { reports, .. }) = outcome(&p, &args("x").context, 1, "ERROR:\tboom\n", "roxctl", now)
        else {
            panic!("a failed scan")
        };
        let (_, refused) = event::checked(vec![Report { image: "${IMAGE}".into(), ..reports[0].clone() }], "scanfail");
        assert_eq!(
            unpublished(&stopped(0, publish::PublishError::Throttled), &refused),
            "the scan failed and was not reported: EventBridge throttled the request; try again later; also not reported: ${IMAGE}: detail.image.name: is not a valid image reference: has an invalid repository path \"library/${IMAGE}\" (lower-case letters, digits and . _ - / only)"
        );
    }
}
