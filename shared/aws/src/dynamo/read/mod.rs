//! The read side: list, count and get failure groups with `Query` calls on the table's indexes,
//! never a `Scan`.
//!
//! A request is served by one index, chosen from its filters (digest, then image, then
//! repository, then reason, else the all-groups time index). Each value of the chosen filter
//! is one partition; partitions are queried newest first with the time window as a key
//! condition and merged by sort key. Every other filter, and expiry, is checked on the records
//! read. A page reads at most [`MAX_ITEMS_READ_PER_PAGE`] index entries, a round's reads shared
//! among the partitions it reads ([`fetch_limit`]); a sparse filter that reaches that bound
//! returns a shorter page with a cursor to continue.
//!
//! Count, summary and trend read every matching group once through [`Reader::each_match`], so
//! their cost grows with the number of groups, never with the number of raw events.

use std::collections::{HashMap, VecDeque};

pub mod insights;
pub mod plan;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnConsumedCapacity};
use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::query::{matches, triage_selected, Filters, ListRequest};
use scan_failures_domain::retention::{is_visible, RetentionDays};
use scan_failures_http::cursor::{self, CursorError};

use crate::backoff;
use crate::dynamo::item::{GroupItem, Item, StateItem};
use crate::dynamo::schema::{Index, Projection, PARTITION_KEY};
use crate::dynamo::{dynamo, group_key, Store, StoreError};
use plan::{plan, window, Window};

/// Records read at most for one page before it is cut short with a cursor.
pub const MAX_ITEMS_READ_PER_PAGE: u64 = 20_000;
/// Partitions of one page read at once: a page over many filter values waits for the slowest
/// of a few calls at a time, not for every call in turn, and opens few connections.
const CONCURRENT_FETCHES: usize = 8;
/// Keys per `BatchGetItem` request (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;
/// Rounds of unprocessed keys retried before a read is reported failed.
const MAX_BATCH_GET_ATTEMPTS: u32 = 8;

/// The DynamoDB operations the read side calls (see `store::actions`).
pub mod actions {
    pub const READ: &[&str] = &["dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"];
}

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("pagination.cursor {0}")]
    Cursor(#[from] CursorError),
    /// A count, summary or trend would read more than the reader's bound ([`Reader::bounded`]);
    /// `read` records were read before it stopped (never more than `max`).
    #[error(
        "this request matches more than the {max} failure groups one request may read: narrow the window \
         (filter.from, or days for the trend) or filter on an indexed field (filter.reason, filter.repository, \
         filter.resourceName or filter.resourceId); filter.account, filter.region and the other filters \
         are checked on the groups read and do not reduce the reading"
    )]
    TooBroad { max: u64, read: u64 },
    /// More groups than the reader's bound were last seen in the part of the minute after the
    /// retention's cut-off that the maintained rollups leave to be read group by group
    /// ([`crate::dynamo::rollup::Rollups::bounded`]). Transient: within the minute the cut-off
    /// has moved past them, into the rollups.
    #[error(
        "more than the {max} failure groups one request may read were last seen in the minute the retention's \
         cut-off falls in, which is read group by group: ask again in a minute, when the cut-off has moved past \
         it, or filter on an indexed field (filter.repository, filter.resourceName or filter.resourceId)"
    )]
    EdgeTooBusy { max: u64 },
    /// A list's `pagination.offset` was still skipping matches when its page reached its read
    /// bound.
    #[error(
        "pagination.offset skips more matching events than one page may read ({max} records) to find: \
         page with pagination.cursor instead, or narrow the filters"
    )]
    OffsetTooFar { max: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a read cost, as DynamoDB reported it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReadStats {
    pub requests: u32,
    /// Records DynamoDB read (`ScannedCount`), before any check on them.
    pub items_read: u64,
    pub read_capacity_units: f64,
}

impl ReadStats {
    /// Adds the cost of a read made apart (concurrently) to this one.
    pub fn add(&mut self, other: &ReadStats) {
        self.requests += other.requests;
        self.items_read += other.items_read;
        self.read_capacity_units += other.read_capacity_units;
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub groups: Vec<GroupRecord>,
    /// The triage and per-day counts of each group of `groups`, in the same order.
    pub states: Vec<GroupState>,
    pub next_cursor: Option<String>,
    pub stats: ReadStats,
    /// The index sort key of each group of `groups`, and the query they belong to: what a
    /// cursor after any of them holds ([`Page::cut`]).
    keys: Vec<String>,
    query_id: String,
}

impl Page {
    /// Keeps the first `n` groups (at least one), the cursor then resuming after the last kept:
    /// for an answer that must stop short of the page, whatever its limit.
    pub fn cut(&mut self, n: usize) {
        let n = n.max(1);
        if n >= self.groups.len() {
            return;
        }
        self.groups.truncate(n);
        self.states.truncate(n);
        self.keys.truncate(n);
        self.next_cursor = self.keys.last().map(|k| cursor::encode(k, &self.query_id));
    }
}

/// One partition being read, newest (or oldest) first.
struct Partition {
    value: String,
    /// Entries read and not yet merged: each one's place in the index, and its stored item, or
    /// `None` when the item was deleted between the index read and its hydration (the merge
    /// passes over it as it would over a group that does not match).
    buffer: VecDeque<(String, Option<Item>)>,
    start_key: Option<Item>,
    exhausted: bool,
}

impl Partition {
    fn new(value: &str) -> Self {
        Self { value: value.to_owned(), buffer: VecDeque::new(), start_key: None, exhausted: false }
    }

    /// Whether its next entry is unknown: the merge cannot pick before it is read.
    fn hungry(&self) -> bool {
        self.buffer.is_empty() && !self.exhausted
    }
}

/// How many entries each of `hungry` partitions is asked for in one round of a page that still
/// wants `want` entries, with `budget` entries left of its read bound: a fair share of what the
/// page wants (the partition that supplies most is read again, with what is then still wanted),
/// so that a page over many partitions does not read `want` from each; the round's reads
/// together within the budget (at least one each); and DynamoDB's 1,000 per call at most.
pub fn fetch_limit(want: u64, hungry: usize, budget: u64) -> i32 {
    let hungry = u64::try_from(hungry.max(1)).unwrap_or(u64::MAX);
    let share = want.div_ceil(hungry).min(budget / hungry).clamp(1, 1000);
    i32::try_from(share).unwrap_or(1000)
}

/// What a page that still wants `want` entries asks its partitions for, when `matched` of the
/// `examined` entries it has merged passed its filters: `want` times the entries merged per
/// match (each count plus one), so that a filter few entries pass reads in rounds that grow as
/// its entries fail, not in rounds of the few it still wants (a last page of a sparse filter
/// read up to its bound of entries three at a time: thousands of round trips, past the api's
/// deadline, and again on every retry). A page whose every entry matches asks `want`.
pub fn scaled_want(want: u64, examined: u64, matched: u64) -> u64 {
    want.saturating_mul(examined.saturating_add(1)) / matched.saturating_add(1)
}

/// Reads groups back from one [`Store`]; see [`Store::reader`].
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    store: &'a Store,
    /// Records a count, summary or trend reads at most ([`Self::bounded`]); unbounded by default.
    max_items: u64,
}

impl<'a> Reader<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store, max_items: u64::MAX }
    }

    /// The same reader, whose counts, summaries and trends stop with [`QueryError::TooBroad`]
    /// rather than read more than `max_items` records: the work of one request is bounded
    /// whatever the table holds (a list page has its own bound, [`MAX_ITEMS_READ_PER_PAGE`]).
    pub fn bounded(self, max_items: u64) -> Self {
        Self { max_items, ..self }
    }

    /// The stored item of group `id` (strongly consistent), whether or not it has expired.
    pub async fn get_item(&self, id: &Uuid) -> Result<Option<Item>, StoreError> {
        self.store.get_consistent(group_key(id)).await
    }

    /// The stored group, whether or not it has expired.
    pub async fn get(&self, id: &Uuid) -> Result<Option<GroupRecord>, StoreError> {
        match self.get_item(id).await? {
            Some(item) => Ok(Some(GroupRecord::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Reads up to `limit` more entries of `p` into its buffer, with their items; returns what
    /// that cost (its own, so that partitions can be read together).
    async fn fetch(&self, w: &Window, p: &mut Partition, limit: i32) -> Result<ReadStats, StoreError> {
        let mut stats = ReadStats::default();
        if w.hi < w.lo {
            // The window ends before the retention window starts: nothing can match.
            p.exhausted = true;
            return Ok(stats);
        }
        let out = self
            .store
            .client()
            .query()
            .table_name(self.store.table())
            .index_name(w.index.name)
            .key_condition_expression("#p = :p AND #s BETWEEN :lo AND :hi")
            .expression_attribute_names("#p", w.index.partition_key)
            .expression_attribute_names("#s", w.index.sort_key.attribute())
            .expression_attribute_values(":p", AttributeValue::S(p.value.clone()))
            .expression_attribute_values(":lo", AttributeValue::S(w.lo.clone()))
            .expression_attribute_values(":hi", AttributeValue::S(w.hi.clone()))
            .scan_index_forward(w.ascending)
            .limit(limit)
            .set_exclusive_start_key(p.start_key.take())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(dynamo("Query"))?;
        stats.requests += 1;
        stats.items_read += u64::try_from(out.scanned_count()).unwrap_or(0);
        stats.read_capacity_units += out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0);
        p.start_key = out.last_evaluated_key;
        p.exhausted = p.start_key.is_none();
        let entries = out.items.unwrap_or_default();
        // Each entry's place in the index as read: the order of the merge and what a cursor
        // holds, even for a group a write has moved since (a keys-only index is hydrated from
        // the table, which may already hold the newer time).
        let places: Vec<String> = entries
            .iter()
            .map(|e| e.get(w.index.sort_key.attribute()).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default())
            .collect();
        let items = self.hydrate(w.index, entries, &mut stats).await?;
        p.buffer.extend(places.into_iter().zip(items));
        Ok(stats)
    }

    /// The stored item of each index entry read from `index`, in the same order: the entries
    /// themselves when the index projects every attribute, else the items read by key with
    /// `BatchGetItem` (eventually consistent, like the index); `None` for an item deleted since
    /// its entry was read. Adds the reads to `stats` (`items_read` counts index entries).
    async fn hydrate(
        &self,
        index: Index,
        entries: Vec<Item>,
        stats: &mut ReadStats,
    ) -> Result<Vec<Option<Item>>, StoreError> {
        if index.projection == Projection::All || entries.is_empty() {
            return Ok(entries.into_iter().map(Some).collect());
        }
        let entry_keys: Vec<Option<String>> =
            entries.iter().map(|e| e.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned()).collect();
        let keys: Vec<&String> = entry_keys.iter().flatten().collect();
        let mut found: HashMap<String, Item> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|k| HashMap::from([(PARTITION_KEY.to_owned(), AttributeValue::S((*k).clone()))]))
                .collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut pending))).build()?;
                let out = self
                    .store
                    .client()
                    .batch_get_item()
                    .request_items(self.store.table(), request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(dynamo("BatchGetItem"))?;
                stats.requests += 1;
                stats.read_capacity_units +=
                    out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum::<f64>();
                for item in out.responses.and_then(|mut r| r.remove(self.store.table())).unwrap_or_default() {
                    if let Some(k) = item.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned() {
                        found.insert(k, item);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.store.table()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > MAX_BATCH_GET_ATTEMPTS {
                        return Err(StoreError::Unprocessed { operation: "BatchGetItem", left: pending.len() });
                    }
                    tokio::time::sleep(backoff::delay(attempt)).await;
                }
            }
        }
        Ok(entry_keys.iter().map(|k| k.as_ref().and_then(|k| found.remove(k))).collect())
    }

    /// One page of the groups matching `req`, newest first unless reversed.
    pub async fn list(
        &self,
        req: &ListRequest,
        now: OffsetDateTime,
        retention: RetentionDays,
    ) -> Result<Page, QueryError> {
        let filters = &req.filters;
        let ascending = req.page.reversed;
        let query_id = cursor::query_hash(&format!("{}|{ascending}", filters.canonical()));
        let after = match &req.page.cursor {
            Some(c) => Some(cursor::decode(c, &query_id)?),
            None => None,
        };
        let plan = plan(filters);
        let mut window = window(filters, &plan, now, retention, ascending);
        if let Some(after) = &after {
            // Resume at the last record returned; it is read again and skipped.
            if ascending {
                window.lo = window.lo.max(after.clone());
            } else {
                window.hi = window.hi.min(after.clone());
            }
        }
        let limit = usize::try_from(req.page.limit).unwrap_or(usize::MAX);
        let mut to_skip = if after.is_none() { req.page.offset } else { 0 };
        let mut parts: Vec<Partition> = plan.partitions.iter().map(|v| Partition::new(v)).collect();
        let mut stats = ReadStats::default();
        let mut groups = Vec::new();
        let mut on_page: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut states = Vec::new();
        let mut keys = Vec::new();
        let mut last_returned: Option<String> = None;
        let mut last_examined: Option<String> = None;
        let (mut examined, mut matched) = (0_u64, 0_u64);
        let mut more = false;
        loop {
            // Every partition whose next entry is unknown is read before the merge picks one.
            let mut bounded = false;
            while parts.iter().any(Partition::hungry) {
                let hungry = parts.iter().filter(|p| p.hungry()).count();
                let budget = MAX_ITEMS_READ_PER_PAGE.saturating_sub(stats.items_read);
                if budget < u64::try_from(hungry).unwrap_or(u64::MAX) {
                    bounded = true;
                    break;
                }
                let want = u64::try_from(limit - groups.len().min(limit))
                    .unwrap_or(u64::MAX)
                    .saturating_add(2 + u64::from(to_skip));
                let n = fetch_limit(scaled_want(want, examined, matched), hungry, budget);
                // The futures are built first: a stream mapping with a closure would not be `Send`.
                let fetches: Vec<_> =
                    parts.iter_mut().filter(|p| p.hungry()).map(|p| self.fetch(&window, p, n)).collect();
                let round: Vec<ReadStats> =
                    stream::iter(fetches).buffer_unordered(CONCURRENT_FETCHES).try_collect().await?;
                round.iter().for_each(|read| stats.add(read));
            }
            if bounded {
                // The read bound is spent with a partition's next entry unknown: the page ends,
                // its cursor after the last entry merged (every entry before it was examined).
                if to_skip > 0 {
                    // A cursor cannot carry the rest of an offset: the next page would skip less.
                    return Err(QueryError::OffsetTooFar { max: MAX_ITEMS_READ_PER_PAGE });
                }
                more = true;
                last_returned = last_examined.or(last_returned);
                break;
            }
            let best = parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.buffer.front().map(|(sk, _)| (i, sk)))
                .reduce(|a, b| if (b.1 > a.1) != ascending { b } else { a })
                .map(|(i, _)| i);
            let Some(i) = best else { break };
            let Some((sk, item)) = parts[i].buffer.pop_front() else { break };
            if after.as_ref() == Some(&sk) {
                continue;
            }
            last_examined = Some(sk.clone());
            examined += 1;
            // Deleted since its index entry was read: passed over like a group that does not match.
            let Some(item) = item else { continue };
            let state = GroupState::of_item(&item);
            let record = GroupRecord::from_item(item).map_err(StoreError::Decode)?;
            // A group written between two reads of the page can be met again at its new place
            // (oldest first, or by a second digest of `filter.resourceId`): once a page.
            if !on_page.contains(&record.id)
                && is_visible(&record, now, retention)
                && matches(filters, &record)
                && triage_selected(filters, state.triage.state)
            {
                matched += 1;
                if groups.len() == limit {
                    more = true;
                    break;
                }
                if to_skip > 0 {
                    to_skip -= 1;
                } else {
                    last_returned = Some(sk.clone());
                    keys.push(sk);
                    on_page.insert(record.id.clone());
                    groups.push(record);
                    states.push(state);
                }
            }
        }
        let next_cursor = if more { last_returned.map(|k| cursor::encode(&k, &query_id)) } else { None };
        Ok(Page { groups, next_cursor, states, stats, keys, query_id })
    }

    /// Hands each entry of `window`'s index in `partitions` within the window to `visit`, with
    /// its sort key and its stored item (`None`: deleted since the entry was read), until
    /// `visit` returns `false` or `max_entries` entries are read (at most 1,000 a request).
    /// Returns whether it stopped before the end: `visit` stopped it, or the bound did with
    /// entries perhaps left.
    pub async fn each_item(
        &self,
        window: &Window,
        partitions: &[String],
        stats: &mut ReadStats,
        max_entries: u64,
        mut visit: impl FnMut(String, Option<Item>) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        let mut left = max_entries;
        for value in partitions {
            let mut p = Partition::new(value);
            loop {
                if left == 0 {
                    return Ok(true);
                }
                stats.add(&self.fetch(window, &mut p, i32::try_from(left.min(1000)).unwrap_or(1000)).await?);
                left = left.saturating_sub(u64::try_from(p.buffer.len()).unwrap_or(u64::MAX));
                for (place, item) in p.buffer.drain(..) {
                    if !visit(place, item)? {
                        return Ok(true);
                    }
                }
                if p.exhausted {
                    break;
                }
            }
        }
        Ok(false)
    }

    /// Calls `visit` once for every group matching `filters` (visible, passing every filter and
    /// `filter.triage`), in no particular order. Reads each group of the chosen index's
    /// partitions within the time window, oldest first: a group an occurrence moves while the
    /// read goes on moves ahead of it and is met again (counted once, by its id), where newest
    /// first it moved behind the read and was never met. The cost grows with the number of
    /// groups. Past the reader's bound with records left to read (one entry read past it says
    /// so), stops with [`QueryError::TooBroad`]; a window of exactly the bound is answered.
    pub async fn each_match(
        &self,
        filters: &Filters,
        now: OffsetDateTime,
        retention: RetentionDays,
        mut visit: impl FnMut(GroupRecord, GroupState),
    ) -> Result<ReadStats, QueryError> {
        let plan = plan(filters);
        let window = window(filters, &plan, now, retention, true);
        let mut stats = ReadStats::default();
        let mut met: std::collections::HashSet<String> = std::collections::HashSet::new();
        for value in &plan.partitions {
            let mut p = Partition::new(value);
            loop {
                if stats.items_read >= self.max_items {
                    // At the bound, one entry more says whether the window holds more than it:
                    // DynamoDB answers a LastEvaluatedKey whenever a query stops at its limit,
                    // with or without entries after it, and a later partition may be empty.
                    stats.add(&self.fetch(&window, &mut p, 1).await?);
                    if p.buffer.is_empty() && p.exhausted {
                        break;
                    }
                    return Err(QueryError::TooBroad { max: self.max_items, read: stats.items_read });
                }
                let limit = i32::try_from((self.max_items - stats.items_read).min(1000)).unwrap_or(1000);
                stats.add(&self.fetch(&window, &mut p, limit).await?);
                for item in p.buffer.drain(..).filter_map(|(_, item)| item) {
                    let state = GroupState::of_item(&item);
                    let record = GroupRecord::from_item(item).map_err(StoreError::Decode)?;
                    if is_visible(&record, now, retention)
                        && matches(filters, &record)
                        && triage_selected(filters, state.triage.state)
                        && met.insert(record.id.clone())
                    {
                        visit(record, state);
                    }
                }
                if p.exhausted {
                    break;
                }
            }
        }
        Ok(stats)
    }

    /// The exact number of groups matching `filters`.
    pub async fn count(
        &self,
        filters: &Filters,
        now: OffsetDateTime,
        retention: RetentionDays,
    ) -> Result<(u64, ReadStats), QueryError> {
        let mut total = 0u64;
        let stats = self.each_match(filters, now, retention, |_, _| total += 1).await?;
        Ok((total, stats))
    }

    /// A group by id with its triage and per-day counts, unless it has expired.
    pub async fn get_visible_with_state(
        &self,
        id: &Uuid,
        now: OffsetDateTime,
        retention: RetentionDays,
    ) -> Result<Option<(GroupRecord, GroupState)>, StoreError> {
        let Some(item) = self.get_item(id).await? else { return Ok(None) };
        let state = GroupState::of_item(&item);
        let record = GroupRecord::from_item(item)?;
        Ok(is_visible(&record, now, retention).then_some((record, state)))
    }

    /// A group by id, unless it has expired.
    pub async fn get_visible(
        &self,
        id: &Uuid,
        now: OffsetDateTime,
        retention: RetentionDays,
    ) -> Result<Option<GroupRecord>, StoreError> {
        Ok(self.get(id).await?.filter(|g| is_visible(g, now, retention)))
    }
}

#[cfg(test)]
mod tests {
    use super::{fetch_limit, scaled_want};

    #[test]
    fn one_partition_is_asked_for_what_the_page_wants_up_to_a_call_s_thousand() {
        assert_eq!(fetch_limit(52, 1, 20_000), 52);
        assert_eq!(fetch_limit(1002, 1, 20_000), 1000);
    }

    #[test]
    fn partitions_read_together_share_what_the_page_wants() {
        // A page of 50 over 20 repositories: 3 each, not 52 each.
        assert_eq!(fetch_limit(52, 20, 20_000), 3);
        // A page of 1,000 over 63: 16 each (1,008 in all), not 1,002 each (63,126).
        assert_eq!(fetch_limit(1002, 63, 20_000), 16);
        // Never less than one each.
        assert_eq!(fetch_limit(2, 63, 20_000), 1);
    }

    #[test]
    fn a_page_whose_entries_all_match_asks_what_it_wants() {
        assert_eq!(scaled_want(52, 0, 0), 52);
        assert_eq!(scaled_want(12, 40, 40), 12);
    }

    #[test]
    fn a_page_whose_entries_fail_its_filter_asks_for_more_each_round() {
        // A last page of one that finds nothing: 3, then 12, 48, 192, 768 (1,023 entries in
        // five calls, then a thousand a call), where it asked 3 a call to the end.
        assert_eq!([0, 3, 15, 63, 255].map(|examined| scaled_want(3, examined, 0)), [3, 12, 48, 192, 768]);
        // One in three entries matching: three times what it still wants.
        assert_eq!(scaled_want(10, 119, 39), 30);
    }

    #[test]
    fn a_round_stays_within_what_is_left_of_the_read_bound() {
        assert_eq!(fetch_limit(1002, 1, 300), 300);
        assert_eq!(fetch_limit(1002, 4, 300), 75);
        assert_eq!(fetch_limit(1002, 4, 4), 1);
    }
}
