//! The scan-failure domain and its adapters, shared by the `ingest` and `api` functions.
//!
//! Domain modules (`event`, `image`, `classify`, `fingerprint`, `group`, `time_fmt`) know
//! nothing of AWS; `schema`, `expr`, `store`, `config` and `telemetry` are the adapters around
//! DynamoDB, the environment and the logs.

pub mod auth;
pub mod aws_sources;
pub mod classify;
pub mod config;
pub mod cursor;
pub mod event;
pub mod expr;
pub mod fingerprint;
pub mod group;
pub mod image;
pub mod notify;
pub mod params;
pub mod query;
pub mod schema;
pub mod store;
pub mod telemetry;
pub mod time_fmt;
pub mod view;
