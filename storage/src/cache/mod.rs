//! Redis, or in-process stand-ins, behind one set of traits: a tenant-scoped [`Cache`]
//! with the seed's TTLs, a fixed-window [`RateLimiter`], a pub/sub [`Bus`] between War
//! Room nodes, and system-wide values such as the data mode.
//!
//! # Design
//!
//! - **Two implementations of each trait.** With `[redis] url` empty, [`connect`] returns
//!   the in-process ones ([`memory`]): right for a single node. With a URL it returns the
//!   Redis ones ([`redis`], over `fred`), which several nodes share.
//! - **Redis is never needed for a right answer.** Every Redis command fails fast (no
//!   queueing while disconnected; `redis.command_timeout` otherwise). A cache that fails
//!   is a miss ([`read_through`] then loads from the source and does not store), the rate
//!   limiter counts in process instead ([`redis::RedisRateLimiter`]), and the data mode's
//!   system of record is the database. [`CacheHealth`] records each outage (logged once
//!   when it starts and once when it ends) for the `cache` part of health.
//! - **Tenancy is in the key.** Every entry key is built by [`Keyspace`] from the
//!   configured prefix and the organisation, length-prefixed so that no organisation id or
//!   entry name can spell another organisation's key.
//! - **Invalidation by generation.** Each organisation has a generation number;
//!   [`Cache::invalidate_org`] increments it, and an entry stored under an older
//!   generation is a miss. A reader records the generation *before* it loads from the
//!   source and stores under that one, so a load that raced with an invalidation can
//!   never be served afterwards (it is stored under the old generation).

pub mod bus;
pub mod health;
pub mod keys;
pub mod limiter;
pub mod memory;
pub mod read_through;
pub mod redis;
pub mod ttl;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use warroom_engine::config::RedisConfig;
use warroom_engine::OrgId;

pub use bus::{Bus, BusMessage, BusSubscription};
pub use health::{CacheHealth, CacheStatus};
pub use keys::Keyspace;
pub use limiter::{RateDecision, RateLimiter};
pub use read_through::read_through;
pub use ttl::{CacheKind, TtlPolicy};

/// Why a cache, limiter or bus call failed. Callers treat every one as "do without".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// Redis is unreachable, timed out or refused the command.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The configuration cannot work (a bad URL).
    #[error("redis configuration: {0}")]
    Config(String),
}

/// Result of a cache call.
pub type CacheResult<T> = Result<T, CacheError>;

/// The generation of an organisation's entries (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

/// What [`Cache::get`] found: the value if a current one is stored, and the generation a
/// value loaded now must be stored under.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lookup {
    /// The stored bytes, when present, unexpired and of the current generation.
    pub value: Option<Vec<u8>>,
    /// The organisation's current generation.
    pub generation: Generation,
}

/// A tenant-scoped byte cache with per-entry lifetimes.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The organisation's entry `key`, and its current generation.
    async fn get(&self, org: &OrgId, key: &str) -> CacheResult<Lookup>;

    /// Stores `value` for `ttl` under `generation` (from the [`Lookup`] made before the
    /// value was loaded); a value of an older generation than the current one will never
    /// be returned.
    async fn put(
        &self,
        org: &OrgId,
        key: &str,
        value: &[u8],
        ttl: Duration,
        generation: Generation,
    ) -> CacheResult<()>;

    /// Removes one entry.
    async fn delete(&self, org: &OrgId, key: &str) -> CacheResult<()>;

    /// Makes every entry of the organisation stale (other organisations are untouched).
    async fn invalidate_org(&self, org: &OrgId) -> CacheResult<()>;

    /// A system-wide value (not tied to an organisation), such as the data mode.
    async fn get_system(&self, key: &str) -> CacheResult<Option<Vec<u8>>>;

    /// Sets a system-wide value, for `ttl` or (with `None`) until it is replaced.
    async fn put_system(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> CacheResult<()>;
}

/// The cache, limiter and bus of one engine, and their health.
#[derive(Clone)]
pub struct CacheServices {
    /// Tenant-scoped cache.
    pub cache: Arc<dyn Cache>,
    /// Rate-limit counters.
    pub limiter: Arc<dyn RateLimiter>,
    /// Pub/sub between nodes.
    pub bus: Arc<dyn Bus>,
    /// Lifetimes per kind of entry.
    pub ttl: TtlPolicy,
    /// Reachability, for health.
    pub health: Arc<CacheHealth>,
    /// Keeps the Redis connections (and their health probe) alive; `None` in process.
    connection: Option<Arc<redis::RedisConnection>>,
}

impl CacheServices {
    /// The in-process services (one node; nothing shared).
    pub fn in_process(config: &RedisConfig) -> Self {
        let keys = Keyspace::new(&config.key_prefix);
        Self {
            cache: Arc::new(memory::MemoryCache::new(
                keys.clone(),
                config.memory_max_entries,
            )),
            limiter: Arc::new(limiter::MemoryRateLimiter::new(
                keys.clone(),
                config.memory_max_rate_keys,
            )),
            bus: Arc::new(bus::MemoryBus::new(config.bus_capacity)),
            ttl: TtlPolicy::from_config(&config.ttl),
            health: Arc::new(CacheHealth::in_process()),
            connection: None,
        }
    }

    /// Closes the Redis connections (a no-op in process).
    pub async fn close(&self) {
        if let Some(connection) = &self.connection {
            connection.close().await;
        }
    }
}

/// Connects what `[redis]` describes: in process when `url` is empty, Redis otherwise.
/// An unreachable Redis is not an error here: the services start degraded and reconnect
/// in the background. Only a malformed URL fails.
pub async fn connect(config: &RedisConfig) -> CacheResult<CacheServices> {
    if config.url.trim().is_empty() {
        return Ok(CacheServices::in_process(config));
    }
    let connection = Arc::new(redis::RedisConnection::connect(config).await?);
    let keys = Keyspace::new(&config.key_prefix);
    Ok(CacheServices {
        cache: Arc::new(redis::RedisCache::new(
            Arc::clone(&connection),
            keys.clone(),
        )),
        limiter: Arc::new(redis::RedisRateLimiter::new(
            Arc::clone(&connection),
            limiter::MemoryRateLimiter::new(keys.clone(), config.memory_max_rate_keys),
            keys.clone(),
        )),
        bus: Arc::new(redis::RedisBus::new(
            Arc::clone(&connection),
            keys,
            config.bus_capacity,
        )),
        ttl: TtlPolicy::from_config(&config.ttl),
        health: Arc::clone(connection.health()),
        connection: Some(connection),
    })
}
