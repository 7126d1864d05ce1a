//! The scan-failure domain and its adapters, shared by the `ingest` and `api` functions.
//!
//! Domain modules (`event`, `image`, `classify`, `fingerprint`, `group`, `time_fmt`) know
//! nothing of AWS but for reading their own attributes off a stored item (`group`, `triage`,
//! `daily`); `schema`, `expr`, `store`, `query`, `insights`, `admin`, `settings`, `config` and
//! `telemetry` are the adapters around DynamoDB, the environment and the logs.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod auth;
pub mod aws_sources;
pub mod classify;
pub mod config;
pub mod cursor;
pub mod daily;
pub mod event;
pub mod expr;
pub mod fingerprint;
pub mod group;
pub mod image;
pub mod insights;
pub mod notify;
pub mod params;
pub mod query;
pub mod schema;
pub mod sdk;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod time_fmt;
pub mod triage;
pub mod view;
