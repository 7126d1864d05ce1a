//! Reading "every group whose last occurrence is after t" from the rollups: one `Query` per
//! grain over its bucket range (each range's rollups with the sign the plan gives them), and the
//! groups of the edge (under a minute) from `byTime`.
//! What is read does not depend on how many groups the table holds, only on the retention, the
//! triage states and reasons in use, and the groups of one minute.

use futures_util::future::join_all;
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::rollup::{Counter, Counters, Range, ReadPlan, RollupKey, Sign};
use scan_failures_domain::time_fmt;

use super::plan::{parse_item_key, partition, start_text};
use super::Rollups;
use crate::dynamo::item::{GroupItem, Item, StateItem};
use crate::dynamo::read::plan::Window;
use crate::dynamo::read::{QueryError, ReadStats};
use crate::dynamo::schema::{ALL_PARTITION, BY_TIME, PARTITION_KEY};
use crate::dynamo::StoreError;

/// What a [`ReadPlan`] reads: the rollups of its ranges, each with its range's sign, and the
/// groups of its edge.
#[derive(Debug, Clone, Default)]
pub struct Read {
    pub rollups: Vec<(RollupKey, Sign, Counters)>,
    pub edge: Vec<(GroupRecord, GroupState)>,
    pub stats: ReadStats,
}

impl Rollups<'_> {
    /// The rollups (of this generation) and edge groups of `plan`, read concurrently
    /// (eventually consistent, as the index is). An edge of more groups than the bound
    /// ([`Rollups::bounded`]) is [`QueryError::EdgeTooBusy`]; one of exactly the bound is read.
    pub async fn read(&self, plan: &ReadPlan) -> Result<Read, QueryError> {
        let edge_lo = format!("{}#~", time_fmt::format(plan.after));
        let edge_hi = time_fmt::format(plan.edge_until);
        let (parts, edge) = tokio::join!(join_all(plan.ranges.iter().map(|r| self.range(*r))), async {
            if plan.has_edge() {
                self.query(ALL_PARTITION, &edge_lo, &edge_hi, self.max_edge.saturating_add(1)).await
            } else {
                Ok((Vec::new(), ReadStats::default()))
            }
        });
        let mut read = Read::default();
        for (part, range) in parts.into_iter().zip(&plan.ranges) {
            let (items, stats) = part?;
            read.stats.add(&stats);
            for item in items {
                if let Some((key, counters)) =
                    decode(item).filter(|(g, _, _)| *g == self.generation).map(|(_, k, c)| (k, c))
                {
                    read.rollups.push((key, range.sign, counters));
                }
            }
        }
        let (items, stats) = edge?;
        read.stats.add(&stats);
        if u64::try_from(items.len()).unwrap_or(u64::MAX) > self.max_edge {
            return Err(QueryError::EdgeTooBusy { max: self.max_edge });
        }
        for item in items {
            let state = GroupState::of_item(&item);
            read.edge.push((GroupRecord::from_item(item).map_err(StoreError::Decode)?, state));
        }
        Ok(read)
    }

    async fn range(&self, r: Range) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let hi = r.until.map_or_else(|| "~".to_owned(), start_text);
        if r.until.is_some_and(|u| u <= r.from) {
            return Ok((Vec::new(), ReadStats::default()));
        }
        // A range's rollups are bounded by its grain, the triage states and the reasons.
        self.query(&partition(self.generation, r.grain), &start_text(r.from), &hi, u64::MAX).await
    }

    /// The items of one `byTime` partition whose sort key is within `[lo, hi]`, at most `max`.
    async fn query(&self, partition: &str, lo: &str, hi: &str, max: u64) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let window = Window { index: BY_TIME, lo: lo.to_owned(), hi: hi.to_owned(), ascending: true };
        let (mut items, mut stats) = (Vec::new(), ReadStats::default());
        self.store
            .reader()
            .each_item(&window, &[partition.to_owned()], &mut stats, max, |_, item| {
                items.extend(item);
                Ok(true)
            })
            .await?;
        Ok((items, stats))
    }
}

/// A stored rollup's generation, key and counters; `None` for an item that is not one.
fn decode(item: Item) -> Option<(u32, RollupKey, Counters)> {
    let (generation, key) = parse_item_key(item.get(PARTITION_KEY)?.as_s().ok()?)?;
    let counters = item
        .into_iter()
        .filter(|(name, _)| Counter::parse(name).is_some())
        .filter_map(|(name, v)| Some((name, v.as_n().ok()?.parse::<i64>().ok()?)))
        .collect();
    Some((generation, key, counters))
}
