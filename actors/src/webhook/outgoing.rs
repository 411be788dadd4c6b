//! Outgoing webhooks: organisation events (crises) delivered to the endpoints an admin
//! configured, signed like incoming ones ([`super::signature`]).
//!
//! The organisation actor only calls [`WebhookQueue::offer`], a `try_send` on a bounded
//! channel: it never waits for a receiver, the database or the network. When the queue is
//! full the event is dropped and counted (`dropped`, shown by health and `/metrics`). A
//! dispatcher task reads the queue, looks up the organisation's endpoints and, for each
//! matching endpoint, writes a pending row to the outbox (`webhook_outbox`) *before* the
//! first attempt, then delivers it. Each delivery retries with exponential backoff and
//! jitter up to `webhooks.max_attempts`; a receiver's `Retry-After` (seconds or an HTTP
//! date, capped by `webhooks.max_retry_after`) is a floor on the next delay. Every attempt
//! is logged (`webhook_deliveries`) and recorded on the outbox row (attempts made, next
//! attempt time), which ends delivered or abandoned.
//!
//! **Restarts.** On start the dispatcher re-delivers every pending outbox row at its
//! `next_attempt_at`, continuing its attempt count, so queued deliveries and pending
//! retries survive a restart and the attempt policy holds across it. Delivery is at least
//! once: a crash between a receiver's answer and the row's update repeats that attempt,
//! with the same `X-Warroom-Delivery` id (receivers de-duplicate by it). An event still
//! in the in-memory queue at a crash (normally for milliseconds) has no row yet and is
//! lost; the crisis itself is stored.
//!
//! **Targets.** The receiver's host is resolved before every attempt and the client
//! connects only to addresses [`super::target`] accepts; a refused target abandons the
//! delivery at once (retrying cannot help).

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
use warroom_storage::webhooks::{
    DeliveryOutcome, DeliveryRecord, OutboxEntry, OutboxStatus, WebhookRecord, MAX_OUTBOX_PAGE,
};
use warroom_storage::Store;

use super::signature;
use super::target::{self, GuardedResolver, HostResolver, SystemResolver};

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
    /// Deliveries abandoned after the last attempt (or refused targets).
    pub gave_up: AtomicU64,
    /// Deliveries started and not finished (including those waiting to retry).
    pub pending: AtomicUsize,
    /// Pending deliveries taken over from the outbox at start.
    pub resumed: AtomicU64,
    /// Deliveries stopped because their endpoint was deleted before the next attempt.
    pub cancelled: AtomicU64,
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
    resolver: Arc<dyn HostResolver>,
    slots: Arc<Semaphore>,
    stats: Arc<WebhookStats>,
}

impl WebhookDispatcher {
    /// Spawns the dispatcher (which first takes over the outbox's pending deliveries);
    /// returns the queue to offer events to and the task (which ends when every
    /// [`WebhookQueue`] is dropped).
    pub fn start(
        config: &WebhooksConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<(WebhookQueue, JoinHandle<()>), String> {
        Self::start_with_resolver(config, store, clock, Arc::new(SystemResolver))
    }

    /// [`WebhookDispatcher::start`] resolving receivers' host names with `resolver`.
    pub fn start_with_resolver(
        config: &WebhooksConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<(WebhookQueue, JoinHandle<()>), String> {
        let client = reqwest::Client::builder()
            // A redirect could lead a delivery to an address the URL check refused.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .user_agent(concat!("warroom-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(
                Arc::clone(&resolver),
                config.allow_private_targets,
            )))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let stats = Arc::new(WebhookStats::default());
        let delivery = Arc::new(Delivery {
            config: config.clone(),
            store,
            clock,
            client,
            resolver,
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

/// The delay before the next attempt: the backoff, or longer when the receiver asked
/// for it with `Retry-After` (capped at `max_retry_after`, so a receiver cannot park a
/// delivery forever).
fn retry_delay(config: &WebhooksConfig, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = backoff(config, attempt);
    retry_after.map_or(backoff, |asked| {
        asked.min(config.max_retry_after).max(backoff)
    })
}

/// Takes over the outbox's pending deliveries, then delivers queued events. Every
/// delivery runs in `tasks`, owned by this task: aborting the dispatcher (shutdown)
/// stops them all, and their pending rows are taken over by the next start.
async fn dispatch(mut rx: mpsc::Receiver<WebhookEvent>, delivery: Arc<Delivery>) {
    let mut tasks = tokio::task::JoinSet::new();
    for (hook, entry) in delivery.pending().await {
        delivery.stats.resumed.fetch_add(1, Ordering::Relaxed);
        delivery.spawn(&mut tasks, hook, entry);
    }
    loop {
        let event = tokio::select! {
            event = rx.recv() => match event {
                Some(event) => event,
                None => break,
            },
            // Reap finished deliveries so the set stays as small as the work in flight.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let Some(endpoints) = delivery.endpoints(&event.org).await else {
            delivery.stats.gave_up.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let now = delivery.clock.now();
        let mut queued = Vec::new();
        for hook in endpoints
            .into_iter()
            .filter(|h| h.events.iter().any(|e| e == event.event))
        {
            // Bounded work in flight: beyond it, events are dropped and counted.
            if delivery.stats.pending.load(Ordering::Acquire) + queued.len()
                >= delivery.config.queue_capacity
            {
                delivery.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let id = Uuid::new_v4();
            let body = json!({
                "id": id,
                "event": event.event,
                "org": event.org,
                "timestamp": event.at,
                "data": event.data,
            })
            .to_string();
            let entry = OutboxEntry {
                id,
                webhook_id: hook.id,
                org: hook.org.clone(),
                event: event.event.to_owned(),
                body,
                attempts: 0,
                status: OutboxStatus::Pending,
                next_attempt_at: now,
                created_at: now,
            };
            queued.push((hook, entry));
        }
        if queued.is_empty() {
            continue;
        }
        let entries: Vec<OutboxEntry> = queued.iter().map(|(_, e)| e.clone()).collect();
        delivery.enqueue(&entries).await;
        for (hook, entry) in queued {
            delivery.spawn(&mut tasks, hook, entry);
        }
    }
    // Every queue handle is gone: let the deliveries in flight finish.
    while tasks.join_next().await.is_some() {}
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

    /// Writes the outbox rows (retried a few times). When the database stays
    /// unavailable the deliveries still go out, but would not survive a restart.
    async fn enqueue(&self, entries: &[OutboxEntry]) {
        let mut delay = self.config.initial_backoff;
        for attempt in 1..=3 {
            match self.store.webhooks().enqueue_deliveries(entries).await {
                Ok(()) => return,
                Err(error) if attempt == 3 => {
                    tracing::error!(%error, deliveries = entries.len(), "webhook deliveries not written to the outbox; delivering without surviving a restart");
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    fn spawn(
        self: &Arc<Self>,
        tasks: &mut tokio::task::JoinSet<()>,
        hook: WebhookRecord,
        entry: OutboxEntry,
    ) {
        self.stats.pending.fetch_add(1, Ordering::AcqRel);
        let delivery = Arc::clone(self);
        tasks.spawn(async move {
            delivery.deliver(&hook, entry).await;
            delivery.stats.pending.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// The outbox's pending deliveries (after a restart) with their endpoints; each is
    /// delivered at its `next_attempt_at` with its attempts so far. An endpoint deleted
    /// meanwhile took its rows with it.
    async fn pending(&self) -> Vec<(WebhookRecord, OutboxEntry)> {
        let pending = match self
            .store
            .webhooks()
            .pending_deliveries(MAX_OUTBOX_PAGE)
            .await
        {
            Ok(pending) => pending,
            Err(error) => {
                tracing::error!(%error, "pending webhook deliveries not read; they wait for the next start");
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(pending.len());
        for entry in pending {
            match self
                .store
                .webhooks()
                .webhook(&entry.org, entry.webhook_id)
                .await
            {
                Ok(Some(hook)) => out.push((hook, entry)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, delivery = %entry.id, "webhook endpoint unreadable; delivery waits for the next start");
                }
            }
        }
        if !out.is_empty() {
            tracing::info!(
                deliveries = out.len(),
                "resuming pending webhook deliveries"
            );
        }
        out
    }

    async fn deliver(&self, hook: &WebhookRecord, entry: OutboxEntry) {
        let max = self.config.max_attempts.max(1);
        let mut attempts = entry.attempts;
        let mut due = entry.next_attempt_at;
        while attempts < max {
            let wait = (due - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            // An endpoint deleted meanwhile (its outbox rows went with it) gets nothing
            // more. When the store cannot say, the attempt goes ahead: a delivery is never
            // dropped on a guess.
            if let Ok(None) = self.store.webhooks().webhook(&hook.org, hook.id).await {
                self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                tracing::info!(webhook = %hook.id, delivery = %entry.id, attempts, "webhook endpoint deleted; delivery cancelled");
                return;
            }
            attempts += 1;
            let result = self.attempt(hook, &entry).await;
            let outcome = if result.delivered {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                DeliveryOutcome::Delivered
            } else {
                self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                if attempts >= max || result.refused {
                    self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                    DeliveryOutcome::Failed
                } else {
                    DeliveryOutcome::Retrying
                }
            };
            let now = self.clock.now();
            let record = DeliveryRecord {
                id: Uuid::new_v4(),
                webhook_id: hook.id,
                org: hook.org.clone(),
                event: entry.event.clone(),
                delivery_id: entry.id,
                attempt: attempts,
                outcome,
                response_status: result.status,
                error: result.error,
                attempted_at: now,
            };
            if let Err(error) = self.store.webhooks().insert_delivery(&record).await {
                tracing::warn!(webhook = %hook.id, %error, "delivery attempt not logged");
            }
            let (status, next) = match outcome {
                DeliveryOutcome::Delivered => (OutboxStatus::Delivered, now),
                DeliveryOutcome::Failed => (OutboxStatus::Abandoned, now),
                DeliveryOutcome::Retrying => {
                    let delay = retry_delay(&self.config, attempts, result.retry_after);
                    (
                        OutboxStatus::Pending,
                        now + chrono::Duration::from_std(delay)
                            .unwrap_or_else(|_| chrono::Duration::hours(1)),
                    )
                }
            };
            if let Err(error) = self
                .store
                .webhooks()
                .update_delivery(entry.id, attempts, status, next)
                .await
            {
                tracing::warn!(delivery = %entry.id, %error, "outbox not updated; a restart may repeat this attempt");
            }
            match outcome {
                DeliveryOutcome::Retrying => due = next,
                DeliveryOutcome::Failed => {
                    tracing::warn!(webhook = %hook.id, delivery = %entry.id, attempts, "webhook delivery abandoned");
                    return;
                }
                DeliveryOutcome::Delivered => return,
            }
        }
    }

    /// One POST, after checking where the host resolves now.
    async fn attempt(&self, hook: &WebhookRecord, entry: &OutboxEntry) -> Attempt {
        let host = reqwest::Url::parse(&hook.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if let Err(refusal) = target::check_host(
            self.resolver.as_ref(),
            &host,
            self.config.allow_private_targets,
        )
        .await
        {
            let refused = matches!(refusal, target::TargetError::Private { .. });
            return Attempt {
                refused,
                error: Some(refusal.to_string()),
                ..Attempt::default()
            };
        }
        // The semaphore is never closed.
        let Ok(_slot) = self.slots.acquire().await else {
            return Attempt {
                error: Some("shutting down".to_owned()),
                ..Attempt::default()
            };
        };
        let timestamp = self.clock.now().timestamp();
        let id = entry.id.to_string();
        let body = entry.body.as_bytes();
        let signature = signature::sign(hook.secret.as_bytes(), timestamp, &id, body);
        let result = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::ORG_HEADER, hook.org.as_str())
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::DELIVERY_HEADER, &id)
            .header(signature::EVENT_HEADER, entry.event.as_str())
            .header(signature::SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => Attempt {
                delivered: true,
                status: Some(response.status().as_u16()),
                ..Attempt::default()
            },
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        crate::sources::connectors::backoff::parse_retry_after(v, self.clock.now())
                    });
                Attempt {
                    status: Some(status.as_u16()),
                    error: Some(format!("receiver answered HTTP {}", status.as_u16())),
                    retry_after,
                    ..Attempt::default()
                }
            }
            Err(e) => {
                let reason = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                Attempt {
                    error: Some(reason.to_owned()),
                    ..Attempt::default()
                }
            }
        }
    }
}

/// How one attempt went.
#[derive(Debug, Default)]
struct Attempt {
    /// The receiver answered 2xx.
    delivered: bool,
    /// The target is not allowed: abandon without retrying.
    refused: bool,
    /// The receiver's HTTP status, when it answered.
    status: Option<u16>,
    /// What went wrong.
    error: Option<String>,
    /// The receiver's `Retry-After`, when it sent one.
    retry_after: Option<Duration>,
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

    #[test]
    fn retry_after_is_a_floor_capped_by_config() {
        let mut config = warroom_engine::Config::defaults().webhooks;
        config.initial_backoff = Duration::from_millis(100);
        config.max_backoff = Duration::from_millis(1000);
        config.max_retry_after = Duration::from_secs(60);
        // Asked for 5 s: waits 5 s, not the 50–100 ms backoff.
        assert_eq!(
            retry_delay(&config, 1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        // Asked for a day: capped.
        assert_eq!(
            retry_delay(&config, 1, Some(Duration::from_secs(86_400))),
            Duration::from_secs(60)
        );
        // Asked for less than the backoff: the backoff.
        let d = retry_delay(&config, 4, Some(Duration::from_millis(1)));
        assert!(d >= Duration::from_millis(400), "{d:?}");
        // Not asked: the backoff.
        let d = retry_delay(&config, 1, None);
        assert!(d <= Duration::from_millis(100), "{d:?}");
    }
}
