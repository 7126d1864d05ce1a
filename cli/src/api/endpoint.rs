//! Where the API is: its base URL (scheme, host, optional path prefix) and the region its
//! SigV4 signature is for.

use http::Uri;
use scan_failures_domain::redact;
use thiserror::Error;

/// The API's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]`.
    pub origin: String,
    /// The path before the routes (a stage, or a local emulator's prefix), without a trailing
    /// slash; empty for an HTTP API's `$default` stage.
    pub prefix: String,
    /// The region in an `execute-api` host name.
    pub region: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("no endpoint: give --endpoint or set SCANFAIL_ENDPOINT to the stack's ApiUrl output")]
    Missing,
    #[error("the endpoint {0:?} is not an http(s) URL with a host")]
    NotAUrl(String),
    #[error(
        "the endpoint {0:?} is plain http to another machine: the signed requests, your session token \
         and the answers would cross the network in clear; use https (http is for 127.0.0.1 and \
         localhost only)"
    )]
    PlainHttp(String),
    #[error("the endpoint URL holds a user or password before its host: give it without them (requests are signed with your AWS credentials)")]
    UserInfo,
}

/// Hosts plain http may go to: this machine (a local stack, an emulator).
const LOOPBACK: [&str; 4] = ["127.0.0.1", "localhost", "[::1]", "::1"];

impl Endpoint {
    pub fn parse(url: Option<&str>) -> Result<Self, EndpointError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty()).ok_or(EndpointError::Missing)?;
        // Said back with any password redacted: a URL that fails to parse may still carry one.
        let quoted = || scan_failures_domain::text::prefix(&redact::secrets(url), 200).to_owned();
        let bad = || EndpointError::NotAUrl(quoted());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        // A user and password in the URL would be sent as the Host, and said in every error.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(EndpointError::UserInfo);
        }
        let scheme = uri.scheme_str().filter(|s| *s == "https" || *s == "http").ok_or_else(bad)?;
        let authority = uri.authority().filter(|a| !a.host().is_empty()).ok_or_else(bad)?;
        if uri.query().is_some() {
            return Err(bad());
        }
        let host = authority.host();
        if scheme == "http" && !LOOPBACK.contains(&host.to_ascii_lowercase().as_str()) {
            return Err(EndpointError::PlainHttp(quoted()));
        }
        // `<id>.execute-api.<region>.<suffix>`, the suffix of any AWS partition.
        let region = scan_failures_domain::partition::ALL
            .iter()
            .find_map(|p| host.strip_suffix(&format!(".{}", p.dns_suffix)))
            .and_then(|h| h.split_once(".execute-api."))
            .map(|(_, region)| region.to_owned())
            .filter(|r| !r.is_empty() && !r.contains('.'));
        Ok(Self {
            origin: format!("{scheme}://{authority}"),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            region,
        })
    }

    /// The URL of `path` (a route, starting with `/`) with the encoded `query`.
    pub fn url(&self, path: &str, query: &str) -> String {
        let mut url = format!("{}{}{}", self.origin, self.prefix, path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execute_api_url_names_its_region() {
        let e = Endpoint::parse(Some("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/")).unwrap();
        assert_eq!(
            e,
            Endpoint {
                origin: "https://a1b2c3.execute-api.eu-west-1.amazonaws.com".into(),
                prefix: String::new(),
                region: Some("eu-west-1".into())
            }
        );
        assert_eq!(
            e.url("/v1/count/administration/events", "filter.level=X"),
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1/count/administration/events?filter.level=X"
        );
    }

    #[test]
    fn a_custom_domain_or_a_local_url_keeps_its_path_and_names_no_region() {
        let e = Endpoint::parse(Some("http://127.0.0.1:9000/lambda-url/api/")).unwrap();
        assert_eq!(
            (e.origin.as_str(), e.prefix.as_str(), e.region),
            ("http://127.0.0.1:9000", "/lambda-url/api", None)
        );
    }

    /// Before, `http://` to any host was signed and sent in clear.
    #[test]
    fn plain_http_goes_to_this_machine_only() {
        for local in ["http://127.0.0.1:9000/x", "http://localhost:9000", "http://[::1]:9000", "http://LOCALHOST:1"] {
            assert!(Endpoint::parse(Some(local)).is_ok(), "{local}");
        }
        let remote = "http://a1b2c3.execute-api.eu-west-1.amazonaws.com/";
        assert_eq!(Endpoint::parse(Some(remote)), Err(EndpointError::PlainHttp(remote.into())));
        assert_eq!(
            EndpointError::PlainHttp("http://api.example.com".into()).to_string(),
            "the endpoint \"http://api.example.com\" is plain http to another machine: the signed requests, your \
             session token and the answers would cross the network in clear; use https (http is for 127.0.0.1 \
             and localhost only)"
        );
    }

    #[test]
    fn an_execute_api_url_in_another_partition_names_its_region() {
        let e = Endpoint::parse(Some("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn")).unwrap();
        assert_eq!(e.region.as_deref(), Some("cn-north-1"));
        let e = Endpoint::parse(Some("https://a1b2c3.execute-api.us-iso-east-1.c2s.ic.gov")).unwrap();
        assert_eq!(e.region.as_deref(), Some("us-iso-east-1"));
    }

    #[test]
    fn a_missing_or_malformed_endpoint_is_a_clear_error() {
        assert_eq!(Endpoint::parse(None), Err(EndpointError::Missing));
        assert_eq!(Endpoint::parse(Some("  ")), Err(EndpointError::Missing));
        for bad in ["ftp://x", "not a url", "https://", "/v1/x", "https://h/?q=1"] {
            assert_eq!(Endpoint::parse(Some(bad)), Err(EndpointError::NotAUrl(bad.into())), "{bad}");
        }
        // Refused without being said back: the error would print the password.
        let given = "https://u:pw@a1b2c3.execute-api.us-east-1.amazonaws.com";
        assert_eq!(Endpoint::parse(Some(given)), Err(EndpointError::UserInfo));
        assert!(!EndpointError::UserInfo.to_string().contains("pw"));
        // Whatever else is wrong with such a URL, its password is not said back.
        for given in [
            "https://u:pw@a1b2c3.execute-api.us-east-1.amazonaws.com/?x=1",
            "ftp://u:pw@h",
            "https://u:pw@a1b2c3.execute-api.us-east-1.amazonaws.com/a b",
        ] {
            let err = Endpoint::parse(Some(given)).map(|_| ()).unwrap_err().to_string();
            assert!(!err.contains("pw"), "{given}: {err}");
        }
    }
}
