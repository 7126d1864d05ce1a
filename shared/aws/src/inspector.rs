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

/// One page of coverage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoveragePage {
    pub entries: Vec<Coverage>,
    /// Where the next page starts; `None` on the last page.
    pub next_token: Option<String>,
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
    if let Some(t) = out.next_token().filter(|t| t.len() > MAX_TOKEN) {
        return Err(InspectorError::TokenTooLong(t.len()));
    }
    let entries = out
        .covered_resources()
        .iter()
        .map(|r| Coverage {
            resource_id: r.resource_id().to_owned(),
            status_code: r.scan_status().map(|s| s.status_code().as_str().to_owned()).unwrap_or_default(),
            reason: r.scan_status().map(|s| s.reason().as_str().to_owned()),
            scan_type: Some(r.scan_type().as_str().to_owned()),
            last_scanned_at: r
                .last_scanned_at()
                .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()),
            image_tags: r
                .resource_metadata()
                .and_then(|m| m.ecr_image())
                .map(|i| i.tags().to_vec())
                .unwrap_or_default(),
        })
        .collect();
    Ok(CoveragePage { entries, next_token: out.next_token().map(str::to_owned) })
}
