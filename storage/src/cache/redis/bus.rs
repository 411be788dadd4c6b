//! [`Bus`] on Redis pub/sub: publishing on the command client, receiving on the dedicated
//! subscriber client, whose messages one task routes to this process's subscribers.

use std::sync::Arc;

use async_trait::async_trait;
use fred::prelude::{EventInterface, PubsubInterface, Value};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::RedisConnection;
use crate::cache::bus::{Bus, BusMessage, BusSubscription, MemoryBus};
use crate::cache::{CacheError, CacheResult, Keyspace};

/// The Redis bus.
pub struct RedisBus {
    connection: Arc<RedisConnection>,
    keys: Keyspace,
    local: Arc<MemoryBus>,
    router: JoinHandle<()>,
}

impl RedisBus {
    /// A bus over `connection`, buffering `capacity` messages per local subscriber.
    pub fn new(connection: Arc<RedisConnection>, keys: Keyspace, capacity: usize) -> Self {
        let local = Arc::new(MemoryBus::new(capacity));
        let router = tokio::spawn(route(
            connection.subscriber.message_rx(),
            keys.clone(),
            Arc::clone(&local),
        ));
        Self {
            connection,
            keys,
            local,
            router,
        }
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.router.abort();
    }
}

async fn route(
    mut messages: broadcast::Receiver<fred::types::Message>,
    keys: Keyspace,
    local: Arc<MemoryBus>,
) {
    loop {
        match messages.recv().await {
            Ok(message) => {
                let Some(channel) = keys.channel_name(&message.channel) else {
                    continue;
                };
                let Some(payload) = message.value.into_bytes() else {
                    continue;
                };
                local.deliver(BusMessage {
                    channel: channel.to_owned(),
                    payload,
                });
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "redis bus router fell behind; messages lost");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, channel: &str, payload: &[u8]) -> CacheResult<()> {
        let result = self
            .connection
            .fast()
            .publish::<i64, _, _>(
                self.keys.channel(channel),
                Value::Bytes(payload.to_vec().into()),
            )
            .await;
        self.connection.observe("PUBLISH", result).map(|_| ())
    }

    async fn subscribe(&self, channel: &str) -> CacheResult<BusSubscription> {
        // Local first, so nothing published after the Redis subscription is missed.
        let subscription = self.local.subscribe_local(channel);
        // Through the subscriber client itself (not with options), so that it tracks the
        // channel and re-subscribes after a reconnection.
        let subscribe = self
            .connection
            .subscriber
            .subscribe(self.keys.channel(channel));
        match tokio::time::timeout(
            self.connection.options.timeout.unwrap_or_default(),
            subscribe,
        )
        .await
        {
            Ok(result) => self.connection.observe("SUBSCRIBE", result)?,
            Err(_) => {
                self.connection
                    .health()
                    .record_error("SUBSCRIBE", "timed out");
                return Err(CacheError::Unavailable("SUBSCRIBE timed out".to_owned()));
            }
        }
        Ok(subscription)
    }
}
