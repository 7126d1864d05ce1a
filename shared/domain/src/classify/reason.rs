//! The closed set of reasons a scan fails for, each with its title, level and the remediation
//! an administrator needs. The code is stored and indexed: variants may be added, never renamed.

use std::fmt;
use std::str::FromStr;

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
    // Failures of roxctl itself, before Central scanned anything.
    CentralUnreachable,
    CentralAuthFailed,
    SbomUnsupported,
}

/// How loudly a failure should be reported to admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    Error,
    Warning,
}

/// The prefix of StackRox/ACS's `AdministrationEventLevel` names; what follows it is how the
/// store spells a level ([`Level::as_str`]).
pub const ACS_LEVEL_PREFIX: &str = "ADMINISTRATION_EVENT_LEVEL_";

/// The ACS name of a stored level: `ERROR` → `ADMINISTRATION_EVENT_LEVEL_ERROR`.
pub fn acs_level(stored: &str) -> String {
    format!("{ACS_LEVEL_PREFIX}{stored}")
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
    pub const ALL: [Reason; 22] = [
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
        Self::CentralUnreachable,
        Self::CentralAuthFailed,
        Self::SbomUnsupported,
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
            Self::CentralUnreachable => "CENTRAL_UNREACHABLE",
            Self::CentralAuthFailed => "CENTRAL_AUTH_FAILED",
            Self::SbomUnsupported => "SBOM_UNSUPPORTED",
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
            Self::RateLimited => "Rate limit reached",
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
            Self::CentralUnreachable => "Central unreachable from roxctl",
            Self::CentralAuthFailed => "roxctl refused by Central",
            Self::SbomUnsupported => "Central cannot generate SBOMs",
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
            | Self::EncryptionKeyAccessDenied
            | Self::CentralUnreachable
            | Self::CentralAuthFailed
            | Self::SbomUnsupported => Level::Error,
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
                 ThrottlingException), the local scanner had too many scans in flight, or Central's \
                 API rate limiter refused roxctl ('rejected by grpc_ratelimit'). For Docker Hub give \
                 the image integration an authenticated account or mirror the images; for ECR \
                 spread scans out or request a higher quota; for Central space out the pipelines' \
                 scans or raise its API rate limit. The scan is retried on the next reprocessing \
                 cycle."
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
            Self::CentralUnreachable => {
                "roxctl could not reach Central, so nothing was scanned (connection refused, no such \
                 host, i/o timeout, gRPC Unavailable on roxctl's own connection). Check the endpoint \
                 the pipeline gives roxctl (ROX_ENDPOINT or -e, host:port without a scheme), that \
                 the CI runner can resolve and reach it through any proxy or egress firewall, and \
                 that Central and its route or load balancer are up."
            }
            Self::CentralAuthFailed => {
                "Central refused roxctl's identity (gRPC Unauthenticated, 'credentials not found', \
                 no token for 'roxctl central login') or its role lacks the permission (gRPC \
                 PermissionDenied, 'not authorized: \"READ_WRITE_ACCESS\" for \"Image\"'). Give the \
                 pipeline a valid API token with \
                 ROX_API_TOKEN or --token-file, created under Platform Configuration > Integrations \
                 > API Token with a role that may scan images (e.g. Continuous Integration), and \
                 rotate it before it expires; machine-to-machine configurations need their \
                 issuer's token."
            }
            Self::SbomUnsupported => {
                "Central cannot generate an SBOM for this request: Scanner V4 is disabled ('Enable \
                 Scanner V4 to generate SBOMs', no scanner integration for scannerTypeHint \
                 'Scanner V4') or Central is too old to support SBOM generation. Enable Scanner V4 \
                 in Central (and on the secured cluster for delegated scans) or use 'roxctl image \
                 scan' until it is."
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

#[cfg(test)]
mod tests {
    use super::*;

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
