//! Outgoing webhooks: organisation events (crises) delivered to the endpoints an admin
//! configured, signed like incoming ones ([`super::signature`]).
//!
//! The organisation actor only calls [`WebhookQueue::offer`], a `try_send` on a bounded
//! channel: it never waits for a receiver, the database or the network. When the queue is
//! full the event is dropped and counted (`dropped`, shown by health and `/metrics`). A
//! dispatcher task reads the queue, looks up the organisation's endpoints and starts one
//! delivery per matching endpoint; each delivery retries with exponential backoff and
//! jitter up to `webhooks.max_attempts`, logging every attempt in the store.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use uuid::Uuid;
use warroom_engine::clock::SharedClock;
use warroom_engine::config::WebhooksConfig;
use warroom_engine::OrgId;
use warroom_storage::webhooks::{DeliveryOutcome, DeliveryRecord, WebhookRecord};
use warroom_storage::Store;

use super::signature;

/// Events an endpoint may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 4] = [
    "crisis:detected",
    "crisis:escalated",
    "crisis:acknowledged",
    "crisis:resolved",
];

/// One organisation event to deliver.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// Whose event.
    pub org: OrgId,
    /// One of [`WEBHOOK_EVENTS`].
    pub event: &'static str,
    /// The payload (the crisis).
    pub data: serde_json::Value,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Counters of outgoing webhooks.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Events accepted into the queue.
    pub enqueued: AtomicU64,
    /// Events dropped because the queue (or the pending deliveries) were full.
    pub dropped: AtomicU64,
    /// Deliveries that got a 2xx.
    pub delivered: AtomicU64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: AtomicU64,
    /// Deliveries abandoned after the last attempt.
    pub gave_up: AtomicU64,
    /// Deliveries started and not finished (including those waiting to retry).
    pub pending: AtomicUsize,
}

/// The engine's side of the queue: cheap to clone, never blocks.
#[derive(Clone)]
pub struct WebhookQueue {
    tx: mpsc::Sender<WebhookEvent>,
    stats: Arc<WebhookStats>,
    capacity: usize,
}

impl WebhookQueue {
    /// Queues an event for delivery, or drops and counts it when the queue is full.
    pub fn offer(&self, event: WebhookEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let event = match &e {
                    mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => {
                        ev
                    }
                };
                tracing::warn!(org = %event.org, event = event.event, "webhook queue full; event dropped");
            }
        }
    }

    /// Events waiting in the queue.
    pub fn depth(&self) -> usize {
        self.capacity.saturating_sub(self.tx.capacity())
    }

    /// Most events the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<WebhookStats> {
        &self.stats
    }
}

/// Starts outgoing webhook delivery.
pub struct WebhookDispatcher;

struct Delivery {
    config: WebhooksConfig,
    store: Arc<dyn Store>,
    clock: SharedClock,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
    stats: Arc<WebhookStats>,
}

impl WebhookDispatcher {
    /// Spawns the dispatcher; returns the queue to offer events to and the task (which
    /// ends when every [`WebhookQueue`] is dropped).
    pub fn start(
        config: &WebhooksConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<(WebhookQueue, JoinHandle<()>), String> {
        let client = reqwest::Client::builder()
            // A redirect could lead a delivery to an address the URL check refused.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .user_agent(concat!("warroom-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let stats = Arc::new(WebhookStats::default());
        let delivery = Arc::new(Delivery {
            config: config.clone(),
            store,
            clock,
            client,
            slots: Arc::new(Semaphore::new(config.concurrency)),
            stats: Arc::clone(&stats),
        });
        let task = tokio::spawn(dispatch(rx, delivery));
        Ok((
            WebhookQueue {
                tx,
                stats,
                capacity: config.queue_capacity,
            },
            task,
        ))
    }
}

/// The delay after failed attempt `attempt` (from 1): doubling from `initial_backoff`,
/// capped at `max_backoff`, then jittered down to half of it at random.
fn backoff(config: &WebhooksConfig, attempt: u32) -> Duration {
    let base = config
        .initial_backoff
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(config.max_backoff);
    // Jitter spreads the retries of many endpoints failing at once.
    base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

async fn dispatch(mut rx: mpsc::Receiver<WebhookEvent>, delivery: Arc<Delivery>) {
    while let Some(event) = rx.recv().await {
        let Some(endpoints) = delivery.endpoints(&event.org).await else {
            delivery.stats.gave_up.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        for hook in endpoints
            .into_iter()
            .filter(|h| h.events.iter().any(|e| e == event.event))
        {
            // Bounded work in flight: beyond it, events are dropped and counted.
            if delivery.stats.pending.load(Ordering::Acquire) >= delivery.config.queue_capacity {
                delivery.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            delivery.stats.pending.fetch_add(1, Ordering::AcqRel);
            let delivery = Arc::clone(&delivery);
            let event = event.clone();
            tokio::spawn(async move {
                delivery.deliver(&hook, &event).await;
                delivery.stats.pending.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}

impl Delivery {
    /// The organisation's endpoints; the store is retried a few times, then the event is
    /// given up (logged).
    async fn endpoints(&self, org: &OrgId) -> Option<Vec<WebhookRecord>> {
        let mut delay = self.config.initial_backoff;
        for attempt in 1..=3 {
            match self.store.webhooks().webhooks(org).await {
                Ok(hooks) => return Some(hooks),
                Err(error) if attempt == 3 => {
                    tracing::error!(%org, %error, "webhook endpoints unreadable; event not delivered");
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_backoff);
                }
            }
        }
        None
    }

    async fn deliver(&self, hook: &WebhookRecord, event: &WebhookEvent) {
        let delivery_id = Uuid::new_v4();
        let body = json!({
            "id": delivery_id,
            "event": event.event,
            "org": event.org,
            "timestamp": event.at,
            "data": event.data,
        })
        .to_string()
        .into_bytes();
        let max = self.config.max_attempts;
        for attempt in 1..=max {
            let (ok, status, error) = self.attempt(hook, event, delivery_id, &body).await;
            let outcome = if ok {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                DeliveryOutcome::Delivered
            } else {
                self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                if attempt == max {
                    self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                    DeliveryOutcome::Failed
                } else {
                    DeliveryOutcome::Retrying
                }
            };
            let record = DeliveryRecord {
                id: Uuid::new_v4(),
                webhook_id: hook.id,
                org: hook.org.clone(),
                event: event.event.to_owned(),
                delivery_id,
                attempt,
                outcome,
                response_status: status,
                error,
                attempted_at: self.clock.now(),
            };
            if let Err(error) = self.store.webhooks().insert_delivery(&record).await {
                tracing::warn!(webhook = %hook.id, %error, "delivery attempt not logged");
            }
            if outcome != DeliveryOutcome::Retrying {
                if outcome == DeliveryOutcome::Failed {
                    tracing::warn!(webhook = %hook.id, %delivery_id, attempts = max, "webhook delivery abandoned");
                }
                return;
            }
            tokio::time::sleep(backoff(&self.config, attempt)).await;
        }
    }

    /// One POST: `(2xx?, status, error)`.
    async fn attempt(
        &self,
        hook: &WebhookRecord,
        event: &WebhookEvent,
        delivery_id: Uuid,
        body: &[u8],
    ) -> (bool, Option<u16>, Option<String>) {
        // The semaphore is never closed.
        let Ok(_slot) = self.slots.acquire().await else {
            return (false, None, Some("shutting down".to_owned()));
        };
        let timestamp = self.clock.now().timestamp();
        let id = delivery_id.to_string();
        let signature = signature::sign(hook.secret.as_bytes(), timestamp, &id, body);
        let result = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::ORG_HEADER, hook.org.as_str())
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::DELIVERY_HEADER, &id)
            .header(signature::EVENT_HEADER, event.event)
            .header(signature::SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                (true, Some(response.status().as_u16()), None)
            }
            Ok(response) => {
                let status = response.status();
                (
                    false,
                    Some(status.as_u16()),
                    Some(format!("receiver answered HTTP {}", status.as_u16())),
                )
            }
            Err(e) => {
                let reason = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                (false, None, Some(reason.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> WebhookEvent {
        WebhookEvent {
            org: OrgId::new("alpha"),
            event: "crisis:detected",
            data: json!({}),
            at: Utc::now(),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, mut rx) = mpsc::channel(2);
        let queue = WebhookQueue {
            tx,
            stats: Arc::default(),
            capacity: 2,
        };
        for _ in 0..5 {
            queue.offer(event());
        }
        assert_eq!(queue.depth(), 2);
        assert_eq!(queue.stats().enqueued.load(Ordering::Relaxed), 2);
        assert_eq!(queue.stats().dropped.load(Ordering::Relaxed), 3);
        assert!(rx.try_recv().is_ok());
        assert_eq!(queue.depth(), 1);
        drop(rx);
        queue.offer(event());
        assert_eq!(
            queue.stats().dropped.load(Ordering::Relaxed),
            4,
            "closed counts too"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let mut config = warroom_engine::Config::defaults().webhooks;
        config.initial_backoff = Duration::from_millis(100);
        config.max_backoff = Duration::from_millis(1000);
        for (attempt, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let d = backoff(&config, attempt).as_millis();
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d} ms");
        }
    }
}
