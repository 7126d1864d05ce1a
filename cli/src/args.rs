//! The command line: every command, flag and environment variable of `scanfail`.

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use scan_failures_domain::classify::Reason;
use scan_failures_domain::event::{Operation, Origin};
use scan_failures_domain::group::daily::MAX_TREND_DAYS;
use scan_failures_domain::group::triage::MAX_NOTE_BYTES;
use scan_failures_domain::retention::RetentionDays;

#[derive(Debug, Parser)]
#[command(name = "scanfail", version, about = "Report failed image scans to the bus, and query and triage them.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scanner; when its scan fails, report one event per failed image. Exits with the
    /// scanner's code.
    Run(RunArgs),
    /// Report one failed scan (for scripts that call the ACS API directly).
    Report(ReportArgs),
    /// Query, triage and delete the failure events.
    // Boxed: its filters make it several times the size of the other commands.
    Events(Box<EventsArgs>),
    /// Read or change how long events are kept.
    Retention(RetentionArgs),
    /// Serve a local web console on 127.0.0.1 that signs its API calls with your credentials.
    Console(ConsoleArgs),
}

impl Cli {
    /// The command line, the API chosen ([`ApiArgs::choose`]); a usage error exits 2.
    pub fn parse_args() -> Self {
        Self::from_matches(&Self::command().get_matches()).unwrap_or_else(|e| e.exit())
    }

    /// [`Cli`] from parsed arguments, the API chosen by where `--endpoint` and `--stack` came from.
    pub fn from_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut cli = Self::from_arg_matches(matches)?;
        // Asked only of the commands that have the two (clap panics on an argument it lacks).
        let sources = || {
            let source = |id: &str| matches.subcommand().and_then(|(_, sub)| sub.value_source(id));
            (source("endpoint"), source("stack"))
        };
        let api = match &mut cli.command {
            Command::Events(a) => &mut a.api,
            Command::Retention(a) => &mut a.api,
            Command::Console(a) => &mut a.api,
            Command::Run(_) | Command::Report(_) => return Ok(cli),
        };
        let (endpoint, stack) = sources();
        api.choose(endpoint, stack)?;
        Ok(cli)
    }
}

/// `scanfail console`.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The local port (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Open the console in the desktop's browser.
    #[arg(long)]
    pub open: bool,
}

/// Where reports go.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// The EventBridge bus (name or ARN).
    #[arg(long, env = "SCANFAIL_BUS", default_value = "scan-failures")]
    pub bus: String,
    /// The events' `source`.
    #[arg(long, env = "SCANFAIL_SOURCE", default_value = "scanfail")]
    pub source: String,
}

/// What a report says besides the error.
#[derive(Debug, Clone, Args)]
pub struct ContextArgs {
    /// The cluster the scan was for.
    #[arg(long)]
    pub cluster: Option<String>,
    /// The deployment that runs the image, as NAMESPACE/NAME.
    #[arg(long, value_parser = parse_deployment)]
    pub deployment: Option<(String, String)>,
    /// Who started the scan; by default the CI job (GitHub Actions, GitLab CI, Jenkins).
    #[arg(long)]
    pub initiator: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub bus: BusArgs,
    /// The scan's operation; taken from roxctl's arguments when not given.
    #[arg(long, value_parser = parse_operation, requires = "image")]
    pub operation: Option<Operation>,
    /// The scanned image; taken from roxctl's arguments when not given.
    #[arg(long, requires = "operation")]
    pub image: Option<String>,
    /// Where the scan ran from: roxctl or api (default: roxctl for roxctl, else api).
    #[arg(long, value_parser = parse_origin)]
    pub origin: Option<Origin>,
    #[command(flatten)]
    pub context: ContextArgs,
    /// Exit with code 75 when a failed scan could not be reported (by default the scanner's
    /// code stands).
    #[arg(long)]
    pub require_report: bool,
    /// The scanner and its arguments.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub bus: BusArgs,
    #[arg(long, value_parser = parse_operation)]
    pub operation: Operation,
    #[arg(long, value_parser = parse_origin, default_value = "api")]
    pub origin: Origin,
    #[arg(long)]
    pub image: String,
    /// The scanner's error text.
    #[arg(long)]
    pub message: String,
    /// A reason code, when the sender knows it (e.g. REGISTRY_UNAUTHORIZED).
    #[arg(long, value_parser = parse_reason)]
    pub code: Option<Reason>,
    /// This failed scan's own id, kept when the step is run again (for example
    /// "$GITHUB_RUN_ID-$GITHUB_JOB"): reports of the same image, operation, origin and reason
    /// from the same account and source with the same id count once. Default: a new random UUID.
    #[arg(long)]
    pub occurrence_id: Option<String>,
    #[command(flatten)]
    pub context: ContextArgs,
}

/// How to reach the API and how to print its answers.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The API's URL (the stack's ApiUrl output).
    #[arg(long, env = "SCANFAIL_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
    /// The CloudFormation stack whose ApiUrl output is the API's URL.
    #[arg(long, env = "SCANFAIL_STACK", global = true)]
    pub stack: Option<String>,
    /// table on a terminal, json (the API's own JSON) otherwise.
    #[arg(long, short, value_enum, global = true)]
    pub output: Option<Output>,
}

impl ApiArgs {
    /// Keeps one of `--endpoint` and `--stack` when both are set: a flag on the command line
    /// wins over the other's environment variable (an exported `SCANFAIL_ENDPOINT` does not
    /// block `--stack`); both from the environment, the stack; both on the command line is a
    /// usage error.
    pub fn choose(&mut self, endpoint: Option<ValueSource>, stack: Option<ValueSource>) -> Result<(), clap::Error> {
        let given = |s: Option<ValueSource>| s == Some(ValueSource::CommandLine);
        match (given(endpoint), given(stack)) {
            (true, true) => Err(Cli::command()
                .error(ErrorKind::ArgumentConflict, "--endpoint and --stack both name the API: give one of them")),
            (true, false) => {
                self.stack = None;
                Ok(())
            }
            (false, _) if self.stack.is_some() => {
                self.endpoint = None;
                Ok(())
            }
            (false, _) => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// The matching events, most recent first.
    List {
        #[command(flatten)]
        filters: FilterArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Events per page (1-1000).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: Option<u16>,
        /// Every page, following the cursor (at most 1000 requests; past them, the cursor to go on
        /// from is printed).
        #[arg(long)]
        all: bool,
        /// Start at the `nextCursor` of an earlier listing with the same filters.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One event, with its triage history.
    Get { id: String },
    /// How many events match.
    Count {
        #[command(flatten)]
        filters: FilterArgs,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// Events and failures by reason, and the top images; with --output json, also by level,
    /// operation, origin, cluster, account and region, and the account drill-down.
    Summary {
        #[command(flatten)]
        filters: FilterArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// How many images to list (1-100).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
        top: Option<u8>,
        /// Read every matching event for the top images, clusters and drill-down (the last two in
        /// --output json), which an unfiltered summary answered from the rollups leaves out
        /// (bounded; a broad one is refused).
        #[arg(long)]
        detail: bool,
    },
    /// Failures and new events per day, as a bar chart.
    Trend {
        #[command(flatten)]
        filters: FilterArgs,
        /// Days back from today (1-90).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_TREND_DAYS)))]
        days: Option<u8>,
    },
    /// Set an event's triage state.
    Triage {
        id: String,
        #[arg(long, value_parser = ["open", "acknowledged", "false_positive", "resolved"])]
        state: String,
        /// Why (at most 1024 bytes). Without it the event's current note is kept (read first,
        /// and the triage sent only if no other has come in between: else 409).
        #[arg(long, value_parser = parse_note)]
        note: Option<String>,
        /// Remove the event's note instead of keeping it.
        #[arg(long, conflicts_with = "note")]
        clear_note: bool,
        /// Only if the event's triage is still at this version (its `version`, as `events get`
        /// shows it): else the API answers 409 and nothing changes.
        #[arg(long)]
        if_version: Option<u64>,
    },
    /// Delete the events of an image, a repository or a reason (asks first).
    Delete {
        #[arg(long, required_unless_present_any = ["repository", "reason"])]
        image: Vec<String>,
        #[arg(long)]
        repository: Vec<String>,
        #[arg(long, value_parser = parse_reason)]
        reason: Vec<Reason>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
}

/// The API's filters; each may be given several times (any of them matches).
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Image reference, normalized (nginx = docker.io/library/nginx:latest).
    #[arg(long)]
    pub image: Vec<String>,
    #[arg(long)]
    pub repository: Vec<String>,
    /// Image digest (sha256:…).
    #[arg(long)]
    pub digest: Vec<String>,
    #[arg(long, value_parser = parse_reason)]
    pub reason: Vec<Reason>,
    #[arg(long, value_parser = ["error", "warning"])]
    pub level: Vec<String>,
    #[arg(long, value_parser = parse_any_operation)]
    pub operation: Vec<Operation>,
    #[arg(long, value_parser = parse_any_origin)]
    pub origin: Vec<Origin>,
    #[arg(long)]
    pub cluster: Vec<String>,
    #[arg(long)]
    pub account: Vec<String>,
    /// Region the failures were reported from (eu-west-1); the API's own region comes from the
    /// stack's endpoint, not from this.
    #[arg(long)]
    pub region: Vec<String>,
    /// Words in the message or image.
    #[arg(long)]
    pub search: Vec<String>,
    #[arg(long, value_parser = ["open", "acknowledged", "false_positive", "resolved"])]
    pub triage: Vec<String>,
}

/// A time window on the last failure.
#[derive(Debug, Clone, Default, Args)]
pub struct WindowArgs {
    /// Last failed within this long (30m, 24h, 7d, 2w).
    #[arg(long, conflicts_with = "from", value_parser = parse_span)]
    pub since: Option<time::Duration>,
    /// Last failed at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Last failed at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: RetentionCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RetentionCommand {
    /// The retention in force, and the progress of re-stamping after a change.
    Get,
    /// Keep events this many days (1-365) after their last failure.
    Set {
        #[arg(value_parser = parse_retention)]
        days: u16,
    },
}

/// `image scan` or `image-scan`: an operation of the contract.
fn parse_operation(s: &str) -> Result<Operation, String> {
    Operation::NATIVE
        .into_iter()
        .find(|o| o.as_str() == s.replace('-', " "))
        .ok_or_else(|| format!("one of: {}", Operation::NATIVE.map(|o| o.as_str().replace(' ', "-")).join(", ")))
}

/// Any operation, the registry's included (a filter).
fn parse_any_operation(s: &str) -> Result<Operation, String> {
    Operation::ALL
        .into_iter()
        .find(|o| o.as_str() == s.replace('-', " "))
        .ok_or_else(|| format!("one of: {}", Operation::ALL.map(|o| o.as_str().replace(' ', "-")).join(", ")))
}

fn parse_origin(s: &str) -> Result<Origin, String> {
    Origin::NATIVE
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("one of: {}", Origin::NATIVE.map(Origin::as_str).join(", ")))
}

fn parse_any_origin(s: &str) -> Result<Origin, String> {
    Origin::parse(s).ok_or_else(|| format!("one of: {}", Origin::ALL.map(Origin::as_str).join(", ")))
}

fn parse_reason(s: &str) -> Result<Reason, String> {
    Reason::from_code(&s.to_ascii_uppercase().replace('-', "_"))
        .ok_or_else(|| format!("one of: {}", Reason::ALL.map(Reason::code).join(", ")))
}

fn parse_deployment(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((namespace.to_owned(), name.to_owned()))
        }
        _ => Err("NAMESPACE/NAME, e.g. shop/web".to_owned()),
    }
}

/// Retention days as the API takes them ([`RetentionDays`]), refused here rather than sent.
fn parse_retention(s: &str) -> Result<u16, String> {
    s.parse().ok().and_then(RetentionDays::new).map(RetentionDays::get).ok_or_else(|| RetentionDays::RULE.to_owned())
}

/// A triage note within the API's bound ([`MAX_NOTE_BYTES`]), refused here rather than sent.
fn parse_note(s: &str) -> Result<String, String> {
    // Counted as the API stores it, trimmed.
    if s.trim().len() > MAX_NOTE_BYTES {
        return Err(format!("at most {MAX_NOTE_BYTES} bytes, this one has {}", s.trim().len()));
    }
    Ok(s.to_owned())
}

/// `30m`, `24h`, `7d`, `2w`.
pub fn parse_span(s: &str) -> Result<time::Duration, String> {
    let usage = || "a number and a unit: 30m, 24h, 7d or 2w".to_owned();
    let unit = s.chars().last().ok_or_else(usage)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| usage())?;
    if !(1..=100_000).contains(&n) {
        return Err(usage());
    }
    match unit {
        'm' => Ok(time::Duration::minutes(n)),
        'h' => Ok(time::Duration::hours(n)),
        'd' => Ok(time::Duration::days(n)),
        'w' => Ok(time::Duration::weeks(n)),
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_flag_on_the_command_line_wins_over_the_other_from_the_environment() {
        use ValueSource::{CommandLine, EnvVariable};
        let both = || ApiArgs { endpoint: Some("https://e".into()), stack: Some("prod".into()), output: None };
        let chosen = |endpoint, stack| {
            let mut api = both();
            api.choose(endpoint, stack).map(|()| (api.endpoint, api.stack)).map_err(|e| e.kind())
        };
        assert_eq!(chosen(Some(EnvVariable), Some(CommandLine)), Ok((None, Some("prod".into()))));
        assert_eq!(chosen(Some(CommandLine), Some(EnvVariable)), Ok((Some("https://e".into()), None)));
        assert_eq!(chosen(Some(EnvVariable), Some(EnvVariable)), Ok((None, Some("prod".into()))));
        assert_eq!(chosen(Some(CommandLine), Some(CommandLine)), Err(ErrorKind::ArgumentConflict));
    }

    #[test]
    fn both_flags_on_the_command_line_are_a_usage_error_wherever_they_are_given() {
        for line in [
            &["scanfail", "events", "count", "--endpoint", "https://e", "--stack", "prod"][..],
            &["scanfail", "events", "--stack", "prod", "count", "--endpoint", "https://e"],
            &["scanfail", "console", "--endpoint", "https://e", "--stack", "prod"],
        ] {
            let parsed = Cli::command().try_get_matches_from(line).and_then(|m| Cli::from_matches(&m));
            assert_eq!(parsed.map(|_| ()).map_err(|e| e.kind()), Err(ErrorKind::ArgumentConflict), "{line:?}");
        }
        let m = Cli::command().try_get_matches_from(["scanfail", "events", "count", "--stack", "prod"]).unwrap();
        let Command::Events(a) = Cli::from_matches(&m).unwrap().command else { panic!("not events") };
        assert_eq!(a.api.stack.as_deref(), Some("prod"));
        // The commands without the two parse as ever.
        let m = Cli::command().try_get_matches_from(["scanfail", "run", "--", "roxctl", "image", "scan"]).unwrap();
        assert!(matches!(Cli::from_matches(&m).unwrap().command, Command::Run(_)));
    }

    #[test]
    fn spans_take_a_unit_and_refuse_the_rest() {
        assert_eq!(parse_span("24h"), Ok(time::Duration::hours(24)));
        assert_eq!(parse_span("7d"), Ok(time::Duration::days(7)));
        assert_eq!(parse_span("30m"), Ok(time::Duration::minutes(30)));
        assert_eq!(parse_span("2w"), Ok(time::Duration::weeks(2)));
        for bad in ["", "h", "24", "0h", "-1d", "1y", "1.5h", "é"] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operations_and_reasons_take_the_contract_spelling_or_a_dashed_one() {
        assert_eq!(parse_operation("image scan"), Ok(Operation::ImageScan));
        assert_eq!(parse_operation("deployment-check"), Ok(Operation::DeploymentCheck));
        assert_eq!(
            parse_operation("registry-scan"),
            Err("one of: image-scan, image-check, image-sbom, deployment-check".to_owned())
        );
        assert_eq!(parse_any_operation("registry-scan"), Ok(Operation::RegistryScan));
        assert_eq!(parse_reason("registry-unauthorized"), Ok(Reason::RegistryUnauthorized));
        assert!(parse_reason("nope").is_err());
        assert_eq!(parse_deployment("shop/web"), Ok(("shop".to_owned(), "web".to_owned())));
        assert!(parse_deployment("web").is_err());
    }

    /// The documented ranges are usage errors (exit 2, nothing sent), not the API's 400 (exit 6).
    #[test]
    fn values_out_of_the_documented_ranges_are_usage_errors_and_their_bounds_are_taken() {
        let parsed = |words: &str| Cli::try_parse_from(format!("scanfail {words}").split_whitespace());
        let note = "n".repeat(MAX_NOTE_BYTES);
        let long_note = "n".repeat(MAX_NOTE_BYTES + 1);
        for bad in [
            "events list --limit 0",
            "events list --limit 1001",
            "events summary --top 0",
            "events summary --top 101",
            "events trend --days 0",
            "events trend --days 91",
            "retention set 0",
            "retention set 366",
            &format!("events triage g --state resolved --note {long_note}"),
            "events triage g --state resolved --if-version x",
        ] {
            let e = parsed(bad).expect_err(bad);
            assert_eq!((e.kind(), e.exit_code()), (ErrorKind::ValueValidation, 2), "{bad}");
        }
        for good in [
            "events list --limit 1",
            "events list --limit 1000",
            "events summary --top 100",
            "events trend --days 90",
            "retention set 365",
            &format!("events triage g --state resolved --note {note}"),
            "events triage g --state resolved --if-version 0",
        ] {
            assert!(parsed(good).is_ok(), "{good}: {:?}", parsed(good).err());
        }
        assert_eq!(parse_note(&long_note), Err("at most 1024 bytes, this one has 1025".to_owned()));
        let padded = format!("\n {}\n", "n".repeat(1024));
        assert_eq!(parse_note(&padded).map(|n| n.trim().len()), Ok(1024), "counted as stored, trimmed");
        assert_eq!(parse_retention("366"), Err("a whole number of days from 1 to 365".to_owned()));
    }

    #[test]
    fn run_takes_the_scanner_after_the_double_dash() {
        let cli = Cli::try_parse_from(["scanfail", "run", "--bus", "b", "--", "roxctl", "image", "scan", "-i", "x"]);
        let Ok(Cli { command: Command::Run(run) }) = cli else { panic!("{cli:?}") };
        assert_eq!(run.bus.bus, "b");
        assert_eq!(run.command, ["roxctl", "image", "scan", "-i", "x"]);
        assert!(Cli::try_parse_from(["scanfail", "run"]).is_err());
        assert!(Cli::try_parse_from(["scanfail", "run", "--image", "x", "--", "trivy"]).is_err());
    }
}
