//! [`WebhookStore`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;
use warroom_engine::OrgId;

use super::{
    DeliveryOutcome, DeliveryRecord, OutboxEntry, OutboxStatus, WebhookRecord, WebhookStore,
    MAX_DELIVERY_PAGE, MAX_OUTBOX_PAGE,
};
use crate::sql::{PgStore, StoreError, StoreResult};

const SELECT_HOOK: &str =
    "SELECT id, org_id, url, events, secret, created_by, created_at FROM webhooks";

const SELECT_OUTBOX: &str = "SELECT id, webhook_id, org_id, event, body, attempts, status, \
    next_attempt_at, created_at FROM webhook_outbox";

fn attempts_from_i32(n: i32) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| StoreError::Invalid(format!("stored attempts {n}")))
}

fn outbox_from_row(row: &PgRow) -> StoreResult<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        event: row.try_get("event")?,
        body: row.try_get("body")?,
        attempts: attempts_from_i32(row.try_get("attempts")?)?,
        status: OutboxStatus::parse(row.try_get("status")?)?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn hook_from_row(row: &PgRow) -> StoreResult<WebhookRecord> {
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        url: row.try_get("url")?,
        events: row.try_get("events")?,
        secret: row.try_get("secret")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn delivery_from_row(row: &PgRow) -> StoreResult<DeliveryRecord> {
    let attempt: i32 = row.try_get("attempt")?;
    let status: Option<i32> = row.try_get("response_status")?;
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        event: row.try_get("event")?,
        delivery_id: row.try_get("delivery_id")?,
        attempt: u32::try_from(attempt)
            .map_err(|_| StoreError::Invalid(format!("stored attempt {attempt}")))?,
        outcome: DeliveryOutcome::parse(row.try_get("outcome")?)?,
        response_status: status.and_then(|s| u16::try_from(s).ok()),
        error: row.try_get("error")?,
        attempted_at: row.try_get("attempted_at")?,
    })
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, events, secret, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(webhook.id)
        .bind(webhook.org.as_str())
        .bind(&webhook.url)
        .bind(&webhook.events)
        .bind(&webhook.secret)
        .bind(webhook.created_by)
        .bind(webhook.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn webhooks(&self, org: &OrgId) -> StoreResult<Vec<WebhookRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_HOOK} WHERE org_id = $1 ORDER BY created_at, id"
        )))
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(hook_from_row).collect()
    }

    async fn webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_HOOK} WHERE org_id = $1 AND id = $2"
        )))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(hook_from_row).transpose()
    }

    async fn delete_webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event, delivery_id, \
             attempt, outcome, response_status, error, attempted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.id)
        .bind(d.webhook_id)
        .bind(d.org.as_str())
        .bind(&d.event)
        .bind(d.delivery_id)
        .bind(i32::try_from(d.attempt).unwrap_or(i32::MAX))
        .bind(d.outcome.as_str())
        .bind(d.response_status.map(i32::from))
        .bind(&d.error)
        .bind(d.attempted_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn deliveries(
        &self,
        org: &OrgId,
        webhook_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT id, webhook_id, org_id, event, delivery_id, attempt, outcome, \
             response_status, error, attempted_at FROM webhook_deliveries \
             WHERE org_id = $1 AND webhook_id = $2 \
             ORDER BY attempted_at DESC, attempt DESC LIMIT $3",
        )
        .bind(org.as_str())
        .bind(webhook_id)
        .bind(i64::from(limit.clamp(1, MAX_DELIVERY_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn remember_receipt(
        &self,
        org: &OrgId,
        service: &str,
        delivery_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO webhook_receipts (org_id, service, delivery_id, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(org.as_str())
        .bind(service)
        .bind(delivery_id)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_receipts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM webhook_receipts WHERE received_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn enqueue_deliveries(&self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO webhook_outbox (id, webhook_id, org_id, event, body, attempts, \
                 status, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.id)
            .bind(e.webhook_id)
            .bind(e.org.as_str())
            .bind(&e.event)
            .bind(&e.body)
            .bind(i32::try_from(e.attempts).unwrap_or(i32::MAX))
            .bind(e.status.as_str())
            .bind(e.next_attempt_at)
            .bind(e.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_deliveries(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_OUTBOX} WHERE status = 'pending' ORDER BY next_attempt_at, id LIMIT $1"
        )))
        .bind(i64::from(limit.clamp(1, MAX_OUTBOX_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn update_delivery(
        &self,
        id: Uuid,
        attempts: u32,
        status: OutboxStatus,
        next_attempt_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_outbox SET attempts = $1, status = $2, next_attempt_at = $3, \
             updated_at = NOW() WHERE id = $4 AND status = 'pending'",
        )
        .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
        .bind(status.as_str())
        .bind(next_attempt_at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn outbox_entry(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<OutboxEntry>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_OUTBOX} WHERE org_id = $1 AND id = $2"
        )))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    async fn outbox(
        &self,
        org: &OrgId,
        webhook_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_OUTBOX} WHERE org_id = $1 AND webhook_id = $2 \
             ORDER BY created_at DESC, id LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(webhook_id)
        .bind(i64::from(limit.clamp(1, MAX_DELIVERY_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn prune_outbox(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM webhook_outbox WHERE status <> 'pending' AND updated_at < $1")
                .bind(before)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
