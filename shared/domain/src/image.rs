//! Container image references, normalized the way container tools resolve them, so that one
//! image is one resource whatever spelling a producer used.

use thiserror::Error;

/// The registry a reference without a host resolves to (as `docker pull` does).
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Largest reference accepted, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 1024;

/// Why a reference was refused. Each message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageRefError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_REFERENCE_BYTES} bytes, got {0}")]
    TooLong(usize),
    #[error("must not contain whitespace or control characters")]
    BadCharacter,
    #[error("has an invalid repository path {0:?} (lower-case letters, digits and . _ - / only)")]
    BadRepository(String),
    #[error(
        "has an invalid registry host {0:?} (letters, digits and - in labels joined by ., or [IPv6], then :port maybe)"
    )]
    BadRegistry(String),
    #[error("has an invalid tag {0:?} (1-128 of letters, digits, . _ -, not starting with . or -)")]
    BadTag(String),
    #[error("has an invalid digest: {0}")]
    BadDigest(DigestError),
}

/// Why a digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    #[error("must be \"sha256:\" followed by 64 lower-case hex characters")]
    Format,
}

/// Checks a content digest: `sha256:<64 lower-case hex>`.
pub fn validate_digest(digest: &str) -> Result<(), DigestError> {
    let hex = digest.strip_prefix("sha256:").ok_or(DigestError::Format)?;
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(DigestError::Format)
    }
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Lower-cased registry host, with its port when one was given.
    pub registry: String,
    /// Repository path inside the registry (`library/nginx`).
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference as a container tool would resolve it. A reference with neither tag
    /// nor digest gets the tag `latest`.
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if input.len() > MAX_REFERENCE_BYTES {
            return Err(ImageRefError::TooLong(input.len()));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ImageRefError::BadCharacter);
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => {
                validate_digest(d).map_err(ImageRefError::BadDigest)?;
                (n, Some(d.to_owned()))
            }
            None => (input, None),
        };
        // A tag is what follows the last ':' after the last '/', so a registry port is not a tag.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, _)) if looks_like_host(first) && !valid_host(first) => {
                return Err(ImageRefError::BadRegistry(first.to_owned()));
            }
            Some((first, rest)) if looks_like_host(first) => (first.to_ascii_lowercase(), rest.to_owned()),
            _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_owned(),
            _ => registry,
        };
        let path = if registry == DEFAULT_REGISTRY && !path.contains('/') { format!("library/{path}") } else { path };
        if !valid_path(&path) {
            return Err(ImageRefError::BadRepository(path));
        }
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(ImageRefError::BadTag(t.to_owned()));
            }
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        let parsed = Self { registry, path, tag, digest };
        // The bound holds for the normalized name too, so it always parses back to itself.
        let normalized = parsed.normalized().len();
        if normalized > MAX_REFERENCE_BYTES {
            return Err(ImageRefError::TooLong(normalized));
        }
        Ok(parsed)
    }

    /// `registry/path`: all tags of one repository share it.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The canonical name of the image as a resource: `registry/path:tag`, or
    /// `registry/path@digest` when it was referenced by digest alone. A digest next to a tag is
    /// the resource id, not part of the name (as registries' audit events separate them), so
    /// rebuilds of one tag stay one resource.
    pub fn normalized(&self) -> String {
        let mut s = self.repository();
        match (&self.tag, &self.digest) {
            (Some(t), _) => {
                s.push(':');
                s.push_str(t);
            }
            (None, Some(d)) => {
                s.push('@');
                s.push_str(d);
            }
            (None, None) => s.push_str(":latest"),
        }
        s
    }
}

/// A first component is a registry host when it has a dot or a port, or is `localhost`. (Docker
/// also takes an upper-case component for a host; such a name could not be normalized back to
/// itself, so it is refused as an invalid repository instead.)
fn looks_like_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// Docker's rule for a registry host: labels of ASCII letters, digits and `-` (not at either
/// end) joined by `.`, or an IPv6 address in brackets; then a port of 1 to 65535 maybe. Any
/// other host would be one more spelling of an image, and one more group.
fn valid_host(host: &str) -> bool {
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let Some((addr, after)) = rest.split_once(']') else { return false };
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return false,
            };
            (!addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'), port)
        }
        None => {
            let (name, port) = match host.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (host, None),
            };
            let label = |l: &str| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            (name.split('.').all(label), port)
        }
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    name_ok && port_ok
}

fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
                && component.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

/// Whether `tag` is a tag a reference can carry (Docker's rule: up to 128 of `[A-Za-z0-9_.-]`,
/// not starting with `.` or `-`).
pub fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn norm(s: &str) -> String {
        ImageRef::parse(s).map(|r| r.normalized()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn references_normalize_as_container_tools_resolve_them() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest".to_owned()),
            ("nginx:1.25", "docker.io/library/nginx:1.25".to_owned()),
            ("library/nginx", "docker.io/library/nginx:latest".to_owned()),
            ("index.docker.io/library/nginx", "docker.io/library/nginx:latest".to_owned()),
            ("bitnami/redis:7", "docker.io/bitnami/redis:7".to_owned()),
            ("quay.io/org/app", "quay.io/org/app:latest".to_owned()),
            ("Quay.IO/org/app:v1", "quay.io/org/app:v1".to_owned()),
            ("registry.example.com:5000/team/app:2.0", "registry.example.com:5000/team/app:2.0".to_owned()),
            ("localhost:5000/app", "localhost:5000/app:latest".to_owned()),
            (&format!("quay.io/org/app@{D}"), format!("quay.io/org/app@{D}")),
            (&format!("nginx:1.25@{D}"), "docker.io/library/nginx:1.25".to_owned()),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:abc",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:abc".to_owned(),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(norm(input), expected, "input {input}");
        }
    }

    #[test]
    fn repository_drops_tag_and_digest() {
        let r = ImageRef::parse(&format!("Quay.io:443/org/app:v1@{D}")).unwrap();
        assert_eq!(r.repository(), "quay.io:443/org/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(D));
    }

    #[test]
    fn malformed_references_are_refused_with_the_rule() {
        assert_eq!(ImageRef::parse("  "), Err(ImageRefError::Empty));
        assert_eq!(ImageRef::parse(&"a".repeat(1025)), Err(ImageRefError::TooLong(1025)));
        assert_eq!(ImageRef::parse("ngi nx"), Err(ImageRefError::BadCharacter));
        assert_eq!(ImageRef::parse("quay.io/Org/app"), Err(ImageRefError::BadRepository("Org/app".into())));
        assert_eq!(ImageRef::parse("nginx:-bad"), Err(ImageRefError::BadTag("-bad".into())));
        assert_eq!(ImageRef::parse("nginx@sha256:abc"), Err(ImageRefError::BadDigest(DigestError::Format)));
        assert_eq!(ImageRef::parse("quay.io//app"), Err(ImageRefError::BadRepository("/app".into())));
        assert_eq!(
            ImageRef::parse("Quserag/acme/web:1.5"),
            Err(ImageRefError::BadRepository("Quserag/acme/web".into()))
        );
        assert_eq!(ImageRef::parse(&"a".repeat(1020)), Err(ImageRefError::TooLong(1045)));
        // A host that is no host: each would have been one more group of one image.
        for (given, host) in [
            ("\u{FEFF}quay.io/org/app", "\u{FEFF}quay.io"),
            ("quay.io:/org/app", "quay.io:"),
            ("quay.io:99999/x", "quay.io:99999"),
            (":5000/app", ":5000"),
            ("my_reg.io/app", "my_reg.io"),
            ("-reg.io/app", "-reg.io"),
            ("reg..io/app", "reg..io"),
            ("[::1/app", "[::1"),
            ("[::1]x/app", "[::1]x"),
        ] {
            assert_eq!(ImageRef::parse(given), Err(ImageRefError::BadRegistry(host.into())), "{given}");
        }
        for fine in ["localhost:5000/app", "[::1]:5000/app", "[fe80::1]/app", "10.0.0.1:443/a/b", "Quay.IO/org/app"] {
            assert!(ImageRef::parse(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn digests_must_be_sha256_with_64_lowercase_hex() {
        assert_eq!(validate_digest(D), Ok(()));
        assert_eq!(validate_digest(&D.to_uppercase()), Err(DigestError::Format));
        assert_eq!(validate_digest("md5:0123"), Err(DigestError::Format));
        assert_eq!(validate_digest(&D[..70]), Err(DigestError::Format));
    }
}
