//! Webhooks on both backends: outgoing endpoints an organisation's admins configure,
//! the log of delivery attempts, and the receipts of incoming deliveries already applied.
//!
//! A separate trait from [`Store`](crate::Store), handed out by
//! [`Store::webhooks`](crate::Store::webhooks), like the account store.
//!
//! - **Tenancy.** Every read and delete takes the [`OrgId`] and filters by it in SQL.
//! - **Secrets.** An endpoint's secret signs its deliveries, so it is stored as given (a
//!   hash could not sign); [`WebhookRecord`] never serialises it.
//! - **Idempotency.** [`WebhookStore::remember_receipt`] inserts
//!   `(org, service, delivery id)` once; the second insert reports a replay.
//! - **Outbox.** Outgoing deliveries not finished yet are rows of `webhook_outbox`
//!   ([`OutboxEntry`]): written before the first attempt, updated after every attempt,
//!   and marked delivered or abandoned at the end, so a restart re-delivers what was
//!   pending ([`WebhookStore::pending_deliveries`], the one read across organisations:
//!   it belongs to the engine's dispatcher, never to a tenant's request).

mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use warroom_engine::OrgId;

use crate::sql::StoreResult;

/// Most delivery-log rows one read returns.
pub const MAX_DELIVERY_PAGE: u32 = 500;

/// A stored outgoing webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookRecord {
    /// Endpoint id.
    pub id: Uuid,
    /// Owner.
    pub org: OrgId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event names it receives, e.g. `crisis:detected`.
    pub events: Vec<String>,
    /// HMAC-SHA256 key of its signatures; never serialised.
    #[serde(skip_serializing)]
    pub secret: String,
    /// The admin who created it.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed and will be retried.
    Retrying,
    /// It failed and the attempts are used up.
    Failed,
}

impl DeliveryOutcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Failed => "failed",
        }
    }

    fn parse(name: &str) -> StoreResult<Self> {
        match name {
            "delivered" => Ok(DeliveryOutcome::Delivered),
            "retrying" => Ok(DeliveryOutcome::Retrying),
            "failed" => Ok(DeliveryOutcome::Failed),
            other => Err(crate::StoreError::Invalid(format!(
                "stored delivery outcome {other:?}"
            ))),
        }
    }
}

/// One delivery attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryRecord {
    /// Row id.
    pub id: Uuid,
    /// The endpoint.
    pub webhook_id: Uuid,
    /// Owner.
    pub org: OrgId,
    /// Event name.
    pub event: String,
    /// The delivery id sent in `X-Warroom-Delivery` (the same for every attempt).
    pub delivery_id: Uuid,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// The receiver's HTTP status, when it answered.
    pub response_status: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// When the attempt was made.
    pub attempted_at: DateTime<Utc>,
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Attempts used up, or refused (a private target): never retried.
    Abandoned,
}

impl OutboxStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Abandoned => "abandoned",
        }
    }

    fn parse(name: &str) -> StoreResult<Self> {
        match name {
            "pending" => Ok(OutboxStatus::Pending),
            "delivered" => Ok(OutboxStatus::Delivered),
            "abandoned" => Ok(OutboxStatus::Abandoned),
            other => Err(crate::StoreError::Invalid(format!(
                "stored outbox status {other:?}"
            ))),
        }
    }
}

/// One outgoing delivery in the outbox: one event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// The delivery id (`X-Warroom-Delivery`, the same for every attempt).
    pub id: Uuid,
    /// The endpoint.
    pub webhook_id: Uuid,
    /// Owner.
    pub org: OrgId,
    /// Event name.
    pub event: String,
    /// The exact JSON body sent on every attempt.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Not before this instant (backoff or the receiver's `Retry-After`).
    pub next_attempt_at: DateTime<Utc>,
    /// When the event was queued.
    pub created_at: DateTime<Utc>,
}

/// Most outbox entries one read of pending deliveries returns.
pub const MAX_OUTBOX_PAGE: u32 = 10_000;

/// Webhook endpoints, delivery log and incoming receipts.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint.
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;

    /// The organisation's endpoints, oldest first.
    async fn webhooks(&self, org: &OrgId) -> StoreResult<Vec<WebhookRecord>>;

    /// One endpoint of the organisation.
    async fn webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<WebhookRecord>>;

    /// Deletes an endpoint and its delivery log; `false` when the organisation has no
    /// such endpoint.
    async fn delete_webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<bool>;

    /// Logs a delivery attempt.
    async fn insert_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()>;

    /// An endpoint's latest attempts, newest first, at most `limit`
    /// (capped at [`MAX_DELIVERY_PAGE`]).
    async fn deliveries(
        &self,
        org: &OrgId,
        webhook_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;

    /// Records an incoming delivery as applied; `false` when it already was (a replay).
    async fn remember_receipt(
        &self,
        org: &OrgId,
        service: &str,
        delivery_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Forgets receipts older than `before`; returns how many.
    async fn prune_receipts(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Adds deliveries to the outbox in one transaction; an id already there is left as
    /// it is (so writing the same entries again is harmless).
    async fn enqueue_deliveries(&self, entries: &[OutboxEntry]) -> StoreResult<()>;

    /// Pending deliveries of every organisation, earliest `next_attempt_at` first, at
    /// most `limit` (capped at [`MAX_OUTBOX_PAGE`]).
    async fn pending_deliveries(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>>;

    /// Records an attempt's result: attempts made, the new status and the earliest next
    /// attempt. A finished entry (delivered, abandoned) is never reopened; returns
    /// `false` when the entry was not pending (or is gone).
    async fn update_delivery(
        &self,
        id: Uuid,
        attempts: u32,
        status: OutboxStatus,
        next_attempt_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// One outbox entry of the organisation.
    async fn outbox_entry(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<OutboxEntry>>;

    /// The organisation's outbox entries for one endpoint, newest first, at most `limit`
    /// (capped at [`MAX_DELIVERY_PAGE`]).
    async fn outbox(
        &self,
        org: &OrgId,
        webhook_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>>;

    /// Forgets finished entries (delivered or abandoned) last updated before `before`;
    /// returns how many. The delivery log keeps their attempts.
    async fn prune_outbox(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
