//! Count, summary and trend answered from the maintained rollups: the rollups of a
//! [`read_plan`](rollup::read_plan), netted by reason with their signs, and its edge groups, added up by the
//! domain's builders, exactly as the read of every group
//! ([`crate::dynamo::read::insights`]) adds the groups up, for the filters the rollups cover
//! ([`rollup::covers`]) and once they are kept for the whole window ([`rollup::ready`]).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::insights::{Summary, SummaryBuilder, Trend, TrendBuilder};
use scan_failures_domain::query::{matches, triage_selected, Filters, SummaryRequest, TrendRequest};
use scan_failures_domain::retention::{is_visible, RetentionDays};
use scan_failures_domain::rollup::{self, net_by_reason, Counters};

use super::Rollups;
use crate::dynamo::read::{QueryError, ReadStats};

/// The rollups' answers cover the groups whose last occurrence is after this time: the
/// retention's cut-off, or for a trend the start of its window if later (see `rollup::ready`).
pub fn maintained_after(from: Option<OffsetDateTime>, now: OffsetDateTime, retention: RetentionDays) -> OffsetDateTime {
    let cut = now - retention.duration();
    // Last occurrences are stored to the millisecond: "at or after from" is "after from − 1 ms".
    from.map_or(cut, |f| cut.max(f - time::Duration::milliseconds(1)))
}

/// [`maintained_after`] of a trend: its window's start, or the cut-off if later.
pub fn trend_after(req: &TrendRequest, now: OffsetDateTime, retention: RetentionDays) -> OffsetDateTime {
    maintained_after(Some(TrendBuilder::new(req.days, now, retention).window_start(now)), now, retention)
}

/// The counters by reason and the edge groups of every group in retention (and, for a trend,
/// whose last occurrence is at or after `from`) that match `filters`' triage and reason filters.
async fn maintained(
    rollups: &Rollups<'_>,
    filters: &Filters,
    from: Option<OffsetDateTime>,
    now: OffsetDateTime,
    retention: RetentionDays,
) -> Result<(BTreeMap<String, Counters>, Vec<(GroupRecord, GroupState)>, ReadStats), QueryError> {
    let after = maintained_after(from, now, retention);
    // Boxed: six concurrent queries make a large future, and the api's handler nests it.
    let read = Box::pin(rollups.read(&rollups.plan(after, now))).await?;
    let selected = net_by_reason(
        read.rollups.iter().filter(|(k, _, _)| rollup::selected(filters, k)).map(|(k, sign, c)| (k, *sign, c)),
    );
    let edge = read
        .edge
        .into_iter()
        .filter(|(g, s)| {
            is_visible(g, now, retention) && matches(filters, g) && triage_selected(filters, s.triage.state)
        })
        .collect();
    Ok((selected, edge, read.stats))
}

/// `Reader::count` from the rollups: the filters must be covered ([`rollup::covers`]).
pub async fn count_maintained(
    rollups: &Rollups<'_>,
    filters: &Filters,
    now: OffsetDateTime,
    retention: RetentionDays,
) -> Result<(u64, ReadStats), QueryError> {
    let (selected, edge, stats) = maintained(rollups, filters, None, now, retention).await?;
    let groups = selected.values().filter_map(|c| c.get("g")).fold(0i64, |a, g| a.saturating_add(*g));
    Ok((u64::try_from(groups).unwrap_or(0) + edge.len() as u64, stats))
}

/// `insights::summary` from the rollups, without the breakdowns they do not keep
/// ([`Summary::maintained_only`]): the request's filters must be covered.
pub async fn summary_maintained(
    rollups: &Rollups<'_>,
    req: &SummaryRequest,
    now: OffsetDateTime,
    retention: RetentionDays,
) -> Result<(Summary, ReadStats), QueryError> {
    let (selected, edge, stats) = maintained(rollups, &req.filters, None, now, retention).await?;
    let mut builder = SummaryBuilder::default();
    for (reason, counters) in &selected {
        builder.add_counters(reason, counters);
    }
    for (g, _) in &edge {
        builder.add(g);
    }
    Ok((builder.finish(req.top as usize).maintained_only(), stats))
}

/// `insights::trend` from the rollups: the request's filters must be covered.
pub async fn trend_maintained(
    rollups: &Rollups<'_>,
    req: &TrendRequest,
    now: OffsetDateTime,
    retention: RetentionDays,
) -> Result<(Trend, ReadStats), QueryError> {
    let mut builder = TrendBuilder::new(req.days, now, retention);
    let from = builder.window_start(now);
    // As for the read of the groups, the window replaces any time filter.
    let filters = Filters { from: None, until: None, ..req.filters.clone() };
    let (selected, edge, stats) = maintained(rollups, &filters, Some(from), now, retention).await?;
    for (reason, counters) in &selected {
        builder.add_counters(reason, counters);
    }
    for (g, s) in &edge {
        builder.add(g, s);
    }
    Ok((builder.finish(), stats))
}
