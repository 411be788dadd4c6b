//! The in-process cache: a bounded map with per-entry expiry. (The in-process rate
//! limiter and bus live with their traits, in `limiter` and `bus`.)

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::time::Instant;
use warroom_engine::OrgId;

use super::{Cache, CacheResult, Generation, Keyspace, Lookup};

pub use super::bus::MemoryBus;
pub use super::limiter::MemoryRateLimiter;

struct Entry {
    value: Vec<u8>,
    generation: Generation,
    expires_at: Instant,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Entry>,
    /// `(expires_at, key)` of every entry: expired entries and, when full, the entry
    /// closest to expiry are evicted without scanning.
    by_expiry: BTreeSet<(Instant, String)>,
    generations: HashMap<OrgId, Generation>,
    system: HashMap<String, (Vec<u8>, Option<Instant>)>,
}

impl Entries {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_expiry.remove(&(old.expires_at, key.to_owned()));
        }
    }
}

/// Entries in this process, at most `max_entries` of them.
pub struct MemoryCache {
    keys: Keyspace,
    max_entries: usize,
    entries: Mutex<Entries>,
}

impl MemoryCache {
    /// A cache of at most `max_entries` entries.
    pub fn new(keys: Keyspace, max_entries: usize) -> Self {
        Self {
            keys,
            max_entries: max_entries.max(1),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Entries held now (expired ones included until they are evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().by_key.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, org: &OrgId, key: &str) -> CacheResult<Lookup> {
        let key = self.keys.entry(org, key);
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let generation = entries.generations.get(org).copied().unwrap_or_default();
        let value = match entries.by_key.get(&key) {
            Some(entry) if entry.expires_at > now && entry.generation == generation => {
                Some(entry.value.clone())
            }
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        };
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
        let key = self.keys.entry(org, key);
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if generation < entries.generations.get(org).copied().unwrap_or_default() {
            // Loaded before an invalidation: it would never be served.
            return Ok(());
        }
        entries.remove(&key);
        while let Some((expires_at, _)) = entries.by_expiry.first() {
            if *expires_at > now && entries.by_key.len() < self.max_entries {
                break;
            }
            if let Some((_, evicted)) = entries.by_expiry.pop_first() {
                entries.by_key.remove(&evicted);
            }
        }
        let expires_at = now + ttl;
        entries.by_expiry.insert((expires_at, key.clone()));
        entries.by_key.insert(
            key,
            Entry {
                value: value.to_vec(),
                generation,
                expires_at,
            },
        );
        Ok(())
    }

    async fn delete(&self, org: &OrgId, key: &str) -> CacheResult<()> {
        let key = self.keys.entry(org, key);
        self.entries.lock().remove(&key);
        Ok(())
    }

    async fn invalidate_org(&self, org: &OrgId) -> CacheResult<()> {
        let prefix = self.keys.org_prefix(org);
        let mut entries = self.entries.lock();
        let next = Generation(entries.generations.get(org).map_or(1, |g| g.0 + 1));
        entries.generations.insert(org.clone(), next);
        // Free the slots now rather than waiting for expiry.
        let stale: Vec<String> = entries
            .by_key
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for key in stale {
            entries.remove(&key);
        }
        Ok(())
    }

    async fn get_system(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        let now = Instant::now();
        let entries = self.entries.lock();
        Ok(entries
            .system
            .get(key)
            .filter(|(_, expires)| expires.is_none_or(|at| at > now))
            .map(|(value, _)| value.clone()))
    }

    async fn put_system(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> CacheResult<()> {
        let expires = ttl.map(|ttl| Instant::now() + ttl);
        // System values are a handful of named keys (the data mode), so no bound is needed.
        self.entries
            .lock()
            .system
            .insert(key.to_owned(), (value.to_vec(), expires));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_the_soonest_to_expire_is_evicted_when_full() {
        let cache = MemoryCache::new(Keyspace::new("t"), 2);
        let org = OrgId::new("o");
        let g = Generation::default();
        cache
            .put(&org, "a", b"1", Duration::from_secs(10), g)
            .await
            .unwrap();
        cache
            .put(&org, "b", b"2", Duration::from_secs(60), g)
            .await
            .unwrap();
        cache
            .put(&org, "c", b"3", Duration::from_secs(60), g)
            .await
            .unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&org, "a").await.unwrap().value, None);
        assert_eq!(
            cache.get(&org, "b").await.unwrap().value,
            Some(b"2".to_vec())
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(cache.get(&org, "b").await.unwrap().value, None);
    }

    #[tokio::test]
    async fn a_value_loaded_before_an_invalidation_is_not_stored() {
        let cache = MemoryCache::new(Keyspace::new("t"), 10);
        let org = OrgId::new("o");
        let before = cache.get(&org, "k").await.unwrap().generation;
        cache.invalidate_org(&org).await.unwrap();
        cache
            .put(&org, "k", b"stale", Duration::from_secs(60), before)
            .await
            .unwrap();
        assert_eq!(cache.get(&org, "k").await.unwrap().value, None);
        assert!(cache.is_empty());
    }
}
