//! `scanfail`, the product's command-line tool. Two ends: [`report`] runs scanners and puts
//! their failures on the bus (the product's main input); [`admin`] queries, triages and deletes
//! them through the IAM-authorized API with the caller's own credentials ([`api`]).
//! Exit codes are [`exit`]'s.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod api;
pub mod args;
pub mod aws;
pub mod exit;
pub mod output;
pub mod report;
