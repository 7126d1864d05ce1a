//! Opaque, tamper-evident page cursors.
//!
//! A cursor holds where a reading stopped (a list page: the sort key of the last record returned;
//! a cleanup: the filter value and sort key of the last entry examined), bound to the filters and
//! sort order that produced it, with a checksum. An edited cursor, or one replayed with other filters, is
//! refused. The checksum is not a secret-keyed MAC on purpose: a forged cursor can only name
//! a position, which is validated and then read under the caller's own filters and permission,
//! so it reaches nothing a `filter.until` could not.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

const VERSION: u8 = 1;
const CHECKSUM_BYTES: usize = 16;
/// Longest cursor accepted, in bytes.
pub const MAX_CURSOR_BYTES: usize = 512;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("is not a cursor this API issued (edited or truncated); start again without it")]
    Malformed,
    #[error("was issued for other filters or another sort order; repeat the request that returned it")]
    OtherQuery,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    /// Where the reading stopped.
    k: String,
    /// Hash of the query the cursor continues.
    q: String,
}

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Sha256::new().chain_update(b"scan-failures/cursor/v1\0").chain_update(payload).finalize();
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(&digest[..CHECKSUM_BYTES]);
    out
}

/// Identifies a query (filters and order) so a cursor can only continue the query it came from.
pub fn query_hash(canonical_query: &str) -> String {
    let digest = Sha256::digest(canonical_query.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// A cursor that continues `query` after the record with sort key `last_key`.
pub fn encode(last_key: &str, query: &str) -> String {
    let payload =
        serde_json::to_vec(&Payload { v: VERSION, k: last_key.to_owned(), q: query.to_owned() }).unwrap_or_default();
    let mut bytes = payload.clone();
    bytes.extend_from_slice(&checksum(&payload));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The sort key a cursor continues after, if it is intact and was issued for `query`.
pub fn decode(cursor: &str, query: &str) -> Result<String, CursorError> {
    if cursor.len() > MAX_CURSOR_BYTES {
        return Err(CursorError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::Malformed)?;
    let split = bytes.len().checked_sub(CHECKSUM_BYTES).ok_or(CursorError::Malformed)?;
    let (payload, sum) = bytes.split_at(split);
    if checksum(payload) != sum {
        return Err(CursorError::Malformed);
    }
    let p: Payload = serde_json::from_slice(payload).map_err(|_| CursorError::Malformed)?;
    if p.v != VERSION {
        return Err(CursorError::Malformed);
    }
    if p.q != query {
        return Err(CursorError::OtherQuery);
    }
    Ok(p.k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_for_its_own_query_only() {
        let c = encode("2026-11-25T10:00:00.000Z#abc", "q1");
        assert_eq!(decode(&c, "q1"), Ok("2026-11-25T10:00:00.000Z#abc".to_owned()));
        assert_eq!(decode(&c, "q2"), Err(CursorError::OtherQuery));
    }

    #[test]
    fn any_edit_to_a_cursor_is_detected() {
        let c = encode("2026-11-25T10:00:00.000Z#abc", "q1");
        for i in 0..c.len() {
            let mut edited: Vec<u8> = c.clone().into_bytes();
            edited[i] = if edited[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(edited).unwrap();
            assert!(decode(&edited, "q1").is_err(), "edit at {i} accepted");
        }
        assert_eq!(decode("", "q1"), Err(CursorError::Malformed));
        assert_eq!(decode("not base64!", "q1"), Err(CursorError::Malformed));
        assert_eq!(decode(&"A".repeat(600), "q1"), Err(CursorError::Malformed));
    }
}
