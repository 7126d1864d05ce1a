//! Event contract v1: what the product accepts on its bus. Each source has its own parser and
//! all of them produce the same validated [`Occurrence`]; [`parse`] picks the parser by the
//! envelope's `detail-type`.

pub mod aws_sources;
pub mod envelope;
pub mod native;

pub use envelope::{
    bounds, keep_end, stored_message, truncate, Admission, Deployment, Envelope, EventError, FieldProblem, Initiator,
    Occurrence, Operation, Origin, Parsed, CUT_START, MAX_CLOCK_SKEW, TRUNCATION_MARKER,
};
pub use native::DETAIL_TYPE;

/// Parses an envelope given as JSON: an Amazon ECR or Inspector event by its `detail-type`,
/// else the product's own "Image Scan Failed". The error names the field and the rule.
pub fn parse(value: serde_json::Value) -> Result<Parsed, EventError> {
    if !value.is_object() {
        return Err(envelope::invalid(".", FieldProblem::NotAnObject));
    }
    match value.get("detail-type").and_then(|d| d.as_str()) {
        Some(aws_sources::ECR_DETAIL_TYPE) => aws_sources::parse_ecr(value),
        Some(aws_sources::INSPECTOR_DETAIL_TYPE) => aws_sources::parse_inspector(value),
        _ => native::parse(value),
    }
}
