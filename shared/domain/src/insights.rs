//! The summary and the daily trend: aggregates over the groups that match a request's filters.
//!
//! Both are fed every matching group once by the DynamoDB adapter's read side and add up what the groups already hold (their counts, per-day
//! counts, sets), so their cost grows with the number of groups, never with the number of raw
//! events. The builders here are pure and tested here; the outputs are bounded whatever
//! the data (every breakdown that is not an enum has a cap, and `truncated` names the ones cut).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::OffsetDateTime;

use crate::classify::{acs_level, Level, Reason};
use crate::event::{Operation, Origin};
use crate::group::daily::day_key;
use crate::group::{GroupRecord, GroupState};
use crate::retention::RetentionDays;
use crate::rollup::{Counter, Counters, Measure};

/// Most entries of `byCluster` and `byAccount`.
pub const MAX_BREAKDOWN_KEYS: usize = 100;
/// Most accounts in the drill-down, registries per account, repositories per registry: about
/// 10,000 leaves at most. Narrow with `filter.account` or `filter.repository` to see the rest.
pub const MAX_DRILL_ACCOUNTS: usize = 50;
pub const MAX_DRILL_REGISTRIES: usize = 10;
pub const MAX_DRILL_REPOSITORIES: usize = 20;
/// Most bytes of repository names in the drill-down, all leaves together: a repository's name
/// may be 1 KiB, so its 10,000 leaves could answer about 10 MB, past Lambda's 6 MB response
/// (API Gateway's bare 500 to every viewer while such groups are kept). The leaves are taken in
/// the order they are shown (heaviest account first, then its heaviest registry, its heaviest
/// repositories): past the budget, the rest are left out (their registries shown with their
/// counts and no repositories) and `truncated` says so; the whole answer is well under 2 MiB.
pub const MAX_DRILL_REPOSITORY_BYTES: usize = 1 << 20;
/// Most regions per account in the drill-down (AWS has fewer than 40).
pub const MAX_DRILL_REGIONS: usize = 40;

/// Groups and their occurrences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub groups: u64,
    pub occurrences: u64,
}

impl Tally {
    fn add(&mut self, occurrences: u64) {
        self.groups += 1;
        self.occurrences = self.occurrences.saturating_add(occurrences);
    }

    /// Adds one figure of a rollup (a negative value, never written by a consistent fold, adds
    /// nothing).
    fn add_figure(&mut self, m: Measure, v: i64) {
        let v = u64::try_from(v).unwrap_or(0);
        match m {
            Measure::Groups => self.groups = self.groups.saturating_add(v),
            Measure::Occurrences => self.occurrences = self.occurrences.saturating_add(v),
        }
    }
}

/// Groups only: a group remembers its clusters, not how often it failed on each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GroupTally {
    pub groups: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageTally {
    pub resource_name: String,
    pub groups: u64,
    pub occurrences: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryNode {
    pub repository: String,
    pub groups: u64,
    pub occurrences: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryNode {
    pub registry: String,
    pub groups: u64,
    pub occurrences: u64,
    pub repositories: Vec<RepositoryNode>,
}

/// One region of an account: the groups whose latest occurrence was reported from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionNode {
    pub region: String,
    pub groups: u64,
    pub occurrences: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountNode {
    pub account: String,
    pub groups: u64,
    pub occurrences: u64,
    /// The account's regions, most occurrences first (at most [`MAX_DRILL_REGIONS`]).
    pub regions: Vec<RegionNode>,
    pub registries: Vec<RegistryNode>,
}

/// The answer of `GET /v1/administration/events/summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub totals: Tally,
    /// Reason code → groups and occurrences.
    pub by_reason: BTreeMap<String, Tally>,
    /// ACS level name → groups and occurrences.
    pub by_level: BTreeMap<String, Tally>,
    /// Operation → groups with at least one occurrence of it, and its occurrences.
    pub by_operation: BTreeMap<String, Tally>,
    /// Origin → the same.
    pub by_origin: BTreeMap<String, Tally>,
    /// Cluster → groups that remember it (at most [`MAX_BREAKDOWN_KEYS`], most groups first).
    pub by_cluster: BTreeMap<String, GroupTally>,
    /// Account of the latest occurrence → groups and occurrences (at most
    /// [`MAX_BREAKDOWN_KEYS`], most occurrences first).
    pub by_account: BTreeMap<String, Tally>,
    /// Region of the latest occurrence → groups and occurrences (at most
    /// [`MAX_BREAKDOWN_KEYS`], most occurrences first).
    pub by_region: BTreeMap<String, Tally>,
    /// The images with the most occurrences, most first.
    pub top_images: Vec<ImageTally>,
    /// Account → region, and account → registry → repository, most occurrences first at each
    /// level.
    pub accounts: Vec<AccountNode>,
    /// The breakdowns cut by their cap: `byCluster`, `byAccount`, `byRegion`, `accounts`,
    /// `accounts.regions`, `accounts.registries`, `accounts.registries.repositories`.
    pub truncated: Vec<&'static str>,
    /// The breakdowns left empty because the answer comes from the maintained rollups, which
    /// do not keep them ([`NOT_MAINTAINED`]); absent when every group was read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<&'static str>,
}

/// The breakdowns the rollups do not keep (see [`crate::rollup`]): a summary answered from them
/// leaves these empty and names them in `omitted`.
pub const NOT_MAINTAINED: [&str; 3] = ["byCluster", "topImages", "accounts"];

impl Summary {
    /// This summary without the breakdowns the rollups do not keep, which it names in
    /// `omitted`: what a summary answered from the rollups holds.
    pub fn maintained_only(mut self) -> Self {
        self.by_cluster.clear();
        self.top_images.clear();
        self.accounts.clear();
        self.truncated.retain(|t| !NOT_MAINTAINED.iter().any(|n| t == n || t.starts_with("accounts.")));
        self.omitted = NOT_MAINTAINED.to_vec();
        self
    }
}

/// Repository → tally.
type Repositories = HashMap<String, Tally>;
/// Registry → tally and repositories.
type Registries = HashMap<String, (Tally, Repositories)>;

/// One account of the drill-down.
#[derive(Debug, Default)]
struct AccountDrill {
    tally: Tally,
    regions: HashMap<String, Tally>,
    registries: Registries,
}

/// Accumulates a [`Summary`] one group at a time.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    totals: Tally,
    by_reason: BTreeMap<String, Tally>,
    by_level: BTreeMap<String, Tally>,
    by_operation: BTreeMap<String, Tally>,
    by_origin: BTreeMap<String, Tally>,
    by_cluster: HashMap<String, u64>,
    by_account: HashMap<String, Tally>,
    by_region: HashMap<String, Tally>,
    images: HashMap<String, Tally>,
    drill: HashMap<String, AccountDrill>,
}

/// Most occurrences first, then most groups, then by key.
fn by_weight<'a>(a: (&'a String, &'a Tally), b: (&'a String, &'a Tally)) -> std::cmp::Ordering {
    b.1.occurrences.cmp(&a.1.occurrences).then(b.1.groups.cmp(&a.1.groups)).then_with(|| a.0.cmp(b.0))
}

/// The `cap` heaviest entries of `map`, heaviest first, and whether some were left out.
fn heaviest<V>(map: &HashMap<String, V>, cap: usize, tally: impl Fn(&V) -> Tally) -> (Vec<(&String, &V)>, bool) {
    let mut entries: Vec<(&String, &V)> = map.iter().collect();
    entries.sort_by(|a, b| by_weight((a.0, &tally(a.1)), (b.0, &tally(b.1))));
    let cut = entries.len() > cap;
    entries.truncate(cap);
    (entries, cut)
}

// The keys of the breakdowns by reason, level, operation and origin are read from stored items
// (the groups, or the rollups folded from them), which another writer could have filled with
// any number of made-up keys: each is taken as the event view takes it, so these breakdowns
// have at most the enums' keys. Before, every stored key was kept, and a table of made-up
// operation keys made an answer past Lambda's 6 MB limit (API Gateway's bare 500).

/// The name an operation key (`image_scan`) is shown by (`image scan`); `None` for a key no
/// operation has, which is left out, as the event view leaves it out.
fn operation_name(key: &str) -> Option<String> {
    Operation::ALL.into_iter().find(|o| o.key() == key).map(|o| o.as_str().to_owned())
}

/// The name an origin key is shown by; `None` for a key no origin has (left out).
fn origin_name(key: &str) -> Option<String> {
    Origin::parse(key).map(|o| o.as_str().to_owned())
}

/// The reason a stored code is counted under: itself, or `UNKNOWN` for a code no reason has,
/// as the event view's title and hint show it (`filter.reason` compares stored codes: see
/// docs/src/api.md).
fn reason_key(code: &str) -> String {
    Reason::from_code(code).unwrap_or(Reason::Unknown).code().to_owned()
}

/// The ACS name a stored level is counted under; `None` for a level that is neither `ERROR`
/// nor `WARNING` (left out).
fn level_name(stored: &str) -> Option<String> {
    [Level::Error, Level::Warning].into_iter().find(|l| l.as_str() == stored).map(|l| acs_level(l.as_str()))
}

/// Adds one figure of a rollup to a breakdown; a zero adds no entry, as adding the groups one
/// by one adds none.
fn add_measure<K: Ord>(map: &mut BTreeMap<K, Tally>, key: K, m: Measure, v: i64) {
    if v > 0 {
        map.entry(key).or_default().add_figure(m, v);
    }
}

/// [`add_measure`] for the breakdowns kept in a `HashMap` until their cap is applied.
fn add_hashed(map: &mut HashMap<String, Tally>, key: String, m: Measure, v: i64) {
    if v > 0 {
        map.entry(key).or_default().add_figure(m, v);
    }
}

impl SummaryBuilder {
    /// Adds one rollup of `reason`'s groups (its summed [`Counters`]): the same figures as
    /// adding each of its groups, for every breakdown but [`NOT_MAINTAINED`].
    pub fn add_counters(&mut self, reason: &str, counters: &Counters) {
        for (name, v) in counters {
            let Some(counter) = Counter::parse(name) else { continue };
            match counter {
                Counter::Total(m) => {
                    add_measure(&mut self.by_reason, reason_key(reason), m, *v);
                    self.totals.add_figure(m, *v);
                }
                Counter::Level(k, m) => {
                    level_name(&k).into_iter().for_each(|l| add_measure(&mut self.by_level, l, m, *v))
                }
                Counter::Operation(k, m) => {
                    operation_name(&k).into_iter().for_each(|o| add_measure(&mut self.by_operation, o, m, *v))
                }
                Counter::Origin(k, m) => {
                    origin_name(&k).into_iter().for_each(|o| add_measure(&mut self.by_origin, o, m, *v))
                }
                Counter::Account(k, m) => add_hashed(&mut self.by_account, k, m, *v),
                Counter::Region(k, m) => add_hashed(&mut self.by_region, k, m, *v),
                Counter::Day(_) | Counter::New(_) => {}
            }
        }
    }

    pub fn add(&mut self, g: &GroupRecord) {
        let n = g.num_occurrences;
        self.totals.add(n);
        self.by_reason.entry(reason_key(&g.reason)).or_default().add(n);
        if let Some(level) = level_name(&g.level) {
            self.by_level.entry(level).or_default().add(n);
        }
        for (key, count) in g.op_counts.iter().filter(|(_, c)| **c > 0) {
            if let Some(operation) = operation_name(key) {
                self.by_operation.entry(operation).or_default().add(*count);
            }
        }
        for (key, count) in g.origin_counts.iter().filter(|(_, c)| **c > 0) {
            if let Some(origin) = origin_name(key) {
                self.by_origin.entry(origin).or_default().add(*count);
            }
        }
        for cluster in g.clusters.keys() {
            *self.by_cluster.entry(cluster.clone()).or_default() += 1;
        }
        self.by_account.entry(g.account.clone()).or_default().add(n);
        self.by_region.entry(g.region.clone()).or_default().add(n);
        self.images.entry(g.resource_name.clone()).or_default().add(n);
        let account = self.drill.entry(g.account.clone()).or_default();
        account.tally.add(n);
        account.regions.entry(g.region.clone()).or_default().add(n);
        let (registry, repositories) = account.registries.entry(g.registry.clone()).or_default();
        registry.add(n);
        repositories.entry(g.repository.clone()).or_default().add(n);
    }

    /// The summary with the `top` images.
    pub fn finish(self, top: usize) -> Summary {
        let mut truncated = Vec::new();
        let cluster_tallies: HashMap<String, Tally> =
            self.by_cluster.iter().map(|(k, g)| (k.clone(), Tally { groups: *g, occurrences: 0 })).collect();
        let (clusters, cut) = heaviest(&cluster_tallies, MAX_BREAKDOWN_KEYS, |t| *t);
        if cut {
            truncated.push("byCluster");
        }
        let by_cluster = clusters.into_iter().map(|(k, t)| (k.clone(), GroupTally { groups: t.groups })).collect();
        let (accounts, cut) = heaviest(&self.by_account, MAX_BREAKDOWN_KEYS, |t| *t);
        if cut {
            truncated.push("byAccount");
        }
        let by_account = accounts.into_iter().map(|(k, t)| (k.clone(), *t)).collect();
        let (regions, cut) = heaviest(&self.by_region, MAX_BREAKDOWN_KEYS, |t| *t);
        if cut {
            truncated.push("byRegion");
        }
        let by_region = regions.into_iter().map(|(k, t)| (k.clone(), *t)).collect();
        let (images, _) = heaviest(&self.images, top, |t| *t);
        let top_images = images
            .into_iter()
            .map(|(name, t)| ImageTally { resource_name: name.clone(), groups: t.groups, occurrences: t.occurrences })
            .collect();

        let (mut cut_regions, mut cut_registries, mut cut_repositories) = (false, false, false);
        // Heaviest accounts, registries and repositories first: the leaves past the budget are
        // the lightest of their registries, in the lightest registries and accounts.
        let mut repository_bytes = MAX_DRILL_REPOSITORY_BYTES;
        let (drill, cut_accounts) = heaviest(&self.drill, MAX_DRILL_ACCOUNTS, |a| a.tally);
        let accounts = drill
            .into_iter()
            .map(|(account, a)| {
                let (regions, cut) = heaviest(&a.regions, MAX_DRILL_REGIONS, |t| *t);
                cut_regions |= cut;
                let (registries, cut) = heaviest(&a.registries, MAX_DRILL_REGISTRIES, |(t, _)| *t);
                cut_registries |= cut;
                AccountNode {
                    account: account.clone(),
                    groups: a.tally.groups,
                    occurrences: a.tally.occurrences,
                    regions: regions
                        .into_iter()
                        .map(|(region, t)| RegionNode {
                            region: region.clone(),
                            groups: t.groups,
                            occurrences: t.occurrences,
                        })
                        .collect(),
                    registries: registries
                        .into_iter()
                        .map(|(registry, (t, repositories))| {
                            let (mut repositories, cut) = heaviest(repositories, MAX_DRILL_REPOSITORIES, |t| *t);
                            let fit = repositories
                                .iter()
                                .take_while(|(name, _)| match repository_bytes.checked_sub(name.len()) {
                                    Some(left) => {
                                        repository_bytes = left;
                                        true
                                    }
                                    None => {
                                        repository_bytes = 0;
                                        false
                                    }
                                })
                                .count();
                            cut_repositories |= cut || fit < repositories.len();
                            repositories.truncate(fit);
                            RegistryNode {
                                registry: registry.clone(),
                                groups: t.groups,
                                occurrences: t.occurrences,
                                repositories: repositories
                                    .into_iter()
                                    .map(|(repository, t)| RepositoryNode {
                                        repository: repository.clone(),
                                        groups: t.groups,
                                        occurrences: t.occurrences,
                                    })
                                    .collect(),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        for (cut, name) in [
            (cut_accounts, "accounts"),
            (cut_regions, "accounts.regions"),
            (cut_registries, "accounts.registries"),
            (cut_repositories, "accounts.registries.repositories"),
        ] {
            if cut {
                truncated.push(name);
            }
        }
        Summary {
            totals: self.totals,
            by_reason: self.by_reason,
            by_level: self.by_level,
            by_operation: self.by_operation,
            by_origin: self.by_origin,
            by_cluster,
            by_account,
            by_region,
            top_images,
            accounts,
            truncated,
            omitted: Vec::new(),
        }
    }
}

/// Occurrences and groups first seen, of one day (or of the whole window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayTally {
    pub occurrences: u64,
    pub new_groups: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendDay {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub occurrences: u64,
    pub new_groups: u64,
    /// Reason code → that day's figures; reasons with neither are left out.
    pub by_reason: BTreeMap<String, DayTally>,
}

/// The answer of `GET /v1/administration/events/trend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trend {
    pub days: u32,
    /// First and last day of the window (the last is today, UTC).
    pub from: String,
    pub until: String,
    /// The first day whose figures are complete: groups whose last occurrence is older than
    /// the retention are gone, and with them their earlier days.
    pub complete_from: String,
    pub totals: DayTally,
    /// One entry per day, oldest first, days without failures included.
    pub series: Vec<TrendDay>,
}

/// Accumulates a [`Trend`] one group at a time.
#[derive(Debug)]
pub struct TrendBuilder {
    index: HashMap<String, usize>,
    series: Vec<TrendDay>,
    complete_from: String,
}

impl TrendBuilder {
    /// The last `days` UTC days up to `now`'s, under `retention`.
    pub fn new(days: u32, now: OffsetDateTime, retention: RetentionDays) -> Self {
        let today = now.date();
        let series: Vec<TrendDay> = (0..i64::from(days.max(1)))
            .rev()
            .map(|back| TrendDay {
                date: day_key((today - time::Duration::days(back)).midnight().assume_utc()),
                occurrences: 0,
                new_groups: 0,
                by_reason: BTreeMap::new(),
            })
            .collect();
        let index = series.iter().enumerate().map(|(i, d)| (d.date.clone(), i)).collect();
        // A group is kept while its last occurrence is after the cut-off, strictly: one last
        // seen at the cut-off itself is gone, so even a cut-off at midnight leaves its day short.
        let oldest_kept = now - retention.duration();
        let first_whole = oldest_kept.date().next_day().unwrap_or(oldest_kept.date());
        let complete_from = day_key(first_whole.midnight().assume_utc());
        Self { index, series, complete_from }
    }

    /// The start of the window: groups whose last occurrence is earlier have nothing in it.
    pub fn window_start(&self, now: OffsetDateTime) -> OffsetDateTime {
        let days = self.series.len() as i64;
        (now.date() - time::Duration::days(days - 1)).midnight().assume_utc()
    }

    pub fn add(&mut self, g: &GroupRecord, state: &GroupState) {
        for (day, n) in &state.daily {
            if let Some(&i) = self.index.get(day) {
                let d = &mut self.series[i];
                d.occurrences = d.occurrences.saturating_add(*n);
                let by_reason = d.by_reason.entry(reason_key(&g.reason)).or_default();
                by_reason.occurrences = by_reason.occurrences.saturating_add(*n);
            }
        }
        if let Some(&i) = g.created_at.get(..10).and_then(|d| self.index.get(d)) {
            self.series[i].new_groups += 1;
            self.series[i].by_reason.entry(reason_key(&g.reason)).or_default().new_groups += 1;
        }
    }

    /// Adds one rollup of `reason`'s groups: the same figures as adding each of its groups.
    pub fn add_counters(&mut self, reason: &str, counters: &Counters) {
        for (name, v) in counters {
            let (day, new) = match Counter::parse(name) {
                Some(Counter::Day(day)) => (day, false),
                Some(Counter::New(day)) => (day, true),
                _ => continue,
            };
            let Some(&i) = self.index.get(&day) else { continue };
            if *v <= 0 {
                continue;
            }
            let (n, d) = (u64::try_from(*v).unwrap_or(0), &mut self.series[i]);
            let by_reason = d.by_reason.entry(reason_key(reason)).or_default();
            if new {
                d.new_groups = d.new_groups.saturating_add(n);
                by_reason.new_groups = by_reason.new_groups.saturating_add(n);
            } else {
                d.occurrences = d.occurrences.saturating_add(n);
                by_reason.occurrences = by_reason.occurrences.saturating_add(n);
            }
        }
    }

    pub fn finish(self) -> Trend {
        let totals = self.series.iter().fold(DayTally::default(), |t, d| DayTally {
            occurrences: t.occurrences.saturating_add(d.occurrences),
            new_groups: t.new_groups.saturating_add(d.new_groups),
        });
        let from = self.series.first().map(|d| d.date.clone()).unwrap_or_default();
        let until = self.series.last().map(|d| d.date.clone()).unwrap_or_default();
        let complete_from = self.complete_from.max(from.clone());
        Trend { days: self.series.len() as u32, from, until, complete_from, totals, series: self.series }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn group(n: usize, account: &str, image: &str, reason: &str, count: u64) -> GroupRecord {
        let image_ref = crate::image::ImageRef::parse(image).unwrap();
        GroupRecord {
            id: format!("g{n}"),
            domain: "Image Scanning".into(),
            resource_type: "Image".into(),
            resource_name: image_ref.normalized(),
            resource_id: None,
            repository: image_ref.repository(),
            registry: image_ref.registry.clone(),
            reason: reason.into(),
            level: if reason == "TIMEOUT" { "WARNING".into() } else { "ERROR".into() },
            message: String::new(),
            num_occurrences: count,
            created_at: "2026-11-23T10:00:00.000Z".into(),
            last_occurred_at: "2026-11-25T10:00:00.000Z".into(),
            expires_at: 0,
            account: account.into(),
            region: "eu-west-1".into(),
            source: "s".into(),
            op_counts: HashMap::from([("image_scan".into(), count - 1), ("image_check".into(), 1)]),
            origin_counts: HashMap::from([("api".into(), count)]),
            clusters: HashMap::from([(format!("c{}", n % 2), String::new())]),
            deployments: HashMap::new(),
            initiators: HashMap::new(),
            user_agents: HashMap::new(),
        }
    }

    #[test]
    fn the_summary_adds_up_groups_and_occurrences_per_dimension() {
        let mut b = SummaryBuilder::default();
        let groups = [
            group(0, "111111111111", "quay.io/a/web:1", "TIMEOUT", 5),
            group(1, "111111111111", "quay.io/a/web:1", "IMAGE_NOT_FOUND", 2),
            group(2, "111111111111", "ghcr.io/b/db:2", "TIMEOUT", 1),
            group(3, "222222222222", "quay.io/a/api:1", "TIMEOUT", 10),
        ];
        let mut groups = groups;
        groups[3].region = "us-east-2".into();
        for g in &groups {
            b.add(g);
        }
        let s = b.finish(2);
        assert_eq!(s.totals, Tally { groups: 4, occurrences: 18 });
        assert_eq!(
            s.by_reason,
            BTreeMap::from([
                ("IMAGE_NOT_FOUND".into(), Tally { groups: 1, occurrences: 2 }),
                ("TIMEOUT".into(), Tally { groups: 3, occurrences: 16 })
            ])
        );
        assert_eq!(s.by_level["ADMINISTRATION_EVENT_LEVEL_WARNING"], Tally { groups: 3, occurrences: 16 });
        // The group of 1 occurrence has no "image scan" occurrence (0 is not counted).
        assert_eq!(s.by_operation["image scan"], Tally { groups: 3, occurrences: 14 });
        assert_eq!(s.by_operation["image check"], Tally { groups: 4, occurrences: 4 });
        assert_eq!(s.by_origin["api"], Tally { groups: 4, occurrences: 18 });
        assert_eq!(
            s.by_cluster,
            BTreeMap::from([("c0".into(), GroupTally { groups: 2 }), ("c1".into(), GroupTally { groups: 2 })])
        );
        assert_eq!(s.by_account["111111111111"], Tally { groups: 3, occurrences: 8 });
        assert_eq!(
            s.by_region,
            BTreeMap::from([
                ("eu-west-1".into(), Tally { groups: 3, occurrences: 8 }),
                ("us-east-2".into(), Tally { groups: 1, occurrences: 10 })
            ])
        );
        assert_eq!(s.accounts[0].regions, [RegionNode { region: "us-east-2".into(), groups: 1, occurrences: 10 }]);
        assert_eq!(
            s.top_images,
            [
                ImageTally { resource_name: "quay.io/a/api:1".into(), groups: 1, occurrences: 10 },
                ImageTally { resource_name: "quay.io/a/web:1".into(), groups: 2, occurrences: 7 },
            ]
        );
        assert_eq!(s.accounts[0].account, "222222222222");
        assert_eq!(
            s.accounts[1],
            AccountNode {
                account: "111111111111".into(),
                groups: 3,
                occurrences: 8,
                regions: vec![RegionNode { region: "eu-west-1".into(), groups: 3, occurrences: 8 }],
                registries: vec![
                    RegistryNode {
                        registry: "quay.io".into(),
                        groups: 2,
                        occurrences: 7,
                        repositories: vec![RepositoryNode {
                            repository: "quay.io/a/web".into(),
                            groups: 2,
                            occurrences: 7
                        }],
                    },
                    RegistryNode {
                        registry: "ghcr.io".into(),
                        groups: 1,
                        occurrences: 1,
                        repositories: vec![RepositoryNode {
                            repository: "ghcr.io/b/db".into(),
                            groups: 1,
                            occurrences: 1
                        }],
                    },
                ],
            }
        );
        assert_eq!(s.truncated, Vec::<&str>::new());
    }

    #[test]
    fn every_open_ended_breakdown_is_capped_and_reported_cut() {
        let mut b = SummaryBuilder::default();
        for n in 0..120 {
            let mut g = group(n, &format!("{:012}", n % 60), &format!("quay.io/r{}/i:1", n % 25), "TIMEOUT", 3);
            g.registry = format!("reg{}.io", n % 12);
            g.clusters = HashMap::from([(format!("cl{n}"), String::new())]);
            b.add(&g);
        }
        let s = b.finish(100);
        assert_eq!(s.by_cluster.len(), 100);
        assert_eq!(s.by_account.len(), 60);
        assert_eq!(s.top_images.len(), 25);
        assert_eq!(s.accounts.len(), 50);
        assert!(s.accounts.iter().all(|a| a.registries.len() <= 10));
        assert_eq!(s.truncated, ["byCluster", "accounts"]);
    }

    /// Repository names of 1 KiB in every leaf of the drill-down answered about 10 MB, past
    /// Lambda's 6 MB response.
    #[test]
    fn the_drill_down_keeps_its_heaviest_repositories_within_its_byte_budget() {
        let mut b = SummaryBuilder::default();
        let long = |n: usize| format!("{n:04}{}", "r".repeat(1020));
        for n in 0..(MAX_DRILL_ACCOUNTS * MAX_DRILL_REGISTRIES * MAX_DRILL_REPOSITORIES) {
            let mut g = group(n, &format!("{:012}", n % MAX_DRILL_ACCOUNTS), "nginx", "TIMEOUT", 2);
            g.registry = format!("reg{}.io", (n / MAX_DRILL_ACCOUNTS) % MAX_DRILL_REGISTRIES);
            g.repository = long(n);
            // The first accounts are the heaviest.
            g.num_occurrences = 1_000_000 - n as u64;
            b.add(&g);
        }
        let s = b.finish(10);
        let leaves: Vec<&str> = s
            .accounts
            .iter()
            .flat_map(|a| a.registries.iter().flat_map(|r| r.repositories.iter().map(|p| p.repository.as_str())))
            .collect();
        // 1 MiB of 1,024-byte names, and not one more.
        assert_eq!(leaves.len(), MAX_DRILL_REPOSITORY_BYTES / 1024);
        assert_eq!(leaves.iter().map(|l| l.len()).sum::<usize>(), MAX_DRILL_REPOSITORY_BYTES);
        assert_eq!(s.truncated, ["accounts.registries.repositories"]);
        // The heaviest account's leaves are all there.
        assert_eq!(s.accounts[0].account, "000000000000");
        assert_eq!(s.accounts[0].registries.iter().map(|r| r.repositories.len()).sum::<usize>(), 200);
        // Whole, it answers within the budget and its structure.
        let bytes = serde_json::to_string(&s).unwrap().len();
        assert!(bytes < 2 << 20, "{bytes}");
        // Within the budget, nothing is cut.
        let mut b = SummaryBuilder::default();
        for n in 0..50 {
            let mut g = group(n, "111111111111", "nginx", "TIMEOUT", 2);
            g.repository = long(n);
            b.add(&g);
        }
        let s = b.finish(10);
        assert_eq!(s.accounts[0].registries[0].repositories.len(), 20);
        assert_eq!(s.truncated, ["accounts.registries.repositories"], "cut by the count, as before");
    }

    #[test]
    fn the_trend_sums_per_day_counts_and_new_groups_inside_the_window() {
        let now = datetime!(2026-11-25 12:00 UTC);
        let mut b = TrendBuilder::new(3, now, RetentionDays::new(2).unwrap());
        assert_eq!(b.window_start(now), datetime!(2026-11-23 00:00 UTC));
        let mut g = group(0, "111111111111", "nginx", "TIMEOUT", 9);
        g.created_at = "2026-11-22T23:00:00.000Z".into();
        let state = GroupState {
            daily: BTreeMap::from([("2026-11-22".into(), 4), ("2026-11-23".into(), 2), ("2026-11-25".into(), 3)]),
            ..GroupState::default()
        };
        b.add(&g, &state);
        let mut h = group(1, "111111111111", "nginx", "IMAGE_NOT_FOUND", 1);
        h.created_at = "2026-11-25T01:00:00.000Z".into();
        b.add(&h, &GroupState { daily: BTreeMap::from([("2026-11-25".into(), 1)]), ..GroupState::default() });
        let t = b.finish();
        assert_eq!(
            (t.from.as_str(), t.until.as_str(), t.complete_from.as_str()),
            ("2026-11-23", "2026-11-25", "2026-11-24")
        );
        assert_eq!(t.totals, DayTally { occurrences: 6, new_groups: 1 });
        let days: Vec<(&str, u64, u64)> =
            t.series.iter().map(|d| (d.date.as_str(), d.occurrences, d.new_groups)).collect();
        assert_eq!(days, [("2026-11-23", 2, 0), ("2026-11-24", 0, 0), ("2026-11-25", 4, 1)]);
        assert_eq!(
            t.series[2].by_reason,
            BTreeMap::from([
                ("IMAGE_NOT_FOUND".into(), DayTally { occurrences: 1, new_groups: 1 }),
                ("TIMEOUT".into(), DayTally { occurrences: 3, new_groups: 0 })
            ])
        );
        assert_eq!(t.series[1].by_reason, BTreeMap::new());
    }

    #[test]
    fn the_complete_days_start_at_the_first_whole_day_inside_the_retention() {
        let at = |now: OffsetDateTime, days: u16| {
            TrendBuilder::new(7, now, RetentionDays::new(days).unwrap()).finish().complete_from
        };
        assert_eq!(at(datetime!(2026-11-25 12:00 UTC), 4), "2026-11-22");
        // At midnight too: a group last seen at the cut-off itself (2026-11-21 00:00) is gone.
        assert_eq!(at(datetime!(2026-11-25 00:00 UTC), 4), "2026-11-22");
        assert_eq!(at(datetime!(2026-11-25 12:00 UTC), 30), "2026-11-19");
    }

    #[test]
    fn adding_the_rollups_of_groups_answers_what_adding_the_groups_does_for_every_maintained_breakdown() {
        use crate::rollup::{contribution, Fold};
        let now = datetime!(2026-11-25 12:00 UTC);
        let mut groups = Vec::new();
        for n in 0..40usize {
            let reason = ["TIMEOUT", "IMAGE_NOT_FOUND", "RATE_LIMITED"][n % 3];
            let mut g = group(
                n,
                ["111111111111", "222222222222"][n % 2],
                &format!("quay.io/a/s{}:1", n % 7),
                reason,
                1 + n as u64 % 5,
            );
            g.region = ["eu-west-1", "us-east-1", "ap-south-1"][n % 3].into();
            g.level = ["ERROR", "WARNING"][n % 2].into();
            g.created_at = format!("2026-11-{:02}T10:00:00.000Z", 18 + n % 8);
            g.origin_counts = HashMap::from([("roxctl".into(), n as u64 % 2), ("api".into(), 1)]);
            let s = GroupState {
                daily: (0..(n % 4) as i64)
                    .map(|b| (day_key(now - time::Duration::days(b + (n % 3) as i64)), 1 + b as u64))
                    .collect(),
                ..GroupState::default()
            };
            groups.push((g, s));
        }
        let (mut by_group, mut by_rollup) = (SummaryBuilder::default(), SummaryBuilder::default());
        let (mut trend_group, mut trend_rollup) = (
            TrendBuilder::new(7, now, RetentionDays::new(4).unwrap()),
            TrendBuilder::new(7, now, RetentionDays::new(4).unwrap()),
        );
        let mut fold = Fold::default();
        for (g, s) in &groups {
            by_group.add(g);
            trend_group.add(g, s);
            fold.change(None, Some((g, s))).unwrap();
            assert!(!contribution(g, s).is_empty());
        }
        // Each group is in one rollup per grain: adding the day rollups adds every group once.
        for (key, counters) in fold.deltas.iter().filter(|(k, _)| k.grain == crate::rollup::Grain::Day) {
            by_rollup.add_counters(&key.reason, counters);
            trend_rollup.add_counters(&key.reason, counters);
        }
        let expected = by_group.finish(5).maintained_only();
        assert_eq!(by_rollup.finish(5).maintained_only(), expected);
        assert_eq!(expected.totals.groups, 40);
        assert_eq!(expected.omitted, ["byCluster", "topImages", "accounts"]);
        assert!(expected.top_images.is_empty() && expected.accounts.is_empty() && expected.by_cluster.is_empty());
        assert_eq!(trend_rollup.finish(), trend_group.finish());
    }

    /// Keys another writer made up in stored items (a reason, a level, operation and origin
    /// keys) give the breakdowns no keys of their own, read group by group or from the
    /// rollups: a made-up reason counts as `UNKNOWN`, the rest is left out. Before, each
    /// made-up key was a key of the answer, without bound.
    #[test]
    fn made_up_stored_keys_add_no_keys_to_the_breakdowns_by_either_path() {
        use crate::rollup::{Fold, Grain};
        let now = datetime!(2026-11-25 12:00 UTC);
        let mut g = group(0, "111111111111", "quay.io/a/web:1", "MADE_UP", 3);
        g.level = "LOUD".into();
        g.op_counts = HashMap::from([("image_scan".into(), 2), ("made_up_op".into(), 1)]);
        g.origin_counts = HashMap::from([("api".into(), 2), ("nowhere".into(), 1)]);
        let s = GroupState { daily: BTreeMap::from([(day_key(now), 3)]), ..GroupState::default() };
        let (mut by_group, mut by_rollup) = (SummaryBuilder::default(), SummaryBuilder::default());
        let mut trend = TrendBuilder::new(7, now, RetentionDays::new(4).unwrap());
        by_group.add(&g);
        trend.add(&g, &s);
        let mut fold = Fold::default();
        fold.change(None, Some((&g, &s))).unwrap();
        for (key, counters) in fold.deltas.iter().filter(|(k, _)| k.grain == Grain::Day) {
            by_rollup.add_counters(&key.reason, counters);
        }
        let tally = |groups, occurrences| Tally { groups, occurrences };
        for summary in [by_group.finish(5).maintained_only(), by_rollup.finish(5).maintained_only()] {
            assert_eq!(summary.by_reason, BTreeMap::from([("UNKNOWN".to_owned(), tally(1, 3))]));
            assert_eq!(summary.by_level, BTreeMap::new());
            assert_eq!(summary.by_operation, BTreeMap::from([("image scan".to_owned(), tally(1, 2))]));
            assert_eq!(summary.by_origin, BTreeMap::from([("api".to_owned(), tally(1, 2))]));
        }
        let series = trend.finish().series;
        let today = series.last().unwrap();
        assert_eq!(today.by_reason.keys().collect::<Vec<_>>(), ["UNKNOWN"]);
    }
}
