//! Rate limiting: the [`RateLimiter`] seam and its in-process implementation.
//!
//! The trait has exactly the signature of `warroom_storage::cache::RateLimiter` (the
//! Redis-backed one shared by every gateway node), so either can be plugged into
//! [`Auth`](super::Auth). The in-process one counts per node only.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Counts hits on keys in fixed windows.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` in a fixed window of `window`; says whether it is allowed.
    async fn hit(&self, key: &str, limit: u64, window: std::time::Duration) -> RateDecision;
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the hit is within the limit.
    pub allowed: bool,
    /// Hits left in the current window.
    pub remaining: u64,
    /// Time until the window resets.
    pub retry_after: std::time::Duration,
}

struct Counter {
    started: Instant,
    window: Duration,
    hits: u64,
}

/// A fixed-window limiter in this process's memory, tracking at most `capacity` keys.
///
/// When full, expired windows are dropped first; if every window is still live, the one
/// that started longest ago goes (its key gets a fresh window: the bound on memory wins
/// over exactness for the oldest key). Uses tokio's clock, so tests can pause time.
pub struct InProcessRateLimiter {
    counters: Mutex<HashMap<String, Counter>>,
    capacity: usize,
}

impl InProcessRateLimiter {
    /// A limiter tracking at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            counters: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.counters.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn make_room(counters: &mut HashMap<String, Counter>, capacity: usize, now: Instant) {
        if counters.len() < capacity {
            return;
        }
        counters.retain(|_, c| now.duration_since(c.started) < c.window);
        if counters.len() >= capacity {
            if let Some(oldest) = counters
                .iter()
                .min_by_key(|(_, c)| c.started)
                .map(|(k, _)| k.clone())
            {
                counters.remove(&oldest);
            }
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for InProcessRateLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let now = Instant::now();
        let mut counters = self.counters.lock();
        if !counters.contains_key(key) {
            Self::make_room(&mut counters, self.capacity, now);
        }
        let counter = counters.entry(key.to_owned()).or_insert(Counter {
            started: now,
            window,
            hits: 0,
        });
        if now.duration_since(counter.started) >= counter.window {
            counter.started = now;
            counter.window = window;
            counter.hits = 0;
        }
        let retry_after = counter.window - now.duration_since(counter.started);
        if counter.hits >= limit {
            return RateDecision {
                allowed: false,
                remaining: 0,
                retry_after,
            };
        }
        counter.hits += 1;
        RateDecision {
            allowed: true,
            remaining: limit - counter.hits,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_window_allows_the_limit_then_refuses_until_it_resets() {
        let limiter = InProcessRateLimiter::new(10);
        let window = Duration::from_secs(60);
        for left in (0..3).rev() {
            let d = limiter.hit("k", 3, window).await;
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = limiter.hit("k", 3, window).await;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, window);
        assert!(
            limiter.hit("other", 3, window).await.allowed,
            "keys are apart"
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!limiter.hit("k", 3, window).await.allowed);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(limiter.hit("k", 3, window).await.allowed, "a new window");
    }

    #[tokio::test(start_paused = true)]
    async fn memory_stays_bounded() {
        let limiter = InProcessRateLimiter::new(4);
        for i in 0..100 {
            limiter
                .hit(&format!("k{i}"), 1, Duration::from_secs(60))
                .await;
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(limiter.len(), 4);
        // The newest keys are the ones kept, with their counts.
        assert!(!limiter.hit("k99", 1, Duration::from_secs(60)).await.allowed);
    }
}
