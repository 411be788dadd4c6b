//! The global data mode (MOCK/LIVE): persisted in the database (`system_settings`, the
//! system of record), its current value mirrored in the cache for other nodes, and every
//! change published on the bus so that every node applies it at once. Shared by the
//! runtime and the `warroom data-mode` command.

use serde::{Deserialize, Serialize};
use warroom_engine::DataMode;
use warroom_storage::cache::CacheServices;
use warroom_storage::sql::DATA_MODE_KEY;
use warroom_storage::Store;

/// The bus channel of data-mode changes.
pub const DATA_MODE_CHANNEL: &str = "system:data-mode";

/// What is published on [`DATA_MODE_CHANNEL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataModeMessage {
    /// The new mode.
    pub mode: DataMode,
    /// The node that made the change (it has applied it already and ignores its own).
    pub origin: String,
}

/// The persisted mode; when none is stored yet, `seed` (the configuration's `data.mode`)
/// is stored and returned.
pub async fn load_or_seed(store: &dyn Store, seed: DataMode) -> Result<DataMode, String> {
    match read(store).await? {
        Some(mode) => Ok(mode),
        None => {
            store
                .set_setting(DATA_MODE_KEY, seed.as_str())
                .await
                .map_err(|e| format!("storing the initial data mode: {e}"))?;
            Ok(seed)
        }
    }
}

/// The persisted mode, if one is stored.
pub async fn read(store: &dyn Store) -> Result<Option<DataMode>, String> {
    let stored = store
        .get_setting(DATA_MODE_KEY)
        .await
        .map_err(|e| format!("reading the data mode: {e}"))?;
    stored
        .map(|value| {
            DataMode::parse(&value).ok_or_else(|| {
                format!("system_settings holds an invalid data mode {value:?} (MOCK or LIVE)")
            })
        })
        .transpose()
}

/// Persists `mode` (an error leaves everything as it was).
pub async fn persist(store: &dyn Store, mode: DataMode) -> Result<(), String> {
    store
        .set_setting(DATA_MODE_KEY, mode.as_str())
        .await
        .map_err(|e| format!("persisting the data mode: {e}"))
}

/// Mirrors `mode` in the cache and publishes the change, best effort: when Redis is
/// unreachable the other nodes still pick the change up from the database within
/// `redis.mode_sync_interval`.
pub async fn share(cache: &CacheServices, mode: DataMode, origin: &str) {
    if let Err(error) = cache
        .cache
        .put_system(DATA_MODE_KEY, mode.as_str().as_bytes(), None)
        .await
    {
        tracing::warn!(%error, "data mode not mirrored in the cache; other nodes re-read the database");
    }
    let message = DataModeMessage {
        mode,
        origin: origin.to_owned(),
    };
    let payload = serde_json::to_vec(&message).unwrap_or_default();
    if let Err(error) = cache.bus.publish(DATA_MODE_CHANNEL, &payload).await {
        tracing::warn!(%error, "data mode change not published; other nodes re-read the database");
    }
}
