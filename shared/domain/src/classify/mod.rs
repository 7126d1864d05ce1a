//! Why an image scan failed: the classifier that maps a scanner's or registry's error text (or
//! its code) onto one [`Reason`] of the catalogue in [`reason`].
//!
//! The rules were written against wording seen in StackRox/ACS, Docker Hub, Quay, Amazon ECR,
//! Harbor, Clair, Trivy and Grype error reports; the table test at the bottom keeps them honest.

pub mod reason;

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

pub use reason::{acs_level, Level, Reason, UnknownReason, ACS_LEVEL_PREFIX};

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
    /// Both lower-case substrings: a wrapper and the transport error right at it, where
    /// either alone also occurs in other failures. The first is searched with the phrases; the
    /// second only in a message that has the first.
    Both(&'static str, &'static str),
}

impl Test {
    /// The substrings of this test the phrase automaton searches for.
    fn phrases(&self) -> &[&'static str] {
        match self {
            Test::Phrase(phrases) => phrases,
            Test::Both(first, _) => std::slice::from_ref(first),
            Test::Status(_) => &[],
        }
    }
}

/// The classification rules, most specific first; the first rule that matches decides.
///
/// The order carries the judgement: explicit StackRox integration and input errors first, then
/// an HTTP status the registry actually answered, then registry and scanner wording, then the
/// transport, and the generic wrappers (`code = Internal`, delegation, Trivy's "unable to
/// initialize a scanner") last, since they wrap a more telling cause when there is one.
const RULES: &[(Reason, Test)] = &[
    // roxctl's own failures come first: their messages quote the transport errors and statuses
    // that later rules read as the registry's or the scanner's.
    (
        Reason::SbomUnsupported,
        Test::Phrase(&[
            "scanner v4 is disabled",
            "no scanner integration found for scannertypehint \"scanner v4\"",
            "confirm central version supports sbom generation",
        ]),
    ),
    (
        Reason::CentralAuthFailed,
        Test::Phrase(&[
            "code = unauthenticated",
            "roxctl central login",
            "obtaining auth information for",
            // Central refused roxctl's identity (pkg/grpc/authz/user, pkg/errox): the role lacks
            // the permission, or the token carries none.
            "code = permissiondenied",
            "not authorized: \"",
            // Central's own wording; a Docker credential helper's "credentials not found in
            // native keychain" is the registry's, below.
            "desc = credentials not found",
            "credentials not found: no credentials",
        ]),
    ),
    // `roxctl image sbom` reads Central's HTTP status itself (roxctl/common/client.go).
    (Reason::CentralAuthFailed, Test::Both("generating sbom: expected status code", "but received 401.")),
    (Reason::CentralAuthFailed, Test::Both("generating sbom: expected status code", "but received 403.")),
    (
        Reason::CentralUnreachable,
        Test::Phrase(&[
            "could not connect to central",
            "could not establish grpc connection to central",
            // roxctl's call to Central failed at the transport, not a scanner behind it.
            "alerts: rpc error: code = unavailable",
            // roxctl image sbom's HTTP call (roxctl/common/client.go wraps every transport error
            // so; older roxctl printed Go's `Post "…"` right after the command's wrapping).
            "generating sbom: error when doing http request",
            "generating sbom: post \"",
        ]),
    ),
    (Reason::CentralUnreachable, Test::Both("could not scan image: \"", "\": rpc error: code = unavailable")),
    // Central's enricher, the image's notes in brackets (pkg/images/enricher/util.go): without
    // metadata, no registry integration could pull it; else no scanner could scan it.
    (Reason::NoRegistryIntegration, Test::Both("scan could not be completed", "missing_metadata")),
    (
        Reason::NoRegistryIntegration,
        Test::Phrase(&[
            "scan could not be completed, please check that an applicable registry is integrated",
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
            "please check that an applicable registry and scanner is integrated",
            "due to no applicable registry/scanner integration",
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
            // Central's API rate limiter (pkg/grpc/ratelimit): gRPC and HTTP. (Not gRPC's
            // ResourceExhausted as such: a message over its size limit has that code too.)
            "rejected by grpc_ratelimit",
            "rejected by rate limiter",
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
            // AWS refusing the caller's credentials themselves (HTTP 400 or 403): the registry's
            // (ECR's) role or keys, as the hint says.
            "unrecognizedclientexception",
            "invalidclienttokenid",
            "signaturedoesnotmatch",
            "expiredtokenexception",
            "the security token included in the request is invalid",
            "error getting credentials",
            // ECR, once the 12-hour token `get-login-password` gave has run out.
            "authorization token has expired",
            // GHCR (`denied: denied`, `denied: permission_denied: …`) and Artifact Registry
            // (`denied: Permission "…downloadArtifacts" denied on resource`).
            "denied: denied",
            "permission_denied",
            "denied: permission",
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
    // nginx's and ELB's pages spell it "504 Gateway Time-out".
    (Reason::Timeout, Test::Phrase(&["deadline exceeded", "deadlineexceeded", "timeout", "timed out", "time-out"])),
    (Reason::Timeout, Test::Status(HttpStatuses::S408 | HttpStatuses::S504)),
    (Reason::ScannerUnavailable, Test::Status(HttpStatuses::S502 | HttpStatuses::S503)),
    (Reason::ScannerUnavailable, Test::Phrase(&["service unavailable", "bad gateway"])),
    (Reason::InternalError, Test::Status(HttpStatuses::S500)),
    // Go's `unsupported protocol scheme ""` is a registry endpoint without `https://`, not an
    // unsupported image; with nothing more telling it stays unclassified.
    // Nor is Go TLS's `unsupported protocol version` (a registry's old TLS), nor the
    // distribution API's `UNSUPPORTED: The operation is unsupported.` (a registry's refusal).
    (Reason::Unknown, Test::Phrase(&["protocol scheme", "protocol version", "operation is unsupported"])),
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
        Test::Phrase(&[
            "delegating scan",
            "delegated scan",
            "delegated registry",
            "no local scanner",
            // Central's delegator without a connection to the cluster it delegates to
            // (central/delegatedregistryconfig/delegator), through the gRPC wrapping.
            "desc = no connection to \"",
        ]),
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
            Test::Both(_, second) => phrases & (1 << n) != 0 && lower.contains(second),
        };
        if hit {
            return *reason;
        }
    }
    Reason::Unknown
}

/// All phrases of all rules in one Aho-Corasick automaton, so that a message (up to 4 KiB) is
/// searched once instead of once per phrase; see [`phrase_hits`].
struct PhraseIndex {
    any: AhoCorasick,
    /// The rule of each phrase, by the automaton's pattern id.
    rule_of: Vec<usize>,
}

static PHRASES: LazyLock<Option<PhraseIndex>> = LazyLock::new(|| {
    let mut rule_of = Vec::new();
    let mut phrases = Vec::new();
    for (n, (_, test)) in RULES.iter().enumerate() {
        for &phrase in test.phrases() {
            rule_of.push(n);
            phrases.push(phrase);
        }
    }
    let any = AhoCorasick::new(phrases).ok()?;
    Some(PhraseIndex { any, rule_of })
});

/// The rules (as bits of their index in [`RULES`]) with a phrase in the lower-cased message.
///
/// Equivalent to testing every phrase with `str::contains`, which is what happens should the
/// automaton ever fail to build: the overlapping search reports every occurrence of every
/// phrase, in one pass over the message and without a reverse search for where each starts.
fn phrase_hits(lower: &str) -> u64 {
    let Some(index) = PHRASES.as_ref() else {
        return contained_phrases(lower);
    };
    let mut hits = 0u64;
    for m in index.any.find_overlapping_iter(lower) {
        if let Some(&rule) = index.rule_of.get(m.pattern().as_usize()) {
            hits |= 1 << rule;
        }
    }
    hits
}

/// [`phrase_hits`] the slow way, one `str::contains` per phrase.
fn contained_phrases(lower: &str) -> u64 {
    let mut hits = 0u64;
    for (n, (_, test)) in RULES.iter().enumerate() {
        if test.phrases().iter().any(|p| lower.contains(p)) {
            hits |= 1 << n;
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

    /// Whether the text right before a number labels it as an HTTP status; "but received" is
    /// `roxctl image sbom`'s "expected status code 200, but received 504" (roxctl/common/client.go).
    fn labelled(prefix: &str) -> bool {
        let p = prefix.trim_end();
        let p = p.strip_suffix(['=', ':']).unwrap_or(p).trim_end();
        ["status", "status code", "statuscode", "status_code", "http", "but received"]
            .iter()
            .any(|label| p.ends_with(label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::mask::mask_variable_parts;

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
        // roxctl with no endpoint set (roxctl/common/errors.go EnhanceConnectionError).
        (
            "Could not connect to Central at default endpoint (localhost:8443).\nHINT: Configure the Central endpoint using the -e/--endpoint flag or ROX_ENDPOINT environment variable.\n      Example: roxctl -e central.example.com:443 <command>: dial tcp [::1]:8443: connect: connection refused",
            Reason::CentralUnreachable,
        ),
        // roxctl image scan with Central down (roxctl/image/scan/scan.go wrappers around gRPC).
        (
            "image scan failed after 3 retries: retrieving image scan result: could not scan image: \"quay.io/acme/web:1.4\": rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.0.0.12:443: i/o timeout\"",
            Reason::CentralUnreachable,
        ),
        // roxctl image check with Central down (roxctl/image/check/check.go).
        (
            "checking image failed after 3 retries: retrieving alerts: could not check build-time alerts: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp: lookup central.example.com: no such host\"",
            Reason::CentralUnreachable,
        ),
        // roxctl image sbom with Central unreachable over HTTP (roxctl/image/sbom/sbom.go).
        (
            "generating SBOM: error when doing http request: Post \"https://central.example.com:443/api/v1/images/sbom\": dial tcp 10.0.0.12:443: connect: connection refused",
            Reason::CentralUnreachable,
        ),
        // roxctl reached Central; Central could not reach its scanner: the scanner's, not Central's.
        (
            "image scan failed: retrieving image scan result: could not scan image: \"nginx:1.25\": rpc error: code = Internal desc = image enrichment error: scanning image: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 172.30.1.5:8443: connect: connection refused\"",
            Reason::ScannerUnavailable,
        ),
        // roxctl with a missing or rejected API token (pkg/errox NoCredentials over gRPC).
        (
            "image scan failed: retrieving image scan result: could not scan image: \"nginx:1.25\": rpc error: code = Unauthenticated desc = credentials not found: token validation failed",
            Reason::CentralAuthFailed,
        ),
        // roxctl with neither token nor login (roxctl/common/environment/auth_config.go).
        (
            "obtaining auth information for central.example.com:443: no credentials found for https://central.example.com:443, please run \"roxctl central login\" to obtain credentials",
            Reason::CentralAuthFailed,
        ),
        // roxctl image sbom against a Central without Scanner V4 (central/image/service/http_handler.go
        // through roxctl/common/client.go DoReqAndVerifyStatusCode).
        (
            "generating SBOM: expected status code 200, but received 501. Response Body: {\"code\":12,\"message\":\"Scanner V4 is disabled. Enable Scanner V4 to generate SBOMs\"}",
            Reason::SbomUnsupported,
        ),
        // Central's enricher asked for Scanner V4 with none integrated (pkg/images/enricher).
        (
            "generating SBOM: scanning image: no scanner integration found for scannerTypeHint \"Scanner V4\"",
            Reason::SbomUnsupported,
        ),
        // roxctl image sbom, Central out of reach by name (roxctl/common/client.go's wrapping).
        (
            "generating SBOM: error when doing http request: dial tcp: lookup central.example.com on 10.0.0.2:53: no such host",
            Reason::CentralUnreachable,
        ),
        // Central refused roxctl's role (pkg/grpc/authz/user/user.go, errox.NotAuthorized).
        (
            "could not scan image: \"nginx:1.27\": rpc error: code = PermissionDenied desc = not authorized: \"READ_WRITE_ACCESS\" for \"Image\"",
            Reason::CentralAuthFailed,
        ),
        // A token without a role (errox.NoCredentials), roxctl image sbom's plain-text body.
        (
            "generating SBOM: expected status code 200, but received 401. Response Body: credentials not found: no credentials",
            Reason::CentralAuthFailed,
        ),
        // roxctl image sbom through a proxy that gave up on a slow SBOM (roxctl/common/client.go
        // retries 5xx, then prints the last answer's status and body): nginx's page.
        (
            "generating SBOM: expected status code 200, but received 504. Response Body: <html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>",
            Reason::Timeout,
        ),
        // The same, Central restarting behind its load balancer, with an empty body.
        ("generating SBOM: expected status code 200, but received 503. Response Body: ", Reason::ScannerUnavailable),
        ("generating SBOM: expected status code 200, but received 502. Response Body: ", Reason::ScannerUnavailable),
        // Central's delegator without a connection to the cluster the scan is delegated to
        // (central/delegatedregistryconfig/delegator: `no connection to %q`).
        (
            "could not scan image: \"quay.io/acme/web:1.4\": rpc error: code = Internal desc = no connection to \"caee1aa5-eb10-42fd-8637-2813df3d8e49\"",
            Reason::DelegatedScanFailed,
        ),
        // Central's API rate limiter (pkg/grpc/ratelimit, go-grpc-middleware's ratelimit).
        (
            "could not scan image: \"nginx:1.27\": rpc error: code = ResourceExhausted desc = /v1.ImageService/ScanImage is rejected by grpc_ratelimit middleware, please retry later. limit exceeded",
            Reason::RateLimited,
        ),
        // Central's enricher without metadata (pkg/images/enricher/util.go).
        (
            "could not scan image: \"quay.io/acme/web:1.4\": rpc error: code = Internal desc = scan could not be completed for image quay.io/acme/web:1.4 ([MISSING_METADATA MISSING_SCAN_DATA]): please check that an applicable registry and scanner is integrated",
            Reason::NoRegistryIntegration,
        ),
        // The same with metadata but no scan data.
        (
            "could not scan image: \"quay.io/acme/web:1.4\": rpc error: code = Internal desc = scan could not be completed for image quay.io/acme/web:1.4 ([MISSING_SCAN_DATA]): please check that an applicable registry and scanner is integrated",
            Reason::NoScannerIntegration,
        ),
        // A Docker credential helper without the registry's login (docker, trivy, skopeo).
        (
            "error getting credentials - err: exit status 1, out: `credentials not found in native keychain`",
            Reason::RegistryUnauthorized,
        ),
        // gRPC's size limit shares ResourceExhausted with the rate limiter: not a rate limit.
        (
            "could not scan image: \"quay.io/acme/ml:7\": rpc error: code = ResourceExhausted desc = grpc: received message larger than max (5123456 vs. 4194304)",
            Reason::Unknown,
        ),
        // Go TLS to a registry with a private CA: no rule, so UNKNOWN.
        (
            "Get \"https://registry.internal/v2/\": x509: certificate signed by unknown authority",
            Reason::Unknown,
        ),
        // Go TLS to a registry that speaks only an old TLS: not an unsupported image.
        (
            "Get \"https://registry.internal/v2/\": tls: server selected unsupported protocol version 301",
            Reason::Unknown,
        ),
        // The distribution API's error code for an operation a registry does not offer.
        ("PUT https://registry.internal/v2/acme/web/blobs/uploads/: UNSUPPORTED: The operation is unsupported.", Reason::Unknown),
        // ECR after the 12-hour token from `aws ecr get-login-password` has run out.
        (
            "Error response from daemon: Head \"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/web/manifests/1\": denied: Your authorization token has expired. Reauthenticate and try again.",
            Reason::RegistryUnauthorized,
        ),
        // GHCR without the package's read permission.
        ("Error response from daemon: Head \"https://ghcr.io/v2/acme/web/manifests/1\": denied: denied", Reason::RegistryUnauthorized),
        // Artifact Registry without the reader role.
        (
            "failed to resolve reference \"us-docker.pkg.dev/p/r/web:1\": denied: Permission \"artifactregistry.repositories.downloadArtifacts\" denied on resource \"projects/p/locations/us/repositories/r\" (or it may not exist)",
            Reason::RegistryUnauthorized,
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
            all.extend(test.phrases().iter());
        }
        for p in &all {
            assert_eq!(*p, p.to_ascii_lowercase(), "phrases are matched against lower-cased text");
            assert!(p.is_ascii(), "{p:?}");
        }
        // Repeats, and phrases inside or overlapping others.
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

    /// AWS refusing the credentials themselves answers HTTP 400 (or 403) with the exception's
    /// name: filed as the registry's credentials, not UNKNOWN (a group per request id before
    /// masking, and no hint).
    #[test]
    fn aws_refusing_the_credentials_themselves_is_registry_unauthorized() {
        for message in [
            "operation error ECR: GetAuthorizationToken, https response error StatusCode: 400, RequestID: 5b8c7a10-1d2e-4f3a-9b8c-7d6e5f4a3b2c, api error UnrecognizedClientException: The security token included in the request is invalid.",
            "operation error ECR: GetAuthorizationToken, https response error StatusCode: 403, RequestID: 5b8c, api error InvalidClientTokenId: The security token included in the request is invalid.",
            "api error SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.",
            "api error ExpiredTokenException: The security token included in the request is expired",
        ] {
            assert_eq!(classify(None, message), Reason::RegistryUnauthorized, "{message}");
        }
    }

    #[test]
    fn auth_status_wins_over_later_generic_words() {
        let message = "rpc error: code = Internal desc = failed to get the manifest digest: http: non-successful response (status=401 body=\"\"): context deadline exceeded while retrying; manifest unknown";
        assert_eq!(classify(None, message), Reason::RegistryUnauthorized);
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
}
