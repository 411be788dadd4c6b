//! Fixed-window rate limiting: the trait the API-key and login throttles use, and the
//! bounded in-process implementation (also Redis's fallback).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::Keyspace;

/// Counts hits per key in fixed windows.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` in a fixed window of `window`; says whether it is allowed.
    async fn hit(&self, key: &str, limit: u64, window: std::time::Duration) -> RateDecision;

    /// Says whether one more hit on `key` would be allowed, without counting one (for
    /// throttles that count failures only: look first, count after a failure).
    async fn peek(&self, key: &str, limit: u64) -> RateDecision;
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the hit is within the limit.
    pub allowed: bool,
    /// Hits counted in the current window, this one included (for a peek: with the one
    /// it asks about).
    pub count: u64,
    /// Hits still allowed in the current window.
    pub remaining: u64,
    /// When denied, how long until the window resets (zero when allowed).
    pub retry_after: std::time::Duration,
}

impl RateDecision {
    /// The decision for the `count`-th hit of a window with `left` until it resets.
    pub(crate) fn of(count: u64, limit: u64, left: Duration) -> Self {
        let allowed = count <= limit;
        Self {
            allowed,
            count,
            remaining: limit.saturating_sub(count),
            retry_after: if allowed { Duration::ZERO } else { left },
        }
    }
}

struct FixedWindow {
    count: u64,
    resets_at: Instant,
}

#[derive(Default)]
struct Windows {
    by_key: HashMap<String, FixedWindow>,
    /// `(resets_at, key)` of every window, to evict the expired (and, when full, the
    /// soonest to reset) without scanning.
    by_reset: BTreeSet<(Instant, String)>,
}

/// Counters in this process, at most `max_keys` of them: expired windows are evicted
/// first; when every window is live, the one closest to its reset is dropped (that key
/// starts a fresh window: counted in [`MemoryRateLimiter::evicted_live`]).
pub struct MemoryRateLimiter {
    keys: Keyspace,
    max_keys: usize,
    windows: Mutex<Windows>,
    evicted_live: AtomicU64,
}

impl MemoryRateLimiter {
    /// A limiter of at most `max_keys` counters.
    pub fn new(keys: Keyspace, max_keys: usize) -> Self {
        Self {
            keys,
            max_keys: max_keys.max(1),
            windows: Mutex::new(Windows::default()),
            evicted_live: AtomicU64::new(0),
        }
    }

    /// Counters held now.
    pub fn len(&self) -> usize {
        self.windows.lock().by_key.len()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live windows dropped because the limiter was full.
    pub fn evicted_live(&self) -> u64 {
        self.evicted_live.load(Ordering::Relaxed)
    }

    /// The synchronous peek (the trait method wraps it).
    pub fn peek_now(&self, key: &str, limit: u64) -> RateDecision {
        let key = self.keys.rate(key);
        let now = Instant::now();
        let w = self.windows.lock();
        match w.by_key.get(&key) {
            Some(current) if current.resets_at > now => {
                RateDecision::of(current.count + 1, limit, current.resets_at - now)
            }
            _ => RateDecision::of(1, limit, Duration::ZERO),
        }
    }

    /// The synchronous hit (the trait method wraps it).
    pub fn hit_now(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let key = self.keys.rate(key);
        let now = Instant::now();
        let mut w = self.windows.lock();
        let w = &mut *w;
        if let Some(current) = w.by_key.get_mut(&key) {
            if current.resets_at <= now {
                w.by_reset.remove(&(current.resets_at, key.clone()));
                current.count = 0;
                current.resets_at = now + window;
                w.by_reset.insert((current.resets_at, key.clone()));
            }
            current.count += 1;
            return RateDecision::of(current.count, limit, current.resets_at - now);
        }
        // A new key: make room first.
        while let Some((resets_at, _)) = w.by_reset.first() {
            let full = w.by_key.len() >= self.max_keys;
            if *resets_at > now && !full {
                break;
            }
            if *resets_at > now {
                self.evicted_live.fetch_add(1, Ordering::Relaxed);
            }
            if let Some((_, evicted)) = w.by_reset.pop_first() {
                w.by_key.remove(&evicted);
            }
        }
        let resets_at = now + window;
        w.by_reset.insert((resets_at, key.clone()));
        w.by_key.insert(
            key,
            FixedWindow {
                count: 1,
                resets_at,
            },
        );
        RateDecision::of(1, limit, window)
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        self.hit_now(key, limit, window)
    }

    async fn peek(&self, key: &str, limit: u64) -> RateDecision {
        self.peek_now(key, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn denies_past_the_limit_until_the_window_resets() {
        let limiter = MemoryRateLimiter::new(Keyspace::new("t"), 100);
        let window = Duration::from_secs(10);
        for remaining in [2, 1, 0] {
            let d = limiter.hit("k", 3, window).await;
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
            assert_eq!(d.retry_after, Duration::ZERO);
        }
        tokio::time::advance(Duration::from_secs(4)).await;
        let denied = limiter.hit("k", 3, window).await;
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after, Duration::from_secs(6));
        // Another key has its own window.
        assert!(limiter.hit("other", 3, window).await.allowed);
        tokio::time::advance(Duration::from_secs(6)).await;
        let fresh = limiter.hit("k", 3, window).await;
        assert!(fresh.allowed);
        assert_eq!(fresh.remaining, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_and_expired_windows_go_first() {
        let limiter = MemoryRateLimiter::new(Keyspace::new("t"), 3);
        limiter.hit("short", 5, Duration::from_secs(1)).await;
        limiter.hit("a", 5, Duration::from_secs(60)).await;
        limiter.hit("b", 5, Duration::from_secs(60)).await;
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.hit("c", 5, Duration::from_secs(60)).await;
        assert_eq!(limiter.len(), 3);
        assert_eq!(limiter.evicted_live(), 0, "the expired window made room");
        limiter.hit("d", 5, Duration::from_secs(60)).await;
        assert_eq!(limiter.len(), 3);
        assert_eq!(limiter.evicted_live(), 1);
        // The evicted one was the soonest to reset ("a"); "b", "c" and "d" keep counting.
        assert_eq!(
            limiter.hit("b", 5, Duration::from_secs(60)).await.remaining,
            3
        );
    }

    #[tokio::test]
    async fn a_peek_counts_nothing_and_sees_the_current_window() {
        let limiter = MemoryRateLimiter::new(Keyspace::new("t"), 10);
        let window = Duration::from_secs(60);
        assert!(limiter.peek_now("k", 2).allowed);
        limiter.hit_now("k", 2, window);
        assert!(limiter.peek_now("k", 2).allowed);
        assert!(
            limiter.peek_now("k", 2).allowed,
            "peeking twice counts nothing"
        );
        limiter.hit_now("k", 2, window);
        let denied = limiter.peek_now("k", 2);
        assert!(!denied.allowed);
        assert!(denied.retry_after > Duration::ZERO && denied.retry_after <= window);
        assert!(limiter.peek_now("other", 2).allowed);
    }

    #[tokio::test]
    async fn a_zero_limit_denies_everything() {
        let limiter = MemoryRateLimiter::new(Keyspace::new("t"), 10);
        let d = limiter.hit("k", 0, Duration::from_secs(5)).await;
        assert!(!d.allowed);
        assert!(d.retry_after > Duration::ZERO);
    }
}
