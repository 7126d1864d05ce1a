//! The one definition of the table: keys, indexes and TTL attribute. The store, the local
//! set-up, the tests and the template check all read it from here.
//!
//! Every index shares the sort key [`SORT_KEY`] = `<start of the last occurrence's bucket>#id`
//! (see [`sort_key`]), so each one lists its partition newest first, and a time window is a key
//! condition on every index.
//!
//! Why buckets and projections, measured in BENCHMARKS.md: a sort key that moved with every
//! occurrence rewrote every index on every event (a delete and a put each), about 80% of the
//! write cost. Now the key moves at most once per [`SORT_BUCKET_SECONDS`] per group, and only the
//! all-groups index projects the item (it serves the unfiltered listing, summary and trend from
//! the index alone); the four filter indexes keep keys only, so an occurrence that stays in its
//! bucket writes none of them, and a filtered page reads its items back with `BatchGetItem`.

use time::OffsetDateTime;

use crate::time_fmt;

/// Partition key of the table: `g#<group id>` for groups, `e#<envelope id>` for idempotency
/// markers.
pub const PARTITION_KEY: &str = "pk";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// The sort key of every index: `<start of the bucket of lastOccurredAt>#<group id>` ([`sort_key`]).
pub const SORT_KEY: &str = "lastSk";

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
    pub sort_key: &'static str,
    pub projection: Projection,
}

/// The width of a sort-key bucket: the order of a listing is the order of the buckets of the
/// groups' last occurrences (newest first), then of their ids. Times shown and time filters stay
/// exact; only the order inside one bucket is by id.
pub const SORT_BUCKET_SECONDS: i64 = 600;

/// The start of the bucket of `t` (whole multiples of [`SORT_BUCKET_SECONDS`] since the epoch).
pub fn bucket_start(t: OffsetDateTime) -> OffsetDateTime {
    let s = t.unix_timestamp();
    let start = s - s.rem_euclid(SORT_BUCKET_SECONDS);
    OffsetDateTime::from_unix_timestamp(start).unwrap_or(t)
}

/// The sort key of a group whose last occurrence is at `last`.
pub fn sort_key(last: OffsetDateTime, id: &impl std::fmt::Display) -> String {
    format!("{}#{id}", time_fmt::format(bucket_start(last)))
}

/// [`sort_key`] for a stored `lastOccurredAt` (`None` when it is not a timestamp).
pub fn sort_key_of(last_occurred_at: &str, id: &impl std::fmt::Display) -> Option<String> {
    time_fmt::parse(last_occurred_at).map(|t| sort_key(t, id))
}

/// Every group in one partition (`gsiAll = "ALL"`): listing without an indexed filter.
pub const BY_TIME: Index =
    Index { name: "byTime", partition_key: "gsiAll", sort_key: SORT_KEY, projection: Projection::All };
/// Groups of one normalized image reference.
pub const BY_IMAGE: Index =
    Index { name: "byImage", partition_key: "resourceName", sort_key: SORT_KEY, projection: Projection::KeysOnly };
/// Groups of one digest (sparse: only groups whose digest is known).
pub const BY_DIGEST: Index =
    Index { name: "byDigest", partition_key: "resourceId", sort_key: SORT_KEY, projection: Projection::KeysOnly };
/// Groups of all tags of one repository.
pub const BY_REPOSITORY: Index =
    Index { name: "byRepository", partition_key: "repository", sort_key: SORT_KEY, projection: Projection::KeysOnly };
/// Groups of one reason code.
pub const BY_REASON: Index =
    Index { name: "byReason", partition_key: "reason", sort_key: SORT_KEY, projection: Projection::KeysOnly };

pub const INDEXES: [Index; 5] = [BY_TIME, BY_IMAGE, BY_DIGEST, BY_REPOSITORY, BY_REASON];

/// The value of `gsiAll` on every group.
pub const ALL_PARTITION: &str = "ALL";

/// Every key attribute with its DynamoDB scalar type (all strings).
pub fn key_attributes() -> Vec<(&'static str, &'static str)> {
    let mut names = vec![PARTITION_KEY, SORT_KEY];
    for index in INDEXES {
        if !names.contains(&index.partition_key) {
            names.push(index.partition_key);
        }
    }
    names.into_iter().map(|n| (n, "S")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_sort_key_holds_the_start_of_the_ten_minute_bucket_then_the_id() {
        assert_eq!(sort_key(datetime!(2026-11-25 10:19:59.999 UTC), &"g1"), "2026-11-25T10:10:00.000Z#g1");
        assert_eq!(sort_key(datetime!(2026-11-25 10:20:00 UTC), &"g1"), "2026-11-25T10:20:00.000Z#g1");
        assert_eq!(sort_key_of("2026-11-25T10:05:00.000Z", &"g2").as_deref(), Some("2026-11-25T10:00:00.000Z#g2"));
        assert_eq!(sort_key_of("not a time", &"g2"), None);
        assert_eq!(sort_key(datetime!(1969-12-31 23:55:00 UTC), &"g3"), "1969-12-31T23:50:00.000Z#g3");
    }

    #[test]
    fn only_the_all_groups_index_projects_the_item() {
        let all: Vec<&str> = INDEXES.iter().filter(|i| i.projection == Projection::All).map(|i| i.name).collect();
        assert_eq!(all, ["byTime"]);
    }
}
