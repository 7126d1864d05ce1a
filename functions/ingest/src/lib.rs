//! The ingest function's handler, as a library so integration tests can drive it in-process
//! as well as through the Lambda runtime.

pub mod handler;
