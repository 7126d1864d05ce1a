//! Stable group ids: the same failure of the same image always maps to the same id, whatever
//! order, wording of variable parts, or instance processed it.

pub mod mask;

use uuid::Uuid;

use crate::classify::Reason;
use mask::mask_variable_parts;

/// The product's UUID v5 namespace (itself `uuid5(NAMESPACE_URL, "urn:scan-failures")`).
pub fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:scan-failures")
}

/// The domain every group belongs to, as in the reference product's administration events.
pub const DOMAIN: &str = "Image Scanning";
/// The resource type every group is about.
pub const RESOURCE_TYPE: &str = "Image";

/// The group id of a failure: UUID v5 over domain, resource type, normalized reference and
/// reason; for `UNKNOWN` also over the message with its variable parts masked, so unrelated
/// unknown failures stay apart while their repeats merge.
pub fn group_id(normalized_reference: &str, reason: Reason, message: &str) -> Uuid {
    let mut name = String::with_capacity(64 + normalized_reference.len());
    for part in [DOMAIN, RESOURCE_TYPE, normalized_reference, reason.code()] {
        name.push_str(part);
        name.push('\n');
    }
    if reason == Reason::Unknown {
        name.push_str(&mask_variable_parts(message));
    }
    Uuid::new_v5(&namespace(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_failure_always_has_the_same_id() {
        let a = group_id("docker.io/library/nginx:latest", Reason::Timeout, "context deadline exceeded");
        let b = group_id("docker.io/library/nginx:latest", Reason::Timeout, "i/o timeout after 30s");
        assert_eq!(a, b, "known reasons ignore the message");
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, group_id("docker.io/library/nginx:1.25", Reason::Timeout, ""));
        assert_ne!(a, group_id("docker.io/library/nginx:latest", Reason::RateLimited, ""));
    }

    #[test]
    fn unknown_messages_differing_only_in_variable_parts_share_a_group() {
        let a = group_id(
            "quay.io/a/b:1",
            Reason::Unknown,
            "weird failure 42 at 10.0.0.1:443 for sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef id 5f0c2f4e-8e0b-4c4e-9a57-0c6f2b3d1e7a",
        );
        let b = group_id(
            "quay.io/a/b:1",
            Reason::Unknown,
            "weird failure 7 at 192.168.1.20:8443 for sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210 id 0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
        );
        assert_eq!(a, b);
        assert_ne!(a, group_id("quay.io/a/b:1", Reason::Unknown, "a different failure"));
    }
}
