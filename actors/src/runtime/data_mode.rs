//! The global data mode (MOCK/LIVE): persisted in the database (`system_settings`, the
//! system of record), its current value mirrored in the cache for other nodes, and every
//! change published on the bus so that every node applies it at once. Shared by the
//! runtime and the `warroom data-mode` command.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warroom_engine::DataMode;
use warroom_storage::cache::CacheServices;
use warroom_storage::sql::DATA_MODE_KEY;
use warroom_storage::Store;

use super::Runtime;

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

impl Runtime {
    /// Switches the global data mode: persists it (the database is the system of
    /// record), applies it here (mock sources run only in MOCK), pushes
    /// `system:data-mode-change` to every organisation's sockets, and shares it with the
    /// other nodes (cache value and bus message). Returns whether the mode changed. When
    /// the database refuses the write nothing changes and the error is returned.
    pub async fn set_data_mode(&self, mode: DataMode) -> Result<bool, String> {
        let _serialised = self.mode_change.lock().await;
        persist(self.store.as_ref(), mode).await?;
        let changed = self.apply_data_mode(mode).await;
        share(&self.cache, mode, &self.node_id).await;
        Ok(changed)
    }

    /// Applies a mode decided elsewhere (bus, database), without persisting or
    /// publishing it. The caller holds `mode_change`.
    pub(super) async fn apply_data_mode(&self, mode: DataMode) -> bool {
        let previous = std::mem::replace(&mut *self.data_mode.write(), mode);
        if previous == mode {
            return false;
        }
        tracing::info!(
            from = previous.as_str(),
            to = mode.as_str(),
            "data mode changed"
        );
        // Refuse the old mode's records first: a batch its sources are submitting right
        // now is either in before this returns or refused (and never acknowledged).
        // This also resets every organisation's windows (a new dataflow generation); each
        // organisation actor then drops what it holds of the old mode and pushes
        // `system:data-mode-change`, in order with the stream (see `OrgUpdate::Reset`).
        self.ingestor.set_mode(mode);
        self.stop_sources().await;
        if let Err(error) = self.start_sources(mode).await {
            tracing::error!(%error, mode = mode.as_str(), "sources did not start");
        }
        true
    }

    /// Applies a data-mode message from the bus (ignoring this node's own).
    pub(super) async fn on_data_mode_message(&self, payload: &[u8]) {
        match serde_json::from_slice::<DataModeMessage>(payload) {
            Ok(message) if message.origin == self.node_id => {}
            Ok(message) => {
                let _serialised = self.mode_change.lock().await;
                self.apply_data_mode(message.mode).await;
            }
            Err(error) => tracing::warn!(%error, "unreadable data-mode message on the bus"),
        }
    }

    /// Re-reads the persisted mode and applies it if it differs (a change whose bus
    /// message this node missed, or one made with `warroom data-mode`).
    pub(super) async fn sync_data_mode(&self) {
        match read(self.store.as_ref()).await {
            Ok(Some(mode)) if mode != self.data_mode() => {
                let _serialised = self.mode_change.lock().await;
                self.apply_data_mode(mode).await;
            }
            Ok(_) => {}
            // The storage part of health reports an unreachable database.
            Err(error) => tracing::debug!(%error, "data mode not re-read"),
        }
    }
}

/// Applies data-mode changes from other nodes (bus) and re-reads the persisted mode every
/// `sync_interval`, which also re-subscribes after the bus was unreachable.
pub(super) async fn watch_data_mode(runtime: std::sync::Weak<Runtime>, sync_interval: Duration) {
    let bus = match runtime.upgrade() {
        Some(runtime) => Arc::clone(&runtime.cache.bus),
        None => return,
    };
    let mut subscription = bus.subscribe(DATA_MODE_CHANNEL).await.ok();
    let mut sync = tokio::time::interval(sync_interval);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.tick().await;
    loop {
        let message = async {
            match subscription.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = message => {
                let Some(runtime) = runtime.upgrade() else { return };
                match message {
                    Some(message) => runtime.on_data_mode_message(&message.payload).await,
                    None => subscription = None,
                }
            }
            _ = sync.tick() => {
                let Some(runtime) = runtime.upgrade() else { return };
                if subscription.is_none() {
                    subscription = bus.subscribe(DATA_MODE_CHANNEL).await.ok();
                }
                runtime.sync_data_mode().await;
            }
        }
    }
}
