//! The API's HTTP side, between a request and the domain: the query string ([`query_string`]),
//! query parameters ([`params`]),
//! request bodies ([`body`]), opaque page cursors ([`cursor`]) and the default-deny
//! authorization of IAM callers ([`auth`]). Pure: no AWS crate, no I/O.
//!
//! Everything here is outside data: it is bounded before it is interpreted, and an error quotes
//! at most [`MAX_ECHO_BYTES`] of it.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod body;
pub mod cursor;
pub mod params;
pub mod query_string;

/// Most bytes of a client's input quoted back in an error.
pub const MAX_ECHO_BYTES: usize = 64;

/// At most [`MAX_ECHO_BYTES`] of `s`, cut on a character boundary.
pub fn echo(s: &str) -> String {
    scan_failures_domain::text::prefix(s, MAX_ECHO_BYTES).to_owned()
}
