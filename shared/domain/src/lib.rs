//! The scan-failure domain: everything the product decides, with no AWS type in it. Its
//! `Cargo.toml` names no `aws-*` crate, so the compiler keeps it that way; the DynamoDB and
//! EventBridge adapters (`scan-failures-aws`) and the HTTP side (`scan-failures-http`) are
//! built around it.
//!
//! The ingest flow reads top to bottom: [`event`] (envelope → validated occurrence, per source)
//! → [`classify`] (reason) → [`fingerprint`] (group id) → [`group::aggregate`] (what the
//! occurrences do to the group) → [`group::transitions`] (what to notify). The API flow uses
//! [`query`] (the questions), [`retention`] (what is visible), [`insights`] (summary and trend)
//! and [`view`] (the JSON answered).

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod classify;
pub mod event;
pub mod fingerprint;
pub mod group;
pub mod image;
pub mod insights;
pub mod partition;
pub mod query;
pub mod redact;
pub mod retention;
pub mod rollup;
pub mod text;
pub mod time_fmt;
pub mod view;
