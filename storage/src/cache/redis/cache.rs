//! [`Cache`] on Redis. An entry is stored as its generation (8 bytes, big endian) followed
//! by the value; a lookup reads the organisation's generation and the entry in one MGET
//! and returns the value only when the two agree.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Expiration, KeysInterface, Value};
use parking_lot::Mutex;
use warroom_engine::OrgId;

use super::RedisConnection;
use crate::cache::{Cache, CacheError, CacheResult, Generation, Keyspace, Lookup};

/// The Redis cache.
pub struct RedisCache {
    connection: Arc<RedisConnection>,
    keys: Keyspace,
    /// Organisations whose invalidation could not reach Redis: their entries are not
    /// trusted (every lookup fails, so callers load from the source) until it does.
    pending_invalidations: Mutex<HashSet<OrgId>>,
}

fn px(ttl: Duration) -> Expiration {
    Expiration::PX(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1))
}

fn parse_generation(value: &Value) -> Generation {
    Generation(
        value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0),
    )
}

impl RedisCache {
    /// A cache over `connection` with names from `keys`.
    pub fn new(connection: Arc<RedisConnection>, keys: Keyspace) -> Self {
        Self {
            connection,
            keys,
            pending_invalidations: Mutex::new(HashSet::new()),
        }
    }

    /// Retries an invalidation that failed earlier; an error while it still cannot.
    async fn settle_invalidation(&self, org: &OrgId) -> CacheResult<()> {
        if !self.pending_invalidations.lock().contains(org) {
            return Ok(());
        }
        let result = self
            .connection
            .fast()
            .incr::<i64, _>(self.keys.generation(org))
            .await;
        self.connection.observe("INCR", result)?;
        self.pending_invalidations.lock().remove(org);
        Ok(())
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, org: &OrgId, key: &str) -> CacheResult<Lookup> {
        self.settle_invalidation(org).await?;
        let result = self
            .connection
            .fast()
            .mget::<Vec<Value>, _>(vec![self.keys.generation(org), self.keys.entry(org, key)])
            .await;
        let mut values = self.connection.observe("MGET", result)?.into_iter();
        let generation = values
            .next()
            .map(|v| parse_generation(&v))
            .unwrap_or_default();
        let value = values
            .next()
            .and_then(|v| v.into_bytes())
            .and_then(|stored| {
                let (tag, payload) = stored.split_at_checked(8)?;
                let tag = u64::from_be_bytes(tag.try_into().ok()?);
                (tag == generation.0).then(|| payload.to_vec())
            });
        Ok(Lookup { value, generation })
    }

    async fn put(
        &self,
        org: &OrgId,
        key: &str,
        value: &[u8],
        ttl: Duration,
        generation: Generation,
    ) -> CacheResult<()> {
        if self.pending_invalidations.lock().contains(org) {
            return Ok(());
        }
        let mut stored = Vec::with_capacity(8 + value.len());
        stored.extend_from_slice(&generation.0.to_be_bytes());
        stored.extend_from_slice(value);
        let result = self
            .connection
            .fast()
            .set::<(), _, _>(
                self.keys.entry(org, key),
                Value::Bytes(stored.into()),
                Some(px(ttl)),
                None,
                false,
            )
            .await;
        self.connection.observe("SET", result)
    }

    async fn delete(&self, org: &OrgId, key: &str) -> CacheResult<()> {
        let result = self
            .connection
            .fast()
            .del::<i64, _>(self.keys.entry(org, key))
            .await;
        self.connection.observe("DEL", result).map(|_| ())
    }

    async fn invalidate_org(&self, org: &OrgId) -> CacheResult<()> {
        // The generation key has no expiry: were it to vanish, entries of generation 0
        // would become current again.
        let result = self
            .connection
            .fast()
            .incr::<i64, _>(self.keys.generation(org))
            .await;
        match self.connection.observe("INCR", result) {
            Ok(_) => {
                self.pending_invalidations.lock().remove(org);
                Ok(())
            }
            Err(error) => {
                self.pending_invalidations.lock().insert(org.clone());
                Err(error)
            }
        }
    }

    async fn get_system(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        let result = self
            .connection
            .fast()
            .get::<Value, _>(self.keys.system(key))
            .await;
        Ok(self
            .connection
            .observe("GET", result)?
            .into_bytes()
            .map(|b| b.to_vec()))
    }

    async fn put_system(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> CacheResult<()> {
        let result = self
            .connection
            .fast()
            .set::<(), _, _>(
                self.keys.system(key),
                Value::Bytes(value.to_vec().into()),
                ttl.map(px),
                None,
                false,
            )
            .await;
        self.connection.observe("SET", result)
    }
}

impl From<fred::error::Error> for CacheError {
    fn from(error: fred::error::Error) -> Self {
        CacheError::Unavailable(error.to_string())
    }
}
