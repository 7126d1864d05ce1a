//! Why an image scan failed: a closed set of reason codes with the remediation an admin needs,
//! the classifier that maps a scanner's or registry's error text onto one of them, and the
//! masking that lets repeats of an unrecognised failure be grouped together.
//!
//! The rules were written against wording seen in StackRox/ACS, Docker Hub, Quay, Amazon ECR,
//! Harbor, Clair, Trivy and Grype error reports; the table test at the bottom keeps them honest.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The cause of a failed image scan, as far as it can be told from the error.
///
/// The serialized form is the [`code`](Reason::code), which is stored and indexed, so variants
/// may be added but never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    RegistryUnauthorized,
    ImageNotFound,
    NoRegistryIntegration,
    NoScannerIntegration,
    ScannerUnavailable,
    Timeout,
    RateLimited,
    UnsupportedImage,
    ImageTooLarge,
    InvalidImageName,
    DelegatedScanFailed,
    InternalError,
    Unknown,
    // Causes reported as statuses by Amazon ECR and Amazon Inspector, which send no message.
    ScanFailed,
    ScanQuotaExceeded,
    FindingsUnavailable,
    ScanEligibilityExpired,
    AccessDenied,
    EncryptionKeyAccessDenied,
}

/// How loudly a failure should be reported to admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    /// The wire form: `"ERROR"` or `"WARNING"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Warning => "WARNING",
        }
    }
}

/// A string that is not the code of any [`Reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scan-failure reason code {0:?}")]
pub struct UnknownReason(pub String);

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 19] = [
        Self::RegistryUnauthorized,
        Self::ImageNotFound,
        Self::NoRegistryIntegration,
        Self::NoScannerIntegration,
        Self::ScannerUnavailable,
        Self::Timeout,
        Self::RateLimited,
        Self::UnsupportedImage,
        Self::ImageTooLarge,
        Self::InvalidImageName,
        Self::DelegatedScanFailed,
        Self::InternalError,
        Self::Unknown,
        Self::ScanFailed,
        Self::ScanQuotaExceeded,
        Self::FindingsUnavailable,
        Self::ScanEligibilityExpired,
        Self::AccessDenied,
        Self::EncryptionKeyAccessDenied,
    ];

    /// The reasons that come only from AWS scan statuses (never from classifying a message).
    pub const AWS_STATUS_ONLY: [Reason; 6] = [
        Self::ScanFailed,
        Self::ScanQuotaExceeded,
        Self::FindingsUnavailable,
        Self::ScanEligibilityExpired,
        Self::AccessDenied,
        Self::EncryptionKeyAccessDenied,
    ];

    /// The stable code, e.g. `"REGISTRY_UNAUTHORIZED"`; identical to the serde form.
    pub fn code(self) -> &'static str {
        match self {
            Self::RegistryUnauthorized => "REGISTRY_UNAUTHORIZED",
            Self::ImageNotFound => "IMAGE_NOT_FOUND",
            Self::NoRegistryIntegration => "NO_REGISTRY_INTEGRATION",
            Self::NoScannerIntegration => "NO_SCANNER_INTEGRATION",
            Self::ScannerUnavailable => "SCANNER_UNAVAILABLE",
            Self::Timeout => "TIMEOUT",
            Self::RateLimited => "RATE_LIMITED",
            Self::UnsupportedImage => "UNSUPPORTED_IMAGE",
            Self::ImageTooLarge => "IMAGE_TOO_LARGE",
            Self::InvalidImageName => "INVALID_IMAGE_NAME",
            Self::DelegatedScanFailed => "DELEGATED_SCAN_FAILED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::Unknown => "UNKNOWN",
            Self::ScanFailed => "SCAN_FAILED",
            Self::ScanQuotaExceeded => "SCAN_QUOTA_EXCEEDED",
            Self::FindingsUnavailable => "FINDINGS_UNAVAILABLE",
            Self::ScanEligibilityExpired => "SCAN_ELIGIBILITY_EXPIRED",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::EncryptionKeyAccessDenied => "ENCRYPTION_KEY_ACCESS_DENIED",
        }
    }

    /// The reason whose [`code`](Reason::code) is exactly `code` (case-sensitive, no trimming).
    pub fn from_code(code: &str) -> Option<Reason> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A short human title for lists and notifications.
    pub fn title(self) -> &'static str {
        match self {
            Self::RegistryUnauthorized => "Registry credentials rejected",
            Self::ImageNotFound => "Image not found in registry",
            Self::NoRegistryIntegration => "No image integration for the registry",
            Self::NoScannerIntegration => "No image scanner integrated",
            Self::ScannerUnavailable => "Scanner unavailable",
            Self::Timeout => "Scan timed out",
            Self::RateLimited => "Registry rate limit reached",
            Self::UnsupportedImage => "Image OS or format not supported",
            Self::ImageTooLarge => "Image too large to scan",
            Self::InvalidImageName => "Invalid image reference",
            Self::DelegatedScanFailed => "Delegated scan failed",
            Self::InternalError => "Scanner internal error",
            Self::Unknown => "Unrecognised scan failure",
            Self::ScanFailed => "Registry scan failed",
            Self::ScanQuotaExceeded => "Registry scan quota exceeded",
            Self::FindingsUnavailable => "Scan findings unavailable",
            Self::ScanEligibilityExpired => "Scan eligibility expired",
            Self::AccessDenied => "Scanner access denied",
            Self::EncryptionKeyAccessDenied => "Encryption key access denied",
        }
    }

    /// The severity of an admin event for this reason.
    ///
    /// `WARNING` for the transient causes that usually clear on the next reprocessing cycle
    /// without anyone acting: [`RateLimited`](Reason::RateLimited),
    /// [`Timeout`](Reason::Timeout) and [`ScannerUnavailable`](Reason::ScannerUnavailable)
    /// (including a scanner still loading its vulnerability store). `ERROR` for everything
    /// else, because those persist until an admin fixes credentials, integrations, the image or
    /// the scanner, and an unrecognised failure deserves a look until a rule covers it.
    pub fn level(self) -> Level {
        match self {
            Self::RateLimited | Self::Timeout | Self::ScannerUnavailable | Self::ScanQuotaExceeded => Level::Warning,
            Self::RegistryUnauthorized
            | Self::ImageNotFound
            | Self::NoRegistryIntegration
            | Self::NoScannerIntegration
            | Self::UnsupportedImage
            | Self::ImageTooLarge
            | Self::InvalidImageName
            | Self::DelegatedScanFailed
            | Self::InternalError
            | Self::Unknown
            | Self::ScanFailed
            | Self::FindingsUnavailable
            | Self::ScanEligibilityExpired
            | Self::AccessDenied
            | Self::EncryptionKeyAccessDenied => Level::Error,
        }
    }

    /// What an admin should check to fix a failure with this cause.
    pub fn hint(self) -> &'static str {
        match self {
            Self::RegistryUnauthorized => {
                "The registry rejected the credentials used to read the image manifest (HTTP 401/403, \
                 'unauthorized', ECR 'no basic auth credentials'). Check the username, password or \
                 token of the matching StackRox/ACS image integration (Platform Configuration > \
                 Integrations): for Amazon ECR that the IAM role or access key may call \
                 ecr:GetAuthorizationToken and ecr:BatchGetImage in the right account and region, \
                 for Quay that the robot account can read the repository, and for Docker Hub that \
                 the access token has not expired."
            }
            Self::ImageNotFound => {
                "The registry has no such repository, tag or digest (HTTP 404, MANIFEST_UNKNOWN, ECR \
                 RepositoryNotFoundException/ImageNotFoundException). Check that the image reference \
                 in the workload matches what was pushed and that a retention or cleanup policy did \
                 not delete the tag; Docker Hub also answers 'pull access denied' for a private \
                 repository it cannot see, so add credentials to the image integration if the \
                 repository is private."
            }
            Self::NoRegistryIntegration => {
                "StackRox/ACS has no image integration whose endpoint matches the image's registry, \
                 so it cannot read the image metadata. Add an image integration for that registry \
                 (Amazon ECR, Quay, Docker Hub or a generic Docker registry) under Platform \
                 Configuration > Integrations, or enable delegated scanning so the secured cluster \
                 pulls from its cluster-local registry itself."
            }
            Self::NoScannerIntegration => {
                "No image scanner is integrated, so no image can be scanned. Check that the \
                 StackRox Scanner or Scanner V4 integration exists and is enabled under Platform \
                 Configuration > Integrations and that the scanner components were installed \
                 with Central."
            }
            Self::ScannerUnavailable => {
                "The scanner could not serve the request: it is starting, still loading its \
                 vulnerability store, or unreachable (gRPC Unavailable, connection refused). Check \
                 that the scanner, scanner-db and Scanner V4 indexer/matcher pods are ready and \
                 reachable from Central or Sensor; an HTTP 502/503 from a registry lands here too, \
                 so also check the registry's status page."
            }
            Self::Timeout => {
                "The scan or a registry request did not finish in time (context deadline exceeded, \
                 i/o or TLS handshake timeout). Check network reachability and latency from the \
                 scanner to the registry (proxy, egress firewall, DNS) and the scanner's CPU and \
                 memory limits; very large images may need a longer scanner timeout."
            }
            Self::RateLimited => {
                "The registry throttled the pulls (HTTP 429, TOOMANYREQUESTS, ECR \
                 ThrottlingException) or the local scanner had too many scans in flight. For Docker \
                 Hub give the image integration an authenticated account or mirror the images; for \
                 ECR spread scans out or request a higher quota. The scan is retried on the next \
                 reprocessing cycle."
            }
            Self::UnsupportedImage => {
                "The scanner found no operating system or package manager it supports in the image \
                 (scratch or distroless base, an OS release outside the supported list, or an \
                 unsupported manifest media type), so OS vulnerabilities cannot be reported. Check \
                 the scanner's supported operating systems and rebuild on a supported base image if \
                 OS coverage is required."
            }
            Self::ImageTooLarge => {
                "The image exceeds the scanner's size limit, or the scanner ran out of disk while \
                 unpacking its layers ('no space left on device'). Shrink the image (multi-stage \
                 builds, fewer and smaller layers) or raise the scanner's maximum image size and \
                 give the scanner pods more ephemeral storage."
            }
            Self::InvalidImageName => {
                "The image reference could not be parsed (uppercase letters in the repository, \
                 spaces, or a malformed tag or digest). Fix the image name in the workload or in \
                 the roxctl/API request; a valid reference looks like \
                 registry.example.com/team/app:1.2 or registry.example.com/team/app@sha256:<digest>."
            }
            Self::DelegatedScanFailed => {
                "Central delegated the scan to a secured cluster and that cluster could not \
                 complete it. Check the delegated image scanning configuration (default cluster \
                 and registry list), that the cluster's Sensor is connected and supports delegated \
                 scanning, and that its local scanner pods are healthy and can pull from the \
                 registry."
            }
            Self::InternalError => {
                "The scanner or Central failed while processing the image (gRPC Internal, HTTP 500 \
                 from a registry, analyzer or cataloger failure). Check the Central and scanner \
                 logs around the time of the event; if it repeats for the same image, collect a \
                 diagnostic bundle and report it."
            }
            Self::Unknown => {
                "The failure matched no known cause. Read the full message together with the \
                 Central and scanner logs; repeats of the same message are grouped, so a recurring \
                 group points at one cause worth a classification rule."
            }
            Self::ScanFailed => {
                "Amazon ECR basic scanning reported FAILED for this image without a reason. Read the \
                 status description with `aws ecr describe-image-scan-findings --repository-name \
                 <repo> --image-id imageDigest=<digest>`, check that the image's layers are intact \
                 and its OS is supported, then start the scan again with `aws ecr start-image-scan`."
            }
            Self::ScanQuotaExceeded => {
                "Amazon ECR refused the scan because the image was already scanned within its quota \
                 (basic scanning allows one scan per image per 24 hours). Wait for the quota to reset \
                 or switch the registry to enhanced scanning (Amazon Inspector), which rescans \
                 continuously."
            }
            Self::FindingsUnavailable => {
                "Amazon ECR has no findings for this image any more: findings of images not pulled \
                 or pushed recently are removed. Scan the image again if it is still deployed, or \
                 delete or archive it if it is not."
            }
            Self::ScanEligibilityExpired => {
                "The image is no longer monitored: its scan duration (the registry's enhanced \
                 scanning re-scan duration, or the last pull date for Amazon Inspector) has passed. \
                 If the image is still deployed, raise the ECR re-scan duration in Amazon Inspector's \
                 settings or push or pull the image again to make it eligible."
            }
            Self::AccessDenied => {
                "Amazon Inspector could not read the repository or image: its service-linked role \
                 (AWSServiceRoleForAmazonInspector2) or the repository policy denies access. Check \
                 the repository policy, any SCP that denies ecr:BatchGetImage or \
                 ecr:GetDownloadUrlForLayer to the Inspector role, and that the role still exists."
            }
            Self::EncryptionKeyAccessDenied => {
                "Amazon Inspector could not decrypt the image: the repository's AWS KMS key does not \
                 allow the Inspector service-linked role to use it. Add kms:Decrypt for \
                 AWSServiceRoleForAmazonInspector2 to the key policy of the repository's KMS key."
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s).ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// The reason for a failure: `code` when it is a known reason code, else classified from
/// `message`.
///
/// A code of `UNKNOWN` counts as no code: the sender could not tell, the message still may.
/// An empty or unrecognised message is [`Reason::Unknown`].
pub fn classify(code: Option<&str>, message: &str) -> Reason {
    match code.and_then(Reason::from_code) {
        Some(reason) if reason != Reason::Unknown => reason,
        _ => classify_message(message),
    }
}

/// What a rule looks for in the lower-cased message.
enum Test {
    /// Any of these lower-case substrings.
    Phrase(&'static [&'static str]),
    /// Any of these HTTP statuses, written the way clients report one (see [`HttpStatuses`]).
    Status(u16),
}

/// The classification rules, most specific first; the first rule that matches decides.
///
/// The order carries the judgement: explicit StackRox integration and input errors first, then
/// an HTTP status the registry actually answered, then registry and scanner wording, then the
/// transport, and the generic wrappers (`code = Internal`, delegation, Trivy's "unable to
/// initialize a scanner") last, since they wrap a more telling cause when there is one.
const RULES: &[(Reason, Test)] = &[
    (
        Reason::NoRegistryIntegration,
        Test::Phrase(&[
            "no matching image registries found",
            "no image registries are integrated",
            "please add an image integration",
        ]),
    ),
    (
        Reason::NoScannerIntegration,
        Test::Phrase(&[
            "no image scanners are integrated",
            "no scanners are integrated",
            "no image scanner integration",
        ]),
    ),
    (
        Reason::InvalidImageName,
        Test::Phrase(&[
            "invalid image name",
            "could not parse reference",
            "could not parse image",
            "invalid reference format",
            "repository name must be lowercase",
            "repository name must be canonical",
        ]),
    ),
    (
        Reason::ImageTooLarge,
        Test::Phrase(&[
            "image is too large",
            "image too large",
            "exceeds max size",
            "exceeds maximum allowed size",
            "exceeds the maximum allowed size",
            "no space left on device",
            "request entity too large",
            "payload too large",
        ]),
    ),
    (Reason::ImageTooLarge, Test::Status(HttpStatuses::S413)),
    (Reason::RegistryUnauthorized, Test::Status(HttpStatuses::S401 | HttpStatuses::S403)),
    (Reason::ImageNotFound, Test::Status(HttpStatuses::S404)),
    (Reason::RateLimited, Test::Status(HttpStatuses::S429)),
    (
        Reason::RateLimited,
        Test::Phrase(&[
            "toomanyrequests",
            "too many requests",
            "rate limit",
            "rate exceeded",
            "throttlingexception",
            "too many parallel scans",
        ]),
    ),
    // Docker Hub hides a private repository behind the same words as a missing one; the missing
    // image is the common case, and it must win over the "access ... denied" that follows.
    (Reason::ImageNotFound, Test::Phrase(&["pull access denied", "repository does not exist"])),
    (
        Reason::RegistryUnauthorized,
        Test::Phrase(&[
            "unauthorized",
            "authentication required",
            "no basic auth credentials",
            "incorrect username or password",
            "requested access to the resource is denied",
            "accessdeniedexception",
            "is not authorized to perform",
            "error getting credentials",
        ]),
    ),
    (
        Reason::ImageNotFound,
        Test::Phrase(&[
            "manifest unknown",
            "manifest_unknown",
            "manifest not found",
            "name unknown",
            "name_unknown",
            "blob unknown",
            "blob_unknown",
            "unknown blob",
            "repositorynotfoundexception",
            "imagenotfoundexception",
            "requested image not found",
            "does not exist in the registry",
            "does not exist within the repository",
            "no such image",
        ]),
    ),
    (
        Reason::ScannerUnavailable,
        Test::Phrase(&[
            "matcher is not initialized",
            "vulnerability store is in progress",
            "code = unavailable",
            "connection refused",
            "no healthy upstream",
        ]),
    ),
    // "timeout" also covers "i/o timeout", "tls handshake timeout", "gateway timeout" and
    // "client.timeout exceeded"; "deadline exceeded" covers gRPC's "context deadline exceeded".
    (Reason::Timeout, Test::Phrase(&["deadline exceeded", "deadlineexceeded", "timeout", "timed out"])),
    (Reason::Timeout, Test::Status(HttpStatuses::S408 | HttpStatuses::S504)),
    (Reason::ScannerUnavailable, Test::Status(HttpStatuses::S502 | HttpStatuses::S503)),
    (Reason::ScannerUnavailable, Test::Phrase(&["service unavailable", "bad gateway"])),
    (Reason::InternalError, Test::Status(HttpStatuses::S500)),
    // Go's `unsupported protocol scheme ""` is a registry endpoint without `https://`, not an
    // unsupported image; with nothing more telling it stays unclassified.
    (Reason::Unknown, Test::Phrase(&["protocol scheme"])),
    (
        Reason::UnsupportedImage,
        Test::Phrase(&[
            "unsupported",
            "os version not supported",
            "os version is not supported",
            "package manager are not supported",
            "unknown os",
            "no features",
        ]),
    ),
    (
        Reason::DelegatedScanFailed,
        Test::Phrase(&["delegating scan", "delegated scan", "delegated registry", "no local scanner"]),
    ),
    (Reason::ScannerUnavailable, Test::Phrase(&["unable to initialize a scanner"])),
    (
        Reason::InternalError,
        Test::Phrase(&[
            "code = internal",
            "internal error",
            "internal server error",
            "failed to analyze",
            "analyze error",
            "failed to catalog",
            "panic:",
            "nil pointer dereference",
        ]),
    ),
];

fn classify_message(message: &str) -> Reason {
    let lower = message.to_ascii_lowercase();
    let phrases = phrase_hits(&lower);
    let mut statuses: Option<HttpStatuses> = None;
    for (n, (reason, test)) in RULES.iter().enumerate() {
        let hit = match test {
            Test::Phrase(_) => phrases & (1 << n) != 0,
            Test::Status(mask) => statuses.get_or_insert_with(|| HttpStatuses::scan(&lower)).0 & mask != 0,
        };
        if hit {
            return *reason;
        }
    }
    Reason::Unknown
}

/// All phrases of all rules in one literal automaton, so that a message (up to 4 KiB) is
/// searched once instead of once per phrase; see [`phrase_hits`].
struct PhraseIndex {
    any: Regex,
    rule_of: HashMap<&'static str, usize>,
}

static PHRASES: LazyLock<Option<PhraseIndex>> = LazyLock::new(|| {
    let mut rule_of = HashMap::new();
    let mut alternatives = Vec::new();
    for (n, (_, test)) in RULES.iter().enumerate() {
        if let Test::Phrase(phrases) = test {
            for &phrase in *phrases {
                rule_of.insert(phrase, n);
                alternatives.push(regex::escape(phrase));
            }
        }
    }
    let any = Regex::new(&alternatives.join("|")).ok()?;
    Some(PhraseIndex { any, rule_of })
});

/// The rules (as bits of their index in [`RULES`]) with a phrase in the lower-cased message.
///
/// Equivalent to testing every phrase with `str::contains`, which is what happens should the
/// automaton ever fail to build. Restarting one byte after each match start finds phrases that
/// overlap an earlier one; no phrase is a prefix of another (a test checks), so none can hide
/// behind another at the same position.
fn phrase_hits(lower: &str) -> u64 {
    let Some(index) = PHRASES.as_ref() else {
        return contained_phrases(lower);
    };
    let mut hits = 0u64;
    let mut at = 0;
    while let Some(m) = index.any.find_at(lower, at) {
        if let Some(&rule) = index.rule_of.get(m.as_str()) {
            hits |= 1 << rule;
        }
        // Every phrase starts with an ASCII byte, so one past a match start is a char boundary.
        at = m.start() + 1;
    }
    hits
}

/// [`phrase_hits`] the slow way, one `str::contains` per phrase.
fn contained_phrases(lower: &str) -> u64 {
    let mut hits = 0u64;
    for (n, (_, test)) in RULES.iter().enumerate() {
        if let Test::Phrase(phrases) = test {
            if phrases.iter().any(|p| lower.contains(p)) {
                hits |= 1 << n;
            }
        }
    }
    hits
}

/// The HTTP statuses a message reports, as a bit set of the ones classification cares about.
///
/// A three-digit number only counts when it is written as a status: after `status`,
/// `status code`, `statuscode`, `status_code` or `http` (with optional `=`/`:`), inside
/// parentheses as in `(401)`, or followed by its reason phrase as in `401 Unauthorized`. Digits
/// that are part of a longer number, a version or a tag such as `:1.401` never count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct HttpStatuses(u16);

impl HttpStatuses {
    const S401: u16 = 1 << 0;
    const S403: u16 = 1 << 1;
    const S404: u16 = 1 << 2;
    const S408: u16 = 1 << 3;
    const S413: u16 = 1 << 4;
    const S429: u16 = 1 << 5;
    const S500: u16 = 1 << 6;
    const S502: u16 = 1 << 7;
    const S503: u16 = 1 << 8;
    const S504: u16 = 1 << 9;

    /// The bit of a status and the reason phrases a client may print after it.
    fn describe(code: &[u8]) -> Option<(u16, &'static [&'static str])> {
        Some(match code {
            b"401" => (Self::S401, &["unauthorized"]),
            b"403" => (Self::S403, &["forbidden"]),
            b"404" => (Self::S404, &["not found"]),
            b"408" => (Self::S408, &["request timeout"]),
            b"413" => (Self::S413, &["request entity too large", "payload too large"]),
            b"429" => (Self::S429, &["too many requests"]),
            b"500" => (Self::S500, &["internal server error"]),
            b"502" => (Self::S502, &["bad gateway"]),
            b"503" => (Self::S503, &["service unavailable"]),
            b"504" => (Self::S504, &["gateway timeout"]),
            _ => return None,
        })
    }

    /// Scans a lower-cased message.
    fn scan(lower: &str) -> Self {
        let b = lower.as_bytes();
        let mut found = 0u16;
        let mut i = 0;
        while i < b.len() {
            if !b[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start != 3 {
                continue;
            }
            let before = start.checked_sub(1).map(|p| b[p]);
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_') {
                continue;
            }
            let after = b.get(i).copied();
            if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                || (after == Some(b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit))
            {
                continue;
            }
            let Some((bit, phrases)) = Self::describe(&b[start..i]) else {
                continue;
            };
            let parenthesized = before == Some(b'(') && after == Some(b')');
            let rest = lower[i..].trim_start();
            let phrased = phrases.iter().any(|p| rest.starts_with(p));
            if parenthesized || phrased || Self::labelled(&lower[..start]) {
                found |= bit;
            }
        }
        Self(found)
    }

    /// Whether the text right before a number labels it as an HTTP status.
    fn labelled(prefix: &str) -> bool {
        let p = prefix.trim_end();
        let p = p.strip_suffix(['=', ':']).unwrap_or(p).trim_end();
        ["status", "status code", "statuscode", "status_code", "http"].iter().any(|label| p.ends_with(label))
    }
}

/// The message with its variable parts masked, so that two UNKNOWN failures that differ only in
/// numbers, hex ids, sha256 digests, UUIDs, IPv4/IPv6 addresses (with optional port) and quoted
/// timestamps produce the same string. Deterministic; used as input to a group fingerprint.
///
/// Placeholders: `<ts>` (RFC 3339 timestamp, quoted or not), `<uuid>`, `<digest>` (after the
/// kept `sha256:`/`sha384:`/`sha512:` prefix), `<ip>` (address and port, IPv6 with or without
/// brackets), `<hex>` (ids of 7+ hex digits mixing digits and letters, or `0x…`) and `<n>`
/// (numbers, dotted versions, durations and sizes such as `30s` or `12MB`). Everything else is
/// kept byte for byte, including case, so identifiers such as `v2`, `sha256`, `ipv4` or
/// `registry-1.docker.io` survive, while genuinely different wording stays different.
pub fn mask_variable_parts(message: &str) -> String {
    let b = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut i = 0;
    // `i` only ever stops on a word byte at the start of a word, or on a non-word byte.
    while i < b.len() {
        let c = b[i];
        let class = CLASS[usize::from(c)];
        let word = class & WORD != 0;
        let candidate =
            if word { class & LEAD != 0 } else { (c == b':' || c == b'[') && (i == 0 || !is_word(b[i - 1])) };
        if candidate {
            if let Some(m) = variable_part(b, i) {
                out.push_str(&message[copied..m.keep_until]);
                out.push_str(m.placeholder);
                copied = m.end;
                i = m.end;
                continue;
            }
        }
        i = if word { skip_word(b, i) } else { i + 1 };
    }
    out.push_str(&message[copied..]);
    out
}

/// A variable part found at some position: the bytes up to `keep_until` stay, the bytes from
/// there to `end` become `placeholder`.
struct Masked {
    keep_until: usize,
    end: usize,
    placeholder: &'static str,
}

/// Byte class bit: the byte makes up words. Non-ASCII bytes count as word bytes so that a
/// token never starts or ends inside a multi-byte character.
const WORD: u8 = 1;
/// Byte class bit: a word starting with this byte may be a variable part.
const LEAD: u8 = 2;

/// The class bits of every byte, looked up rather than computed in the per-byte loops.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut n = 0;
    while n < table.len() {
        let c = n as u8;
        if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            table[n] |= WORD;
        }
        if c.is_ascii_hexdigit() || c == b's' || c == b'S' {
            table[n] |= LEAD;
        }
        n += 1;
    }
    table
};

fn is_word(c: u8) -> bool {
    CLASS[usize::from(c)] & WORD != 0
}

/// The end of the word at `i`, with `.`-joined parts (`registry-1.docker.io`, `v0.29.2`).
fn skip_word(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        if is_word(b[i]) || (b[i] == b'.' && b.get(i + 1).is_some_and(|&n| is_word(n))) {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Whether a token ending at `end` ends at a word boundary.
fn ends_token(b: &[u8], end: usize) -> bool {
    b.get(end).is_none_or(|&c| !is_word(c))
}

fn run_len(b: &[u8], start: usize, accept: impl Fn(u8) -> bool) -> usize {
    b[start..].iter().take_while(|&&c| accept(c)).count()
}

/// The variable part starting at token start `i`, if any.
fn variable_part(b: &[u8], i: usize) -> Option<Masked> {
    let whole = |end, placeholder| Masked { keep_until: i, end, placeholder };
    let c = b[i];
    match c {
        b'[' | b':' => return ipv6(b, i).map(|end| whole(end, "<ip>")),
        b's' | b'S' => {
            return digest(b, i).map(|(keep_until, end)| Masked { keep_until, end, placeholder: "<digest>" })
        }
        _ => {}
    }
    // What follows the leading run of hex digits tells which shapes are possible at all; most
    // tokens are plain words ("failed", "denied") and leave here.
    let hex = run_len(b, i, |c| c.is_ascii_hexdigit());
    let next = b.get(i + hex).copied();
    let digit = c.is_ascii_digit();
    if !digit && next.is_some_and(is_word) {
        return None;
    }
    if digit && hex >= 4 && b.get(i + 4) == Some(&b'-') {
        if let Some(end) = timestamp(b, i) {
            return Some(whole(end, "<ts>"));
        }
    }
    if hex == 8 && next == Some(b'-') {
        if let Some(end) = uuid(b, i) {
            return Some(whole(end, "<uuid>"));
        }
    }
    if digit && next == Some(b'.') {
        if let Some(end) = ipv4(b, i) {
            return Some(whole(end, "<ip>"));
        }
    }
    if next == Some(b':') {
        if let Some(end) = ipv6(b, i) {
            return Some(whole(end, "<ip>"));
        }
    }
    if hex >= 7 || (c == b'0' && matches!(next, Some(b'x' | b'X'))) {
        if let Some(end) = hex_id(b, i) {
            return Some(whole(end, "<hex>"));
        }
    }
    if digit {
        return number(b, i).map(|end| whole(end, "<n>"));
    }
    None
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH[:]MM]`.
fn timestamp(b: &[u8], i: usize) -> Option<usize> {
    let digits = |at: usize, n: usize| run_len(b, at, |c| c.is_ascii_digit()) >= n;
    let is = |at: usize, set: &[u8]| b.get(at).is_some_and(|c| set.contains(c));
    let ok = digits(i, 4)
        && is(i + 4, b"-")
        && digits(i + 5, 2)
        && is(i + 7, b"-")
        && digits(i + 8, 2)
        && is(i + 10, b"Tt ")
        && digits(i + 11, 2)
        && is(i + 13, b":")
        && digits(i + 14, 2)
        && is(i + 16, b":")
        && digits(i + 17, 2);
    if !ok {
        return None;
    }
    let mut end = i + 19;
    if is(end, b".") {
        let n = run_len(b, end + 1, |c| c.is_ascii_digit());
        if n > 0 {
            end += 1 + n;
        }
    }
    if is(end, b"Zz") {
        end += 1;
    } else if is(end, b"+-") && digits(end + 1, 2) {
        if is(end + 3, b":") && digits(end + 4, 2) {
            end += 6;
        } else if digits(end + 3, 2) {
            end += 5;
        }
    }
    ends_token(b, end).then_some(end)
}

/// `8-4-4-4-12` hex digits.
fn uuid(b: &[u8], i: usize) -> Option<usize> {
    let mut at = i;
    for (n, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if b.get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
        if run_len(b, at, |c| c.is_ascii_hexdigit()) != len {
            return None;
        }
        at += len;
    }
    ends_token(b, at).then_some(at)
}

/// `sha256:`, `sha384:` or `sha512:` and at least 32 hex digits; returns where the hex starts
/// and ends.
fn digest(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let prefix = b.get(i..i + 7)?;
    let known = [b"sha256:", b"sha384:", b"sha512:"];
    if !known.iter().any(|k| prefix.eq_ignore_ascii_case(&k[..])) {
        return None;
    }
    let hex = i + 7;
    let n = run_len(b, hex, |c| c.is_ascii_hexdigit());
    (n >= 32 && ends_token(b, hex + n)).then_some((hex, hex + n))
}

/// An optional `:port` after an address ending at `end`.
fn with_port(b: &[u8], end: usize) -> usize {
    if b.get(end) == Some(&b':') {
        let n = run_len(b, end + 1, |c| c.is_ascii_digit());
        if (1..=5).contains(&n) && ends_token(b, end + 1 + n) {
            return end + 1 + n;
        }
    }
    end
}

fn ipv4(b: &[u8], i: usize) -> Option<usize> {
    let mut n = run_len(b, i, |c| c.is_ascii_digit() || c == b'.');
    while n > 0 && b[i + n - 1] == b'.' {
        n -= 1;
    }
    if !(7..=15).contains(&n) || !ends_token(b, i + n) {
        return None;
    }
    let mut parts = 0;
    for part in b[i..i + n].split(|&c| c == b'.') {
        parts += 1;
        if parts > 4 || part.is_empty() || part.len() > 3 {
            return None;
        }
        let value = part.iter().fold(0u16, |v, &d| v * 10 + u16::from(d - b'0'));
        if value > 255 {
            return None;
        }
    }
    (parts == 4).then(|| with_port(b, i + n))
}

fn ipv6(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'[' {
        let close = i + 1 + b.get(i + 1..)?.iter().take(64).position(|&c| c == b']')?;
        let inner = &b[i + 1..close];
        let addr = inner.split(|&c| c == b'%').next()?;
        std::str::from_utf8(addr).ok()?.parse::<Ipv6Addr>().ok()?;
        return Some(with_port(b, close + 1));
    }
    let n = run_len(b, i, |c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
    let candidate = &b[i..i + n.min(64)];
    if candidate.iter().filter(|&&c| c == b':').count() < 2 {
        return None;
    }
    // A trailing ':' or '.' belongs to the sentence ("dial fe80::1: connection refused").
    let mut len = candidate.len();
    while len > 0 {
        let text = std::str::from_utf8(&candidate[..len]).ok()?;
        if text.parse::<Ipv6Addr>().is_ok() {
            let mut end = i + len;
            if b.get(end) == Some(&b'%') {
                end += 1 + run_len(b, end + 1, |c| c.is_ascii_alphanumeric());
            }
            return ends_token(b, end).then_some(end);
        }
        if !matches!(candidate[len - 1], b':' | b'.') {
            return None;
        }
        len -= 1;
    }
    None
}

/// `0x…`, or 7+ hex digits mixing digits and letters (short git shas, container and job ids).
fn hex_id(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let n = run_len(b, i + 2, |c| c.is_ascii_hexdigit());
        return (n > 0 && ends_token(b, i + 2 + n)).then_some(i + 2 + n);
    }
    let hex = &b[i..i + run_len(b, i, |c| c.is_ascii_hexdigit())];
    let mixed = hex.iter().any(u8::is_ascii_digit) && hex.iter().any(u8::is_ascii_alphabetic);
    (hex.len() >= 7 && mixed && ends_token(b, i + hex.len())).then_some(i + hex.len())
}

/// Units that may follow a number without a space (Go durations and sizes), longest first.
const UNITS: &[&[u8]] = &[
    b"kib",
    b"mib",
    b"gib",
    b"tib",
    b"\xc2\xb5s",
    b"ns",
    b"us",
    b"ms",
    b"kb",
    b"mb",
    b"gb",
    b"tb",
    b"s",
    b"m",
    b"h",
    b"b",
];

/// Digits with optional `.`-separated parts and unit suffixes (`42`, `1.4`, `1m30s`, `12MB`);
/// not the start of a word or a host name (`3rd`, `1.docker.io`).
fn number(b: &[u8], i: usize) -> Option<usize> {
    let mut end = i;
    loop {
        let n = run_len(b, end, |c| c.is_ascii_digit());
        if n == 0 {
            break;
        }
        end += n;
        while b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end += 1 + run_len(b, end + 1, |c| c.is_ascii_digit());
        }
        if !b.get(end).is_some_and(|&c| c.is_ascii_alphabetic() || c >= 0x80) {
            break;
        }
        let unit = UNITS.iter().find(|u| {
            b.get(end..end + u.len()).is_some_and(|s| s.eq_ignore_ascii_case(u))
                && !b.get(end + u.len()).is_some_and(|&c| c.is_ascii_alphabetic() || c >= 0x80)
        });
        match unit {
            Some(u) => end += u.len(),
            None => break,
        }
    }
    if end == i || !ends_token(b, end) {
        return None;
    }
    let hostname = b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(|&c| is_word(c));
    (!hostname).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real error texts from scanners and registries, with where each wording comes from.
    const REAL_MESSAGES: &[(&str, Reason)] = &[
        // StackRox Central, image enrichment against Quay with bad credentials.
        (
            "image enrichment error: error getting metadata for image: quay.io/acme/web:1.4 error: getting metadata from registry: \"Public Quay.io\": failed to get the manifest digest: Head \"https://quay.io/v2/acme/web/manifests/1.4\": http: non-successful response (status=401 body=\"\")",
            Reason::RegistryUnauthorized,
        ),
        // StackRox Central, the same lookup for a tag that does not exist.
        (
            "image enrichment error: error getting metadata for image: quay.io/acme/web:1.4 error: getting metadata from registry: \"Public Quay.io\": failed to get the manifest digest: Head \"https://quay.io/v2/acme/web/manifests/1.4\": http: non-successful response (status=404 body=\"\")",
            Reason::ImageNotFound,
        ),
        // StackRox roxctl via Central (stackrox/stackrox#6273): Docker Hub 404 wrapped in gRPC Internal.
        (
            "rpc error: code = Internal desc = image enrichment error: error getting metadata for image: docker.io/grafana/mimir:latest error: getting metadata from registry: \"Public DockerHub Public Login\": Failed to get the manifest digest : Head \"https://registry-1.docker.io/v2/grafana/mimir/manifests/latest\": http: non-successful response (status=404 body=\"\")",
            Reason::ImageNotFound,
        ),
        // StackRox admin event with several registries (stackrox/stackrox#17574): the 401 decides.
        (
            "image enrichment error: error getting metadata for image: quay.io/dcaravel/noexist:roxctl-image-check errors: [getting metadata from registry: \"Quay Dave Global Pull\": failed to get the manifest digest: Head \"https://quay.io/v2/dcaravel/noexist/manifests/roxctl-image-check\": http: non-successful response (status=401 body=\"\"), getting metadata from registry: \"Quay Dave Personal\": failed to get the manifest digest: Head \"https://quay.io/v2/dcaravel/noexist/manifests/roxctl-image-check\": http: non-successful response (status=404 body=\"\")]",
            Reason::RegistryUnauthorized,
        ),
        // StackRox Central, no image integration for the registry.
        (
            "no matching image registries found: please add an image integration for registry.example.com",
            Reason::NoRegistryIntegration,
        ),
        // StackRox Central with no integrations at all (enricher test wording): registry first.
        (
            "image enrichment errors: [error getting metadata for image:  error: no image registries are integrated: please add an image integration for reg, error scanning image:  error: no image scanners are integrated]",
            Reason::NoRegistryIntegration,
        ),
        // StackRox Central, no scanner.
        ("no image scanners are integrated", Reason::NoScannerIntegration),
        // StackRox Central, enricher wording around the same error.
        (
            "image enrichment error: error scanning image:  error: not found: no image scanners are integrated",
            Reason::NoScannerIntegration,
        ),
        // StackRox Scanner V4 matcher while its vulnerability store loads.
        (
            "rpc error: code = FailedPrecondition desc = the matcher is not initialized: initial load for the vulnerability store is in progress",
            Reason::ScannerUnavailable,
        ),
        // StackRox Central to scanner, gRPC transport failure.
        (
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 172.30.12.5:8443: connect: connection refused\"",
            Reason::ScannerUnavailable,
        ),
        // Trivy in Harbor (goharbor/harbor#16129): every image source failed, the registry refused.
        (
            "scan error: unable to initialize a scanner: unable to initialize a docker scanner: 3 errors occurred:\n\t* unable to inspect the image (core:8080/proxy_cache/gophernet/netcat@sha256:24a47b9a5856993356e7873eed6b9c88cc041c4a63dceea1f5df68462a62bc1c): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n\t* unable to initialize Podman client: no podman socket found: stat podman/podman.sock: no such file or directory\n\t* Get \"http://core:8080/v2/\": dial tcp 172.26.0.9:8080: connect: connection refused",
            Reason::ScannerUnavailable,
        ),
        // StackRox Central, registry behind a proxy that is down.
        (
            "failed to get the manifest digest: Head \"https://registry.example.com/v2/team/app/manifests/2.0\": http: non-successful response (status=503 body=\"upstream connect error\")",
            Reason::ScannerUnavailable,
        ),
        // StackRox / Go gRPC deadline.
        ("context deadline exceeded", Reason::Timeout),
        // StackRox roxctl, gRPC deadline code.
        ("rpc error: code = DeadlineExceeded desc = context deadline exceeded", Reason::Timeout),
        // Trivy in Harbor (goharbor/harbor#17266), analysis ran past --timeout.
        (
            "image scan error: scan error: image scan failed: failed analysis: analyze error: timeout: context deadline exceeded",
            Reason::Timeout,
        ),
        // Go net/http to a registry (StackRox Central, Grype, Trivy alike).
        ("Get \"https://quay.io/v2/\": net/http: TLS handshake timeout", Reason::Timeout),
        // Go dialer to a registry that drops packets.
        (
            "Head \"https://10.0.0.5:5000/v2/team/app/manifests/1.0\": dial tcp 10.0.0.5:5000: i/o timeout",
            Reason::Timeout,
        ),
        // Docker Hub anonymous pull limit.
        (
            "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
            Reason::RateLimited,
        ),
        // Trivy DB download from GHCR (newrelic/newrelic-ruby-agent#2937).
        (
            "DB error: failed to download vulnerability DB: OCI artifact error: failed to download artifact from ghcr.io/aquasecurity/trivy-db:2: GET https://ghcr.io/v2/aquasecurity/trivy-db/manifests/2: TOOMANYREQUESTS: retry-after: 1.002ms, allowed: 44000/minute",
            Reason::RateLimited,
        ),
        // Amazon ECR API throttling.
        (
            "An error occurred (ThrottlingException) when calling the GetAuthorizationToken operation: Rate exceeded",
            Reason::RateLimited,
        ),
        // StackRox Sensor local scanning (stackrox/stackrox#12567), through delegated scanning.
        (
            "error delegating scan to cluster \"caee1aa5-eb10-42fd-8637-2813df3d8e49\" for image \"docker.io/library/nginx:latest\": too many parallel scans to local scanner",
            Reason::RateLimited,
        ),
        // StackRox Central, registry answering 429 on the manifest.
        (
            "getting metadata from registry: \"Public DockerHub\": failed to get the manifest digest: Head \"https://registry-1.docker.io/v2/library/nginx/manifests/1.25\": http: non-successful response (status=429 body=\"\")",
            Reason::RateLimited,
        ),
        // Docker Hub private repository without credentials.
        (
            "Get \"https://registry-1.docker.io/v2/acme/private/manifests/latest\": unauthorized: authentication required",
            Reason::RegistryUnauthorized,
        ),
        // Amazon ECR without a login (concourse/docker-image-resource#161).
        (
            "failed to fetch manifest: Get https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo/manifests/d196e5688d: no basic auth credentials",
            Reason::RegistryUnauthorized,
        ),
        // Harbor core to its Trivy adapter (goharbor/harbor#23082): the words beat the 500.
        (
            "running trivy wrapper: creating scan target: fetching image: GET http://external-registry-harbor-core:80/v2/team/app/manifests/sha256:8e6f73cf74a137e1a3f2f0d357b5266b2a19a91df5e13ca502ec9640f487b005: UNAUTHORIZED: unauthorized to access repository: team/app, action: pull: unauthorized to access repository: team/app, action: pull: general response handler: unexpected status code: 500, expected: 200",
            Reason::RegistryUnauthorized,
        ),
        // Grype through the Docker daemon (anchore/grype#882).
        (
            "failed to catalog: could not fetch image \"5428983d1a2b\": unable to use DockerDaemon source: pull failed: Error response from daemon: pull access denied for 5428983d1a2b, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            Reason::ImageNotFound,
        ),
        // Trivy (aquasecurity/starboard#925): remote source says the tag is unknown.
        (
            "scan error: unable to initialize a scanner: unable to initialize a docker scanner: 3 errors occurred:\n\t* unable to inspect the image (index.docker.io/myorg/abc-img:4837): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n\t* unable to initialize Podman client: no podman socket found: stat podman/podman.sock: no such file or directory\n\t* GET https://index.docker.io/v2/myorg/abc-img/manifests/4837: MANIFEST_UNKNOWN: manifest unknown; unknown tag=4837",
            Reason::ImageNotFound,
        ),
        // Trivy, a layer garbage-collected from the registry.
        (
            "failed to analyze layer (sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4): GET https://registry.example.com/v2/team/app/blobs/sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4: BLOB_UNKNOWN: blob unknown to registry",
            Reason::ImageNotFound,
        ),
        // Amazon ECR, repository missing.
        (
            "An error occurred (RepositoryNotFoundException) when calling the DescribeImages operation: The repository with name 'web' does not exist in the registry with id '123456789012'",
            Reason::ImageNotFound,
        ),
        // Amazon ECR, tag missing.
        (
            "An error occurred (ImageNotFoundException) when calling the BatchGetImage operation: Requested image not found",
            Reason::ImageNotFound,
        ),
        // Quay security scan status from Clair (quay/clair#1507).
        (
            "The manifest for this tag has an operating system or package manager unsupported by Quay Security Scanner",
            Reason::UnsupportedImage,
        ),
        // Clair v2 worker (quay/clair#339).
        ("worker: OS and/or package manager are not supported", Reason::UnsupportedImage),
        // Trivy on a scratch image (aquasecurity/trivy#8).
        (
            "error in image scan: failed to scan the image: failed to analyze OS: Unknown OS",
            Reason::UnsupportedImage,
        ),
        // StackRox Scanner, OS outside the supported list.
        ("image scan notes: unsupported OS: alpine:2.7", Reason::UnsupportedImage),
        // StackRox image size limit.
        (
            "error scanning image: quay.io/acme/ml-model:7 error: image is too large: exceeds max size of 10 GiB",
            Reason::ImageTooLarge,
        ),
        // Trivy unpacking layers into a full cache volume.
        (
            "scan error: image scan failed: failed analysis: analyze error: pipeline error: failed to analyze layer: walk error: write /home/scanner/.cache/trivy/fanal/blob: no space left on device",
            Reason::ImageTooLarge,
        ),
        // StackRox roxctl with an unparsable reference.
        (
            "rpc error: code = InvalidArgument desc = invalid image name \"Quay.io/Acme/Web:1.4\": could not parse reference: Quay.io/Acme/Web:1.4",
            Reason::InvalidImageName,
        ),
        // Docker / go-containerregistry reference parsing.
        (
            "invalid reference format: repository name must be lowercase",
            Reason::InvalidImageName,
        ),
        // StackRox delegated scanning (central delegator), cluster cannot take the scan.
        (
            "cluster \"caee1aa5-eb10-42fd-8637-2813df3d8e49\" does not support delegated scanning",
            Reason::DelegatedScanFailed,
        ),
        // StackRox delegated scanning, Sensor without a local scanner.
        (
            "error delegating scan to cluster \"caee1aa5-eb10-42fd-8637-2813df3d8e49\" for \"image-registry.openshift-image-registry.svc:5000/team/app:latest\": no local Scanner connection",
            Reason::DelegatedScanFailed,
        ),
        // StackRox Central, registry failing with 500.
        (
            "failed to get the manifest digest: Head \"https://harbor.example.com/v2/team/app/manifests/3.1\": http: non-successful response (status=500 body=\"\")",
            Reason::InternalError,
        ),
        // Grype cataloger failure (anchore/grype#200).
        (
            "failed to catalog: 1 error occurred: unable to catalog python package=/usr/local/lib/python3.9/site-packages/distlib-0.3.1.dist-info/METADATA: missing python package top_level.txt",
            Reason::InternalError,
        ),
        // StackRox scanner, gRPC Internal with nothing more telling.
        (
            "rpc error: code = Internal desc = getting vulnerabilities: could not build vulnerability report",
            Reason::InternalError,
        ),
        // Go TLS to a registry with a private CA: no rule, so UNKNOWN.
        (
            "Get \"https://registry.internal/v2/\": x509: certificate signed by unknown authority",
            Reason::Unknown,
        ),
    ];

    #[test]
    fn real_scanner_messages_map_to_expected_reasons() {
        for (message, expected) in REAL_MESSAGES {
            assert_eq!(classify(None, message), *expected, "message: {message}");
        }
        for reason in Reason::ALL.into_iter().filter(|r| !Reason::AWS_STATUS_ONLY.contains(r)) {
            assert!(REAL_MESSAGES.iter().any(|(_, r)| *r == reason), "{reason} has no real message in the table");
        }
        assert!(REAL_MESSAGES.len() >= 24);
    }

    #[test]
    fn phrase_automaton_agrees_with_plain_substring_search() {
        assert!(PHRASES.is_some(), "the phrase automaton must build");
        assert!(RULES.len() <= 64, "rule indexes must fit the hit bit set");
        let mut all: Vec<&str> = Vec::new();
        for (_, test) in RULES {
            if let Test::Phrase(phrases) = test {
                all.extend(phrases.iter());
            }
        }
        for p in &all {
            assert_eq!(*p, p.to_ascii_lowercase(), "phrases are matched against lower-cased text");
            assert!(p.is_ascii(), "{p:?}");
            for q in &all {
                assert!(p == q || !q.starts_with(p), "{p:?} is a prefix of {q:?}");
            }
        }
        let extra = ["", "unauthorized unauthorized", "timed out; timeout", "aunsupportedb", "rate limit exceeded"];
        for message in REAL_MESSAGES.iter().map(|(m, _)| *m).chain(extra) {
            let lower = message.to_ascii_lowercase();
            assert_eq!(phrase_hits(&lower), contained_phrases(&lower), "message: {message}");
        }
    }

    #[test]
    fn known_code_wins_over_message() {
        assert_eq!(classify(Some("TIMEOUT"), "anything"), Reason::Timeout);
        assert_eq!(
            classify(Some("IMAGE_TOO_LARGE"), "http: non-successful response (status=401 body=\"\")"),
            Reason::ImageTooLarge
        );
    }

    #[test]
    fn unknown_code_falls_back_to_message() {
        assert_eq!(classify(Some("NOT_A_CODE"), "context deadline exceeded"), Reason::Timeout);
        assert_eq!(classify(Some("timeout"), "no image scanners are integrated"), Reason::NoScannerIntegration);
        assert_eq!(classify(Some(""), "unauthorized: authentication required"), Reason::RegistryUnauthorized);
        assert_eq!(classify(Some("UNKNOWN"), "context deadline exceeded"), Reason::Timeout);
        assert_eq!(classify(Some("NOT_A_CODE"), "something odd"), Reason::Unknown);
    }

    #[test]
    fn empty_or_unrecognised_messages_are_unknown() {
        assert_eq!(classify(None, ""), Reason::Unknown);
        assert_eq!(classify(None, "   "), Reason::Unknown);
        assert_eq!(classify(None, "the flux capacitor is misaligned"), Reason::Unknown);
        let no_scheme = "Get \"registry.example.com/v2/\": unsupported protocol scheme \"\"";
        assert_eq!(classify(None, no_scheme), Reason::Unknown);
    }

    #[test]
    fn numbers_in_tags_and_versions_are_not_http_statuses() {
        assert_eq!(classify(None, "scan of quay.io/acme/web:1.401 failed oddly"), Reason::Unknown);
        assert_eq!(classify(None, "scan of quay.io/acme/web:401 failed oddly"), Reason::Unknown);
        assert_eq!(classify(None, "scanner v4.404.1 failed oddly"), Reason::Unknown);
        assert_eq!(classify(None, "layer 4011 of 5000 failed oddly"), Reason::Unknown);
        assert_eq!(classify(None, "pull of quay.io/acme/web:1.401 failed: manifest unknown"), Reason::ImageNotFound);
    }

    #[test]
    fn http_statuses_are_recognised_in_the_forms_clients_print() {
        for (message, expected) in [
            ("http: non-successful response (status=401 body=\"\")", Reason::RegistryUnauthorized),
            ("unexpected status code 401 Unauthorized: Not Authorized", Reason::RegistryUnauthorized),
            ("received unexpected HTTP status: 403 Forbidden", Reason::RegistryUnauthorized),
            ("registry answered (403)", Reason::RegistryUnauthorized),
            ("error parsing HTTP 404 response body: unexpected end of JSON input", Reason::ImageNotFound),
            ("GET /v2/x/manifests/y: 404 Not Found", Reason::ImageNotFound),
            ("StatusCode: 404, RequestID: 1f2e", Reason::ImageNotFound),
            ("status: 429", Reason::RateLimited),
            ("received unexpected HTTP status: 502 Bad Gateway", Reason::ScannerUnavailable),
            ("received unexpected HTTP status: 504 Gateway Time-out", Reason::Timeout),
            ("unexpected status code 413 Request Entity Too Large", Reason::ImageTooLarge),
            ("status_code=500", Reason::InternalError),
        ] {
            assert_eq!(classify(None, message), expected, "message: {message}");
        }
    }

    #[test]
    fn auth_status_wins_over_later_generic_words() {
        let message = "rpc error: code = Internal desc = failed to get the manifest digest: http: non-successful response (status=401 body=\"\"): context deadline exceeded while retrying; manifest unknown";
        assert_eq!(classify(None, message), Reason::RegistryUnauthorized);
    }

    #[test]
    fn masking_makes_messages_that_differ_only_in_variable_parts_equal() {
        let pairs = [
            ("attempt 3 of 5 failed after 30s", "attempt 4 of 5 failed after 1m30s"),
            (
                "layer sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4 is corrupt",
                "layer sha256:8e6f73cf74a137e1a3f2f0d357b5266b2a19a91df5e13ca502ec9640f487b005 is corrupt",
            ),
            ("container 5428983d1a2b exited", "container 9f0c1e2d3b4a exited"),
            ("job c9f90ad252354a179dc2288b stalled", "job 0aa5815c2b8311ee803a2e8d stalled"),
            ("pointer 0xc000123456 is nil", "pointer 0xc0004a5b10 is nil"),
            (
                "request 0b5c9d1e-7a21-4c55-9b63-1f0e2d3c4b5a rejected",
                "request 6A7E8FEB-B491-4CF7-A9F1-BF3703467718 rejected",
            ),
            ("dial tcp 10.0.3.17:5000: weird", "dial tcp 192.168.1.20:443: weird"),
            ("dial tcp 10.0.3.17: weird", "dial tcp 172.26.0.9: weird"),
            ("dial tcp [2001:db8::1]:443: weird", "dial tcp [fe80::1%eth0]:8443: weird"),
            ("peer 2001:db8:0:0:1::7 went away", "peer ::1 went away"),
            (
                "since \"2024-05-01T12:34:56.789Z\" the store is odd",
                "since \"2025-11-30T01:02:03+02:00\" the store is odd",
            ),
            ("size 4.2GB over the 3GB quota", "size 11GB over the 10.5GB quota"),
        ];
        for (a, b) in pairs {
            assert_eq!(mask_variable_parts(a), mask_variable_parts(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn masking_produces_the_documented_placeholders() {
        let message = "Get \"https://10.0.3.17:5000/v2/team/app/manifests/sha256:8e6f73cf74a137e1a3f2f0d357b5266b2a19a91df5e13ca502ec9640f487b005\": dial tcp [2001:db8::1]:5000: weird (request 0b5c9d1e-7a21-4c55-9b63-1f0e2d3c4b5a at \"2024-05-01T12:34:56.789Z\", attempt 3 of 5 after 1m30s, job c9f90ad252354a179dc2288b, image registry-1.docker.io/library/nginx:1.25.3, api v2)";
        assert_eq!(
            mask_variable_parts(message),
            "Get \"https://<ip>/v2/team/app/manifests/sha256:<digest>\": dial tcp <ip>: weird (request <uuid> at \"<ts>\", attempt <n> of <n> after <n>, job <hex>, image registry-1.docker.io/library/nginx:<n>, api v2)"
        );
    }

    #[test]
    fn masking_keeps_genuinely_different_messages_apart() {
        let a = mask_variable_parts("GET /v2/team/app/manifests/1.4: manifest unknown on 10.0.0.1");
        let b = mask_variable_parts("GET /v2/team/app/blobs/1.4: blob unknown on 10.0.0.1");
        assert_ne!(a, b);
        assert_ne!(mask_variable_parts("weird failure in indexer"), mask_variable_parts("weird failure in matcher"));
        assert_ne!(mask_variable_parts("error on ipv4 path"), mask_variable_parts("error on ipv6 path"));
    }

    #[test]
    fn masking_handles_edge_input_and_keeps_plain_text() {
        for text in [
            "",
            "::",
            "[",
            "[::1",
            "a:b:c",
            "1.",
            "0x",
            "sha256:",
            "2024-05-01T",
            "é1",
            "1234567890123.5",
            "999.1.1.1:99999999",
        ] {
            assert_eq!(mask_variable_parts(text), mask_variable_parts(text), "deterministic for {text:?}");
        }
        assert_eq!(mask_variable_parts("no variable parts here"), "no variable parts here");
        assert_eq!(mask_variable_parts("é ünïcödé 12 ✓"), "é ünïcödé <n> ✓");
        assert_eq!(mask_variable_parts("at 12:34:56."), "at <n>:<n>:<n>.");
        assert_eq!(mask_variable_parts("dial fe80::1: refused"), "dial <ip>: refused");
        assert_eq!(mask_variable_parts("the 3rd try"), "the 3rd try");
    }

    #[test]
    fn masking_and_classification_survive_arbitrary_input() {
        const PIECES: &[&str] = &[
            "0",
            "1",
            "9",
            "255",
            "256",
            "401",
            "a",
            "f",
            "F",
            "s",
            "x",
            "0x",
            "sha256:",
            ":",
            "::",
            ".",
            "[",
            "]",
            "%",
            "-",
            "_",
            " ",
            "T",
            "Z",
            "+",
            "é",
            "µs",
            "\"",
            "(",
            ")",
            "=",
            "status=",
            "ms",
            "GB",
            "unsupported",
            "timeout",
            "manifest unknown",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = next() % 24;
            let text: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
            assert_eq!(mask_variable_parts(&text), mask_variable_parts(&text));
            let lower = text.to_ascii_lowercase();
            assert_eq!(phrase_hits(&lower), contained_phrases(&lower), "{text:?}");
            let _ = classify(None, &text);
        }
    }

    #[test]
    fn every_reason_has_title_hint_and_round_trips_its_code() {
        for reason in Reason::ALL {
            let code = reason.code();
            assert_eq!(Reason::from_code(code), Some(reason));
            assert_eq!(code.parse::<Reason>(), Ok(reason));
            assert_eq!(reason.to_string(), code);
            assert_eq!(serde_json::to_string(&reason).ok(), Some(format!("\"{code}\"")));
            assert_eq!(serde_json::from_str::<Reason>(&format!("\"{code}\"")).ok(), Some(reason));
            assert!(!reason.title().is_empty() && reason.title().len() <= 40, "{code} title");
            assert!(reason.hint().len() >= 80, "{code} hint is too thin");
            assert!(!reason.hint().contains("  "), "{code} hint has doubled spaces");
        }
        let codes: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert_eq!(Reason::from_code("timeout"), None);
        assert_eq!("NOT_A_CODE".parse::<Reason>(), Err(UnknownReason("NOT_A_CODE".to_owned())));
    }

    #[test]
    fn transient_reasons_are_warnings_and_the_rest_errors() {
        let warnings: Vec<_> = Reason::ALL.into_iter().filter(|r| r.level() == Level::Warning).collect();
        assert_eq!(
            warnings,
            [Reason::ScannerUnavailable, Reason::Timeout, Reason::RateLimited, Reason::ScanQuotaExceeded]
        );
        assert_eq!(Level::Warning.as_str(), "WARNING");
        assert_eq!(Level::Error.as_str(), "ERROR");
        assert_eq!(serde_json::to_string(&Level::Warning).ok().as_deref(), Some("\"WARNING\""));
    }
}
