//! Reading "every group whose last occurrence is after t" from the rollups: one `Query` per
//! grain over its bucket range, and the groups of the edge (under a minute) from `byTime`.
//! What is read does not depend on how many groups the table holds, only on the retention, the
//! triage states and reasons in use, and the groups of one minute.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::rollup::{Counter, Counters, Range, ReadPlan, RollupKey};
use scan_failures_domain::time_fmt;

use super::plan::{parse_item_key, partition, start_text};
use super::Rollups;
use crate::dynamo::item::{GroupItem, Item, StateItem};
use crate::dynamo::read::ReadStats;
use crate::dynamo::schema::{ALL_PARTITION, BY_TIME, PARTITION_KEY, TIME_SORT_KEY};
use crate::dynamo::{dynamo, StoreError};

/// What a [`ReadPlan`] reads: the rollups of its ranges and the groups of its edge.
#[derive(Debug, Clone, Default)]
pub struct Read {
    pub rollups: Vec<(RollupKey, Counters)>,
    pub edge: Vec<(GroupRecord, GroupState)>,
    pub stats: ReadStats,
}

impl Rollups<'_> {
    /// The rollups and edge groups of `plan`, read concurrently (eventually consistent, as the
    /// index is).
    pub async fn read(&self, plan: &ReadPlan) -> Result<Read, StoreError> {
        let [m, m10, h, h6, d] = plan.ranges;
        let edge_lo = format!("{}#~", time_fmt::format(plan.after));
        let edge_hi = time_fmt::format(plan.edge_until);
        let (m, m10, h, h6, d, edge) =
            tokio::join!(self.range(m), self.range(m10), self.range(h), self.range(h6), self.range(d), async {
                if plan.has_edge() {
                    self.query(ALL_PARTITION, &edge_lo, &edge_hi).await
                } else {
                    Ok((Vec::new(), ReadStats::default()))
                }
            });
        let mut read = Read::default();
        for part in [m?, m10?, h?, h6?, d?] {
            add_stats(&mut read.stats, &part.1);
            for item in part.0 {
                if let Some(rollup) = decode(item) {
                    read.rollups.push(rollup);
                }
            }
        }
        let (items, stats) = edge?;
        add_stats(&mut read.stats, &stats);
        for item in items {
            let state = GroupState::of_item(&item);
            read.edge.push((GroupRecord::from_item(item)?, state));
        }
        Ok(read)
    }

    async fn range(&self, r: Range) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let hi = r.until.map_or_else(|| "~".to_owned(), start_text);
        if r.until.is_some_and(|u| u <= r.from) {
            return Ok((Vec::new(), ReadStats::default()));
        }
        self.query(&partition(r.grain), &start_text(r.from), &hi).await
    }

    /// Every item of one `byTime` partition whose sort key is within `[lo, hi]`.
    async fn query(&self, partition: &str, lo: &str, hi: &str) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let mut items = Vec::new();
        let mut stats = ReadStats::default();
        let mut start = None;
        loop {
            let out = self
                .store
                .client()
                .query()
                .table_name(self.store.table())
                .index_name(BY_TIME.name)
                .key_condition_expression("#p = :p AND #s BETWEEN :lo AND :hi")
                .expression_attribute_names("#p", BY_TIME.partition_key)
                .expression_attribute_names("#s", TIME_SORT_KEY)
                .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
                .expression_attribute_values(":lo", AttributeValue::S(lo.to_owned()))
                .expression_attribute_values(":hi", AttributeValue::S(hi.to_owned()))
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(dynamo("Query"))?;
            stats.requests += 1;
            stats.items_read += u64::try_from(out.scanned_count()).unwrap_or(0);
            stats.read_capacity_units += out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0);
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((items, stats));
            }
        }
    }
}

fn add_stats(total: &mut ReadStats, part: &ReadStats) {
    total.requests += part.requests;
    total.items_read += part.items_read;
    total.read_capacity_units += part.read_capacity_units;
}

/// A stored rollup's key and counters; `None` for an item that is not one.
fn decode(item: Item) -> Option<(RollupKey, Counters)> {
    let key = parse_item_key(item.get(PARTITION_KEY)?.as_s().ok()?)?;
    let counters = item
        .into_iter()
        .filter(|(name, _)| Counter::parse(name).is_some())
        .filter_map(|(name, v)| Some((name, v.as_n().ok()?.parse::<i64>().ok()?)))
        .collect();
    Some((key, counters))
}
