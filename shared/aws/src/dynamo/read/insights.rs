//! The summary and the trend read: every matching group once, added up by the domain's pure
//! builders ([`scan_failures_domain::insights`]). The same questions answered from the
//! maintained rollups: [`crate::dynamo::rollup::answer`].

use time::OffsetDateTime;

use scan_failures_domain::insights::{Summary, SummaryBuilder, Trend, TrendBuilder};
use scan_failures_domain::query::{SummaryRequest, TrendRequest};
use scan_failures_domain::retention::RetentionDays;

use super::{QueryError, ReadStats, Reader};

/// The summary of the groups matching `req.filters`.
pub async fn summary(
    reader: &Reader<'_>,
    req: &SummaryRequest,
    now: OffsetDateTime,
    retention: RetentionDays,
) -> Result<(Summary, ReadStats), QueryError> {
    let mut builder = SummaryBuilder::default();
    let stats = reader.each_match(&req.filters, now, retention, |g, _| builder.add(&g)).await?;
    Ok((builder.finish(req.top as usize), stats))
}

/// The daily trend of the groups matching `req.filters`: reads the groups whose last
/// occurrence is within the window.
pub async fn trend(
    reader: &Reader<'_>,
    req: &TrendRequest,
    now: OffsetDateTime,
    retention: RetentionDays,
) -> Result<(Trend, ReadStats), QueryError> {
    let mut builder = TrendBuilder::new(req.days, now, retention);
    let mut filters = req.filters.clone();
    filters.from = Some(builder.window_start(now));
    filters.until = None;
    let stats = reader.each_match(&filters, now, retention, |g, s| builder.add(&g, &s)).await?;
    Ok((builder.finish(), stats))
}
