//! The api function's router and handler, as a library so tests can drive it in-process as well
//! as through the Lambda runtime.

pub mod handler;
pub mod routes;
