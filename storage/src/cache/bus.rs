//! Publish/subscribe of small messages on named channels, so that several War Room nodes
//! see the same system events. In process it is a tokio broadcast per channel.

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::CacheResult;

/// One message received on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// The channel's name (without the key prefix).
    pub channel: String,
    /// The bytes published.
    pub payload: Bytes,
}

/// Pub/sub between nodes. Delivery is at most once: a message published while a node is
/// disconnected is not replayed to it, so every user of the bus also has a way to catch
/// up (the data mode is re-read from the database periodically).
#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes `payload` on `channel` to every subscriber, this node's included.
    async fn publish(&self, channel: &str, payload: &[u8]) -> CacheResult<()>;

    /// Subscribes to `channel`.
    async fn subscribe(&self, channel: &str) -> CacheResult<BusSubscription>;
}

/// A subscription: messages of one channel, in order.
pub struct BusSubscription {
    channel: String,
    receiver: broadcast::Receiver<BusMessage>,
}

impl BusSubscription {
    /// Wraps a receiver that may carry other channels' messages too.
    pub(crate) fn new(channel: &str, receiver: broadcast::Receiver<BusMessage>) -> Self {
        Self {
            channel: channel.to_owned(),
            receiver,
        }
    }

    /// The next message of the channel; `None` when the bus is gone. A subscriber that fell
    /// more than the bus capacity behind loses the oldest messages (logged).
    pub async fn recv(&mut self) -> Option<BusMessage> {
        loop {
            match self.receiver.recv().await {
                Ok(message) if message.channel == self.channel => return Some(message),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(channel = %self.channel, missed, "bus subscriber fell behind; oldest messages lost");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The in-process bus: one broadcast channel per bus channel.
pub struct MemoryBus {
    capacity: usize,
    channels: Mutex<HashMap<String, broadcast::Sender<BusMessage>>>,
}

impl MemoryBus {
    /// A bus buffering `capacity` messages per subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// Delivers a message to this process's subscribers of its channel.
    pub(crate) fn deliver(&self, message: BusMessage) {
        if let Some(sender) = self.channels.lock().get(&message.channel) {
            // No subscriber is not an error: nobody is listening yet.
            let _ = sender.send(message);
        }
    }

    /// A subscription to `channel` in this process.
    pub(crate) fn subscribe_local(&self, channel: &str) -> BusSubscription {
        let receiver = self
            .channels
            .lock()
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        BusSubscription::new(channel, receiver)
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, channel: &str, payload: &[u8]) -> CacheResult<()> {
        self.deliver(BusMessage {
            channel: channel.to_owned(),
            payload: Bytes::copy_from_slice(payload),
        });
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> CacheResult<BusSubscription> {
        Ok(self.subscribe_local(channel))
    }
}
