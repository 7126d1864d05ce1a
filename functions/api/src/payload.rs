//! How large an answer is once the Lambda runtime carries it: the body's JSON inside the
//! function's own JSON answer, as a string, each quote and backslash escaped once more. Lambda
//! refuses an answer over 6 MB, and API Gateway turns that into a bare 500.

use serde::Serialize;

/// The most bytes a list page's events take in the function's answer: the rest of the page is
/// left to its cursor. Under Lambda's 6 MB with room for the headers and the envelope.
pub const MAX_EVENTS_BYTES: usize = 5 * 1024 * 1024;

/// Counts what is written, as the runtime's answer carries it.
struct Carried(usize);

impl std::io::Write for Carried {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() + buf.iter().filter(|b| matches!(b, b'"' | b'\\')).count();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes `value`'s JSON takes as a string in the function's answer. (Serializing into a
/// counter fails only for a value JSON cannot hold, which the answer itself then reports.)
pub fn carried_len(value: &impl Serialize) -> usize {
    let mut carried = Carried(0);
    let _ = serde_json::to_writer(&mut carried, value);
    carried.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_and_backslashes_count_twice_as_the_answer_escapes_them_again() {
        // {"a":"x\"y\u001b"} is 18 bytes with 5 quotes and 2 backslashes.
        let v = json!({"a": "x\"y\u{1b}"});
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":"x\"y\u001b"}"#);
        assert_eq!(carried_len(&v), 18 + 5 + 2);
        assert_eq!(serde_json::to_string(&serde_json::to_string(&v).unwrap()).unwrap().len() - 2, carried_len(&v));
    }
}
