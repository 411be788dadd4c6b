//! [`RateLimiter`] on Redis: one atomic script per hit, and the in-process limiter when
//! Redis cannot answer (never failing open, never silently).

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::ClientLike;
use fred::types::{ClusterHash, CustomCommand};

use super::RedisConnection;
use crate::cache::limiter::{MemoryRateLimiter, RateDecision, RateLimiter};
use crate::cache::Keyspace;

/// INCR, and start the window's expiry if it has none (the first hit, or a key that lost
/// its TTL), atomically; returns the count and the milliseconds left in the window.
const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
";

/// The count and the milliseconds left of a window, without counting.
const PEEK_SCRIPT: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = redis.call('PTTL', KEYS[1])
return {count, left}
";

/// The Redis rate limiter, shared by every node.
pub struct RedisRateLimiter {
    connection: Arc<RedisConnection>,
    fallback: MemoryRateLimiter,
    keys: Keyspace,
}

impl RedisRateLimiter {
    /// A limiter over `connection` that counts in `fallback` while Redis is unreachable.
    pub fn new(
        connection: Arc<RedisConnection>,
        fallback: MemoryRateLimiter,
        keys: Keyspace,
    ) -> Self {
        Self {
            connection,
            fallback,
            keys,
        }
    }

    /// The in-process counters used during outages.
    pub fn fallback(&self) -> &MemoryRateLimiter {
        &self.fallback
    }
}

impl RedisRateLimiter {
    /// Runs `script` on `key` with `args`; its reply is `{count, milliseconds left}`.
    /// `None` when Redis cannot answer or answers something else (then the caller counts
    /// in process: never failing open, never silently).
    async fn count_and_ttl(&self, script: &str, key: &str, args: &[String]) -> Option<(u64, i64)> {
        // The script's only key is its third argument.
        let eval = CustomCommand::new_static("EVAL", ClusterHash::Offset(2), false);
        let mut command = vec![script.to_owned(), "1".to_owned(), self.keys.rate(key)];
        command.extend_from_slice(args);
        let result = self
            .connection
            .fast()
            .custom::<Vec<i64>, _>(eval, command)
            .await;
        let reply = match self.connection.observe("EVAL", result) {
            Ok(reply) if reply.len() == 2 => Some((u64::try_from(reply[0]).unwrap_or(0), reply[1])),
            Ok(reply) => {
                tracing::error!(
                    ?reply,
                    "unexpected rate-limit script reply; counting in process"
                );
                None
            }
            // The outage itself is logged once by health; each call is counted.
            Err(_) => None,
        };
        if reply.is_none() {
            self.connection.health().record_fallback();
        }
        reply
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        match self
            .count_and_ttl(HIT_SCRIPT, key, &[window_ms.to_string()])
            .await
        {
            Some((count, left)) => {
                let left = Duration::from_millis(u64::try_from(left).unwrap_or(window_ms));
                RateDecision::of(count, limit, left)
            }
            None => self.fallback.hit_now(key, limit, window),
        }
    }

    async fn peek(&self, key: &str, limit: u64) -> RateDecision {
        match self.count_and_ttl(PEEK_SCRIPT, key, &[]).await {
            Some((count, left)) => {
                // A key without expiry, or none (-2), has no window left to wait.
                let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
                RateDecision::of(count + 1, limit, left)
            }
            None => self.fallback.peek_now(key, limit),
        }
    }
}
