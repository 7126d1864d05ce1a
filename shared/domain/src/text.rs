//! Small text rules used on both sides of the product, written once.

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary: how every
/// bounded field is cut and every quoted input is echoed.
pub fn prefix(s: &str, max: usize) -> &str {
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Whether `s` is an AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is an AWS region name: lower-case words joined by `-`, the first of two
/// letters, the last a number (`eu-west-1`, `us-gov-west-1`), at most 32 bytes.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    match parts.as_slice() {
        [first, middle @ .., last] if !middle.is_empty() => {
            s.len() <= 32
                && first.len() == 2
                && word(first)
                && middle.iter().all(word)
                && (1..=2).contains(&last.len())
                && last.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// An error and every error behind it, `outer: inner: …`, for a log line or a Lambda error
/// message. A source whose text the message already ends with (an outer error that quotes it)
/// is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("event not stored: {0}")]
        Quoting(#[source] Inner),
        #[error("run failed")]
        Plain(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("DynamoDB Query failed")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn a_prefix_never_splits_a_character() {
        assert_eq!(prefix("abc", 2), "ab");
        assert_eq!(prefix("abc", 64), "abc");
        assert_eq!(prefix("éé", 3), "é");
        assert_eq!(prefix("éé", 1), "");
    }

    #[test]
    fn an_account_id_is_twelve_digits() {
        assert!(is_account_id("123456789012"));
        for bad in ["12345678901", "1234567890123", "12345678901a", "", "１２３456789012"] {
            assert!(!is_account_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn region_names_are_aws_shaped() {
        for good in ["eu-west-1", "us-gov-west-1", "ap-southeast-4", "cn-north-1", "il-central-1"] {
            assert!(is_region(good), "{good:?}");
        }
        for bad in ["", "eu", "eu-west", "EU-WEST-1", "eu-west-123", "e-west-1", "eu--1", "eu-west-1a", "global"] {
            assert!(!is_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_error_chain_names_every_cause_once() {
        let io = || std::io::Error::other("request has timed out");
        assert_eq!(
            error_chain(&Outer::Quoting(Inner(io()))),
            "event not stored: DynamoDB Query failed: request has timed out"
        );
        assert_eq!(error_chain(&Outer::Plain(Inner(io()))), "run failed: DynamoDB Query failed: request has timed out");
    }
}
