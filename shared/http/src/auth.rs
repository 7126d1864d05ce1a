//! Who may call the API. API Gateway's IAM authorization has already checked the caller's
//! signature; this module decides, default-deny, whether that caller is one of the principals
//! configured in `ADMIN_VIEW_PRINCIPALS` / `ADMIN_WRITE_PRINCIPALS`.
//!
//! Patterns come from configuration and ARNs from requests, so matching never builds a regex
//! and runs in time linear in the pattern and the ARN.
//!
//! A pattern is accepted at start-up only when no caller can satisfy it by a name the caller
//! chooses: its partition, service (`iam` or `sts`), region (empty) and account are literal,
//! and an `sts` pattern names a role's sessions as a whole (`assumed-role/<Role>/*`), never a
//! session name, which whoever assumes the role picks. A `*` may then only stand for names
//! the account's administrators give (users, roles, paths).

use thiserror::Error;

/// Most patterns in one list.
pub const MAX_PATTERNS: usize = 100;
/// Largest pattern, and largest caller ARN considered, in bytes.
pub const MAX_PATTERN_BYTES: usize = 2048;
/// Largest caller ARN taken from a request context, in bytes.
pub const MAX_CALLER_BYTES: usize = 2048;

/// Whether an ARN's partition field names an AWS partition (patterns of another are refused,
/// and only those partitions' assumed-role sessions are mapped back to their role).
fn known_partition(id: &str) -> bool {
    scan_failures_domain::partition::by_id(id).is_some()
}

/// Why a principal list was refused at start-up. Positions count the non-empty entries from 1.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthConfigError {
    #[error("has {got} patterns; at most {MAX_PATTERNS} are allowed")]
    TooMany { got: usize },
    #[error("pattern {position} is {got} bytes; at most {MAX_PATTERN_BYTES} are allowed")]
    TooLong { position: usize, got: usize },
    #[error("pattern {position} must be an ARN (arn:...), got {start:?}")]
    NotAnArn { position: usize, start: String },
    #[error(
        "pattern {position} ({start:?}) must name its partition (an AWS partition: aws, aws-us-gov, aws-cn, aws-eusc, aws-iso…), service (iam or sts), \
         an empty region and a 12-digit account, without *: a * there matches callers of any account or service"
    )]
    Unanchored { position: usize, start: String },
    #[error(
        "pattern {position} ({start:?}) matches an assumed-role session by name, which whoever assumes the role \
         chooses; grant the role instead: arn:<partition>:iam::<account>:role/<Role>"
    )]
    SessionName { position: usize, start: String },
}

/// Comma-separated ARN patterns from `ADMIN_VIEW_PRINCIPALS` / `ADMIN_WRITE_PRINCIPALS`; `*`
/// matches any run of characters (including none, including '/'). No pattern grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principals {
    patterns: Vec<String>,
}

impl Principals {
    /// Trims entries and drops empty ones. At most [`MAX_PATTERNS`] patterns of at most
    /// [`MAX_PATTERN_BYTES`] are kept: longer entries and entries past the limit are dropped
    /// (dropping only ever grants less); [`Principals::parse_checked`] reports them instead.
    pub fn parse(list: &str) -> Principals {
        let patterns =
            entries(list).filter(|p| p.len() <= MAX_PATTERN_BYTES).take(MAX_PATTERNS).map(str::to_owned).collect();
        Principals { patterns }
    }

    /// As [`Principals::parse`], but a list that `parse` would cut, an entry that can never
    /// match a caller (not an ARN), or one that a caller could satisfy by a name of its own
    /// choosing (see the module's doc) is an error, so that a typo stops start-up rather than
    /// silently locking everyone out, and a loose pattern rather than silently letting anyone in.
    pub fn parse_checked(list: &str) -> Result<Principals, AuthConfigError> {
        let got = entries(list).count();
        if got > MAX_PATTERNS {
            return Err(AuthConfigError::TooMany { got });
        }
        for (i, p) in entries(list).enumerate() {
            if p.len() > MAX_PATTERN_BYTES {
                return Err(AuthConfigError::TooLong { position: i + 1, got: p.len() });
            }
            check_pattern(p).map_err(|why| why.error(i + 1, start_of(p)))?;
        }
        Ok(Principals::parse(list))
    }

    /// Whether no pattern is configured (and so nobody is granted).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the caller's ARN is granted. An assumed-role session
    /// `arn:aws:sts::<acct>:assumed-role/<Role>/<session>` (in any AWS partition,
    /// [`scan_failures_domain::partition`]) is also matched as `arn:aws:iam::<acct>:role/<Role>`; a role pattern with a
    /// path (`arn:aws:iam::<acct>:role/path/to/<Role>`) matches the session of `<Role>` in that
    /// account because session ARNs carry no path. Role names are unique within an account
    /// whatever their path, so this is only done when the pattern's role name has no `*`:
    /// `role/team/*` does not grant every session of the account.
    pub fn allows(&self, caller_arn: &str) -> bool {
        if caller_arn.is_empty() || caller_arn.len() > MAX_CALLER_BYTES {
            return false;
        }
        let role = session_role(caller_arn);
        self.patterns.iter().any(|p| {
            glob(p, caller_arn)
                || role
                    .as_ref()
                    .is_some_and(|r| glob(p, r) || without_path(p).is_some_and(|stripped| glob(&stripped, r)))
        })
    }
}

/// The non-empty, trimmed entries of a comma-separated list.
fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// The first 64 bytes of an entry, for an error message.
fn start_of(p: &str) -> String {
    scan_failures_domain::text::prefix(p, 64).to_owned()
}

/// Why a pattern is refused at start-up (see [`AuthConfigError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    NotAnArn,
    Unanchored,
    SessionName,
}

impl Refused {
    fn error(self, position: usize, start: String) -> AuthConfigError {
        match self {
            Self::NotAnArn => AuthConfigError::NotAnArn { position, start },
            Self::Unanchored => AuthConfigError::Unanchored { position, start },
            Self::SessionName => AuthConfigError::SessionName { position, start },
        }
    }
}

/// Whether a pattern may be configured: an ARN whose partition, service, region and account are
/// literal, and which, for `sts`, names every session of one literal role.
fn check_pattern(p: &str) -> Result<(), Refused> {
    if !p.starts_with("arn:") {
        return Err(Refused::NotAnArn);
    }
    let [_, partition, service, region, account, resource] = arn_fields(p).ok_or(Refused::NotAnArn)?;
    let anchored = known_partition(partition)
        && matches!(service, "iam" | "sts")
        && region.is_empty()
        && scan_failures_domain::text::is_account_id(account);
    if !anchored {
        return Err(Refused::Unanchored);
    }
    if service == "sts" {
        let role = resource.strip_prefix("assumed-role/").and_then(|r| r.strip_suffix("/*"));
        if !role.is_some_and(|r| !r.is_empty() && !r.contains(['*', '/'])) {
            return Err(Refused::SessionName);
        }
    }
    Ok(())
}

/// The six `:`-separated fields of an ARN (`arn`, partition, service, region, account,
/// resource); `None` when there are fewer or the first is not `arn`.
fn arn_fields(arn: &str) -> Option<[&str; 6]> {
    let mut parts = arn.splitn(6, ':');
    let fields = [parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    (fields[0] == "arn").then_some(fields)
}

/// `arn:<partition>:sts::<acct>:assumed-role/<Role>/<session>` as
/// `arn:<partition>:iam::<acct>:role/<Role>`; `None` for anything else, including a malformed
/// session ARN (which then only matches patterns literally).
fn session_role(arn: &str) -> Option<String> {
    let [_, partition, service, region, account, resource] = arn_fields(arn)?;
    if !known_partition(partition) || service != "sts" || !region.is_empty() {
        return None;
    }
    if !scan_failures_domain::text::is_account_id(account) {
        return None;
    }
    let mut segments = resource.split('/');
    let (kind, role, session) = (segments.next()?, segments.next()?, segments.next()?);
    if kind != "assumed-role" || role.is_empty() || session.is_empty() || segments.next().is_some() {
        return None;
    }
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// A role pattern `arn:<p>:iam::<acct>:role/<path>/<Name>` without its path, when `<Name>`
/// is literal (no `*`); `None` for any other pattern.
fn without_path(pattern: &str) -> Option<String> {
    let [_, partition, service, region, account, resource] = arn_fields(pattern)?;
    if service != "iam" || !region.is_empty() {
        return None;
    }
    let (_, name) = resource.strip_prefix("role/")?.rsplit_once('/')?;
    if name.is_empty() || name.contains('*') {
        return None;
    }
    Some(format!("arn:{partition}:iam::{account}:role/{name}"))
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none included)
/// and everything else matches itself. Linear time: the pieces between stars are found
/// leftmost-first (`str::find` is linear), and leftmost is always a safe choice for a
/// star-only glob, so nothing is ever retried.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, after_first)) = pattern.split_once('*') else {
        // Without a star the pattern has to equal the text.
        return pattern == text;
    };
    let (inner, last) = after_first.rsplit_once('*').unwrap_or(("", after_first));
    // The first piece is anchored at the start and the last at the end, without overlapping.
    let Some(mut middle) = text.strip_prefix(first).and_then(|rest| rest.strip_suffix(last)) else {
        return false;
    };
    for piece in inner.split('*') {
        match middle.find(piece) {
            Some(at) => middle = &middle[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The caller of an API Gateway request, from the raw `requestContext` JSON (the context
/// itself, not the whole event): HTTP API payload 2.0 `requestContext.authorizer.iam.userArn`,
/// REST API `requestContext.identity.userArn`. `None` when absent, empty or longer than
/// [`MAX_CALLER_BYTES`].
pub fn caller_arn(request_context: &serde_json::Value) -> Option<String> {
    [request_context.pointer("/authorizer/iam/userArn"), request_context.pointer("/identity/userArn")]
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .find(|arn| !arn.is_empty())
        .filter(|arn| arn.len() <= MAX_CALLER_BYTES)
        .map(str::to_owned)
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    View,
    Write,
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        caller: String,
    },
    /// No caller identity: answer 401.
    Unauthenticated,
    /// A known caller without the permission: answer 403.
    Forbidden {
        caller: String,
    },
}

/// Who may view and who may write.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub view: Principals,
    pub write: Principals,
}

impl Policy {
    /// Write implies view. No caller → Unauthenticated (401); caller not granted → Forbidden (403).
    pub fn decide(&self, caller: Option<&str>, needed: Permission) -> Decision {
        let Some(caller) = caller.filter(|c| !c.is_empty()) else {
            return Decision::Unauthenticated;
        };
        let granted = match needed {
            Permission::View => self.view.allows(caller) || self.write.allows(caller),
            Permission::Write => self.write.allows(caller),
        };
        let caller = caller.to_owned();
        if granted {
            Decision::Allowed { caller }
        } else {
            Decision::Forbidden { caller }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

    fn allows(list: &str, arn: &str) -> bool {
        Principals::parse(list).allows(arn)
    }

    #[test]
    fn an_exact_user_arn_is_allowed_and_nothing_else() {
        assert!(allows(ALICE, ALICE));
        assert!(!allows(ALICE, "arn:aws:iam::123456789012:user/alice2"));
        assert!(!allows(ALICE, "arn:aws:iam::123456789012:user/bob"));
        assert!(!allows(ALICE, "arn:aws:iam::123456789012:user/ALICE"));
    }

    #[test]
    fn a_trailing_star_matches_any_suffix() {
        let list = "arn:aws:iam::123456789012:role/Admin*";
        assert!(allows(list, "arn:aws:iam::123456789012:role/Admin"));
        assert!(allows(list, "arn:aws:iam::123456789012:role/AdminReadOnly"));
        assert!(allows(list, "arn:aws:sts::123456789012:assumed-role/AdminOps/alice"));
        assert!(!allows(list, "arn:aws:iam::123456789012:role/Ops"));
        assert!(!allows(list, "arn:aws:sts::123456789012:assumed-role/Ops/Admin"));
    }

    #[test]
    fn the_session_of_a_listed_role_is_allowed() {
        let list = "arn:aws:iam::123456789012:role/Admin";
        assert!(allows(list, "arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com"));
        assert!(allows(
            "arn:aws-us-gov:iam::123456789012:role/Admin",
            "arn:aws-us-gov:sts::123456789012:assumed-role/Admin/s"
        ));
        assert!(allows("arn:aws-cn:iam::123456789012:role/Admin", "arn:aws-cn:sts::123456789012:assumed-role/Admin/s"));
        // The European Sovereign Cloud and the ISO partitions too (before, their patterns were
        // refused at start-up, so an api there admitted no one).
        for p in ["aws-eusc", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"] {
            let list = format!("arn:{p}:iam::123456789012:role/Admin");
            assert!(allows(&list, &format!("arn:{p}:sts::123456789012:assumed-role/Admin/s")), "{p}");
        }
        assert!(!allows(
            "arn:aws-iso:iam::123456789012:role/Admin",
            "arn:aws-iso-b:sts::123456789012:assumed-role/Admin/s"
        ));
        // The session is still matched as itself too.
        assert!(allows(
            "arn:aws:sts::123456789012:assumed-role/Admin/*",
            "arn:aws:sts::123456789012:assumed-role/Admin/alice"
        ));
    }

    #[test]
    fn the_session_of_an_unlisted_role_is_denied() {
        let list = "arn:aws:iam::123456789012:role/Admin";
        assert!(!allows(list, "arn:aws:sts::123456789012:assumed-role/Admin2/alice"));
        assert!(!allows(list, "arn:aws:sts::123456789012:assumed-role/Ops/Admin"));
        // Partitions do not cross.
        assert!(!allows(list, "arn:aws-cn:sts::123456789012:assumed-role/Admin/alice"));
        // A malformed session maps to no role.
        assert!(!allows(list, "arn:aws:sts::123456789012:assumed-role/Admin"));
        assert!(!allows(list, "arn:aws:sts::123456789012:assumed-role/Admin/a/b"));
        assert!(!allows(list, "arn:aws:sts:eu-west-1:123456789012:assumed-role/Admin/a"));
    }

    #[test]
    fn a_role_pattern_with_a_path_matches_the_session_of_that_role() {
        let list = "arn:aws:iam::123456789012:role/path/to/Admin";
        assert!(allows(list, "arn:aws:sts::123456789012:assumed-role/Admin/alice"));
        assert!(!allows(list, "arn:aws:sts::123456789012:assumed-role/Ops/alice"));
        assert!(!allows(list, "arn:aws:sts::111122223333:assumed-role/Admin/alice"));
        assert!(allows("arn:aws:iam::123456789012:role/*/Admin", "arn:aws:sts::123456789012:assumed-role/Admin/alice"));
        // A wildcard role name under a path is not widened to every role of the account.
        assert!(!allows("arn:aws:iam::123456789012:role/team/*", "arn:aws:sts::123456789012:assumed-role/Admin/alice"));
    }

    #[test]
    fn an_empty_list_denies_everyone() {
        for list in ["", " ", ",", " , ,"] {
            let p = Principals::parse(list);
            assert!(p.is_empty(), "{list:?}");
            assert!(!p.allows(ALICE), "{list:?}");
            assert!(!p.allows("arn:aws:sts::123456789012:assumed-role/Admin/a"), "{list:?}");
        }
        assert!(!Principals::default().allows(ALICE));
    }

    #[test]
    fn a_lone_star_allows_every_caller() {
        assert!(allows("*", ALICE));
        assert!(allows("*", "arn:aws:sts::111122223333:assumed-role/Anyone/x"));
        assert!(!allows("*", ""));
    }

    #[test]
    fn another_account_is_denied() {
        let list = "arn:aws:iam::123456789012:role/Admin, arn:aws:iam::123456789012:user/*";
        assert!(allows(list, ALICE));
        assert!(!allows(list, "arn:aws:iam::111122223333:user/alice"));
        assert!(!allows(list, "arn:aws:sts::111122223333:assumed-role/Admin/alice"));
    }

    #[test]
    fn entries_are_trimmed_and_bounded() {
        let p = Principals::parse(&format!(" {ALICE} ,, arn:aws:iam::123456789012:user/bob "));
        assert!(p.allows(ALICE));
        assert!(p.allows("arn:aws:iam::123456789012:user/bob"));

        let long = format!("arn:aws:iam::123456789012:user/{}", "a".repeat(2048));
        let p = Principals::parse(&format!("{long},{ALICE}"));
        assert!(!p.allows(&long));
        assert!(p.allows(ALICE));

        let many: Vec<String> = (0..101).map(|i| format!("arn:aws:iam::123456789012:user/u{i}")).collect();
        let p = Principals::parse(&many.join(","));
        assert!(p.allows("arn:aws:iam::123456789012:user/u99"));
        assert!(!p.allows("arn:aws:iam::123456789012:user/u100"));
    }

    #[test]
    fn parse_checked_names_what_parse_would_drop() {
        let many: Vec<String> = (0..101).map(|i| format!("arn:aws:iam::123456789012:user/u{i}")).collect();
        assert_eq!(Principals::parse_checked(&many.join(",")), Err(AuthConfigError::TooMany { got: 101 }));
        assert!(Principals::parse_checked(&many[..100].join(",")).is_ok());

        let long = format!("arn:aws:iam::123456789012:user/{}", "a".repeat(2048));
        let err = Principals::parse_checked(&format!("{ALICE},,{long}")).unwrap_err();
        assert_eq!(err, AuthConfigError::TooLong { position: 2, got: 2079 });
        assert_eq!(err.to_string(), "pattern 2 is 2079 bytes; at most 2048 are allowed");

        let err = Principals::parse_checked("123456789012").unwrap_err();
        assert_eq!(err.to_string(), "pattern 1 must be an ARN (arn:...), got \"123456789012\"");

        assert_eq!(Principals::parse_checked(""), Ok(Principals::default()));
    }

    /// Before: a leading `*` was accepted, and `*` spans `/` and `:`, so `*alice*` or
    /// `…:assumed-role/*/alice` granted anyone able to assume any role with a session named so.
    #[test]
    fn patterns_a_caller_could_satisfy_by_a_name_of_its_choosing_stop_start_up() {
        let unanchored = |p: &str| {
            format!(
                "pattern 1 ({p:?}) must name its partition (an AWS partition: aws, aws-us-gov, aws-cn, aws-eusc, aws-iso…), service (iam or sts), \
                 an empty region and a 12-digit account, without *: a * there matches callers of any account or service"
            )
        };
        let session = |p: &str| {
            format!(
                "pattern 1 ({p:?}) matches an assumed-role session by name, which whoever assumes the role chooses; \
                 grant the role instead: arn:<partition>:iam::<account>:role/<Role>"
            )
        };
        let refused = [
            ("*", "pattern 1 must be an ARN (arn:...), got \"*\"".to_owned()),
            ("*alice*", "pattern 1 must be an ARN (arn:...), got \"*alice*\"".to_owned()),
            ("arn:aws:iam::*:role/Admin", unanchored("arn:aws:iam::*:role/Admin")),
            ("arn:*:iam::123456789012:role/Admin", unanchored("arn:*:iam::123456789012:role/Admin")),
            ("arn:aws:*", "pattern 1 must be an ARN (arn:...), got \"arn:aws:*\"".to_owned()),
            ("arn:aws:*::123456789012:role/Admin", unanchored("arn:aws:*::123456789012:role/Admin")),
            ("arn:aws:iam:eu-west-1:123456789012:role/A", unanchored("arn:aws:iam:eu-west-1:123456789012:role/A")),
            ("arn:aws:s3:::bucket", unanchored("arn:aws:s3:::bucket")),
            (
                "arn:aws:sts::123456789012:assumed-role/*/alice",
                session("arn:aws:sts::123456789012:assumed-role/*/alice"),
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/Admin/alice",
                session("arn:aws:sts::123456789012:assumed-role/Admin/alice"),
            ),
            ("arn:aws:sts::123456789012:assumed-role/Adm*", session("arn:aws:sts::123456789012:assumed-role/Adm*")),
            ("arn:aws:sts::123456789012:*", session("arn:aws:sts::123456789012:*")),
        ];
        for (pattern, message) in refused {
            let err = Principals::parse_checked(&format!("{pattern}, {ALICE}")).unwrap_err();
            assert_eq!(err.to_string(), message, "{pattern}");
        }
        let accepted = [
            ALICE,
            "arn:aws:iam::123456789012:user/*",
            "arn:aws:iam::123456789012:role/Admin*",
            "arn:aws:iam::123456789012:role/*/Admin",
            "arn:aws-us-gov:iam::123456789012:role/Admin",
            "arn:aws:sts::123456789012:assumed-role/Admin/*",
        ];
        for pattern in accepted {
            assert_eq!(Principals::parse_checked(pattern), Ok(Principals::parse(pattern)), "{pattern}");
        }
    }

    #[test]
    fn the_caller_is_read_from_http_api_and_rest_api_contexts() {
        let http = json!({
            "accountId": "123456789012",
            "authorizer": {"iam": {"accountId": "123456789012", "userArn": ALICE}},
            "http": {"method": "GET", "path": "/v1/administration/events"}
        });
        assert_eq!(caller_arn(&http).as_deref(), Some(ALICE));

        let rest = json!({
            "accountId": "123456789012",
            "identity": {"sourceIp": "192.0.2.1",
                         "userArn": "arn:aws:sts::123456789012:assumed-role/Admin/alice"},
            "httpMethod": "GET"
        });
        assert_eq!(caller_arn(&rest).as_deref(), Some("arn:aws:sts::123456789012:assumed-role/Admin/alice"));
    }

    #[test]
    fn a_context_without_a_usable_identity_has_no_caller() {
        assert_eq!(caller_arn(&json!({"accountId": "123456789012", "http": {"method": "GET"}})), None);
        assert_eq!(caller_arn(&json!({"identity": {"userArn": null, "sourceIp": "192.0.2.1"}})), None);
        assert_eq!(caller_arn(&json!({"authorizer": {"iam": {"userArn": ""}}})), None);
        assert_eq!(caller_arn(&json!({"identity": {"userArn": 42}})), None);
        assert_eq!(caller_arn(&json!({"identity": {"userArn": "a".repeat(2049)}})), None);
        assert_eq!(caller_arn(&json!(null)), None);
        // The whole event is not a request context.
        assert_eq!(caller_arn(&json!({"requestContext": {"identity": {"userArn": ALICE}}})), None);
    }

    #[test]
    fn write_implies_view_but_not_the_other_way() {
        let policy = Policy {
            view: Principals::parse("arn:aws:iam::123456789012:user/viewer"),
            write: Principals::parse("arn:aws:iam::123456789012:user/writer"),
        };
        let viewer = "arn:aws:iam::123456789012:user/viewer";
        let writer = "arn:aws:iam::123456789012:user/writer";
        assert_eq!(policy.decide(Some(writer), Permission::View), Decision::Allowed { caller: writer.into() });
        assert_eq!(policy.decide(Some(writer), Permission::Write), Decision::Allowed { caller: writer.into() });
        assert_eq!(policy.decide(Some(viewer), Permission::View), Decision::Allowed { caller: viewer.into() });
        assert_eq!(policy.decide(Some(viewer), Permission::Write), Decision::Forbidden { caller: viewer.into() });
    }

    #[test]
    fn no_caller_is_unauthenticated_and_an_unlisted_caller_forbidden() {
        let policy = Policy { view: Principals::parse("*"), write: Principals::default() };
        assert_eq!(policy.decide(None, Permission::View), Decision::Unauthenticated);
        assert_eq!(policy.decide(Some(""), Permission::View), Decision::Unauthenticated);
        assert_eq!(
            Policy::default().decide(Some(ALICE), Permission::View),
            Decision::Forbidden { caller: ALICE.into() }
        );
        assert_eq!(Policy::default().decide(None, Permission::Write), Decision::Unauthenticated);
    }

    #[test]
    fn glob_stars_match_any_run_including_none_and_slashes() {
        let cases = [
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("**", "abc", true),
            ("a*", "a", true),
            ("*a", "a", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("a*b*c", "a/x/b/y/c", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("*x*", "abc", false),
            ("arn:*:role/*", "arn:aws:iam::123456789012:role/a/b", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn a_pathological_pattern_is_answered_without_backtracking() {
        let text = "a".repeat(2000);
        let pattern = "*a*a*a*a*a*a*b";
        assert!(!glob(pattern, &text));
        assert!(!allows(pattern, &text));
        assert!(glob(pattern, &format!("{text}b")));
        let many_stars = format!("{}b", "*a".repeat(500));
        assert!(!glob(&many_stars, &text));
    }
}
