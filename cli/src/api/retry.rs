//! When to send a request again: the API asked to come back later (503 with `Retry-After`,
//! the table busy or out of reach for now) or API Gateway throttled it (429), and sending it
//! again gives the same result as sending it once.
//!
//! A `DELETE` or a `POST` answered 503 is not sent again: it may have done its work before its
//! answer (a request out of time is answered 503), and a second one would not give the same
//! result: a delete counts only the events the first left, a triage adds a second entry to the
//! event's history. Answered 429, it never reached the function (API Gateway's throttle), and
//! is sent again like any other. A wait
//! longer than [`MAX_WAIT`] is not waited for either: the answer stands, and its message says
//! when to try.

use std::time::Duration;

/// Attempts at one request, the first included.
pub const ATTEMPTS: u32 = 3;
/// The longest wait a terminal user is kept for before an answer.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// The wait after the first answer that named none (429 from API Gateway); doubled each time.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);

/// How long to wait before sending again a `method` request whose attempt number `attempt`
/// (from 1) was answered `status` with the header `retry_after`; `None`: that answer stands.
pub fn wait(method: &str, status: u16, retry_after: Option<&str>, attempt: u32) -> Option<Duration> {
    let counted = (method.eq_ignore_ascii_case("DELETE") || method.eq_ignore_ascii_case("POST")) && status == 503;
    if !matches!(status, 429 | 503) || counted || attempt >= ATTEMPTS {
        return None;
    }
    // Only the delay-seconds form: an HTTP date would need this machine's clock to agree.
    let asked = retry_after.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
    let wait = asked.unwrap_or_else(|| FIRST_WAIT * 2u32.saturating_pow(attempt.saturating_sub(1)));
    (wait <= MAX_WAIT).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_is_sent_again_after_the_wait_it_names_until_the_last_attempt() {
        assert_eq!(wait("GET", 503, Some("2"), 1), Some(Duration::from_secs(2)));
        assert_eq!(wait("GET", 503, Some(" 2 "), 2), Some(Duration::from_secs(2)));
        assert_eq!(wait("GET", 503, Some("2"), 3), None);
        assert_eq!(wait("PUT", 503, Some("0"), 1), Some(Duration::ZERO));
    }

    #[test]
    fn a_throttle_without_a_wait_backs_off_from_one_second() {
        assert_eq!(wait("GET", 429, None, 1), Some(Duration::from_secs(1)));
        assert_eq!(wait("GET", 429, None, 2), Some(Duration::from_secs(2)));
        assert_eq!(wait("GET", 503, Some("Wed, 21 Oct 2026 07:28:00 GMT"), 1), Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_throttled_delete_never_ran_and_is_sent_again() {
        assert_eq!(wait("DELETE", 429, None, 1), Some(Duration::from_secs(1)));
        assert_eq!(wait("delete", 429, Some("3"), 2), Some(Duration::from_secs(3)));
        assert_eq!(wait("DELETE", 429, None, 3), None);
    }

    #[test]
    fn a_delete_or_post_answered_503_other_statuses_and_a_long_wait_are_answers_that_stand() {
        assert_eq!(wait("DELETE", 503, Some("2"), 1), None);
        assert_eq!(wait("delete", 503, None, 1), None);
        assert_eq!(wait("POST", 503, Some("2"), 1), None, "a triage that landed would be recorded twice");
        assert_eq!(wait("POST", 429, None, 1), Some(Duration::from_secs(1)));
        for status in [200, 400, 404, 500, 502, 504] {
            assert_eq!(wait("GET", status, Some("2"), 1), None, "{status}");
        }
        assert_eq!(wait("GET", 503, Some("11"), 1), None);
        assert_eq!(wait("GET", 503, Some("10"), 1), Some(MAX_WAIT));
    }
}
