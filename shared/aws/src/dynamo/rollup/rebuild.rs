//! The rebuild of the rollups from the groups (see
//! [`scan_failures_domain::rollup::generation`]): marking every group of the `byTime` index for
//! the generation being built, a bounded number per maintenance run, and putting that
//! generation in service once the rollup function has folded every mark.
//!
//! The rebuild writes no rollup itself: a mark is a change of the group like any other, and the
//! rollup function folds it (the group joins the generation with its whole contribution). So the
//! generation is exact under concurrent writes by the same argument as the stream's folding.
//!
//! Why the walk reaches every group: it reads the index oldest first, and a group's place in it
//! (its last occurrence) only moves forward, so a group not yet marked is always ahead of the
//! walk; the walk is through when a page ends the index. Groups stored after the rebuild's
//! margin need no mark, and groups deleted need none.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use time::OffsetDateTime;
use uuid::Uuid;

use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::rollup::generation::{self, Generation, Live, Progress, Step};
use scan_failures_domain::rollup::keys;
use scan_failures_domain::time_fmt;

use super::record::membership;
use super::{
    Rollups, BUILDING, BUILDING_STARTED, MAX_ATTEMPTS, RETIRED, RETIRED_STARTED, RETIRED_UNTIL, SERVING,
    SERVING_STARTED, SINCE_KEY,
};
use crate::backoff;
use crate::dynamo::expr::{Expr, Expressed};
use crate::dynamo::item::{attr, GroupItem, Item, StateItem};
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::transient::retryable_cancellation;
use crate::dynamo::write::MAX_TRANSACTION_ITEMS;
use crate::dynamo::{applied, dynamo, StoreError, GROUP_KEY_PREFIX};

/// Groups marked per transaction, beside the count of the marks.
const MARKS_PER_TRANSACTION: usize = MAX_TRANSACTION_ITEMS - 1;
/// Groups read per `Query` page by the rebuild: as many as one transaction marks, so that a page
/// of groups to mark is one transaction (a page of 100 took two: 99 and 1).
const PAGE: u32 = MARKS_PER_TRANSACTION as u32;

/// The IAM actions of a rebuild's run (see `write::actions`): its state and progress, the walk
/// of `byTime`, the marks with their count (a transaction of `Update`s), and the switch.
pub const ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"];

/// The item holding the walk of the rebuild of `generation` (its cursor and its marks, counted
/// in the transactions that make them): one per generation, so that the counts of an abandoned
/// rebuild never mix with the next one's. Only the walk writes it.
pub fn progress_key(generation: u32) -> String {
    format!("config#rebuild#{generation}")
}

/// The item counting the marks of `generation` the rollup function folded: only it writes it,
/// so its transactions never conflict with the walk's.
pub fn joined_key(generation: u32) -> String {
    format!("config#rebuild#{generation}#joined")
}

const MARKED: &str = "marked";
const JOINED: &str = "joined";
const EXAMINED: &str = "examined";
const COPIED: &str = "copied";
const CURSOR: &str = "cursor";

/// The transaction item with which the rollup function counts `n` joins of `generation`.
pub fn joined(table: &str, generation: u32, n: u64) -> Result<Update, StoreError> {
    Ok(Update::builder()
        .table_name(table)
        .key(PARTITION_KEY, AttributeValue::S(joined_key(generation)))
        .update_expression("ADD #joined :n")
        .expression_attribute_names("#joined", JOINED)
        .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
        .build()?)
}

/// What a rebuild's run did, and where the rebuild stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub generation: u32,
    /// `waiting` (its margin), `marking`, `folding` (marks still on the stream), `switched`
    /// (now in service), `abandoned` (a restart started another generation meanwhile), or
    /// `unstarted` (no readable start).
    pub status: &'static str,
    /// Groups read from the index, marked, and left unmarked because no rollup could fold them
    /// (their records are poison to the rollup function too), by this run.
    pub examined: u64,
    pub marked: u64,
    pub unreadable: u64,
    /// The whole rebuild's marks, and those the rollup function folded.
    pub marked_total: u64,
    pub joined_total: u64,
}

/// The stored progress: what the domain decides on, and the cursor of the walk.
#[derive(Debug, Clone, Default, PartialEq)]
struct Stored {
    progress: Progress,
    cursor: Option<Item>,
}

fn number(item: Option<&Item>, k: &str) -> u64 {
    item.and_then(|i| i.get(k)).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Stored {
    /// Read leniently from the walk's item and the rollup function's count.
    fn of(walk: Option<Item>, joined: Option<&Item>) -> Self {
        let progress = Progress {
            marked: number(walk.as_ref(), MARKED),
            joined: number(joined, JOINED),
            copied: walk.as_ref().and_then(|i| i.get(COPIED)).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        };
        let cursor = match walk.and_then(|mut i| i.remove(CURSOR)) {
            Some(AttributeValue::M(m)) => Some(m),
            _ => None,
        };
        Self { progress, cursor }
    }
}

/// A group of a page that needs its mark: its key, and its mark and `born` as read (the
/// mark is made only if they are unchanged, so that it is a join: see [`candidates`]).
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    pk: String,
    mark: Option<AttributeValue>,
    stored_at: Option<AttributeValue>,
}

/// The groups of a page `building` does not hold yet, and how many it leaves unmarked because no
/// rollup could fold them (a group that does not decode, or whose last occurrence is not a time:
/// its mark's record would be poison, and its join never counted).
fn candidates(items: &[Item], building: &Generation) -> (Vec<Candidate>, u64) {
    let mut out = Vec::new();
    let mut unreadable = 0;
    for item in items {
        let Some(pk) = item.get(PARTITION_KEY).and_then(|v| v.as_s().ok()) else { continue };
        if !pk.starts_with(GROUP_KEY_PREFIX) || building.holds(&membership(item)) {
            continue;
        }
        let state = GroupState::of_item(item);
        match GroupRecord::from_item(item.clone()) {
            Ok(g) if keys(&g, &state).is_ok() => out.push(Candidate {
                pk: pk.clone(),
                mark: item.get(attr::MARK).cloned(),
                stored_at: item.get(attr::BORN).cloned(),
            }),
            _ => unreadable += 1,
        }
    }
    (out, unreadable)
}

/// The update that marks `c` for `generation`: only while it exists and its mark and
/// `born` are those read, which [`candidates`] found not held. Other changes (a repeat, a
/// triage) leave both alone, so the group is marked; one that changed them needs no mark: it
/// was deleted, or stored anew (held by its `born`), or marked (walks run one at a time, and an
/// abandoned rebuild's walk has stopped).
fn mark(c: &Candidate, generation: u32) -> Expr {
    let mut e = Expr::default();
    let pk = e.name(PARTITION_KEY);
    e.condition(format!("attribute_exists({pk})"));
    let m = e.name(attr::MARK);
    let n = e.n(generation);
    e.set(format!("{m} = {n}"));
    for (name, seen) in [(m, &c.mark), (e.name(attr::BORN), &c.stored_at)] {
        match seen {
            None => e.condition(format!("attribute_not_exists({name})")),
            Some(v) => {
                let v = e.value(v.clone());
                e.condition(format!("{name} = {v}"));
            }
        }
    }
    e
}

/// The update that makes the switch of `from` at `now` (`Live::switched`; `None`: nothing is
/// being built), only if the state is still `from`'s: the same generation being built, from the
/// same start, and the same one in service (else a restart started another meanwhile, and this
/// one is abandoned).
fn switch(from: &Live, now: OffsetDateTime) -> Option<Expr> {
    let to = from.switched(now)?;
    let mut e = Expr::default();
    let (building, serving) = (e.name(BUILDING), e.name(SERVING));
    let building_started = e.name(BUILDING_STARTED);
    if let Some(b) = from.building {
        let (n, started) = (e.n(b.number), e.s(b.started.map(time_fmt::format).unwrap_or_default()));
        e.condition(format!("{building} = {n} AND {building_started} = {started}"));
    }
    match from.serving.number {
        0 => e.condition(format!("attribute_not_exists({serving})")),
        n => {
            let n = e.n(n);
            e.condition(format!("{serving} = {n}"));
        }
    }
    set_generation(&mut e, (SERVING, SERVING_STARTED), &to.serving);
    e.remove(building);
    e.remove(building_started);
    if let Some(r) = to.retired {
        set_generation(&mut e, (RETIRED, RETIRED_STARTED), &r.generation);
        let (until, t) = (e.name(RETIRED_UNTIL), e.s(time_fmt::format(r.until)));
        e.set(format!("{until} = {t}"));
    }
    Some(e)
}

/// Sets the attributes `(number, started)` to `g` (`started` removed for generation 0).
fn set_generation(e: &mut Expr, (number, started): (&str, &str), g: &Generation) {
    let (number, n) = (e.name(number), e.n(g.number));
    e.set(format!("{number} = {n}"));
    let started = e.name(started);
    match g.started {
        Some(t) => {
            let t = e.s(time_fmt::format(t));
            e.set(format!("{started} = {t}"));
        }
        None => e.remove(started),
    }
}

impl Rollups<'_> {
    /// One bounded run of the rebuild `live` has under way, at `now` (`None`: none is): marks
    /// the groups of up to `max_items` more of the index, or puts the generation in service once
    /// every mark is folded, retiring the one it replaces (`Live::switched`).
    pub async fn rebuild(
        &self,
        live: Live,
        max_items: u32,
        now: OffsetDateTime,
        stop_at: Option<std::time::Instant>,
    ) -> Result<Option<RebuildReport>, StoreError> {
        let Some(building) = live.building else { return Ok(None) };
        let key = progress_key(building.number);
        let joined = self.store.get_consistent(joined_key(building.number)).await?;
        let mut stored = Stored::of(self.store.get_consistent(&key).await?, joined.as_ref());
        let mut report = RebuildReport {
            generation: building.number,
            status: "waiting",
            examined: 0,
            marked: 0,
            unreadable: 0,
            marked_total: stored.progress.marked,
            joined_total: stored.progress.joined,
        };
        match generation::step(&building, &stored.progress, now) {
            Step::Wait { .. } => {}
            Step::Unstarted => report.status = "unstarted",
            Step::Fold { .. } => report.status = "folding",
            Step::Switch => {
                // Refused: another restart replaced this rebuild, or this very switch applied and
                // its answer was lost (the SDK sent it again, and the rebuild it asserts is gone);
                // the state says which. Before, both read `abandoned`, and an operator might
                // restart for nothing.
                let done = match switch(&live, now) {
                    Some(e) => {
                        applied(self.store.update_item(SINCE_KEY).expressed(e).send().await)?
                            || self.state().await?.live.serving == building
                    }
                    None => false,
                };
                report.status = if done { "switched" } else { "abandoned" };
            }
            Step::Mark => {
                report.status = "marking";
                let mut budget = max_items;
                // Each page saves its place: one not started before `stop_at` waits for the next run.
                while budget > 0 && !stored.progress.copied && stop_at.is_none_or(|s| std::time::Instant::now() < s) {
                    let (items, cursor) = self.store.walk_groups(budget.min(PAGE), stored.cursor.take(), None).await?;
                    // At least one per page, so a run always ends.
                    budget = budget.saturating_sub(u32::try_from(items.len()).unwrap_or(u32::MAX).max(1));
                    let (todo, unreadable) = candidates(&items, &building);
                    let mut marked = 0;
                    for part in todo.chunks(MARKS_PER_TRANSACTION) {
                        marked += self.mark_counted(&key, building.number, part).await?;
                    }
                    stored.cursor = cursor;
                    stored.progress.copied = stored.cursor.is_none();
                    stored.progress.marked = stored.progress.marked.saturating_add(marked);
                    report.examined += items.len() as u64;
                    report.marked += marked;
                    report.unreadable += unreadable;
                    self.save(&key, items.len() as u64, &stored).await?;
                }
                report.marked_total = stored.progress.marked;
            }
        }
        Ok(Some(report))
    }

    /// Marks `part` and adds the marks made to the walk's count, in one transaction, so that
    /// the count is exactly the marks (the switch waits until the rollup function has folded
    /// that many). A group deleted, stored anew or marked since it was read is left out (it
    /// needs no mark: see [`mark`]); the transaction is retried on conflicts with ingest's.
    /// Returns how many were marked.
    async fn mark_counted(&self, key: &str, generation: u32, part: &[Candidate]) -> Result<u64, StoreError> {
        let table = self.store.table();
        let mut part: Vec<&Candidate> = part.iter().collect();
        for attempt in 0..MAX_ATTEMPTS {
            if part.is_empty() {
                return Ok(0);
            }
            let count = Update::builder()
                .table_name(table)
                .key(PARTITION_KEY, AttributeValue::S(key.to_owned()))
                .update_expression("ADD #marked :n")
                .expression_attribute_names("#marked", MARKED)
                .expression_attribute_values(":n", AttributeValue::N(part.len().to_string()))
                .build()?;
            // The same token on the SDK's own retries of this attempt: a retry of a transaction
            // that went through changes nothing, so no mark is counted twice. Derived from all
            // the request says (keys and the values its conditions assert), so that no other
            // request reuses it.
            let said: Vec<String> = part.iter().map(|c| format!("{}={:?}/{:?}", c.pk, c.mark, c.stored_at)).collect();
            let token = Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("{table}#{generation}#{attempt}#{}", said.join(",")).as_bytes(),
            );
            let mut request = self.store.client().transact_write_items().client_request_token(token.to_string());
            for c in &part {
                let update = Update::builder()
                    .table_name(table)
                    .key(PARTITION_KEY, AttributeValue::S(c.pk.clone()))
                    .expressed(mark(c, generation))
                    .build()?;
                request = request.transact_items(TransactWriteItem::builder().update(update).build());
            }
            let err = match request.transact_items(TransactWriteItem::builder().update(count).build()).send().await {
                Ok(_) => return Ok(part.len() as u64),
                Err(err) => err,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
                return Err(dynamo("TransactWriteItems")(err));
            };
            let reasons = cancel.cancellation_reasons();
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            let changed: Vec<usize> = (0..part.len()).filter(|i| code(*i) == "ConditionalCheckFailed").collect();
            if !changed.is_empty() {
                part = part.into_iter().enumerate().filter(|(i, _)| !changed.contains(i)).map(|(_, c)| c).collect();
            } else if retryable_cancellation((0..reasons.len()).map(code)) {
                tokio::time::sleep(backoff::delay(attempt)).await;
            } else {
                let codes: Vec<&str> = (0..reasons.len()).map(code).collect();
                return Err(StoreError::Cancelled(codes.join(", ")));
            }
        }
        // The last attempt may have found every group left changed since it was read.
        if part.is_empty() {
            return Ok(0);
        }
        Err(StoreError::Conflicting { what: "the rebuild's marks", attempts: MAX_ATTEMPTS })
    }

    /// Records a page of the walk: the groups it read, the cursor, and whether it is through.
    async fn save(&self, key: &str, examined: u64, stored: &Stored) -> Result<(), StoreError> {
        let mut update = self
            .store
            .update_item(key)
            .expression_attribute_names("#examined", EXAMINED)
            .expression_attribute_names("#copied", COPIED)
            .expression_attribute_names("#cursor", CURSOR)
            .expression_attribute_values(":examined", AttributeValue::N(examined.to_string()))
            .expression_attribute_values(":copied", AttributeValue::Bool(stored.progress.copied));
        update = match &stored.cursor {
            Some(cursor) => update
                .update_expression("SET #copied = :copied, #cursor = :cursor ADD #examined :examined")
                .expression_attribute_values(":cursor", AttributeValue::M(cursor.clone())),
            None => update.update_expression("SET #copied = :copied REMOVE #cursor ADD #examined :examined"),
        };
        update.send().await.map_err(dynamo("UpdateItem"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use time::macros::datetime;

    #[test]
    fn a_switch_puts_the_rebuilt_generation_in_service_and_retires_the_one_it_read_in_service() {
        let now = datetime!(2026-12-04 12:20 UTC);
        let two = Generation { number: 2, started: Some(datetime!(2026-12-04 12:00 UTC)) };
        let from = Live { building: Some(two), ..Live::FIRST };
        let e = switch(&from, now).unwrap();
        assert_eq!(
            e.render(&e.update_expression()),
            "SET #serving = 2, #servingStarted = \"2026-12-04T12:00:00.000Z\", #retired = 0, \
             #retiredUntil = \"2026-12-04T12:25:00.000Z\" \
             REMOVE #building, #buildingStarted, #retiredStarted"
        );
        assert_eq!(
            e.render(&e.condition_expression().unwrap()),
            "#building = 2 AND #buildingStarted = \"2026-12-04T12:00:00.000Z\" AND attribute_not_exists(#serving)"
        );
        let three = Generation { number: 3, started: Some(datetime!(2026-12-04 13:00 UTC)) };
        let from = Live { serving: two, building: Some(three), retired: None };
        let e = switch(&from, now).unwrap();
        assert_eq!(
            e.render(&e.update_expression()),
            "SET #serving = 3, #servingStarted = \"2026-12-04T13:00:00.000Z\", #retired = 2, \
             #retiredStarted = \"2026-12-04T12:00:00.000Z\", #retiredUntil = \"2026-12-04T12:25:00.000Z\" \
             REMOVE #building, #buildingStarted"
        );
        assert_eq!(
            e.render(&e.condition_expression().unwrap()),
            "#building = 3 AND #buildingStarted = \"2026-12-04T13:00:00.000Z\" AND #serving = 2"
        );
    }

    #[test]
    fn progress_is_read_leniently_and_its_cursor_kept_whole() {
        assert_eq!(Stored::of(None, None), Stored::default());
        let cursor: Item = HashMap::from([("pk".to_owned(), AttributeValue::S("g#1".into()))]);
        let walk: Item = HashMap::from([
            (MARKED.to_owned(), AttributeValue::N("12".into())),
            (COPIED.to_owned(), AttributeValue::Bool(true)),
            (CURSOR.to_owned(), AttributeValue::M(cursor.clone())),
        ]);
        let joined: Item = HashMap::from([(JOINED.to_owned(), AttributeValue::N("many".into()))]);
        assert_eq!(
            Stored::of(Some(walk), Some(&joined)),
            Stored { progress: Progress { marked: 12, joined: 0, copied: true }, cursor: Some(cursor) }
        );
        assert_eq!(
            (progress_key(3), joined_key(3)),
            ("config#rebuild#3".to_owned(), "config#rebuild#3#joined".to_owned())
        );
    }

    /// A stored group `id`, last seen at `last`, with `extra` attributes.
    fn group(id: &str, last: &str, extra: &[(&str, AttributeValue)]) -> Item {
        let g = super::super::test_group(id, "111111111111", last, last);
        let mut item = g.to_item().unwrap();
        item.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        item
    }

    #[test]
    fn a_page_marks_the_groups_the_generation_does_not_hold_and_leaves_out_what_no_rollup_can_fold() {
        let two = Generation { number: 2, started: Some(datetime!(2026-12-04 12:00 UTC)) };
        let at = "2026-12-04T11:00:00.000Z";
        let s = |v: &str| AttributeValue::S(v.into());
        let n = |v: &str| AttributeValue::N(v.into());
        let items = vec![
            group("old", at, &[]),
            group("earlier-mark", at, &[("rgen", AttributeValue::N("1".into())), ("born", n("1796382000"))]),
            group("marked", at, &[("rgen", AttributeValue::N("2".into()))]),
            group("born", at, &[("born", n("1796385720"))]),
            group("poison", at, &[("lastOccurredAt", s("yesterday"))]),
            group("other", at, &[("pk", s("x#not-a-group"))]),
        ];
        let (todo, unreadable) = candidates(&items, &two);
        let pks: Vec<&str> = todo.iter().map(|c| c.pk.as_str()).collect();
        assert_eq!(pks, ["g#old", "g#earlier-mark"]);
        assert_eq!(unreadable, 1);
        let e = mark(&todo[0], 2);
        assert_eq!(e.render(&e.update_expression()), "SET #rgen = 2");
        assert_eq!(
            e.render(&e.condition_expression().unwrap()),
            "attribute_exists(#pk) AND attribute_not_exists(#rgen) AND attribute_not_exists(#born)"
        );
        let e = mark(&todo[1], 2);
        assert_eq!(
            e.render(&e.condition_expression().unwrap()),
            "attribute_exists(#pk) AND #rgen = 1 AND #born = 1796382000"
        );
    }
}
