//! The administrators' writes: triage of a group, and cleanup of groups by image, repository or
//! reason. Both are API paths; they read through the table's key or indexes, never a `Scan`.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure,
};
use time::OffsetDateTime;
use uuid::Uuid;

use scan_failures_domain::group::triage::{self, Triage, TriageEntry, TriageRequest};
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::query::{matches, CleanupRequest, Filters};
use scan_failures_domain::retention::{is_visible, RetentionDays};
use scan_failures_domain::time_fmt;
use scan_failures_http::cursor::{self, CursorError};

use crate::backoff;
use crate::dynamo::expr::{Expr, Expressed};
use crate::dynamo::item::{self, attr, GroupItem, StateItem};
use crate::dynamo::read::plan::{plan, Window};
use crate::dynamo::read::{QueryError, ReadStats};
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::{dynamo, group_key, Store, StoreError};

/// The DynamoDB operations the administrators' writes call (see `write::actions`), on top of
/// `read::actions::READ`.
pub mod actions {
    pub const WRITE: &[&str] = &["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"];
}

/// Read-modify-write attempts of one triage before it is reported as contention.
const TRIAGE_ATTEMPTS: u32 = 5;
/// Groups deleted by one cleanup request at most; the answer's cursor goes on from there.
pub const MAX_DELETE_PER_REQUEST: usize = 1000;

/// A group read for deletion: its key, and the occurrence count and last occurrence read,
/// which a delete requires unchanged ([`UNCHANGED`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadGroup {
    pub key: String,
    pub occurrences: u64,
    pub last_occurred_at: String,
}

/// The delete's condition: the group as read. The count alone is not enough: a group that
/// starts a new life between the read and the delete (TTL removed it, or it had expired, and a
/// failure made it again) holds the count it was read with when it holds as many occurrences
/// again, 1 most often; its last occurrence is a later one. And the last occurrence alone is
/// not enough: a late occurrence adds to the count and leaves it.
pub const UNCHANGED: &str = "#n = :n AND #last = :last";

/// What a cleanup's cursors continue: its filters, apart from a list's (whose cursors hold
/// positions of another kind).
fn cleanup_query(filters: &Filters) -> String {
    cursor::query_hash(&format!("cleanup|{}", filters.canonical()))
}

/// Where a cleanup's reading stopped: the filter value (partition) it was reading, by its place
/// among the request's values (in order, however given), and the index sort key of the last entry it examined there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    partition: usize,
    sort_key: String,
}

impl Position {
    fn encode(&self) -> String {
        format!("{}|{}", self.partition, self.sort_key)
    }

    /// The position a cursor's key holds, for a request of `partitions` filter values.
    fn decode(key: &str, partitions: usize) -> Result<Self, CursorError> {
        let (partition, sort_key) = key.split_once('|').ok_or(CursorError::Malformed)?;
        let partition = partition.parse::<usize>().map_err(|_| CursorError::Malformed)?;
        if partition >= partitions || sort_key.is_empty() {
            return Err(CursorError::Malformed);
        }
        Ok(Self { partition, sort_key: sort_key.to_owned() })
    }
}

/// What a cleanup did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deleted {
    pub deleted: u64,
    /// The reading stopped before the end of the index: the request repeated with
    /// `next_cursor` goes on.
    pub more: bool,
    /// Where the reading stopped, when it stopped before the end of the index.
    pub next_cursor: Option<String>,
    /// Groups read as matching and not deleted: an occurrence reached them in between.
    pub kept: u64,
    pub read: ReadStats,
    pub write_capacity_units: f64,
}

/// What a triage did.
#[derive(Debug)]
pub enum Triaged {
    /// The triage was set: the group as it now is.
    Set(Box<(GroupRecord, GroupState)>),
    /// No such group, or it is past the retention.
    NotFound,
    /// The group's triage is no longer the version the request read: nothing was written. It
    /// is now this one.
    Stale(Triage),
}

impl Triaged {
    /// The group as set, when it was.
    pub fn set(self) -> Option<(GroupRecord, GroupState)> {
        match self {
            Self::Set(set) => Some(*set),
            Self::NotFound | Self::Stale(_) => None,
        }
    }
}

/// The administrators' writes on one [`Store`]; see [`Store::admin`].
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    store: &'a Store,
}

impl<'a> Admin<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Sets the triage of group `id` as `caller` at `now`, adding an entry to its history.
    /// A read-modify-write: the update asserts the triage version it read, and is retried when
    /// a concurrent triage (or a reopen by ingest) changed it, unless the request names the
    /// version it must find (`if_version`): then such a change answers [`Triaged::Stale`].
    pub async fn triage(
        &self,
        id: &Uuid,
        request: &TriageRequest,
        caller: &str,
        now: OffsetDateTime,
        retention: RetentionDays,
    ) -> Result<Triaged, StoreError> {
        for attempt in 0..TRIAGE_ATTEMPTS {
            let Some(item) = self.store.reader().get_item(id).await? else { return Ok(Triaged::NotFound) };
            let state = GroupState::of_item(&item);
            let record = GroupRecord::from_item(item)?;
            if !is_visible(&record, now, retention) {
                return Ok(Triaged::NotFound);
            }
            if request.if_version.is_some_and(|v| v != state.triage.shown_version()) {
                return Ok(Triaged::Stale(state.triage));
            }
            let entry = TriageEntry {
                state: request.state.as_str().to_owned(),
                at: time_fmt::format(now),
                by: caller.to_owned(),
                note: request.note.clone(),
            };
            let history = triage::history_with(entry.clone(), &state.triage.history);
            let mut e = Expr::default();
            let pk = e.name(PARTITION_KEY);
            e.condition(format!("attribute_exists({pk})"));
            let version = e.name(attr::VERSION);
            match state.triage.version {
                Some(v) => {
                    let v = e.n(v);
                    e.condition(format!("{version} = {v}"));
                }
                None => e.condition(format!("attribute_not_exists({version})")),
            }
            let next = state.triage.version.unwrap_or(0).saturating_add(1);
            let sets: [(&str, AttributeValue); 5] = [
                (attr::STATE, AttributeValue::S(entry.state)),
                (attr::AT, AttributeValue::S(entry.at)),
                (attr::BY, AttributeValue::S(entry.by)),
                (attr::HISTORY, item::history_attribute(&history)),
                (attr::VERSION, AttributeValue::N(next.to_string())),
            ];
            for (attr, value) in sets {
                let (n, v) = (e.name(attr), e.value(value));
                e.set(format!("{n} = {v}"));
            }
            let note = e.name(attr::NOTE);
            match &request.note {
                Some(text) => {
                    let v = e.s(text.clone());
                    e.set(format!("{note} = {v}"));
                }
                None => e.remove(note),
            }
            let result =
                self.store.update_item(group_key(id)).expressed(e).return_values(ReturnValue::AllNew).send().await;
            match result {
                Ok(out) => {
                    let item = out.attributes.unwrap_or_default();
                    let state = GroupState::of_item(&item);
                    let record = GroupRecord::from_item(item)?;
                    return Ok(Triaged::Set(Box::new((record, state))));
                }
                Err(err)
                    if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) =>
                {
                    tokio::time::sleep(backoff::delay(attempt)).await;
                }
                Err(err) => return Err(dynamo("UpdateItem")(err)),
            }
        }
        Err(StoreError::Contention { group: *id, attempts: TRIAGE_ATTEMPTS })
    }

    /// Deletes up to `max` stored groups matching the request's filters (image, repository,
    /// reason: the indexed filters), whatever their triage and age, reading at most `max_read`
    /// index entries from where the request's cursor says the previous reading stopped:
    /// [`Self::matching`] reads them with `Query` on the index the filters choose,
    /// [`Self::delete_unchanged`] deletes each one that no occurrence has reached since it was
    /// read.
    pub async fn delete_matching(
        &self,
        req: &CleanupRequest,
        max: usize,
        max_read: u64,
    ) -> Result<Deleted, QueryError> {
        let (read, mut result) = self.matching(req, max, max_read).await?;
        let (deleted, kept, wcu) = self.delete_unchanged(&read).await?;
        // A group an occurrence reached since it was read is kept with that occurrence, as a
        // failure after the cleanup would make it again; the answer counts it.
        (result.deleted, result.kept) = (deleted, kept);
        result.write_capacity_units = wcu;
        Ok(result)
    }

    /// The groups `delete_matching` would delete (at most `max`), each as its key and the
    /// occurrence count read. The request's partitions (one per filter value) are read in turn,
    /// each newest first, from the position its cursor holds; at most `max_read` index entries
    /// are read. A reading that stops before the end (at `max_read` entries, or at a match past
    /// `max`) answers `next_cursor`, the position after the last entry it handled, and `more`.
    pub async fn matching(
        &self,
        req: &CleanupRequest,
        max: usize,
        max_read: u64,
    ) -> Result<(Vec<ReadGroup>, Deleted), QueryError> {
        let filters = &req.filters;
        let plan = plan(filters);
        let query_id = cleanup_query(filters);
        let from = match &req.cursor {
            Some(c) => Some(Position::decode(&cursor::decode(c, &query_id)?, plan.partitions.len())?),
            None => None,
        };
        let mut result = Deleted::default();
        let mut read: Vec<ReadGroup> = Vec::new();
        let (mut cut, mut last) = (false, None::<Position>);
        let first = from.as_ref().map_or(0, |p| p.partition);
        for (i, value) in plan.partitions.iter().enumerate().skip(first) {
            let after = from.as_ref().filter(|p| p.partition == i).map(|p| p.sort_key.clone());
            // Every stored time: sort keys start with a year.
            let hi = after.clone().unwrap_or_else(|| "~".into());
            let window = Window { index: plan.index, lo: "0".into(), hi, ascending: false };
            let budget = max_read.saturating_sub(result.read.items_read);
            cut = self
                .store
                .reader()
                .each_item(&window, std::slice::from_ref(value), &mut result.read, budget, |place, item| {
                    let position = Position { partition: i, sort_key: place };
                    let group = match item {
                        Some(item) if after.as_ref() != Some(&position.sort_key) => {
                            let key = item.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned();
                            key.map(|key| Ok::<_, StoreError>((key, GroupRecord::from_item(item)?))).transpose()?
                        }
                        // The entry the cursor holds (read again), or a group deleted since.
                        _ => None,
                    };
                    if let Some((key, group)) = group.filter(|(_, g)| matches(filters, g)) {
                        if read.len() == max {
                            return Ok(false);
                        }
                        read.push(ReadGroup {
                            key,
                            occurrences: group.num_occurrences,
                            last_occurred_at: group.last_occurred_at,
                        });
                    }
                    last = Some(position);
                    Ok(true)
                })
                .await?;
            if cut {
                break;
            }
        }
        // After the last entry handled; with none, where this request started.
        let at = last.or(from).unwrap_or(Position { partition: 0, sort_key: "~".into() });
        result.next_cursor = cut.then(|| cursor::encode(&at.encode(), &query_id));
        result.more = result.next_cursor.is_some();
        Ok((read, result))
    }

    /// Deletes each group of `read` still as it was read ([`UNCHANGED`]): an occurrence counted
    /// since then keeps its group (and so is never lost with it, while its idempotency marker
    /// turns every retry into a duplicate). Returns (deleted, kept, WCU); a group gone since its
    /// read (another cleanup, TTL) is neither.
    pub async fn delete_unchanged(&self, read: &[ReadGroup]) -> Result<(u64, u64, f64), StoreError> {
        let (mut deleted, mut kept, mut wcu) = (0, 0, 0.0);
        for g in read {
            let out = self
                .store
                .client()
                .delete_item()
                .table_name(self.store.table())
                .key(PARTITION_KEY, AttributeValue::S(g.key.clone()))
                .condition_expression(UNCHANGED)
                .expression_attribute_names("#n", "numOccurrences")
                .expression_attribute_names("#last", "lastOccurredAt")
                .expression_attribute_values(":n", AttributeValue::N(g.occurrences.to_string()))
                .expression_attribute_values(":last", AttributeValue::S(g.last_occurred_at.clone()))
                // The condition fails on a group gone as on one changed: only a changed one
                // comes back.
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match out {
                Ok(out) => {
                    deleted += 1;
                    wcu += out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0);
                }
                Err(e) => match e.as_service_error() {
                    Some(DeleteItemError::ConditionalCheckFailedException(failed)) => {
                        kept += u64::from(failed.item().is_some());
                    }
                    _ => return Err(dynamo("DeleteItem")(e)),
                },
            }
        }
        Ok((deleted, kept, wcu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_holds_the_filter_value_read_and_the_sort_key_in_it() {
        let p = Position { partition: 2, sort_key: "2026-12-05T10:00:00Z#3f2a".into() };
        assert_eq!(p.encode(), "2|2026-12-05T10:00:00Z#3f2a");
        assert_eq!(Position::decode(&p.encode(), 3), Ok(p));
    }

    #[test]
    fn a_position_outside_the_requests_filter_values_or_without_a_key_is_malformed() {
        for key in ["3|2026-12-05T10:00:00Z#a", "x|2026", "1|", "2026-12-05T10:00:00Z#a", "-1|a"] {
            assert_eq!(Position::decode(key, 3), Err(CursorError::Malformed), "{key}");
        }
    }

    #[test]
    fn a_cleanup_cursor_is_of_another_query_than_a_lists_of_the_same_filters() {
        let filters = Filters { repository: vec!["quay.io/acme/web".into()], ..Filters::default() };
        let list = cursor::query_hash(&format!("{}|false", filters.canonical()));
        assert_ne!(cleanup_query(&filters), list);
        let issued = cursor::encode("0|2026-12-05T10:00:00Z#a", &cleanup_query(&filters));
        assert_eq!(cursor::decode(&issued, &list), Err(CursorError::OtherQuery));
    }
}
