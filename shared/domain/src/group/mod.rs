//! A failure group: one per distinct failure of one image. What it holds ([`record`]), what a
//! set of occurrences does to it ([`aggregate`]), the transitions that notify ([`transitions`],
//! [`notification`]), its triage state machine ([`triage`]) and per-day counts ([`daily`]).

pub mod aggregate;
pub mod daily;
pub mod notification;
pub mod record;
pub mod transitions;
pub mod triage;

pub use record::{most_recent_first, GroupRecord, GroupState, DERIVED_ATTRIBUTES, MAX_SET_ENTRIES};
