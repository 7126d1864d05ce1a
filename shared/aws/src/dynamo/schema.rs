//! The one definition of the table: keys, indexes and TTL attribute. The store, the local
//! set-up, the tests and the template check all read it from here.
//!
//! Every index sorts its partition by the time of the groups' last occurrences, then by id, so
//! each one lists newest first and a time window is a key condition on every index. How exact
//! that time is differs ([`SortKey`]):
//! - the all-groups index `byTime` sorts on the exact time ([`TIME_SORT_KEY`]): the unfiltered
//!   listing is in exact order, and a time-range page reads only records inside its range;
//! - the four filter indexes sort on the start of a 10-minute bucket ([`SORT_KEY`]).
//!
//! Why, measured in BENCHMARKS.md: a key that moves is a delete and a put in its index. `byTime`
//! projects the whole item, which changes on every occurrence anyway, so an exact key costs it
//! one more index write per event and buys exact order and time ranges without over-reads (with
//! a bucketed key, a page ending at `filter.until` read and dropped every newer group of that
//! bucket: 3.2 items read per item returned at 100,000 groups). The filter indexes keep keys
//! only and a bucketed key, so an occurrence that stays in its bucket writes none of them, and a
//! filtered page reads its items back with `BatchGetItem`.

use time::OffsetDateTime;

use scan_failures_domain::time_fmt;

/// Partition key of the table: `g#<group id>` for groups, `e#<envelope id>` for idempotency
/// markers.
pub const PARTITION_KEY: &str = "pk";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// The sort key of the filter indexes: `<start of the bucket of lastOccurredAt>#<group id>`.
pub const SORT_KEY: &str = "lastSk";
/// The sort key of `byTime`: `<lastOccurredAt>#<group id>`; outbox records use it too.
pub const TIME_SORT_KEY: &str = "timeSk";

/// What an index holds of each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// The whole item: a page is served by the index alone.
    All,
    /// The table's and the index's keys: a page reads its items from the table by key.
    KeysOnly,
}

impl Projection {
    /// The name DynamoDB and CloudFormation use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::KeysOnly => "KEYS_ONLY",
        }
    }
}

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: SortKey,
    pub projection: Projection,
}

/// How an index's sort key places a group in time: `<time>#<group id>`, where the time is the
/// last occurrence's, exact or rounded down to its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// [`TIME_SORT_KEY`], the exact time: the key moves with every newer occurrence.
    Exact,
    /// [`SORT_KEY`], the start of the [`SORT_BUCKET_SECONDS`] bucket: the key moves at most once
    /// per bucket; inside one bucket the order is by id.
    Bucketed,
}

impl SortKey {
    /// The attribute that holds the key.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Exact => TIME_SORT_KEY,
            Self::Bucketed => SORT_KEY,
        }
    }

    /// The time a key for `t` starts with: every key of a group whose last occurrence is at
    /// `t` sorts at or after `start(t)`, and before `start(t) + "#~"`.
    pub fn start(self, t: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Exact => t,
            Self::Bucketed => bucket_start(t),
        }
    }

    /// The key of group `id` whose last occurrence is at `last`.
    pub fn value(self, last: OffsetDateTime, id: &impl std::fmt::Display) -> String {
        format!("{}#{id}", time_fmt::format(self.start(last)))
    }

    /// [`Self::value`] for a stored `lastOccurredAt` (`None` when it is not a timestamp).
    pub fn value_of(self, last_occurred_at: &str, id: &impl std::fmt::Display) -> Option<String> {
        time_fmt::parse(last_occurred_at).map(|t| self.value(t, id))
    }
}

/// The width of a [`SortKey::Bucketed`] bucket: a listing served by a filter index is in the
/// order of the buckets of the groups' last occurrences (newest first), then of their ids. Times
/// shown and time filters stay exact; only the order inside one bucket is by id.
pub const SORT_BUCKET_SECONDS: i64 = 600;

/// The start of the bucket of `t` (whole multiples of [`SORT_BUCKET_SECONDS`] since the epoch).
pub fn bucket_start(t: OffsetDateTime) -> OffsetDateTime {
    let s = t.unix_timestamp();
    let start = s - s.rem_euclid(SORT_BUCKET_SECONDS);
    OffsetDateTime::from_unix_timestamp(start).unwrap_or(t)
}

/// Every group in one partition (`gsiAll = "ALL"`): listing without an indexed filter.
pub const BY_TIME: Index =
    Index { name: "byTime", partition_key: "gsiAll", sort_key: SortKey::Exact, projection: Projection::All };
/// Groups of one normalized image reference.
pub const BY_IMAGE: Index = Index {
    name: "byImage",
    partition_key: "resourceName",
    sort_key: SortKey::Bucketed,
    projection: Projection::KeysOnly,
};
/// Groups of one digest (sparse: only groups whose digest is known).
pub const BY_DIGEST: Index = Index {
    name: "byDigest",
    partition_key: "resourceId",
    sort_key: SortKey::Bucketed,
    projection: Projection::KeysOnly,
};
/// Groups of all tags of one repository.
pub const BY_REPOSITORY: Index = Index {
    name: "byRepository",
    partition_key: "repository",
    sort_key: SortKey::Bucketed,
    projection: Projection::KeysOnly,
};
/// Groups of one reason code.
pub const BY_REASON: Index =
    Index { name: "byReason", partition_key: "reason", sort_key: SortKey::Bucketed, projection: Projection::KeysOnly };

pub const INDEXES: [Index; 5] = [BY_TIME, BY_IMAGE, BY_DIGEST, BY_REPOSITORY, BY_REASON];

/// The value of `gsiAll` on every group.
pub const ALL_PARTITION: &str = "ALL";

/// Every key attribute with its DynamoDB scalar type (all strings).
pub fn key_attributes() -> Vec<(&'static str, &'static str)> {
    let mut names = vec![PARTITION_KEY];
    for index in INDEXES {
        for attribute in [index.sort_key.attribute(), index.partition_key] {
            if !names.contains(&attribute) {
                names.push(attribute);
            }
        }
    }
    names.into_iter().map(|n| (n, "S")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_bucketed_key_holds_the_start_of_the_ten_minute_bucket_then_the_id() {
        let b = SortKey::Bucketed;
        assert_eq!(b.value(datetime!(2026-11-25 10:19:59.999 UTC), &"g1"), "2026-11-25T10:10:00.000Z#g1");
        assert_eq!(b.value(datetime!(2026-11-25 10:20:00 UTC), &"g1"), "2026-11-25T10:20:00.000Z#g1");
        assert_eq!(b.value_of("2026-11-25T10:05:00.000Z", &"g2").as_deref(), Some("2026-11-25T10:00:00.000Z#g2"));
        assert_eq!(b.value_of("not a time", &"g2"), None);
        assert_eq!(b.value(datetime!(1969-12-31 23:55:00 UTC), &"g3"), "1969-12-31T23:50:00.000Z#g3");
    }

    #[test]
    fn the_exact_key_holds_the_time_itself_then_the_id() {
        let e = SortKey::Exact;
        assert_eq!(e.value(datetime!(2026-11-25 10:19:59.999 UTC), &"g1"), "2026-11-25T10:19:59.999Z#g1");
        assert_eq!(e.value_of("2026-11-25T10:05:00.000Z", &"g2").as_deref(), Some("2026-11-25T10:05:00.000Z#g2"));
        assert_eq!(BY_TIME.sort_key.attribute(), "timeSk");
        let bucketed: Vec<&str> = INDEXES.iter().filter(|i| i.sort_key == SortKey::Bucketed).map(|i| i.name).collect();
        assert_eq!(bucketed, ["byImage", "byDigest", "byRepository", "byReason"]);
    }

    #[test]
    fn every_key_attribute_is_declared_once() {
        let names: Vec<&str> = key_attributes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["pk", "timeSk", "gsiAll", "lastSk", "resourceName", "resourceId", "repository", "reason"]);
    }

    #[test]
    fn only_the_all_groups_index_projects_the_item() {
        let all: Vec<&str> = INDEXES.iter().filter(|i| i.projection == Projection::All).map(|i| i.name).collect();
        assert_eq!(all, ["byTime"]);
    }
}
