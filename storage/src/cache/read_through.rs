//! Read-through caching of serde values: the one way callers should use the [`Cache`].

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use warroom_engine::OrgId;

use super::Cache;

/// The organisation's entry `key` if cached, otherwise `load()`'s value, stored for `ttl`.
///
/// The cache can only ever save a load, never change an answer: when it fails (Redis
/// unreachable) or holds something unreadable, the value is loaded and returned as if
/// there were no cache; a value loaded while the organisation's entries were invalidated
/// is stored under the old generation and so never served (see the module docs).
pub async fn read_through<T, E, F, Fut>(
    cache: &dyn Cache,
    org: &OrgId,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let generation = match cache.get(org, key).await {
        Ok(lookup) => {
            if let Some(bytes) = lookup.value {
                match serde_json::from_slice(&bytes) {
                    Ok(value) => return Ok(value),
                    Err(error) => {
                        // Written by another version: reload and overwrite it.
                        tracing::debug!(%org, key, %error, "unreadable cache entry");
                    }
                }
            }
            Some(lookup.generation)
        }
        // Already recorded in the cache's health; do without it for this call.
        Err(_) => None,
    };
    let value = load().await?;
    if let Some(generation) = generation {
        if let Ok(bytes) = serde_json::to_vec(&value) {
            let _ = cache.put(org, key, &bytes, ttl, generation).await;
        }
    }
    Ok(value)
}
