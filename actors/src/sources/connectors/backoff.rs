//! Exponential backoff with full jitter, and `Retry-After` parsing.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The delay before retry number `attempt` (1 = first retry): a uniformly random
/// duration in `[0, min(max, initial · 2^(attempt-1))]` ("full jitter"), so clients that
/// failed together do not retry in lockstep.
pub fn jittered(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = initial
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    ceiling.mul_f64(rand::random::<f64>())
}

/// The delay before a retry: the jittered backoff, but never less than what the vendor
/// asked for.
pub fn retry_delay(
    initial: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let backoff = jittered(initial, max, attempt);
    retry_after.map_or(backoff, |asked| asked.max(backoff))
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 1..40 {
            let ceiling = (initial * 2u32.pow((attempt - 1).min(20))).min(max);
            for _ in 0..50 {
                assert!(jittered(initial, max, attempt) <= ceiling);
            }
        }
        // Jitter: 200 draws at the cap are not all equal.
        let draws: std::collections::HashSet<u128> = (0..200)
            .map(|_| jittered(initial, max, 10).as_micros())
            .collect();
        assert!(draws.len() > 10);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let asked = Duration::from_secs(30);
        let d = retry_delay(
            Duration::from_millis(1),
            Duration::from_secs(1),
            1,
            Some(asked),
        );
        assert_eq!(d, asked);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
