//! How the rollups are stored and written: their keys, the update of one rollup by a delta, and
//! the cut of a batch of stream records into transactions DynamoDB accepts. Pure, so that each
//! is tested to the exact string apart from the writes that execute it.
//!
//! Each generation of the rollups ([`scan_failures_domain::rollup::generation`]) has keys of its
//! own: generation 0 keeps the keys it had before there were others (`r#…`, `ROLLUP#…`),
//! generation `n` prefixes them with its number (`r<n>#…`, `ROLLUP<n>#…`).

use std::collections::BTreeMap;
use std::ops::Range;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use scan_failures_domain::group::triage::TriageState;
use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::rollup::generation::{Generation, Live, Membership};
use scan_failures_domain::rollup::{Counters, Fold, Grain, RollupError, RollupKey};
use scan_failures_domain::time_fmt;

use crate::dynamo::expr::Expr;
use crate::dynamo::item::Item;
use crate::dynamo::schema::{BY_TIME, PARTITION_KEY, TIME_SORT_KEY, TTL_ATTRIBUTE};
use crate::dynamo::write::MAX_TRANSACTION_ITEMS;

/// What a generation's keys start with: nothing for generation 0, its number for the others.
fn tag(generation: u32) -> String {
    if generation == 0 {
        String::new()
    } else {
        generation.to_string()
    }
}

/// The `byTime` partition of the rollups of one grain of one generation (`ROLLUP#m`,
/// `ROLLUP2#h`).
pub fn partition(generation: u32, grain: Grain) -> String {
    format!("ROLLUP{}#{}", tag(generation), grain.code())
}

/// The rollup's sort key in its partition: `<bucket start>#<triage state>#<reason>`.
pub fn sort_key(key: &RollupKey) -> String {
    format!("{}#{}#{}", start_text(key.start), key.triage.as_str(), key.reason)
}

/// The rollup's item key: `r<generation>#<grain>#<sort key>`.
pub fn item_key(generation: u32, key: &RollupKey) -> String {
    format!("r{}#{}#{}", tag(generation), key.grain.code(), sort_key(key))
}

/// The generation and [`RollupKey`] a stored rollup's item key names.
pub fn parse_item_key(pk: &str) -> Option<(u32, RollupKey)> {
    let rest = pk.strip_prefix('r')?;
    let (generation, rest) = rest.split_once('#')?;
    let generation = match generation {
        "" => 0,
        n if n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0') => n.parse().ok()?,
        _ => return None,
    };
    let (grain, rest) = rest.split_once('#')?;
    let (start, rest) = rest.split_once('#')?;
    let (triage, reason) = rest.split_once('#')?;
    Some((
        generation,
        RollupKey {
            grain: Grain::parse(grain)?,
            start: time_fmt::parse(start)?.unix_timestamp(),
            triage: TriageState::parse(triage)?,
            reason: reason.to_owned(),
        },
    ))
}

/// The stored form of a bucket start.
pub fn start_text(start: i64) -> String {
    time_fmt::format(OffsetDateTime::from_unix_timestamp(start).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Days a rollup is kept after its bucket ends: the longest retention (365 days), the 30 days
/// before its cut-off a read may subtract from (days taken backward from a 30-day bucket), and
/// one more, so that no read can ask for it once it is gone (the test that sweeps a year's
/// window). A removal that arrives later (DynamoDB's TTL deletes within days, not at once)
/// writes a rollup no read asks for, which expires again.
pub const KEPT_DAYS_AFTER_BUCKET: i64 = 396;

/// The update that adds `delta` to the rollup `key` (creating it at first), and keeps it in its
/// `byTime` partition with its expiry.
pub fn update(generation: u32, key: &RollupKey, delta: &Counters) -> Expr {
    let mut e = Expr::default();
    let p = e.name(BY_TIME.partition_key);
    let pv = e.s(partition(generation, key.grain));
    e.set(format!("{p} = {pv}"));
    let sk = e.name(TIME_SORT_KEY);
    let skv = e.s(sort_key(key));
    e.set(format!("{sk} = {skv}"));
    let ttl = e.name(TTL_ATTRIBUTE);
    let ttlv = e.n(expiry(key));
    e.set(format!("{ttl} = {ttlv}"));
    for (name, v) in delta {
        let n = e.name(name);
        let v = e.value(AttributeValue::N(v.to_string()));
        e.add(format!("{n} {v}"));
    }
    e
}

/// The stored form of rollup `key` holding `counters`: what [`update`] makes of an absent item
/// with `counters` as its delta. For writing rollups whole (a benchmark's seeding).
pub fn item(generation: u32, key: &RollupKey, counters: &Counters) -> Item {
    let mut item: Item = counters.iter().map(|(name, v)| (name.clone(), AttributeValue::N(v.to_string()))).collect();
    item.insert(PARTITION_KEY.to_owned(), AttributeValue::S(item_key(generation, key)));
    item.insert(BY_TIME.partition_key.to_owned(), AttributeValue::S(partition(generation, key.grain)));
    item.insert(TIME_SORT_KEY.to_owned(), AttributeValue::S(sort_key(key)));
    item.insert(TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expiry(key).to_string()));
    item
}

/// When rollup `key` expires (epoch seconds).
fn expiry(key: &RollupKey) -> i64 {
    key.start + key.grain.seconds() + KEPT_DAYS_AFTER_BUCKET * 86_400
}

/// One image of a group, as the table's stream reports it.
pub type Image = (GroupRecord, GroupState, Membership);

/// One change of a group, as the table's stream reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The stream record's id: a change is applied once per id.
    pub id: String,
    pub old: Option<Image>,
    pub new: Option<Image>,
}

/// Each generation's fold of some changes, by generation number.
pub type Folds = BTreeMap<u32, Fold>;

impl Change {
    /// `image` as generation `g` counts it: `None` when it does not hold the group.
    fn seen_by<'a>(g: &Generation, image: &'a Option<Image>) -> Option<(&'a GroupRecord, &'a GroupState)> {
        image.as_ref().filter(|(_, _, m)| g.holds(m)).map(|(g, s, _)| (g, s))
    }

    fn fold_into(&self, folds: &mut Folds, generations: &[Generation]) -> Result<(), RollupError> {
        for g in generations {
            folds.entry(g.number).or_default().change(Self::seen_by(g, &self.old), Self::seen_by(g, &self.new))?;
        }
        Ok(())
    }

    /// Adds every counter either image touches in each generation holding it, neither
    /// cancelling the other: what any selection of changes folds to is within the footprint of
    /// them all.
    fn footprint_into(&self, footprint: &mut Folds, generations: &[Generation]) -> Result<(), RollupError> {
        for g in generations {
            for image in [&self.old, &self.new] {
                if let Some(seen) = Self::seen_by(g, image) {
                    footprint.entry(g.number).or_default().change(None, Some(seen))?;
                }
            }
        }
        Ok(())
    }

    /// Whether this change is the rebuild's mark joining its group to generation `g`.
    pub fn joins(&self, g: &Generation) -> bool {
        g.joins_by_mark(self.old.as_ref().map(|i| &i.2), self.new.as_ref().map(|i| &i.2))
    }
}

/// The changes of `changes` (by position) that one transaction applies, and their footprint:
/// every rollup and counter one of them touches, in each live generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub changes: Range<usize>,
    pub footprint: Folds,
}

/// The fold of `changes` into each of the `live` generations.
pub fn fold(changes: &[&Change], live: &Live) -> Result<Folds, RollupError> {
    let generations = live.all();
    let mut folds = Folds::new();
    for c in changes {
        c.fold_into(&mut folds, &generations)?;
    }
    folds.retain(|_, f| !f.deltas.is_empty());
    Ok(folds)
}

/// How many changes of `changes` join the generation being rebuilt by its mark.
pub fn joins(changes: &[&Change], live: &Live) -> u64 {
    live.building.map_or(0, |b| changes.iter().filter(|c| c.joins(&b)).count() as u64)
}

/// The transaction items beside the markers and the updates: the count of the rebuild's joins,
/// while one runs.
fn reserved(live: &Live) -> usize {
    usize::from(live.building.is_some())
}

/// Whether one transaction can apply `folds` with `markers` record markers (and what `live`
/// reserves): at most [`MAX_TRANSACTION_ITEMS`] items, every update within DynamoDB's expression
/// limit.
fn fits(folds: &Folds, markers: usize, live: &Live) -> bool {
    let updates: usize = folds.values().map(|f| f.deltas.len()).sum();
    markers + updates + reserved(live) <= MAX_TRANSACTION_ITEMS
        && folds.iter().all(|(g, f)| f.deltas.iter().all(|(k, d)| update(*g, k, d).fits()))
}

/// How a batch of changes is cut into transactions.
#[derive(Debug, PartialEq)]
pub struct Cut {
    /// Consecutive chunks, from the first change up to `unfoldable` (or the end).
    pub chunks: Vec<Chunk>,
    /// The first change that cannot be folded, by position, and why: it and every change after
    /// it are left for the retry that the caller asks for from it.
    pub unfoldable: Option<(usize, RollupError)>,
}

/// Cuts `changes`, in order, into the fewest consecutive chunks whose footprint fits one
/// transaction, up to the first change that cannot be folded. Sized by the footprint, not the
/// fold, so that the changes a redelivery left still to apply (any selection of a chunk) fit
/// too, however the chunk's changes cancelled each other. A change is never split: one group's
/// change touches at most twelve rollups per generation.
pub fn chunks(changes: &[Change], live: &Live) -> Cut {
    let generations = live.all();
    let mut out = Vec::new();
    let mut current = Chunk { changes: 0..0, footprint: Folds::new() };
    for (i, change) in changes.iter().enumerate() {
        let mut own = Folds::new();
        if let Err(e) = change.footprint_into(&mut own, &generations) {
            if !current.changes.is_empty() {
                out.push(current);
            }
            return Cut { chunks: out, unfoldable: Some((i, e)) };
        }
        let mut next = current.footprint.clone();
        for (g, fold) in &own {
            let into = next.entry(*g).or_default();
            for (key, counters) in &fold.deltas {
                let sums = into.deltas.entry(key.clone()).or_default();
                for (name, v) in counters {
                    let sum = sums.entry(name.clone()).or_default();
                    *sum = sum.saturating_add(*v);
                }
            }
        }
        if !current.changes.is_empty() && !fits(&next, current.changes.len() + 1, live) {
            let start = current.changes.end;
            out.push(std::mem::replace(&mut current, Chunk { changes: start..start, footprint: Folds::new() }));
            next = own;
        }
        current.footprint = next;
        current.changes.end = i + 1;
    }
    if !current.changes.is_empty() {
        out.push(current);
    }
    Cut { chunks: out, unfoldable: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use time::macros::datetime;

    fn key() -> RollupKey {
        RollupKey {
            grain: Grain::Hour,
            start: datetime!(2026-12-01 10:00 UTC).unix_timestamp(),
            triage: TriageState::FalsePositive,
            reason: "TIMEOUT".into(),
        }
    }

    #[test]
    fn a_rollup_is_keyed_by_grain_bucket_state_and_reason_and_parses_back() {
        assert_eq!(item_key(0, &key()), "r#h#2026-12-01T10:00:00.000Z#false_positive#TIMEOUT");
        assert_eq!(item_key(12, &key()), "r12#h#2026-12-01T10:00:00.000Z#false_positive#TIMEOUT");
        assert_eq!(sort_key(&key()), "2026-12-01T10:00:00.000Z#false_positive#TIMEOUT");
        assert_eq!(partition(0, Grain::Minute), "ROLLUP#m");
        assert_eq!(partition(3, Grain::Minute), "ROLLUP3#m");
        assert_eq!(parse_item_key(&item_key(0, &key())), Some((0, key())));
        assert_eq!(parse_item_key(&item_key(12, &key())), Some((12, key())));
        for bad in [
            "g#1",
            "r#x#2026-12-01T10:00:00.000Z#open#T",
            "r#h#noon#open#T",
            "r#h#2026-12-01T10:00:00.000Z#shut#T",
            "rx#h#2026-12-01T10:00:00.000Z#open#T",
            "r0#h#2026-12-01T10:00:00.000Z#open#T",
            "r99999999999#h#2026-12-01T10:00:00.000Z#open#T",
        ] {
            assert_eq!(parse_item_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_update_adds_each_counter_and_keeps_the_rollup_in_its_partition_for_a_year_and_a_day() {
        let delta = BTreeMap::from([("g".to_owned(), -1), ("l#ERROR#o".to_owned(), 3)]);
        let e = update(0, &key(), &delta);
        assert_eq!(
            e.render(&e.update_expression()),
            "SET #gsiAll = \"ROLLUP#h\", #timeSk = \"2026-12-01T10:00:00.000Z#false_positive#TIMEOUT\", \
             #expiresAt = 1830337200 ADD #g -1, #l#ERROR#o 3"
        );
        assert_eq!(
            OffsetDateTime::from_unix_timestamp(1_830_337_200).unwrap(),
            datetime!(2028-01-01 11:00 UTC),
            "the end of the hour, plus 396 days"
        );
        assert_eq!(e.condition_expression(), None);
        let whole = item(0, &key(), &delta);
        let mut names: Vec<&str> = whole.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["expiresAt", "g", "gsiAll", "l#ERROR#o", "pk", "timeSk"]);
        assert_eq!(whole["expiresAt"], AttributeValue::N("1830337200".into()));
        assert_eq!(whole["g"], AttributeValue::N("-1".into()));
    }

    fn change(n: usize, account: &str) -> Change {
        // One minute apart: every change is in a minute of its own, the same hour and day.
        let last = time_fmt::format(datetime!(2026-12-01 10:00 UTC) + time::Duration::minutes(n as i64));
        let g = super::super::test_group(&format!("g{n}"), account, "2026-12-01T10:00:00.000Z", &last);
        Change { id: format!("e{n}"), old: None, new: Some((g, GroupState::default(), Membership::default())) }
    }

    #[test]
    fn a_batch_is_cut_where_the_next_change_would_pass_a_hundred_items() {
        // Each change: a marker and its own minute rollup; the ten-minute rollups (one per ten
        // changes), the hour, six-hour, day and 30-day rollups are shared.
        let changes: Vec<Change> = (0..60).map(|n| change(n, "111111111111")).collect();
        let cut = chunks(&changes, &Live::FIRST);
        assert_eq!(cut.unfoldable, None);
        let cut = cut.chunks;
        let ranges: Vec<Range<usize>> = cut.iter().map(|c| c.changes.clone()).collect();
        // 45 changes: 45 markers + 45 minutes + 5 ten minutes + 1 hour + 1 six hours + 1 day + 1
        // thirty days = 99; 46 would be 101.
        assert_eq!(ranges, [0..45, 45..60]);
        // New groups only: the footprint is the fold.
        assert_eq!(cut[0].footprint[&0].deltas.len(), 54);
        assert_eq!(cut[1].footprint, fold(&changes[45..].iter().collect::<Vec<_>>(), &Live::FIRST).unwrap());
        assert_eq!(chunks(&[], &Live::FIRST), Cut { chunks: vec![], unfoldable: None });
    }

    #[test]
    fn a_batch_is_cut_where_an_update_would_pass_the_expression_limit() {
        // Every change adds counters of its own account and 90 days of its own (five days
        // apart) to the shared hour and day rollups: over 400 counters for 40 changes.
        let changes: Vec<Change> = (0..40)
            .map(|n| {
                let mut c = change(n % 30, &format!("{n:012}"));
                if let Some((_, s, _)) = c.new.as_mut() {
                    let first = datetime!(2026-01-01 00:00 UTC) + time::Duration::days(5 * n as i64);
                    s.daily = (0..90)
                        .map(|d| (scan_failures_domain::group::daily::day_key(first + time::Duration::days(d)), 1))
                        .collect();
                }
                c
            })
            .collect();
        let cut = chunks(&changes, &Live::FIRST).chunks;
        assert!(cut.len() > 1, "{} chunks", cut.len());
        for c in &cut {
            assert!(fits(&c.footprint, c.changes.len(), &Live::FIRST));
        }
        assert_eq!(cut.iter().map(|c| c.changes.len()).sum::<usize>(), 40);
    }

    /// A group moved from `from` to `to` triage state (same last occurrence): its rollups of
    /// `from` lose it and those of `to` gain it.
    fn triaged(n: usize, from: TriageState, to: TriageState) -> Change {
        let created = change(n, "111111111111");
        let (g, _, m) = created.new.clone().unwrap();
        let state = |t: TriageState| {
            let mut s = GroupState::default();
            s.triage.state = t;
            s
        };
        Change {
            id: format!("t{n}-{}", to.as_str()),
            old: Some((g.clone(), state(from), m)),
            new: Some((g, state(to), m)),
        }
    }

    #[test]
    fn a_chunk_is_sized_by_its_footprint_so_that_what_a_redelivery_leaves_of_it_fits() {
        // 40 groups, each in its own minute, each triaged to false positive and straight back:
        // the fold of the batch, and of every run of it, stays nothing, but the reopenings
        // alone (what is left when a redelivery finds the triages' markers) touch 40 minute
        // rollups in each of two states. Sized by the fold, the batch would be one chunk.
        let (open, fp) = (TriageState::Open, TriageState::FalsePositive);
        let changes: Vec<Change> = (0..40).flat_map(|n| [triaged(n, open, fp), triaged(n, fp, open)]).collect();
        let all: Vec<&Change> = changes.iter().collect();
        assert!(fold(&all, &Live::FIRST).unwrap().is_empty());
        let reopenings: Vec<&Change> = changes.iter().filter(|c| c.id.ends_with("open")).collect();
        assert!(
            !fits(&fold(&reopenings, &Live::FIRST).unwrap(), reopenings.len(), &Live::FIRST),
            "the hazard: the leftover alone does not fit"
        );
        let cut = chunks(&changes, &Live::FIRST);
        assert_eq!(cut.unfoldable, None);
        let ranges: Vec<Range<usize>> = cut.chunks.iter().map(|c| c.changes.clone()).collect();
        // Every change touches its group's minute, ten minutes, hour, six hours, day and 30 days
        // in both states. 42 changes (21 groups): 42 markers + 2 x (21 minutes + 3 ten minutes +
        // 4) = 98 items (43 would be 101); the other 19 groups: 38 + 2 x (19 + 2 + 4) = 88.
        assert_eq!(ranges, [0..42, 42..80]);
        for c in &cut.chunks {
            assert!(fits(&c.footprint, c.changes.len(), &Live::FIRST));
            let left: Vec<&Change> = changes[c.changes.clone()].iter().filter(|x| x.id.ends_with("open")).collect();
            assert!(fits(&fold(&left, &Live::FIRST).unwrap(), left.len(), &Live::FIRST), "{:?}", c.changes);
        }
    }

    #[test]
    fn a_change_that_cannot_be_folded_ends_the_cut_after_the_chunks_before_it() {
        let mut changes: Vec<Change> = (0..8).map(|n| change(n, "111111111111")).collect();
        if let Some((g, _, _)) = changes[5].new.as_mut() {
            g.last_occurred_at = "yesterday".into();
        }
        let cut = chunks(&changes, &Live::FIRST);
        assert_eq!(cut.chunks.iter().map(|c| (c.changes.start, c.changes.end)).collect::<Vec<_>>(), [(0, 5)]);
        assert_eq!(
            cut.unfoldable,
            Some((5, RollupError::LastOccurredAt { id: "g5".into(), value: "yesterday".into() }))
        );
        assert_eq!(chunks(&changes[5..], &Live::FIRST).chunks, []);
    }

    /// Generation 0 in service, generation 2 being rebuilt since `started`.
    fn rebuilding() -> Live {
        let started = datetime!(2026-12-01 09:00 UTC);
        Live { building: Some(Generation { number: 2, started: Some(started) }), ..Live::FIRST }
    }

    #[test]
    fn a_change_is_folded_into_each_generation_holding_its_images_and_a_mark_is_a_join_of_the_rebuilt_one() {
        let live = rebuilding();
        let (g, s, unmarked) = change(1, "111111111111").new.unwrap();
        let marked = Membership { mark: 2, stored_at: None };
        let mark = Change {
            id: "k".into(),
            old: Some((g.clone(), s.clone(), unmarked)),
            new: Some((g.clone(), s.clone(), marked)),
        };
        let folds = fold(&[&mark], &live).unwrap();
        assert_eq!(folds.keys().copied().collect::<Vec<_>>(), [2], "nothing changes in generation 0");
        assert_eq!(folds[&2].deltas.len(), 6);
        assert!(folds[&2].deltas.values().all(|d| d["g"] == 1));
        assert_eq!(joins(&[&mark], &live), 1);
        // A repeat of an unmarked group: generation 0 only; of a marked one: both.
        let mut later = g.clone();
        later.last_occurred_at = "2026-12-01T11:00:00.000Z".into();
        let repeat = |m| Change {
            id: "r".into(),
            old: Some((g.clone(), s.clone(), m)),
            new: Some((later.clone(), s.clone(), m)),
        };
        assert_eq!(fold(&[&repeat(unmarked)], &live).unwrap().keys().copied().collect::<Vec<_>>(), [0]);
        assert_eq!(fold(&[&repeat(marked)], &live).unwrap().keys().copied().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(joins(&[&repeat(marked), &repeat(unmarked)], &live), 0);
        assert_eq!(joins(&[&mark], &Live::FIRST), 0);
    }

    #[test]
    fn a_rebuild_reserves_one_item_and_its_rollups_count_against_the_hundred() {
        // Marked new groups, one minute apart: in both generations each change is a marker and
        // two minute rollups, with the shared ten-minute, hour, six-hour, day and 30-day rollups
        // twice.
        let marked: Vec<Change> = (0..60)
            .map(|n| {
                let mut c = change(n, "111111111111");
                if let Some((_, _, m)) = c.new.as_mut() {
                    m.mark = 2;
                }
                c
            })
            .collect();
        let cut = chunks(&marked, &rebuilding());
        let ranges: Vec<Range<usize>> = cut.chunks.iter().map(|c| c.changes.clone()).collect();
        // 29 changes: 29 markers + 2 x (29 minutes + 3 ten minutes + 4) + the count = 102 > 100;
        // 28: 28 + 2 x (28 + 3 + 4) + 1 = 99.
        assert_eq!(ranges[0], 0..28);
        for c in &cut.chunks {
            assert!(fits(&c.footprint, c.changes.len(), &rebuilding()));
        }
    }

    /// No read of a window up to the longest retention asks for a rollup that has expired: the
    /// plans of a 365-day window at every seventh minute of a 30-day cycle, each bucket's
    /// expiry after the read. (With 366 days, days subtracted from a 30-day bucket had expired
    /// by up to 12 days, so a group whose own removal came later was counted once too often.)
    #[test]
    fn no_read_of_the_longest_retention_asks_for_an_expired_rollup() {
        use scan_failures_domain::rollup::{read_plan, Grain};
        let year = time::Duration::days(365);
        let first = Grain::ThirtyDays.floor(datetime!(2026-12-01 00:00 UTC).unix_timestamp());
        let mut oldest_margin = i64::MAX;
        for minute in (0..30 * 1440).step_by(7) {
            let after = OffsetDateTime::from_unix_timestamp(first + minute * 60 + 13).unwrap();
            let now = after + year;
            for r in read_plan(after, now, &Grain::ALL).ranges {
                let key = RollupKey { grain: r.grain, start: r.from, triage: TriageState::Open, reason: "T".into() };
                let margin = expiry(&key) - now.unix_timestamp();
                assert!(margin > 0, "{r:?} expired {}s before the read at {now}", -margin);
                oldest_margin = oldest_margin.min(margin);
            }
        }
        assert!(oldest_margin < 31 * 86_400, "the sweep reached the subtracted days: {oldest_margin}");
    }
}
