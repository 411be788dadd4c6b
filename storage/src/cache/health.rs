//! Whether Redis is reachable, as the `cache` part of health reports it. Every Redis call
//! and the periodic PING report here; an outage is logged once when it starts and once
//! when it ends, however many calls fail in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

/// What the `cache` part of health says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStatus {
    /// `false` while Redis is unreachable.
    pub ok: bool,
    /// In words: "in-process", "redis at <url>", or the outage and its reason.
    pub detail: String,
}

#[derive(Debug)]
struct Outage {
    since: SystemTime,
    reason: String,
}

/// Reachability of the cache backend.
#[derive(Debug)]
pub struct CacheHealth {
    /// `None` in process; the redacted URL otherwise.
    redis_url: Option<String>,
    outage: Mutex<Option<Outage>>,
    outages: AtomicU64,
    failed_calls: AtomicU64,
    fallbacks: AtomicU64,
}

impl CacheHealth {
    /// Health of the in-process services: always ok.
    pub fn in_process() -> Self {
        Self::new(None)
    }

    /// Health of a Redis connection to `redacted_url`, ok until a call fails.
    pub fn redis(redacted_url: String) -> Self {
        Self::new(Some(redacted_url))
    }

    fn new(redis_url: Option<String>) -> Self {
        Self {
            redis_url,
            outage: Mutex::new(None),
            outages: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// A Redis call succeeded: ends an outage.
    pub fn record_ok(&self) {
        let mut outage = self.outage.lock();
        if let Some(ended) = outage.take() {
            let secs = ended
                .since
                .elapsed()
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            tracing::info!(
                redis = self.redis_url.as_deref().unwrap_or_default(),
                outage_secs = secs,
                "redis is reachable again; cache, rate limits and bus use it"
            );
        }
    }

    /// A Redis call failed: starts an outage (logged once) or continues it.
    pub fn record_error(&self, what: &str, error: &str) {
        self.failed_calls.fetch_add(1, Ordering::Relaxed);
        let mut outage = self.outage.lock();
        match outage.as_mut() {
            Some(current) => current.reason = format!("{what}: {error}"),
            None => {
                self.outages.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    redis = self.redis_url.as_deref().unwrap_or_default(),
                    %error,
                    what,
                    "redis unreachable: caching off, rate limits counted in process, until it returns"
                );
                *outage = Some(Outage {
                    since: SystemTime::now(),
                    reason: format!("{what}: {error}"),
                });
            }
        }
    }

    /// The rate limiter counted a hit in process because Redis failed.
    pub fn record_fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Rate-limit hits counted in process because Redis failed, since start.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Redis calls that failed, since start.
    pub fn failed_calls(&self) -> u64 {
        self.failed_calls.load(Ordering::Relaxed)
    }

    /// Outages since start.
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// Whether Redis is configured (as opposed to in process).
    pub fn is_redis(&self) -> bool {
        self.redis_url.is_some()
    }

    /// The current status.
    pub fn status(&self) -> CacheStatus {
        let Some(url) = &self.redis_url else {
            return CacheStatus {
                ok: true,
                detail: "in-process".to_owned(),
            };
        };
        match &*self.outage.lock() {
            None => CacheStatus {
                ok: true,
                detail: format!("redis at {url}"),
            },
            Some(outage) => CacheStatus {
                ok: false,
                detail: format!(
                    "redis at {url} unreachable for {}s ({}); serving without cache, {} rate-limit hits counted in process",
                    outage.since.elapsed().map(|d| d.as_secs()).unwrap_or(0),
                    outage.reason,
                    self.fallbacks()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_on_error_and_ends_on_success() {
        let health = CacheHealth::redis("redis://127.0.0.1:6379".into());
        assert!(health.status().ok);
        health.record_error("GET", "connection refused");
        health.record_error("PING", "timed out");
        let status = health.status();
        assert!(!status.ok);
        assert!(
            status.detail.contains("PING: timed out"),
            "{}",
            status.detail
        );
        assert_eq!(health.outages(), 1, "one outage however many calls fail");
        assert_eq!(health.failed_calls(), 2);
        health.record_ok();
        assert!(health.status().ok);
        assert_eq!(health.status().detail, "redis at redis://127.0.0.1:6379");
    }

    #[test]
    fn in_process_is_always_ok() {
        let health = CacheHealth::in_process();
        assert_eq!(health.status().detail, "in-process");
        assert!(!health.is_redis());
    }
}
