//! Amazon Inspector's coverage of ECR images, for the reconciler: one page of `ListCoverage` at
//! a time, filtered by Inspector to ECR container images whose scan status is `INACTIVE`, each
//! entry as the domain's [`Coverage`]. Called in Inspector's delegated administrator account,
//! it lists every member account of the organization.

use aws_sdk_inspector2::types::{CoverageFilterCriteria, CoverageStringComparison, CoverageStringFilter};
use aws_sdk_inspector2::Client;
use thiserror::Error;
use time::OffsetDateTime;

use scan_failures_domain::event::aws_sources::Coverage;

/// The Inspector operation the reconciler calls (see the maintenance function's `ACTIONS`).
/// `ListCoverage` has no resource-level permissions: its policy statement is on `*`.
pub mod actions {
    pub const RECONCILE: &[&str] = &["inspector2:ListCoverage"];
}

/// Entries per page: `ListCoverage`'s maximum.
pub const PAGE_SIZE: i32 = 200;
/// Longest pagination token kept; a longer one is refused rather than stored.
pub const MAX_TOKEN: usize = 8_192;

#[derive(Debug, Error)]
pub enum InspectorError {
    #[error("Amazon Inspector ListCoverage failed")]
    ListCoverage(#[source] Box<aws_sdk_inspector2::Error>),
    #[error("Amazon Inspector returned a pagination token of {0} bytes (at most {MAX_TOKEN} are kept)")]
    TokenTooLong(usize),
    #[error("could not build the ListCoverage request")]
    Build(#[from] aws_sdk_inspector2::error::BuildError),
}

impl InspectorError {
    /// Inspector refused the request as invalid: with a stored pagination token, that token
    /// (expired, or from a listing Inspector no longer holds), since the rest of the request
    /// does not change between pages.
    pub fn is_refused_request(&self) -> bool {
        matches!(self, Self::ListCoverage(e) if matches!(**e, aws_sdk_inspector2::Error::ValidationException(_)))
    }
}

/// One page of coverage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoveragePage {
    pub entries: Vec<Coverage>,
    /// Where the next page starts; `None` on the last page, and where the token was too long.
    pub next_token: Option<String>,
    /// The length of a next page's token past [`MAX_TOKEN`], not kept: the pass cannot go on
    /// past this page, whose entries are read all the same.
    pub token_too_long: Option<usize>,
}

fn equals(value: &str) -> Result<CoverageStringFilter, InspectorError> {
    Ok(CoverageStringFilter::builder().comparison(CoverageStringComparison::Equals).value(value).build()?)
}

/// The page of inactive ECR images' coverage after `next_token` (the first without).
pub async fn inactive_ecr_images(client: &Client, next_token: Option<String>) -> Result<CoveragePage, InspectorError> {
    let criteria = CoverageFilterCriteria::builder()
        .resource_type(equals("AWS_ECR_CONTAINER_IMAGE")?)
        .scan_status_code(equals("INACTIVE")?)
        .build();
    let out = client
        .list_coverage()
        .filter_criteria(criteria)
        .max_results(PAGE_SIZE)
        .set_next_token(next_token)
        .send()
        .await
        .map_err(|e| InspectorError::ListCoverage(Box::new(e.into())))?;
    let token_too_long = out.next_token().map(str::len).filter(|n| *n > MAX_TOKEN);
    let entries = out
        .covered_resources()
        .iter()
        .map(|r| Coverage {
            resource_id: r.resource_id().to_owned(),
            status_code: r.scan_status().map(|s| s.status_code().as_str().to_owned()).unwrap_or_default(),
            reason: r.scan_status().map(|s| s.reason().as_str().to_owned()),
            scan_type: Some(r.scan_type().as_str().to_owned()),
            last_scanned_at: r.last_scanned_at().and_then(to_the_millisecond),
            image_tags: r
                .resource_metadata()
                .and_then(|m| m.ecr_image())
                .map(|i| i.tags().to_vec())
                .unwrap_or_default(),
        })
        .collect();
    let next_token = out.next_token().filter(|_| token_too_long.is_none()).map(str::to_owned);
    Ok(CoveragePage { entries, next_token, token_too_long })
}

/// `t` cut to its millisecond as the event's time is (`time_fmt::format` cuts), once the
/// float's error is made up. The SDK reads Inspector's epoch seconds (`1795575598.12`) through
/// an `f64` and truncates, so about half of them came out a millisecond early (`…58.119999885`),
/// and the occurrence key, which has milliseconds, then differed from the one of the same
/// scan's event (`"…58.120000"`): one failure counted twice. The error is under 0.2 µs at
/// today's times; 1 µs is added before the cut, which also leaves a time with more digits
/// (`.1236`) cut to `.123`, as the event's is.
fn to_the_millisecond(t: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    const MS: i128 = 1_000_000;
    const FLOAT_ERROR: i128 = 1_000;
    OffsetDateTime::from_unix_timestamp_nanos((t.as_nanos() + FLOAT_ERROR).div_euclid(MS) * MS).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scan_failures_domain::time_fmt;

    #[test]
    fn inspectors_fractional_seconds_are_read_to_the_millisecond_they_say() {
        let read =
            |secs: f64| to_the_millisecond(&aws_smithy_types::DateTime::from_secs_f64(secs)).map(time_fmt::format);
        assert_eq!(aws_smithy_types::DateTime::from_secs_f64(1_795_575_598.12).subsec_nanos(), 119_999_885);
        assert_eq!(read(1_795_575_598.12).as_deref(), Some("2026-11-25T02:59:58.120Z"));
        assert_eq!(read(1_795_575_598.0).as_deref(), Some("2026-11-25T02:59:58.000Z"));
        assert_eq!(read(1_795_575_598.123_6).as_deref(), Some("2026-11-25T02:59:58.123Z"), "cut, as the event's");
        assert_eq!(read(1_795_575_598.999_6).as_deref(), Some("2026-11-25T02:59:58.999Z"));
        // Every millisecond of a second, as Inspector writes them, comes back as itself.
        for ms in 0..1000u32 {
            let secs = format!("1795575598.{ms:03}").parse::<f64>().unwrap_or_default();
            assert_eq!(read(secs), Some(format!("2026-11-25T02:59:58.{ms:03}Z")), "{ms}");
        }
    }
}
