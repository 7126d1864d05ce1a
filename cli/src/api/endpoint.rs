//! Where the API is: its base URL (scheme, host, optional path prefix) and the region its
//! SigV4 signature is for.

use http::Uri;
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
}

impl Endpoint {
    pub fn parse(url: Option<&str>) -> Result<Self, EndpointError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty()).ok_or(EndpointError::Missing)?;
        let bad = || EndpointError::NotAUrl(scan_failures_domain::text::prefix(url, 200).to_owned());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().filter(|s| *s == "https" || *s == "http").ok_or_else(bad)?;
        let authority = uri.authority().filter(|a| !a.host().is_empty()).ok_or_else(bad)?;
        if uri.query().is_some() {
            return Err(bad());
        }
        let host = authority.host();
        let region = host
            .strip_suffix(".amazonaws.com")
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

    #[test]
    fn a_missing_or_malformed_endpoint_is_a_clear_error() {
        assert_eq!(Endpoint::parse(None), Err(EndpointError::Missing));
        assert_eq!(Endpoint::parse(Some("  ")), Err(EndpointError::Missing));
        for bad in ["ftp://x", "not a url", "https://", "/v1/x", "https://h/?q=1"] {
            assert_eq!(Endpoint::parse(Some(bad)), Err(EndpointError::NotAUrl(bad.into())), "{bad}");
        }
    }
}
