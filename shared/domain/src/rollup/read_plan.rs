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
//! over `[x, ∞)`, which [`super::ready`] makes zero. Of the 16 choices the plan takes the one
//! with the fewest buckets, forward on ties: at most [`MAX_BUCKETS`] buckets of the finer grains
//! (counting the day before `x` it may start at), against 22 when every grain is read forward.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{Counters, Grain, RollupKey, GRAINS};

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
            Self::Subtract => -v,
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
}

/// How to add up every group whose last occurrence is after `after`: the groups of the edge,
/// `after < lastOccurredAt < edge_until`, one by one, and the signed rollups of `ranges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub after: OffsetDateTime,
    pub edge_until: OffsetDateTime,
    /// One per grain, finest first; the last (days) has no end and is added.
    pub ranges: [Range; GRAINS],
}

impl ReadPlan {
    /// Whether the edge can hold a group: times are stored to the millisecond.
    pub fn has_edge(&self) -> bool {
        self.edge_until - self.after > time::Duration::milliseconds(1)
    }

    /// The whole buckets of the finer grains, and the day the plan starts before `edge_until`
    /// when it takes the day grain backward: what the choice of directions minimizes.
    pub fn buckets(&self) -> i64 {
        let x = self.edge_until.unix_timestamp();
        let fine: i64 = self.ranges.iter().filter_map(Range::buckets).sum();
        let days = &self.ranges[GRAINS - 1];
        fine + (Grain::Day.ceil(x) - days.from) / Grain::Day.seconds()
    }
}

/// The most whole buckets of the finer grains, plus the extra day, that a plan takes (at the
/// worst minute of a day; see the test that sweeps every minute).
pub const MAX_BUCKETS: i64 = 12;

/// The plan for the groups whose last occurrence is after `after`.
pub fn read_plan(after: OffsetDateTime) -> ReadPlan {
    let x = Grain::Minute.floor(after.unix_timestamp()) + Grain::Minute.seconds();
    let edge_until = OffsetDateTime::from_unix_timestamp(x).unwrap_or(after);
    (0..1u8 << (GRAINS - 1))
        .map(|backward| ReadPlan { after, edge_until, ranges: ranges(x, backward) })
        .min_by_key(ReadPlan::buckets)
        .unwrap_or_else(|| ReadPlan { after, edge_until, ranges: ranges(x, 0) })
}

/// The ranges covering `[x, ∞)` with the finer grains whose bit is set in `backward` taken
/// backward.
fn ranges(x: i64, backward: u8) -> [Range; GRAINS] {
    let mut from = x;
    std::array::from_fn(|i| {
        let grain = Grain::ALL[i];
        let Some(coarser) = Grain::ALL.get(i + 1) else {
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
            *net.entry(name.clone()).or_default() += sign.apply(*v);
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

    #[test]
    fn the_plan_takes_each_grain_in_the_direction_with_fewer_buckets() {
        use Grain::*;
        use Sign::*;
        let p = read_plan(datetime!(2026-12-01 10:17:42.250 UTC));
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
        assert_eq!(p.buckets(), 8);
        // 30 s past midnight, the forward plan's worst (22 buckets): the day, less its first minute.
        let p = read_plan(datetime!(2026-12-01 00:00:30 UTC));
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
        assert_eq!(p.buckets(), 2);
        // After the last millisecond before midnight: no edge, only days.
        let p = read_plan(datetime!(2026-12-01 23:59:59.999 UTC));
        assert!(!p.has_edge());
        assert_eq!(p.buckets(), 0);
        assert_eq!(p.ranges[4], range(Day, datetime!(2026-12-02 00:00 UTC), None, Add));
        // Exactly on a minute: a group at that instant is not after it, so the minute is edge.
        let p = read_plan(datetime!(2026-12-01 10:00 UTC));
        assert_eq!(p.edge_until, datetime!(2026-12-01 10:01 UTC));
    }

    #[test]
    fn at_every_minute_of_a_day_the_plan_counts_each_minute_from_its_start_once_in_at_most_max_buckets() {
        let day = s(datetime!(2026-12-01 00:00 UTC));
        let mut worst = 0;
        for minute in 0..1440 {
            let after = OffsetDateTime::from_unix_timestamp(day + minute * 60 + 7).unwrap();
            let p = read_plan(after);
            let x = s(p.edge_until);
            for m in (day - 86_400..day + 3 * 86_400).step_by(60) {
                assert_eq!(weight(&p, m), i64::from(m >= x), "minute {m} of the plan for {after}: {p:?}");
            }
            let forward = ReadPlan { ranges: ranges(x, 0), ..p.clone() };
            assert!(p.buckets() <= forward.buckets(), "{after}");
            worst = worst.max(p.buckets());
        }
        assert_eq!(worst, MAX_BUCKETS);
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
