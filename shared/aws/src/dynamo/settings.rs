//! Live configuration kept in the table: the retention (`pk = "config#retention"`), and the
//! progress of the job that re-stamps the TTL of existing groups when it changes
//! (`pk = "config#restamp"`). Neither item has an index key, so neither appears in any index.
//!
//! Who sees a change when:
//! - the api reads the setting on every request, cached at most [`scan_failures_domain::retention::API_CACHE`] (1 s) per
//!   instance, and applies it to reads at once: visibility follows `lastOccurredAt` and the
//!   current retention, not the stored TTL (see `query::is_visible`);
//! - the ingest function caches it [`scan_failures_domain::retention::INGEST_CACHE`] (60 s) per instance, so for up to 60 s after
//!   a change an instance may still stamp new occurrences with the previous retention (up to
//!   [`scan_failures_domain::retention::INGEST_CACHE_ON_FAILURE`], 120 s, when the setting cannot be read again); it reads
//!   the setting again before refusing an occurrence as expired or starting an expired group anew;
//! - the re-stamp job waits until that age and then the longest ingest invocation have passed
//!   since the change (`retention::settled`: so no ingest instance still stamps the old
//!   retention), then sets `expiresAt = lastOccurredAt + retention` on every group, a bounded
//!   number per run, recording where it is.
//!
//! Without a stored setting, `RETENTION_DAYS` applies.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use time::OffsetDateTime;

use scan_failures_domain::retention::{self, RetentionDays, RetentionSetting};
use scan_failures_domain::time_fmt;

use crate::cached::Cached;
use crate::dynamo::item::Item;
use crate::dynamo::schema::{PARTITION_KEY, TTL_ATTRIBUTE};
use crate::dynamo::{applied, Store, StoreError};

/// `stop_at` (none: no deadline) is still ahead.
fn before(stop_at: Option<std::time::Instant>) -> bool {
    stop_at.is_none_or(|s| std::time::Instant::now() < s)
}

/// The item holding the retention setting.
pub const RETENTION_KEY: &str = "config#retention";
/// The item holding the re-stamp job's progress.
pub const RESTAMP_KEY: &str = "config#restamp";
/// Groups read per `Query` page by the re-stamp job.
const RESTAMP_PAGE: u32 = 500;

/// The DynamoDB operations of the re-stamp job (see `write::actions`): `Query` on the `byTime`
/// index, `GetItem`/`PutItem` of its progress and the setting, `UpdateItem` of each group.
pub mod actions {
    pub const RESTAMP: &[&str] = &["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"];
}

/// Progress of the re-stamp job towards one target retention, for one change of the setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestampProgress {
    pub target_retention_days: u16,
    /// The `updatedAt` of the setting this job applies (empty: `RETENTION_DAYS`, none stored).
    /// Every change of the setting is a new job, even one back to the days of a finished job:
    /// ingest may have stamped the days in between on new groups.
    #[serde(skip)]
    pub generation: String,
    /// Groups read so far.
    pub examined: u64,
    /// Groups whose TTL was changed so far.
    pub restamped: u64,
    /// Every group has been visited.
    pub finished: bool,
    pub started_at: String,
    pub updated_at: String,
    /// Where the next run continues (the `byTime` index key of the last group read).
    #[serde(skip)]
    pub cursor: Option<Item>,
    /// What the run that returned this progress did (not stored: each run starts at zero).
    #[serde(skip)]
    pub this_run: RunCounts,
}

/// Groups one re-stamp run read and changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub examined: u64,
    pub restamped: u64,
}

impl RestampProgress {
    fn fresh(target: RetentionDays, generation: &str, now: OffsetDateTime) -> Self {
        let t = time_fmt::format(now);
        Self {
            target_retention_days: target.get(),
            generation: generation.to_owned(),
            examined: 0,
            restamped: 0,
            finished: false,
            started_at: t.clone(),
            updated_at: t,
            cursor: None,
            this_run: RunCounts::default(),
        }
    }

    /// Whether this progress is the job for `target` set at `generation`: any other value, or
    /// the same days set again, starts the job over.
    pub fn continues(&self, target: RetentionDays, generation: &str) -> bool {
        self.target_retention_days == target.get() && self.generation == generation
    }

    fn from_item(item: &Item) -> Option<Self> {
        let n = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok());
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(Self {
            target_retention_days: u16::try_from(n("targetRetentionDays")?).ok()?,
            generation: s("generation").unwrap_or_default(),
            examined: n("examined").unwrap_or(0),
            restamped: n("restamped").unwrap_or(0),
            finished: item.get("finished").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            started_at: s("startedAt").unwrap_or_default(),
            updated_at: s("updatedAt").unwrap_or_default(),
            cursor: item.get("cursor").and_then(|v| v.as_m().ok()).cloned(),
            this_run: RunCounts::default(),
        })
    }

    fn to_item(&self) -> Item {
        let mut item = HashMap::from([
            (PARTITION_KEY.to_owned(), AttributeValue::S(RESTAMP_KEY.into())),
            ("targetRetentionDays".to_owned(), AttributeValue::N(self.target_retention_days.to_string())),
            ("generation".to_owned(), AttributeValue::S(self.generation.clone())),
            ("examined".to_owned(), AttributeValue::N(self.examined.to_string())),
            ("restamped".to_owned(), AttributeValue::N(self.restamped.to_string())),
            ("finished".to_owned(), AttributeValue::Bool(self.finished)),
            ("startedAt".to_owned(), AttributeValue::S(self.started_at.clone())),
            ("updatedAt".to_owned(), AttributeValue::S(self.updated_at.clone())),
        ]);
        if let Some(c) = &self.cursor {
            item.insert("cursor".to_owned(), AttributeValue::M(c.clone()));
        }
        item
    }
}

/// The live settings in one [`Store`]; see [`Store::settings`].
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    store: &'a Store,
}

impl<'a> Settings<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store }
    }

    async fn get_config(&self, key: &str) -> Result<Option<Item>, StoreError> {
        self.store.get_consistent(key).await
    }

    /// The stored retention setting; `None` when none was ever set (or it is unreadable, which
    /// only a later version could write).
    pub async fn retention_setting(&self) -> Result<Option<RetentionSetting>, StoreError> {
        let Some(item) = self.get_config(RETENTION_KEY).await? else { return Ok(None) };
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let days = item
            .get("retentionDays")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u16>().ok())
            .and_then(RetentionDays::new);
        Ok(days.map(|days| RetentionSetting { days, updated_at: s("updatedAt"), updated_by: s("updatedBy") }))
    }

    /// Stores the retention setting, as changed by `by` at `now`.
    pub async fn put_retention_setting(
        &self,
        days: RetentionDays,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<RetentionSetting, StoreError> {
        let setting = RetentionSetting { days, updated_at: time_fmt::format(now), updated_by: by.to_owned() };
        let item = HashMap::from([
            (PARTITION_KEY.to_owned(), AttributeValue::S(RETENTION_KEY.into())),
            ("retentionDays".to_owned(), AttributeValue::N(days.get().to_string())),
            ("updatedAt".to_owned(), AttributeValue::S(setting.updated_at.clone())),
            ("updatedBy".to_owned(), AttributeValue::S(setting.updated_by.clone())),
        ]);
        self.store.put_whole(item).await?;
        Ok(setting)
    }

    /// The re-stamp job's progress, when it ever ran.
    pub async fn restamp_progress(&self) -> Result<Option<RestampProgress>, StoreError> {
        Ok(self.get_config(RESTAMP_KEY).await?.as_ref().and_then(RestampProgress::from_item))
    }

    /// With no setting stored: whether the job for `RETENTION_DAYS` (`retention`) must wait,
    /// and since when. A change of the default (a job for other days, or for a setting since
    /// removed, on record) starts a job that walks nothing until [`retention::settled`] from its
    /// start, as a stored change waits: ingest instances of the previous configuration, in
    /// flight or updated by CloudFormation after this function, may stamp the previous days
    /// behind a walk that has passed their groups (before, it walked at once, and such groups
    /// kept the old TTL: deleted after 4 days under a new 30). `None` when the walk may go on;
    /// also on a table with no job on record (a new stack's first run, which holds nothing: a
    /// change of `RETENTION_DAYS` made before it is walked at once).
    pub async fn default_change_held(
        &self,
        retention: RetentionDays,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        match self.restamp_progress().await? {
            None => Ok(None),
            Some(p) if p.continues(retention, "") => {
                let waits = p.examined == 0 && !p.finished && !retention::settled(&p.started_at, now);
                Ok(waits.then_some(p.started_at))
            }
            Some(_) => Ok(Some(self.save_restamp(RestampProgress::fresh(retention, "", now)).await?.started_at)),
        }
    }

    /// One bounded run of the re-stamp job: sets `expiresAt = lastOccurredAt + retention` on at
    /// most `max_items` more groups, continuing where the last run towards the same retention
    /// stopped (a new change of the setting, `generation`, starts over), and records the progress. Safe to rerun and to
    /// run concurrently: each group's update asserts the `lastOccurredAt` it read (a newer
    /// occurrence has stamped it already), and a finished job does nothing.
    pub async fn restamp_ttl(
        &self,
        retention: RetentionDays,
        generation: &str,
        max_items: u32,
        now: OffsetDateTime,
        stop_at: Option<std::time::Instant>,
    ) -> Result<RestampProgress, StoreError> {
        let mut progress = match self.restamp_progress().await? {
            Some(p) if p.continues(retention, generation) => p,
            _ => RestampProgress::fresh(retention, generation, now),
        };
        if progress.finished {
            return Ok(progress);
        }
        let mut budget = max_items;
        let mut saved = false;
        // No page started after `stop_at`, and a page stops at it: the run saves its place and
        // answers in time, however slow the updates (a throttled table).
        while budget > 0 && before(stop_at) {
            // A page that fails leaves the progress where it began, and what the pages before
            // it did is saved, not done again by every run (before, one failed update lost the
            // whole run's place: under steady throttling the job never got past it).
            let at_page = progress.clone();
            match self.restamp_page(&mut progress, retention, budget, stop_at).await {
                Ok(read) => budget = budget.saturating_sub(read),
                Err(e) => {
                    // Pages before it saved their place already.
                    if !saved {
                        self.save_restamp(at_page).await?;
                    }
                    return Err(e);
                }
            }
            // Saved after every page (a put per 500 groups): a run cut short by its timeout or a
            // crash loses one page at most, not the whole run's.
            progress = self.save_restamp(progress).await?;
            saved = true;
            if progress.finished {
                break;
            }
        }
        if saved {
            return Ok(progress);
        }
        self.save_restamp(progress).await
    }

    /// One page of the re-stamp walk, of at most `budget` groups, counted into `progress`;
    /// how many groups it read (at least one, so a run always ends). Past `stop_at` it stops
    /// before the next group, its place the last group done.
    async fn restamp_page(
        &self,
        progress: &mut RestampProgress,
        retention: RetentionDays,
        budget: u32,
        stop_at: Option<std::time::Instant>,
    ) -> Result<u32, StoreError> {
        let bound = retention::restamp_walk_bound(&progress.started_at);
        let (items, cursor) = self.store.walk_groups(budget.min(RESTAMP_PAGE), progress.cursor.clone(), bound).await?;
        for (done, item) in items.iter().enumerate() {
            if done > 0 && !before(stop_at) {
                if let Some(place) = items.get(done - 1).and_then(Store::walk_cursor_after) {
                    progress.cursor = Some(place);
                    return Ok(u32::try_from(done).unwrap_or(u32::MAX));
                }
            }
            // The stored totals are outside data (another writer may have set them): saturating.
            progress.examined = progress.examined.saturating_add(1);
            progress.this_run.examined += 1;
            if self.restamp_one(item, retention).await? {
                progress.restamped = progress.restamped.saturating_add(1);
                progress.this_run.restamped += 1;
            }
        }
        progress.finished = cursor.is_none();
        progress.cursor = cursor;
        Ok(u32::try_from(items.len()).unwrap_or(u32::MAX).max(1))
    }

    async fn save_restamp(&self, mut progress: RestampProgress) -> Result<RestampProgress, StoreError> {
        progress.updated_at = time_fmt::format(OffsetDateTime::now_utc());
        self.store.put_whole(progress.to_item()).await?;
        Ok(progress)
    }

    /// Re-stamps one group read from the index; `false` when its TTL was already right, it is
    /// not a group, or a newer occurrence changed it meanwhile.
    async fn restamp_one(&self, item: &Item, retention: RetentionDays) -> Result<bool, StoreError> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
        let (Some(pk), Some(last)) = (s(PARTITION_KEY), s("lastOccurredAt")) else { return Ok(false) };
        let Some(t) = time_fmt::parse(last) else { return Ok(false) };
        let target = t.saturating_add(retention.duration()).unix_timestamp();
        let stored = item.get(TTL_ATTRIBUTE).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
        if stored == Some(target) {
            return Ok(false);
        }
        let result = self
            .store
            .update_item(pk.clone())
            .update_expression("SET #exp = :exp")
            .condition_expression("attribute_exists(#pk) AND #last = :last")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#last", "lastOccurredAt")
            .expression_attribute_values(":exp", AttributeValue::N(target.to_string()))
            .expression_attribute_values(":last", AttributeValue::S(last.clone()))
            .send()
            .await;
        applied(result)
    }
}

/// The current retention of one function instance: the stored setting, read at most every
/// `max_age`, else `fallback` (`RETENTION_DAYS`).
#[derive(Debug)]
pub struct RetentionCache {
    fallback: RetentionDays,
    cached: Cached<RetentionDays>,
}

impl RetentionCache {
    pub fn new(fallback: RetentionDays, max_age: Duration) -> Self {
        Self { fallback, cached: Cached::new(max_age) }
    }

    /// The retention to apply now, reading the setting when the cached one is older than
    /// `max_age`.
    pub async fn get(&self, store: &Store) -> Result<RetentionDays, StoreError> {
        match self.cached.fresh() {
            Some(days) => Ok(days),
            None => self.read(store).await,
        }
    }

    /// The setting as stored now, whatever the cache holds, and kept: what a decision that
    /// cannot be undone is made by (an occurrence refused as expired, an expired group started
    /// anew), since a cached value may predate a longer retention by up to `max_age`.
    pub async fn read(&self, store: &Store) -> Result<RetentionDays, StoreError> {
        let days = store.settings().retention_setting().await?.map_or(self.fallback, |s| s.days);
        self.set(days);
        Ok(days)
    }

    /// Records a value just written by this instance, so it applies here at once.
    pub fn set(&self, days: RetentionDays) {
        self.cached.set(days);
    }

    /// The last value read (or set) less than `age` ago: what may apply when the setting cannot
    /// be read; `None` before the first, or past `age`.
    pub fn last_known_within(&self, age: Duration) -> Option<RetentionDays> {
        self.cached.last_known_within(age)
    }

    pub fn fallback(&self) -> RetentionDays {
        self.fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::schema::TIME_SORT_KEY;
    use time::macros::datetime;

    #[test]
    fn progress_round_trips_through_its_item() {
        let mut p = RestampProgress::fresh(
            RetentionDays::new(30).unwrap(),
            "2026-11-25T11:59:00.000Z",
            datetime!(2026-11-25 12:00 UTC),
        );
        p.examined = 1500;
        p.restamped = 1200;
        p.cursor = Some(HashMap::from([(TIME_SORT_KEY.to_owned(), AttributeValue::S("2026#x".into()))]));
        assert_eq!(RestampProgress::from_item(&p.to_item()), Some(p.clone()));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"targetRetentionDays": 30, "examined": 1500, "restamped": 1200, "finished": false,
                "startedAt": "2026-11-25T12:00:00.000Z", "updatedAt": "2026-11-25T12:00:00.000Z"})
        );
    }
}
