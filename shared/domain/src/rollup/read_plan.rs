//! Which rollups add up to "every group whose last occurrence is after t", in the fewest
//! buckets: a pure plan ([`read_plan`]) that the store executes, one `Query` per grain.
//!
//! The groups of the edge, `t < lastOccurredAt < x` with `x` the next whole minute, are read
//! one by one. From `x` on, each finer grain is taken in one of two directions: forward, its
//! buckets from `x` up to the next coarser boundary, added; or backward, its buckets from the
//! coarser boundary before `x` up to `x`, subtracted, the coarser grain then starting at that
//! boundary. Rollups are sums, so a subtracted bucket takes out exactly the groups an added
//! coarser one brought in; and since the counts the rollups lack (the groups written before
//! the stream began) are sums too, their error over a signed cover of `[x, ∞)` is their error
//! over `[x, ∞)`, which [`super::ready`] makes zero. Of the choices the plan takes the one
//! with the fewest buckets that can hold a group at the time of the read (none starts after
//! it), forward on ties: at most [`MAX_BUCKETS`] buckets finer than a day (counting the day
//! before `x` it may start at), against 22 when every grain is read forward; and with the
//! 30-day grain, one more where that saves a day, at most [`MAX_DAYS`] days and one 30-day bucket per 30 days of the window
//! and one more, where days alone take one per day of it.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{Counters, Grain, RollupKey};

/// Whether a range's rollups are added to the answer or taken from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Add,
    Subtract,
}

impl Sign {
    /// `v` as this sign counts it.
    pub fn apply(self, v: i64) -> i64 {
        match self {
            Self::Add => v,
            Self::Subtract => v.saturating_neg(),
        }
    }
}

/// The rollups of one grain that a read adds up (or takes away): buckets starting in
/// `[from, until)` (epoch seconds; `until` `None` for no end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub grain: Grain,
    pub from: i64,
    pub until: Option<i64>,
    pub sign: Sign,
}

impl Range {
    /// How many buckets the range holds (`None`: no end).
    pub fn buckets(&self) -> Option<i64> {
        self.until.map(|u| (u - self.from).max(0) / self.grain.seconds())
    }

    /// How many of its buckets start at or before `now` (epoch seconds): those that can hold
    /// a group when the read is made.
    pub fn buckets_by(&self, now: i64) -> i64 {
        let past = self.grain.floor(now) + self.grain.seconds();
        let end = self.until.map_or(past, |u| u.min(past));
        (end - self.from).max(0) / self.grain.seconds()
    }
}

/// How to add up every group whose last occurrence is after `after`: the groups of the edge,
/// `after < lastOccurredAt < edge_until`, one by one, and the signed rollups of `ranges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub after: OffsetDateTime,
    pub edge_until: OffsetDateTime,
    /// One per grain of the rollups read, finest first; the last has no end and is added.
    pub ranges: Vec<Range>,
}

impl ReadPlan {
    /// Whether the edge can hold a group: times are stored to the millisecond.
    pub fn has_edge(&self) -> bool {
        self.edge_until - self.after > time::Duration::milliseconds(1)
    }

    /// The buckets of the plan that can hold a group at `now`: what the choice of directions
    /// minimizes, and what a read costs in rollups per triage state and reason.
    pub fn buckets(&self, now: OffsetDateTime) -> i64 {
        self.ranges.iter().map(|r| r.buckets_by(now.unix_timestamp())).sum()
    }
}

/// The most buckets finer than a day, plus the extra day, that a plan over the grains up to
/// days takes (at the worst minute of a day); with the 30-day grain, one more where that saves a
/// day (see the tests that sweep every minute of a day and of 30).
pub const MAX_BUCKETS: i64 = 12;

/// The most day buckets a plan with the 30-day grain takes, whatever the window (see the test
/// that sweeps every minute of 30 days).
pub const MAX_DAYS: i64 = 15;

/// The plan, over the rollups of `grains` (finest first, each dividing the next), for the
/// groups whose last occurrence is after `after`, read at `now`.
pub fn read_plan(after: OffsetDateTime, now: OffsetDateTime, grains: &[Grain]) -> ReadPlan {
    let x = Grain::Minute.floor(after.unix_timestamp()) + Grain::Minute.seconds();
    let edge_until = OffsetDateTime::from_unix_timestamp(x).unwrap_or(after);
    let choices = 1u32 << grains.len().saturating_sub(1).min(16);
    (0..choices)
        .map(|backward| ReadPlan { after, edge_until, ranges: ranges(x, backward, grains) })
        .min_by_key(|p| p.buckets(now))
        .unwrap_or_else(|| ReadPlan { after, edge_until, ranges: ranges(x, 0, grains) })
}

/// The ranges covering `[x, ∞)` with the finer grains whose bit is set in `backward` taken
/// backward.
fn ranges(x: i64, backward: u32, grains: &[Grain]) -> Vec<Range> {
    let mut from = x;
    grains
        .iter()
        .enumerate()
        .map(|(i, &grain)| {
            let Some(coarser) = grains.get(i + 1) else {
                return Range { grain, from, until: None, sign: Sign::Add };
            };
            let range = if backward & (1 << i) == 0 {
                let until = coarser.ceil(from);
                Range { grain, from, until: Some(until), sign: Sign::Add }
            } else {
                let start = coarser.floor(from);
                Range { grain, from: start, until: Some(from), sign: Sign::Subtract }
            };
            from = if range.sign == Sign::Add { range.until.unwrap_or(from) } else { range.from };
            range
        })
        .collect()
}

/// The signed rollups of a read, added up by reason: for each reason, each counter's total over
/// the groups the plan covers.
pub fn net_by_reason<'a>(
    signed: impl IntoIterator<Item = (&'a RollupKey, Sign, &'a Counters)>,
) -> BTreeMap<String, Counters> {
    let mut out: BTreeMap<String, Counters> = BTreeMap::new();
    for (key, sign, counters) in signed {
        let net = out.entry(key.reason.clone()).or_default();
        for (name, v) in counters {
            let sum = net.entry(name.clone()).or_default();
            *sum = sum.saturating_add(sign.apply(*v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::triage::TriageState;
    use time::macros::datetime;

    fn s(t: OffsetDateTime) -> i64 {
        t.unix_timestamp()
    }

    fn range(grain: Grain, from: OffsetDateTime, until: Option<OffsetDateTime>, sign: Sign) -> Range {
        Range { grain, from: s(from), until: until.map(s), sign }
    }

    /// How many times the plan counts the minute starting at `m`: +1 per added bucket holding
    /// it, −1 per subtracted one.
    fn weight(p: &ReadPlan, m: i64) -> i64 {
        p.ranges
            .iter()
            .filter(|r| {
                let bucket = r.grain.floor(m);
                bucket >= r.from && r.until.is_none_or(|u| bucket < u)
            })
            .map(|r| r.sign.apply(1))
            .sum()
    }

    /// Of [`ReadPlan::buckets`], those of the grains finer than a day, and the day before
    /// `edge_until` a plan starts at when it takes the finer grains back to it: what
    /// [`MAX_BUCKETS`] bounds.
    fn finer_buckets(p: &ReadPlan) -> i64 {
        let x = p.edge_until.unix_timestamp();
        let buckets: i64 = p.ranges.iter().filter(|r| r.grain < Grain::Day).filter_map(Range::buckets).sum();
        // Where the days take over from the finer grains: the start of days added, the end of
        // days subtracted.
        let days_from = p.ranges.iter().find(|r| r.grain == Grain::Day).map_or(x, |d| match d.sign {
            Sign::Add => d.from,
            Sign::Subtract => d.until.unwrap_or(x),
        });
        buckets + i64::from(days_from < x)
    }

    /// A plan over the grains up to days, read 4 days after `after`.
    fn days_plan(after: OffsetDateTime) -> ReadPlan {
        read_plan(after, after + time::Duration::days(4), &Grain::UP_TO_DAYS)
    }

    #[test]
    fn the_plan_takes_each_grain_in_the_direction_with_fewer_buckets() {
        use Grain::*;
        use Sign::*;
        let p = days_plan(datetime!(2026-12-01 10:17:42.250 UTC));
        assert_eq!(p.edge_until, datetime!(2026-12-01 10:18 UTC));
        assert!(p.has_edge());
        // Minutes forward (2, not 8), ten minutes backward (2, not 4), hours forward from
        // 10:00 (2, not 4), six hours forward (2, not 2 and a day).
        assert_eq!(
            p.ranges,
            [
                range(Minute, datetime!(2026-12-01 10:18 UTC), Some(datetime!(2026-12-01 10:20 UTC)), Add),
                range(TenMinutes, datetime!(2026-12-01 10:00 UTC), Some(datetime!(2026-12-01 10:20 UTC)), Subtract),
                range(Hour, datetime!(2026-12-01 10:00 UTC), Some(datetime!(2026-12-01 12:00 UTC)), Add),
                range(SixHours, datetime!(2026-12-01 12:00 UTC), Some(datetime!(2026-12-02 00:00 UTC)), Add),
                range(Day, datetime!(2026-12-02 00:00 UTC), None, Add),
            ]
        );
        assert_eq!(finer_buckets(&p), 8);
        assert_eq!(p.buckets(datetime!(2026-12-05 10:17:42.250 UTC)), 8 + 4, "and the days 2 to 5");
        // 30 s past midnight, the forward plan's worst (22 buckets): the day, less its first minute.
        let p = days_plan(datetime!(2026-12-01 00:00:30 UTC));
        assert_eq!(
            p.ranges[0],
            range(Minute, datetime!(2026-12-01 00:00 UTC), Some(datetime!(2026-12-01 00:01 UTC)), Subtract)
        );
        for r in &p.ranges[1..4] {
            assert_eq!(
                (r.from, r.until),
                (s(datetime!(2026-12-01 00:00 UTC)), Some(s(datetime!(2026-12-01 00:00 UTC)))),
                "{r:?}"
            );
        }
        assert_eq!(p.ranges[4], range(Day, datetime!(2026-12-01 00:00 UTC), None, Add));
        assert_eq!(finer_buckets(&p), 2);
        // After the last millisecond before midnight: no edge, only days.
        let p = days_plan(datetime!(2026-12-01 23:59:59.999 UTC));
        assert!(!p.has_edge());
        assert_eq!(finer_buckets(&p), 0);
        assert_eq!(p.ranges[4], range(Day, datetime!(2026-12-02 00:00 UTC), None, Add));
        // Exactly on a minute: a group at that instant is not after it, so the minute is edge.
        let p = days_plan(datetime!(2026-12-01 10:00 UTC));
        assert_eq!(p.edge_until, datetime!(2026-12-01 10:01 UTC));
    }

    #[test]
    fn at_every_minute_of_a_day_the_plan_counts_each_minute_from_its_start_once_in_at_most_max_buckets() {
        let day = s(datetime!(2026-12-01 00:00 UTC));
        let mut worst = 0;
        for grains in [&Grain::UP_TO_DAYS[..], &Grain::ALL[..]] {
            for minute in 0..1440 {
                let after = OffsetDateTime::from_unix_timestamp(day + minute * 60 + 7).unwrap();
                let p = read_plan(after, after + time::Duration::days(4), grains);
                let x = s(p.edge_until);
                for m in (day - 86_400..day + 3 * 86_400).step_by(60) {
                    assert_eq!(weight(&p, m), i64::from(m >= x), "minute {m} of the plan for {after}: {p:?}");
                }
                let forward = ReadPlan { ranges: ranges(x, 0, grains), ..p.clone() };
                let now = after + time::Duration::days(4);
                assert!(p.buckets(now) <= forward.buckets(now), "{after}");
                worst = worst.max(finer_buckets(&p));
            }
        }
        assert_eq!(worst, MAX_BUCKETS);
    }

    /// With the 30-day grain, a year's window reads a few dozen buckets where days alone read
    /// 365 and more: checked at every minute of a 30-day cycle, for a 365-day and a 4-day
    /// window (the finer grains within [`MAX_BUCKETS`], the days within [`MAX_DAYS`]); and at
    /// every 97th, each minute around the cut-off and each day from a month before it to the
    /// read counted once.
    #[test]
    fn with_thirty_day_buckets_a_years_window_reads_at_most_max_days_and_a_bucket_a_month() {
        let first = Grain::ThirtyDays.floor(s(datetime!(2026-12-01 00:00 UTC)));
        let mut worst = BTreeMap::new();
        for window in [365, 4] {
            for minute in 0..30 * 1440 {
                let after = OffsetDateTime::from_unix_timestamp(first + minute * 60 + 7).unwrap();
                let now = after + time::Duration::days(window);
                let p = read_plan(after, now, &Grain::ALL);
                let days = p.ranges.iter().filter(|r| r.grain == Grain::Day).map(|r| r.buckets_by(s(now))).sum::<i64>();
                let w = worst.entry(window).or_insert((0, 0, 0));
                *w = (w.0.max(finer_buckets(&p)), w.1.max(days), w.2.max(p.buckets(now)));
                if minute % 97 != 0 {
                    continue;
                }
                let x = s(p.edge_until);
                for m in (Grain::Day.floor(x) - 86_400..x + 86_400).step_by(60) {
                    assert_eq!(weight(&p, m), i64::from(m >= x), "minute {m} of the plan for {after}: {p:?}");
                }
                for d in (Grain::Day.floor(x) - 31 * 86_400..s(now) + 86_400).step_by(86_400) {
                    let d = d + 86_399;
                    assert_eq!(weight(&p, d), i64::from(d >= x), "day of {d} in the plan for {after}: {p:?}");
                }
                if window == 365 {
                    let days_only = read_plan(after, now, &Grain::UP_TO_DAYS).buckets(now);
                    assert!(days_only >= 365, "{days_only}");
                }
            }
        }
        // At 365 days: at most 13 finer buckets (one more than with days alone, where it saves
        // a day), 15 days and 13 thirty-day buckets, 38 in all at the worst minute (11 finer, 14
        // days and 13 thirty-day buckets); at 4 days the plan reads what days alone would, or
        // fewer.
        assert_eq!(worst[&365], (MAX_BUCKETS + 1, MAX_DAYS, 38));
        assert_eq!(worst[&4], (MAX_BUCKETS + 1, 5, 16));
    }

    #[test]
    fn signed_rollups_net_by_reason_counter_by_counter() {
        let key = |start, reason: &str| RollupKey {
            grain: Grain::Hour,
            start,
            triage: TriageState::Open,
            reason: reason.into(),
        };
        let c = |pairs: &[(&str, i64)]| pairs.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect::<Counters>();
        let (a, b, t) = (key(0, "timeout"), key(3600, "timeout"), key(0, "rate_limited"));
        let (ca, cb, ct) = (c(&[("g", 5), ("o", 9)]), c(&[("g", 2), ("o", 3), ("a#1#g", 2)]), c(&[("g", 1)]));
        let net = net_by_reason([(&a, Sign::Add, &ca), (&b, Sign::Subtract, &cb), (&t, Sign::Add, &ct)]);
        assert_eq!(
            net,
            BTreeMap::from([
                ("rate_limited".to_owned(), c(&[("g", 1)])),
                ("timeout".to_owned(), c(&[("a#1#g", -2), ("g", 3), ("o", 6)])),
            ])
        );
    }
}
