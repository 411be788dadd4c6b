//! [`WebhookStore`] on SQLite (times in microseconds, UUIDs as text, events as a JSON
//! array).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;
use warroom_engine::OrgId;

use super::{
    DeliveryOutcome, DeliveryRecord, OutboxEntry, OutboxStatus, WebhookRecord, WebhookStore,
    MAX_DELIVERY_PAGE, MAX_OUTBOX_PAGE,
};
use crate::sql::{SqliteStore, StoreError, StoreResult};

const SELECT_HOOK: &str =
    "SELECT id, org_id, url, events, secret, created_by, created_at FROM webhooks";

fn time(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Invalid(format!("timestamp {us} µs out of range")))
}

fn uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invalid(format!("stored uuid {text:?}")))
}

fn hook_from_row(row: &SqliteRow) -> StoreResult<WebhookRecord> {
    let events: String = row.try_get("events")?;
    let created_by: Option<String> = row.try_get("created_by")?;
    Ok(WebhookRecord {
        id: uuid(row.try_get("id")?)?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        url: row.try_get("url")?,
        events: serde_json::from_str(&events)?,
        secret: row.try_get("secret")?,
        created_by: created_by.as_deref().map(uuid).transpose()?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

fn delivery_from_row(row: &SqliteRow) -> StoreResult<DeliveryRecord> {
    let attempt: i64 = row.try_get("attempt")?;
    let status: Option<i64> = row.try_get("response_status")?;
    Ok(DeliveryRecord {
        id: uuid(row.try_get("id")?)?,
        webhook_id: uuid(row.try_get("webhook_id")?)?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        event: row.try_get("event")?,
        delivery_id: uuid(row.try_get("delivery_id")?)?,
        attempt: u32::try_from(attempt)
            .map_err(|_| StoreError::Invalid(format!("stored attempt {attempt}")))?,
        outcome: DeliveryOutcome::parse(row.try_get("outcome")?)?,
        response_status: status.and_then(|s| u16::try_from(s).ok()),
        error: row.try_get("error")?,
        attempted_at: time(row.try_get("attempted_at")?)?,
    })
}

const SELECT_OUTBOX: &str = "SELECT id, webhook_id, org_id, event, body, attempts, status, \
    next_attempt_at, created_at FROM webhook_outbox";

fn attempts_from_i64(n: i64) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| StoreError::Invalid(format!("stored attempts {n}")))
}

fn outbox_from_row(row: &SqliteRow) -> StoreResult<OutboxEntry> {
    Ok(OutboxEntry {
        id: uuid(row.try_get("id")?)?,
        webhook_id: uuid(row.try_get("webhook_id")?)?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        event: row.try_get("event")?,
        body: row.try_get("body")?,
        attempts: attempts_from_i64(row.try_get("attempts")?)?,
        status: OutboxStatus::parse(row.try_get("status")?)?,
        next_attempt_at: time(row.try_get("next_attempt_at")?)?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, events, secret, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(webhook.id.to_string())
        .bind(webhook.org.as_str())
        .bind(&webhook.url)
        .bind(serde_json::to_string(&webhook.events)?)
        .bind(&webhook.secret)
        .bind(webhook.created_by.map(|u| u.to_string()))
        .bind(webhook.created_at.timestamp_micros())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn webhooks(&self, org: &OrgId) -> StoreResult<Vec<WebhookRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_HOOK} WHERE org_id = ? ORDER BY created_at, id"
        )))
        .bind(org.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(hook_from_row).collect()
    }

    async fn webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_HOOK} WHERE org_id = ? AND id = ?"
        )))
        .bind(org.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(hook_from_row).transpose()
    }

    async fn delete_webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE org_id = ? AND id = ?")
            .bind(org.as_str())
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event, delivery_id, \
             attempt, outcome, response_status, error, attempted_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id.to_string())
        .bind(d.webhook_id.to_string())
        .bind(d.org.as_str())
        .bind(&d.event)
        .bind(d.delivery_id.to_string())
        .bind(i64::from(d.attempt))
        .bind(d.outcome.as_str())
        .bind(d.response_status.map(i64::from))
        .bind(&d.error)
        .bind(d.attempted_at.timestamp_micros())
        .execute(&self.writer)
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
             WHERE org_id = ? AND webhook_id = ? \
             ORDER BY attempted_at DESC, attempt DESC LIMIT ?",
        )
        .bind(org.as_str())
        .bind(webhook_id.to_string())
        .bind(i64::from(limit.clamp(1, MAX_DELIVERY_PAGE)))
        .fetch_all(&self.readers)
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
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(org.as_str())
        .bind(service)
        .bind(delivery_id)
        .bind(at.timestamp_micros())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_receipts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM webhook_receipts WHERE received_at < ?")
            .bind(before.timestamp_micros())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn enqueue_deliveries(&self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO webhook_outbox (id, webhook_id, org_id, event, body, attempts, \
                 status, next_attempt_at, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.id.to_string())
            .bind(e.webhook_id.to_string())
            .bind(e.org.as_str())
            .bind(&e.event)
            .bind(&e.body)
            .bind(i64::from(e.attempts))
            .bind(e.status.as_str())
            .bind(e.next_attempt_at.timestamp_micros())
            .bind(e.created_at.timestamp_micros())
            .bind(e.created_at.timestamp_micros())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_deliveries(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_OUTBOX} WHERE status = 'pending' ORDER BY next_attempt_at, id LIMIT ?"
        )))
        .bind(i64::from(limit.clamp(1, MAX_OUTBOX_PAGE)))
        .fetch_all(&self.readers)
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
            "UPDATE webhook_outbox SET attempts = ?, status = ?, next_attempt_at = ?, \
             updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) \
             WHERE id = ? AND status = 'pending'",
        )
        .bind(i64::from(attempts))
        .bind(status.as_str())
        .bind(next_attempt_at.timestamp_micros())
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn outbox_entry(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<OutboxEntry>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_OUTBOX} WHERE org_id = ? AND id = ?"
        )))
        .bind(org.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.readers)
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
            "{SELECT_OUTBOX} WHERE org_id = ? AND webhook_id = ? \
             ORDER BY created_at DESC, id LIMIT ?"
        )))
        .bind(org.as_str())
        .bind(webhook_id.to_string())
        .bind(i64::from(limit.clamp(1, MAX_DELIVERY_PAGE)))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn prune_outbox(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM webhook_outbox WHERE status <> 'pending' AND updated_at < ?")
                .bind(before.timestamp_micros())
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected())
    }
}
