//! The maintained aggregates ("rollups") behind an unfiltered count, summary and trend: what
//! each failure group contributes to them, and which rollups answer "every group whose last
//! occurrence is after t" in a number of reads that does not grow with the table.
//!
//! A group contributes its [`Counters`] to one rollup per [`Grain`]: the bucket of its
//! `lastOccurredAt` at that grain, with its triage state and its reason ([`RollupKey`]). A change
//! of a group, as the table's stream reports it (old and new image), moves its contribution:
//! minus the old image's at the old keys, plus the new image's at the new keys ([`Fold`]).
//! Additions commute, so the rollups are exact as long as every change is applied exactly once,
//! in any order; the adapter makes a redelivered change a no-op.
//!
//! The groups in retention are those whose last occurrence is after the cut-off. [`read_plan`]
//! covers "after t" with whole buckets, each finer grain added forward or subtracted backward
//! from a coarser one, whichever takes fewer, and an edge of less than a minute that is read from
//! the groups themselves: at most [`MAX_BUCKETS`] buckets finer than a day (counting the day a
//! backward plan starts on; one more with the 30-day grain, where that saves a day), [`MAX_DAYS`] days and a 30-day bucket per 30 days of the window and
//! one more, per triage state and reason, and the groups of one minute, whatever the table holds
//! (38 buckets at the worst cut-off of a 365-day retention, where days alone took 365 and more).
//!
//! The cluster, image and account → registry → repository breakdowns are not kept here: a group
//! remembers up to 20 clusters and belongs to one of an unbounded number of images, so their
//! exact top lists cannot be kept in a bounded number of bounded items. A summary answered from
//! the rollups says so ([`crate::insights::NOT_MAINTAINED`]).

use std::collections::BTreeMap;

use thiserror::Error;
use time::OffsetDateTime;

use crate::group::triage::TriageState;
use crate::group::{GroupRecord, GroupState};
use crate::query::{triage_selected, Filters};
use crate::time_fmt;

pub mod generation;
pub mod given_up;
mod read_plan;
pub use read_plan::{net_by_reason, read_plan, Range, ReadPlan, Sign, MAX_BUCKETS, MAX_DAYS};

/// The width of a rollup's bucket of `lastOccurredAt`. Each divides the next, so a range of
/// time is covered by whole buckets of the coarsest grain that fits and a few of the finer ones
/// towards its start, added or subtracted ([`read_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Minute,
    TenMinutes,
    Hour,
    SixHours,
    Day,
    /// 30 days from the epoch: what keeps a long retention's read from taking a rollup per day
    /// (at most 15 days and a 30-day bucket per month of retention, where days alone take
    /// retention + 1).
    ThirtyDays,
}

/// How many grains there are.
pub const GRAINS: usize = 6;

impl Grain {
    pub const ALL: [Grain; GRAINS] =
        [Self::Minute, Self::TenMinutes, Self::Hour, Self::SixHours, Self::Day, Self::ThirtyDays];

    /// The grains of a generation of the rollups started before the 30-day grain was kept: read
    /// with these, as they were, until a rebuild (`State::grains` in the store says which).
    pub const UP_TO_DAYS: [Grain; 5] = [Self::Minute, Self::TenMinutes, Self::Hour, Self::SixHours, Self::Day];

    pub fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::TenMinutes => 600,
            Self::Hour => 3_600,
            Self::SixHours => 21_600,
            Self::Day => 86_400,
            Self::ThirtyDays => 2_592_000,
        }
    }

    /// The short name stored in the rollup's key.
    pub fn code(self) -> &'static str {
        match self {
            Self::Minute => "m",
            Self::TenMinutes => "10m",
            Self::Hour => "h",
            Self::SixHours => "6h",
            Self::Day => "d",
            Self::ThirtyDays => "30d",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.code() == code)
    }

    /// The start of the bucket holding epoch second `s`.
    pub fn floor(self, s: i64) -> i64 {
        s - s.rem_euclid(self.seconds())
    }

    /// The first bucket start at or after epoch second `s`.
    pub fn ceil(self, s: i64) -> i64 {
        let f = self.floor(s);
        if f == s {
            s
        } else {
            f + self.seconds()
        }
    }
}

/// One rollup: the groups whose last occurrence falls in one bucket, in one triage state, of
/// one reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub grain: Grain,
    /// The bucket's start, epoch seconds.
    pub start: i64,
    pub triage: TriageState,
    pub reason: String,
}

/// Named counts, added up over the groups of a rollup. Only what a group has is named, so a
/// rollup holds the breakdowns its groups use; a count that falls to zero stays, at zero.
pub type Counters = BTreeMap<String, i64>;

/// Which of a tally's two figures a counter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Groups,
    Occurrences,
}

/// What one counter counts, and its name (`g`, `o`, `l#ERROR#g`, `p#image_scan#o`, `s#roxctl#g`,
/// `a#111111111111#o`, `r#eu-west-1#g`, `d#2026-12-01`, `n#2026-12-01`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counter {
    /// Every group, and all their occurrences.
    Total(Measure),
    /// By the stored level (`ERROR`).
    Level(String, Measure),
    /// By operation key (`image_scan`): groups with at least one occurrence of it.
    Operation(String, Measure),
    /// By origin (`roxctl`), the same way.
    Origin(String, Measure),
    /// By the account, and the region, of the latest occurrence.
    Account(String, Measure),
    Region(String, Measure),
    /// Occurrences on one UTC day (`YYYY-MM-DD`), from the groups' per-day counts.
    Day(String),
    /// Groups first seen on one UTC day.
    New(String),
}

impl Counter {
    pub fn name(&self) -> String {
        let m = |m: &Measure| match m {
            Measure::Groups => "g",
            Measure::Occurrences => "o",
        };
        match self {
            Self::Total(x) => m(x).to_owned(),
            Self::Level(k, x) => format!("l#{k}#{}", m(x)),
            Self::Operation(k, x) => format!("p#{k}#{}", m(x)),
            Self::Origin(k, x) => format!("s#{k}#{}", m(x)),
            Self::Account(k, x) => format!("a#{k}#{}", m(x)),
            Self::Region(k, x) => format!("r#{k}#{}", m(x)),
            Self::Day(d) => format!("d#{d}"),
            Self::New(d) => format!("n#{d}"),
        }
    }

    /// The counter a stored name holds; `None` for any other attribute.
    pub fn parse(name: &str) -> Option<Self> {
        let measure = |s: &str| match s {
            "g" => Some(Measure::Groups),
            "o" => Some(Measure::Occurrences),
            _ => None,
        };
        if let Some(m) = measure(name) {
            return Some(Self::Total(m));
        }
        let (kind, rest) = name.split_once('#')?;
        match kind {
            "d" => return Some(Self::Day(rest.to_owned())),
            "n" => return Some(Self::New(rest.to_owned())),
            _ => {}
        }
        let (key, m) = rest.rsplit_once('#')?;
        let m = measure(m)?;
        let key = key.to_owned();
        match kind {
            "l" => Some(Self::Level(key, m)),
            "p" => Some(Self::Operation(key, m)),
            "s" => Some(Self::Origin(key, m)),
            "a" => Some(Self::Account(key, m)),
            "r" => Some(Self::Region(key, m)),
            _ => None,
        }
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What one group contributes to its rollups.
pub fn contribution(g: &GroupRecord, s: &GroupState) -> Counters {
    let n = signed(g.num_occurrences);
    let mut c = Counters::new();
    let tally = |c: &mut Counters, make: &dyn Fn(Measure) -> Counter, occurrences: i64| {
        *c.entry(make(Measure::Groups).name()).or_default() += 1;
        let sum = c.entry(make(Measure::Occurrences).name()).or_default();
        *sum = sum.saturating_add(occurrences);
    };
    tally(&mut c, &Counter::Total, n);
    tally(&mut c, &|m| Counter::Level(g.level.clone(), m), n);
    for (key, count) in g.op_counts.iter().filter(|(_, c)| **c > 0) {
        tally(&mut c, &|m| Counter::Operation(key.clone(), m), signed(*count));
    }
    for (key, count) in g.origin_counts.iter().filter(|(_, c)| **c > 0) {
        tally(&mut c, &|m| Counter::Origin(key.clone(), m), signed(*count));
    }
    tally(&mut c, &|m| Counter::Account(g.account.clone(), m), n);
    tally(&mut c, &|m| Counter::Region(g.region.clone(), m), n);
    for (day, count) in s.daily.iter().filter(|(_, c)| **c > 0) {
        *c.entry(Counter::Day(day.clone()).name()).or_default() += signed(*count);
    }
    if let Some(day) = g.created_at.get(..10) {
        *c.entry(Counter::New(day.to_owned()).name()).or_default() += 1;
    }
    c
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RollupError {
    #[error("group {id}: lastOccurredAt {value:?} is not a timestamp")]
    LastOccurredAt { id: String, value: String },
}

/// The rollups a group belongs to, one per grain.
pub fn keys(g: &GroupRecord, s: &GroupState) -> Result<[RollupKey; GRAINS], RollupError> {
    let last = time_fmt::parse(&g.last_occurred_at)
        .ok_or_else(|| RollupError::LastOccurredAt { id: g.id.clone(), value: g.last_occurred_at.clone() })?
        .unix_timestamp();
    Ok(Grain::ALL.map(|grain| RollupKey {
        grain,
        start: grain.floor(last),
        triage: s.triage.state,
        reason: g.reason.clone(),
    }))
}

/// The changes of many groups folded into one delta per rollup.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fold {
    pub deltas: BTreeMap<RollupKey, Counters>,
}

impl Fold {
    /// Adds one change of a group: `old` is the image before it (`None` when the group was
    /// created), `new` the image after it (`None` when it was deleted).
    pub fn change(
        &mut self,
        old: Option<(&GroupRecord, &GroupState)>,
        new: Option<(&GroupRecord, &GroupState)>,
    ) -> Result<(), RollupError> {
        for (image, sign) in [(old, -1i64), (new, 1)] {
            let Some((g, s)) = image else { continue };
            let counters = contribution(g, s);
            for key in keys(g, s)? {
                let delta = self.deltas.entry(key.clone()).or_default();
                for (name, v) in &counters {
                    let sum = delta.entry(name.clone()).or_default();
                    // Stored counts are outside data: a sum saturates rather than wraps.
                    *sum = sum.saturating_add(sign * v);
                    if *sum == 0 {
                        delta.remove(name);
                    }
                }
                // Only the keys this change touched can have fallen to nothing.
                if delta.is_empty() {
                    self.deltas.remove(&key);
                }
            }
        }
        Ok(())
    }
}

/// How much later than the first change the rollups were kept for the last occurrence of a group
/// written before that change can be: occurrences up to 5 minutes ahead of the writer's clock are
/// accepted, and a minute of margin.
pub const SINCE_SLACK: time::Duration = time::Duration::minutes(6);

/// Whether the rollups hold exactly the groups whose last occurrence is after `after`, when they
/// have been kept since `since` (the time of the first change of the table's stream they folded,
/// or of a restart after changes were lost, whose errors sit in the same kind of buckets;
/// `None`: not yet started).
///
/// Groups written before the stream started were never added: their rollups lack them, and a
/// later change of one subtracts an image that was never added. Both errors sit in the buckets
/// of last occurrences written before the stream started, at most [`SINCE_SLACK`] after
/// `since`; a read after that time never reads those buckets. So on a new stack, and after the
/// upgrade that adds the rollups, the groups are read instead for one retention period.
pub fn ready(since: Option<OffsetDateTime>, after: OffsetDateTime) -> bool {
    since.is_some_and(|s| after > s.saturating_add(SINCE_SLACK))
}

/// Whether the rollups answer a question asked with `f`: they keep each triage state and reason
/// apart, so `filter.triage` and `filter.reason` are the only filters they serve. (Listed
/// field by field, so that a new filter is a decision here.)
pub fn covers(f: &Filters) -> bool {
    let Filters {
        from,
        until,
        domain,
        resource_type,
        event_type,
        level,
        resource_name,
        resource_id,
        repository,
        reason: _,
        operation,
        origin,
        cluster,
        account,
        region,
        search,
        triage: _,
    } = f;
    from.is_none()
        && until.is_none()
        && [
            domain,
            resource_type,
            event_type,
            level,
            resource_name,
            resource_id,
            repository,
            cluster,
            account,
            region,
            search,
        ]
        .iter()
        .all(|v| v.is_empty())
        && operation.is_empty()
        && origin.is_empty()
}

/// Whether the groups of rollup `key` match `f`'s triage and reason filters.
pub fn selected(f: &Filters, key: &RollupKey) -> bool {
    triage_selected(f, key.triage) && (f.reason.is_empty() || f.reason.iter().any(|r| r.code() == key.reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::triage::Triage;
    use std::collections::HashMap;
    use time::macros::datetime;

    pub(crate) fn group(id: &str, last: &str, reason: &str, n: u64) -> (GroupRecord, GroupState) {
        let g = GroupRecord {
            id: id.into(),
            domain: "Image Scanning".into(),
            resource_type: "Image".into(),
            resource_name: "quay.io/a/web:1".into(),
            resource_id: None,
            repository: "quay.io/a/web".into(),
            registry: "quay.io".into(),
            reason: reason.into(),
            level: "ERROR".into(),
            message: String::new(),
            num_occurrences: n,
            created_at: "2026-12-01T08:00:00.000Z".into(),
            last_occurred_at: last.into(),
            expires_at: 0,
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            source: "s".into(),
            op_counts: HashMap::from([("image_scan".into(), n), ("image_check".into(), 0)]),
            origin_counts: HashMap::from([("roxctl".into(), n)]),
            clusters: HashMap::new(),
            deployments: HashMap::new(),
            initiators: HashMap::new(),
            user_agents: HashMap::new(),
        };
        let s = GroupState { triage: Triage::default(), daily: BTreeMap::from([("2026-12-01".into(), n)]) };
        (g, s)
    }

    #[test]
    fn a_group_contributes_one_of_each_tally_and_its_days_and_nothing_for_a_zero_count() {
        let (g, s) = group("g1", "2026-12-01T10:00:00.000Z", "TIMEOUT", 3);
        let names: Vec<(String, i64)> = contribution(&g, &s).into_iter().collect();
        let expected: Vec<(String, i64)> = [
            ("a#111111111111#g", 1),
            ("a#111111111111#o", 3),
            ("d#2026-12-01", 3),
            ("g", 1),
            ("l#ERROR#g", 1),
            ("l#ERROR#o", 3),
            ("n#2026-12-01", 1),
            ("o", 3),
            ("p#image_scan#g", 1),
            ("p#image_scan#o", 3),
            ("r#eu-west-1#g", 1),
            ("r#eu-west-1#o", 3),
            ("s#roxctl#g", 1),
            ("s#roxctl#o", 3),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn every_counter_name_parses_back_and_other_attributes_do_not() {
        for (name, _) in contribution(&group("g", "2026-12-01T10:00:00.000Z", "TIMEOUT", 2).0, &GroupState::default()) {
            assert_eq!(Counter::parse(&name).map(|c| c.name()), Some(name.clone()));
        }
        assert_eq!(
            Counter::parse("a#us-east-1#x#o"),
            Some(Counter::Account("us-east-1#x".into(), Measure::Occurrences))
        );
        for other in ["pk", "gsiAll", "timeSk", "expiresAt", "x#y#g", "l#ERROR", "l#ERROR#z"] {
            assert_eq!(Counter::parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_repeat_moves_the_group_between_minute_buckets_and_adds_one_occurrence_to_its_hour_and_day() {
        let (old_g, old_s) = group("g1", "2026-12-01T10:00:30.000Z", "TIMEOUT", 1);
        let (mut g, mut s) = group("g1", "2026-12-01T10:05:00.000Z", "TIMEOUT", 2);
        s.daily.insert("2026-12-01".into(), 2);
        g.op_counts.insert("image_scan".into(), 2);
        g.origin_counts.insert("roxctl".into(), 2);
        let mut fold = Fold::default();
        fold.change(Some((&old_g, &old_s)), Some((&g, &s))).unwrap();
        let at = |grain: Grain, t: OffsetDateTime| RollupKey {
            grain,
            start: grain.floor(t.unix_timestamp()),
            triage: TriageState::Open,
            reason: "TIMEOUT".into(),
        };
        let old_minute = &fold.deltas[&at(Grain::Minute, datetime!(2026-12-01 10:00 UTC))];
        assert_eq!(old_minute["g"], -1);
        assert_eq!(old_minute["o"], -1);
        assert_eq!(fold.deltas[&at(Grain::Minute, datetime!(2026-12-01 10:05 UTC))]["o"], 2);
        let hour = &fold.deltas[&at(Grain::Hour, datetime!(2026-12-01 10:00 UTC))];
        let hour: Vec<(&str, i64)> = hour.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            hour,
            [
                ("a#111111111111#o", 1),
                ("d#2026-12-01", 1),
                ("l#ERROR#o", 1),
                ("o", 1),
                ("p#image_scan#o", 1),
                ("r#eu-west-1#o", 1),
                ("s#roxctl#o", 1)
            ]
        );
        assert_eq!(fold.deltas.len(), 7, "two minutes, one ten minutes, hour, six hours, day and 30 days");
    }

    #[test]
    fn a_triage_change_moves_the_whole_contribution_and_a_change_undone_leaves_nothing() {
        let (g, s) = group("g1", "2026-12-01T10:00:30.000Z", "TIMEOUT", 4);
        let mut fp = s.clone();
        fp.triage.state = TriageState::FalsePositive;
        let mut fold = Fold::default();
        fold.change(Some((&g, &s)), Some((&g, &fp))).unwrap();
        assert_eq!(fold.deltas.len(), 12);
        assert!(fold.deltas.iter().all(|(k, d)| d["g"] == if k.triage == TriageState::Open { -1 } else { 1 }));
        fold.change(Some((&g, &fp)), Some((&g, &s))).unwrap();
        assert_eq!(fold, Fold::default());
        fold.change(None, Some((&g, &s))).unwrap();
        fold.change(Some((&g, &s)), None).unwrap();
        assert_eq!(fold, Fold::default());
    }

    #[test]
    fn only_the_triage_and_reason_filters_are_covered_and_false_positives_are_left_out_by_default() {
        use crate::classify::Reason;
        let mut f = Filters::default();
        assert!(covers(&f));
        f.triage = vec![TriageState::FalsePositive];
        f.reason = vec![Reason::Timeout];
        assert!(covers(&f));
        let key = |triage, reason: &str| RollupKey { grain: Grain::Day, start: 0, triage, reason: reason.into() };
        assert!(selected(&f, &key(TriageState::FalsePositive, "TIMEOUT")));
        assert!(!selected(&f, &key(TriageState::FalsePositive, "RATE_LIMITED")));
        assert!(!selected(&f, &key(TriageState::Open, "TIMEOUT")));
        let default = Filters::default();
        assert!(!selected(&default, &key(TriageState::FalsePositive, "TIMEOUT")));
        assert!(selected(&default, &key(TriageState::Resolved, "TIMEOUT")));
        for narrowed in [
            Filters { account: vec!["111111111111".into()], ..Filters::default() },
            Filters { from: Some(datetime!(2026-12-01 00:00 UTC)), ..Filters::default() },
            Filters { cluster: vec!["prod".into()], ..Filters::default() },
            Filters { search: vec!["x".into()], ..Filters::default() },
        ] {
            assert!(!covers(&narrowed), "{narrowed:?}");
        }
    }

    /// Stored counts are outside data: two groups of the most occurrences a count can hold
    /// saturate their rollup's sum, where it wrapped to a negative count in a release build
    /// (and panicked in a debug one).
    #[test]
    fn counts_past_what_a_rollup_holds_saturate_rather_than_wrap() {
        let (g1, s1) = group("g1", "2026-12-01T10:00:30.000Z", "TIMEOUT", u64::MAX);
        let (g2, s2) = group("g2", "2026-12-01T10:00:40.000Z", "TIMEOUT", u64::MAX);
        let mut fold = Fold::default();
        fold.change(None, Some((&g1, &s1))).unwrap();
        fold.change(None, Some((&g2, &s2))).unwrap();
        let day = RollupKey {
            grain: Grain::Day,
            start: Grain::Day.floor(datetime!(2026-12-01 00:00 UTC).unix_timestamp()),
            triage: TriageState::Open,
            reason: "TIMEOUT".into(),
        };
        assert_eq!((fold.deltas[&day]["g"], fold.deltas[&day]["o"]), (2, i64::MAX));
        let (c, add) = (&fold.deltas[&day], read_plan::Sign::Add);
        let net = read_plan::net_by_reason([(&day, add, c), (&day, add, c)]);
        assert_eq!(net["TIMEOUT"]["o"], i64::MAX);
        assert_eq!(read_plan::Sign::Subtract.apply(i64::MIN), i64::MAX);
    }

    #[test]
    fn the_rollups_answer_only_for_a_window_starting_after_they_began_plus_the_slack() {
        let since = datetime!(2026-12-01 10:00 UTC);
        assert!(!ready(None, datetime!(2026-12-09 00:00 UTC)));
        assert!(!ready(Some(since), datetime!(2026-11-27 10:00 UTC)));
        assert!(!ready(Some(since), datetime!(2026-12-01 10:06 UTC)));
        assert!(ready(Some(since), datetime!(2026-12-01 10:06:00.001 UTC)));
        // A stored start in the last minutes of 9999 (outside data): never ready; before,
        // adding the slack panicked in every count, summary and trend.
        let end = datetime!(9999-12-31 23:58 UTC);
        assert!(!ready(Some(end), datetime!(9999-12-31 23:59:59.999 UTC)));
    }

    #[test]
    fn a_group_without_a_timestamp_is_an_error_naming_it() {
        let (g, s) = group("g9", "yesterday", "TIMEOUT", 1);
        assert_eq!(
            Fold::default().change(None, Some((&g, &s))),
            Err(RollupError::LastOccurredAt { id: "g9".into(), value: "yesterday".into() })
        );
    }
}
