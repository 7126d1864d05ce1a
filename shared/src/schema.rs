//! The one definition of the table: keys, indexes and TTL attribute. The store, the local
//! set-up, the tests and the template check all read it from here.
//!
//! Every index shares the sort key [`SORT_KEY`] = `lastOccurredAt#id`, so each one lists its
//! partition newest first, and a time window is a key condition on every index.

/// Partition key of the table: `g#<group id>` for groups, `e#<envelope id>` for idempotency
/// markers.
pub const PARTITION_KEY: &str = "pk";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// The sort key of every index: `<lastOccurredAt>#<group id>`.
pub const SORT_KEY: &str = "lastSk";

/// A global secondary index; all project every attribute, so a page is served by the index
/// alone (one item read per item returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// Every group in one partition (`gsiAll = "ALL"`): listing without an indexed filter.
pub const BY_TIME: Index = Index { name: "byTime", partition_key: "gsiAll", sort_key: SORT_KEY };
/// Groups of one normalized image reference.
pub const BY_IMAGE: Index = Index { name: "byImage", partition_key: "resourceName", sort_key: SORT_KEY };
/// Groups of one digest (sparse: only groups whose digest is known).
pub const BY_DIGEST: Index = Index { name: "byDigest", partition_key: "resourceId", sort_key: SORT_KEY };
/// Groups of all tags of one repository.
pub const BY_REPOSITORY: Index = Index { name: "byRepository", partition_key: "repository", sort_key: SORT_KEY };
/// Groups of one reason code.
pub const BY_REASON: Index = Index { name: "byReason", partition_key: "reason", sort_key: SORT_KEY };

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
