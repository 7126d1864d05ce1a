//! Generations of the rollups, and which groups each one holds: what lets a rebuild fill a new
//! set of rollups from the groups themselves while the stream keeps changing them, and still be
//! exact when it is put in service.
//!
//! Generation 0 holds every group the stream reported. Generation `n > 0` holds a group when
//! one of its images says so: the rebuild marked it (`mark >= n`: marks only grow, so a later
//! rebuild's mark keeps it), or it was first stored at least [`STORED_MARGIN`] after the
//! rebuild started (a group the rebuild never needs to mark). The rollup function folds a change
//! into a generation with each image counted only if that image is held, so a group's
//! contribution follows its images exactly: it joins at the record that marks it (or at its
//! creation), and leaves at its deletion. That is exact as long as every record written after
//! the rebuild started is folded into generation `n` (the rollup function reads the state before
//! each batch) and no image written before it is held (the margin keeps a writer's clock ahead
//! of the rebuild's start from making one so).

use time::{Duration, OffsetDateTime};

/// How long after a rebuild's start a group first stored counts as born into it. Larger than
/// any difference between the clocks of the functions and than the time the rebuild's start takes
/// to be written, so that no group stored before that write is held by its first image.
pub const STORED_MARGIN: Duration = Duration::minutes(2);

/// How long after its start a rebuild begins to mark groups: [`STORED_MARGIN`], and then as long
/// again as any writer may take between reading its clock and its write landing in the `byTime`
/// index (an ingest invocation lasts at most 60 s; the index's copy is eventually consistent), so
/// that every group stored before the margin ran out is in the index when the walk begins, and
/// every group stored after it needs no mark.
pub const MARK_AFTER: Duration = Duration::minutes(5);

/// What an image of a group says of the generations holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Membership {
    /// The last rebuild that marked the group (0: none).
    pub mark: u32,
    /// When the group's item was first stored, by its writer's clock (`None`: before the
    /// product recorded it).
    pub stored_at: Option<OffsetDateTime>,
}

/// One generation of the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    /// When its rebuild started (`None` for generation 0, which was never rebuilt).
    pub started: Option<OffsetDateTime>,
}

impl Generation {
    /// The rollups kept from the stream's first change, before any rebuild.
    pub const FIRST: Self = Self { number: 0, started: None };

    /// Whether an image with membership `m` counts in this generation.
    pub fn holds(&self, m: &Membership) -> bool {
        if self.number == 0 || m.mark >= self.number {
            return true;
        }
        match (self.started, m.stored_at) {
            (Some(started), Some(stored)) => stored >= started.saturating_add(STORED_MARGIN),
            _ => false,
        }
    }

    /// Whether a change from `old` to `new` is the rebuild's mark joining a group to this
    /// generation: what the rebuild counts as it marks, and the rollup function as it folds, so
    /// that the rebuild is put in service only when every mark it made is folded.
    pub fn joins_by_mark(&self, old: Option<&Membership>, new: Option<&Membership>) -> bool {
        self.number > 0
            && old.is_some_and(|o| o.mark < self.number && !self.holds(o))
            && new.is_some_and(|n| n.mark >= self.number)
    }

    /// When the rebuild of this generation may mark groups (`None`: generation 0, never).
    pub fn marks_from(&self) -> Option<OffsetDateTime> {
        self.started.map(|s| s.saturating_add(MARK_AFTER))
    }
}

/// Whether the rollups of `serving`, kept since `since` (see [`super::ready`]), hold exactly
/// the groups whose last occurrence is after `after`. A rebuilt generation holds every group,
/// whatever their last occurrence, unless a restart after its rebuild started says that changes
/// were lost since (the restart moves `since` past it, and starts the next rebuild).
pub fn serves(serving: &Generation, since: Option<OffsetDateTime>, after: OffsetDateTime) -> bool {
    match (serving.started, since) {
        (Some(started), Some(since)) if since <= started => true,
        _ => super::ready(since, after),
    }
}

/// How long after a switch the rollup function keeps folding changes into the generation it
/// replaced: longer than an api instance answers from the state it read before (a minute,
/// `ROLLUPS_SINCE_CACHE`) plus any difference between the functions' clocks
/// ([`STORED_MARGIN`]), so that an instance still reading the replaced generation reads it
/// exact rather than missing the changes since the switch.
pub const RETIRED_FOLD: Duration = Duration::minutes(5);

/// A generation a switch replaced, folded still until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retired {
    pub generation: Generation,
    pub until: OffsetDateTime,
}

/// The generations the rollup function folds each change into: the one the api reads, the one a
/// rebuild is filling, if any, and the one the last switch replaced, for [`RETIRED_FOLD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub serving: Generation,
    pub building: Option<Generation>,
    pub retired: Option<Retired>,
}

impl Live {
    /// Before any rebuild.
    pub const FIRST: Self = Self { serving: Generation::FIRST, building: None, retired: None };

    /// Every live generation, the serving one first.
    pub fn all(&self) -> Vec<Generation> {
        std::iter::once(self.serving).chain(self.building).chain(self.retired.map(|r| r.generation)).collect()
    }

    /// The generations to fold a change into at `now`: the retired one only until its time.
    pub fn at(self, now: OffsetDateTime) -> Self {
        Self { retired: self.retired.filter(|r| now < r.until), ..self }
    }

    /// What a switch to the generation being built at `now` leaves live: it in service, and the
    /// one it replaces retired for [`RETIRED_FOLD`] (`None`: nothing is being built).
    pub fn switched(&self, now: OffsetDateTime) -> Option<Self> {
        let building = self.building?;
        let retired = Retired { generation: self.serving, until: now + RETIRED_FOLD };
        Some(Self { serving: building, building: None, retired: Some(retired) })
    }
}

/// How far a rebuild has come, as its progress records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Groups the rebuild marked (each mark a join, which the rollup function folds and counts).
    pub marked: u64,
    /// Joins the rollup function folded.
    pub joined: u64,
    /// Whether the rebuild has marked every group it has to (it went through the whole index).
    pub copied: bool,
}

/// What a maintenance run does next for a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Too early to mark: groups stored before the margin ran out may not be in the index yet.
    Wait { until: OffsetDateTime },
    /// Mark the next groups of the index.
    Mark,
    /// Every group is marked, and some marks are still on their way through the stream.
    Fold { left: u64 },
    /// Every mark is folded: the generation holds every group, and is put in service.
    Switch,
    /// The rebuild's start is unreadable: it never marks nor switches (an operator's restart
    /// starts another).
    Unstarted,
}

/// The next step of the rebuild of `building` at `now`, after `progress`.
pub fn step(building: &Generation, progress: &Progress, now: OffsetDateTime) -> Step {
    match building.marks_from() {
        Some(from) if now < from => return Step::Wait { until: from },
        None => return Step::Unstarted,
        Some(_) => {}
    }
    if !progress.copied {
        Step::Mark
    } else if progress.joined < progress.marked {
        Step::Fold { left: progress.marked - progress.joined }
    } else {
        Step::Switch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const STARTED: OffsetDateTime = datetime!(2026-12-04 12:00 UTC);
    const TWO: Generation = Generation { number: 2, started: Some(STARTED) };

    fn m(mark: u32, stored_at: Option<OffsetDateTime>) -> Membership {
        Membership { mark, stored_at }
    }

    #[test]
    fn generation_0_holds_every_image_and_a_rebuilt_one_the_marked_and_those_stored_after_its_margin() {
        assert!(Generation::FIRST.holds(&Membership::default()));
        assert!(!TWO.holds(&Membership::default()));
        assert!(!TWO.holds(&m(1, None)), "an earlier rebuild's mark");
        assert!(TWO.holds(&m(2, None)));
        assert!(TWO.holds(&m(3, None)), "a later rebuild's mark keeps it");
        assert!(!TWO.holds(&m(0, Some(STARTED))));
        assert!(!TWO.holds(&m(0, Some(datetime!(2026-12-04 12:01:59.999 UTC)))));
        assert!(TWO.holds(&m(0, Some(datetime!(2026-12-04 12:02 UTC)))), "the margin, exactly");
        assert!(TWO.holds(&m(1, Some(datetime!(2026-12-05 00:00 UTC)))));
    }

    #[test]
    fn only_the_mark_that_makes_an_image_held_is_a_join() {
        let (unmarked, marked) = (m(0, None), m(2, None));
        assert!(TWO.joins_by_mark(Some(&unmarked), Some(&marked)));
        assert!(TWO.joins_by_mark(Some(&m(1, None)), Some(&marked)), "marked by an abandoned rebuild before");
        assert!(!TWO.joins_by_mark(Some(&marked), Some(&marked)), "a change of a marked group");
        assert!(!TWO.joins_by_mark(Some(&unmarked), Some(&unmarked)));
        assert!(!TWO.joins_by_mark(None, Some(&marked)), "a creation");
        assert!(!TWO.joins_by_mark(Some(&marked), None), "a deletion");
        let born = m(0, Some(datetime!(2026-12-04 13:00 UTC)));
        assert!(!TWO.joins_by_mark(Some(&born), Some(&m(2, born.stored_at))), "held already, by its birth");
        assert!(!Generation::FIRST.joins_by_mark(Some(&unmarked), Some(&marked)));
    }

    #[test]
    fn a_rebuilt_generation_serves_every_window_until_a_later_restart_and_generation_0_waits_for_its_slack() {
        let long_ago = datetime!(2026-11-01 00:00 UTC);
        assert!(serves(&TWO, Some(STARTED), long_ago), "the restart that started it");
        assert!(serves(&TWO, Some(datetime!(2026-12-01 00:00 UTC)), long_ago));
        assert!(!serves(&TWO, Some(datetime!(2026-12-04 12:00:00.001 UTC)), long_ago), "a restart after it");
        assert!(serves(&TWO, Some(datetime!(2026-12-04 13:00 UTC)), datetime!(2026-12-04 13:06:00.001 UTC)));
        assert!(!serves(&TWO, None, long_ago));
        assert!(!serves(&Generation::FIRST, Some(STARTED), datetime!(2026-12-04 12:06 UTC)));
        assert!(serves(&Generation::FIRST, Some(STARTED), datetime!(2026-12-04 12:06:00.001 UTC)));
    }

    #[test]
    fn a_rebuild_waits_out_its_margin_marks_every_group_then_waits_for_its_joins_and_switches() {
        let at = |s: i64| STARTED + Duration::seconds(s);
        let p = |marked, joined, copied| Progress { marked, joined, copied };
        assert_eq!(step(&TWO, &p(0, 0, false), at(299)), Step::Wait { until: at(300) });
        assert_eq!(step(&TWO, &p(0, 0, false), at(300)), Step::Mark);
        assert_eq!(step(&TWO, &p(40, 40, false), at(900)), Step::Mark, "the index is not through");
        assert_eq!(step(&TWO, &p(40, 37, true), at(900)), Step::Fold { left: 3 });
        assert_eq!(step(&TWO, &p(40, 40, true), at(900)), Step::Switch);
        assert_eq!(step(&TWO, &p(0, 0, true), at(900)), Step::Switch, "nothing to mark");
        assert_eq!(step(&Generation { number: 2, started: None }, &p(0, 0, true), at(900)), Step::Unstarted);
    }

    #[test]
    fn a_switch_retires_the_generation_it_replaces_which_is_folded_for_five_minutes_more() {
        let now = datetime!(2026-12-04 12:20 UTC);
        let live = Live { building: Some(TWO), ..Live::FIRST };
        assert_eq!(live.all(), [Generation::FIRST, TWO]);
        let switched = live.switched(now).unwrap();
        let retired = Retired { generation: Generation::FIRST, until: datetime!(2026-12-04 12:25 UTC) };
        assert_eq!(switched, Live { serving: TWO, building: None, retired: Some(retired) });
        assert_eq!(switched.all(), [TWO, Generation::FIRST], "the serving one first");
        assert_eq!(switched.at(datetime!(2026-12-04 12:24:59.999 UTC)).all(), [TWO, Generation::FIRST]);
        assert_eq!(switched.at(datetime!(2026-12-04 12:25 UTC)).all(), [TWO], "its time is up");
        assert_eq!(Live::FIRST.switched(now), None, "nothing being built");
        let three = Generation { number: 3, started: Some(now) };
        let rebuilding = Live { building: Some(three), ..switched };
        assert_eq!(rebuilding.at(now).all(), [TWO, three, Generation::FIRST], "a restart soon after a switch");
    }

    #[test]
    fn a_rebuild_marks_from_five_minutes_after_its_start() {
        assert_eq!(TWO.marks_from(), Some(datetime!(2026-12-04 12:05 UTC)));
        assert_eq!(Generation::FIRST.marks_from(), None);
    }

    /// Stored times are outside data: a rebuild recorded as started in the last minutes of
    /// 9999 holds no unmarked image and never marks; before, adding its margins panicked.
    #[test]
    fn a_generation_started_at_the_end_of_time_holds_only_its_marks_without_overflowing() {
        let end = datetime!(9999-12-31 23:59:59.999 UTC);
        let last = Generation { number: 2, started: Some(end) };
        assert!(!last.holds(&m(0, Some(end))));
        assert!(last.holds(&m(2, Some(end))));
        assert_eq!(last.marks_from(), Some(time::PrimitiveDateTime::MAX.assume_utc()));
    }
}
