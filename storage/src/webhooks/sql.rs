//! [`WebhookStore`] once, over both SQL databases ([`Dialect`]): the query text, column
//! lists and row codecs are shared; the dialect says how each value is stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;
use warroom_engine::OrgId;

use super::{
    DeliveryOutcome, DeliveryRecord, OutboxEntry, OutboxStatus, WebhookRecord, WebhookStore,
    MAX_DELIVERY_PAGE, MAX_OUTBOX_PAGE,
};
use crate::sql::dialect::{sql, values, Dialect, RowOf, Value};
use crate::sql::{StoreError, StoreResult};

const SELECT_HOOK: &str =
    "SELECT id, org_id, url, events, secret, created_by, created_at FROM webhooks";

const SELECT_DELIVERY: &str = "SELECT id, webhook_id, org_id, event, delivery_id, attempt, \
    outcome, response_status, error, attempted_at FROM webhook_deliveries";

const SELECT_OUTBOX: &str = "SELECT id, webhook_id, org_id, event, body, attempts, status, \
    next_attempt_at, created_at FROM webhook_outbox";

/// `sql` followed by `WHERE org_id = <org>`.
fn of_org<D: Dialect>(select: &str, org: &OrgId) -> QueryBuilder<D::Db> {
    let mut query = sql::<D>(select);
    query.push(" WHERE org_id = ");
    D::push_text(&mut query, org.as_str());
    query
}

/// A stored count that must fit `u32`.
fn count<D: Dialect>(row: &RowOf<D>, column: &str) -> StoreResult<u32> {
    let n = D::int(row, column)?.unwrap_or(0);
    u32::try_from(n).map_err(|_| StoreError::Invalid(format!("stored {column} {n}")))
}

fn hook_from_row<D: Dialect>(row: &RowOf<D>) -> StoreResult<WebhookRecord> {
    Ok(WebhookRecord {
        id: D::uuid(row, "id")?,
        org: OrgId::new(D::text(row, "org_id")?),
        url: D::text(row, "url")?,
        events: D::strings(row, "events")?,
        secret: D::text(row, "secret")?,
        created_by: D::opt_uuid(row, "created_by")?,
        created_at: D::time(row, "created_at")?,
    })
}

fn delivery_from_row<D: Dialect>(row: &RowOf<D>) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: D::uuid(row, "id")?,
        webhook_id: D::uuid(row, "webhook_id")?,
        org: OrgId::new(D::text(row, "org_id")?),
        event: D::text(row, "event")?,
        delivery_id: D::uuid(row, "delivery_id")?,
        attempt: count::<D>(row, "attempt")?,
        outcome: DeliveryOutcome::parse(&D::text(row, "outcome")?)?,
        response_status: D::int(row, "response_status")?.and_then(|s| u16::try_from(s).ok()),
        error: D::opt_text(row, "error")?,
        attempted_at: D::time(row, "attempted_at")?,
    })
}

fn outbox_from_row<D: Dialect>(row: &RowOf<D>) -> StoreResult<OutboxEntry> {
    Ok(OutboxEntry {
        id: D::uuid(row, "id")?,
        webhook_id: D::uuid(row, "webhook_id")?,
        org: OrgId::new(D::text(row, "org_id")?),
        event: D::text(row, "event")?,
        body: D::text(row, "body")?,
        attempts: count::<D>(row, "attempts")?,
        status: OutboxStatus::parse(&D::text(row, "status")?)?,
        next_attempt_at: D::time(row, "next_attempt_at")?,
        created_at: D::time(row, "created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> WebhookStore for D {
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        let mut query = sql::<D>(
            "INSERT INTO webhooks (id, org_id, url, events, secret, created_by, created_at)",
        );
        values::<D>(
            &mut query,
            &[
                Value::Uuid(Some(webhook.id)),
                Value::Text(webhook.org.as_str()),
                Value::Text(&webhook.url),
                Value::Strings(&webhook.events),
                Value::Text(&webhook.secret),
                Value::Uuid(webhook.created_by),
                Value::Time(webhook.created_at),
            ],
        )?;
        self.execute(query).await?;
        Ok(())
    }

    async fn webhooks(&self, org: &OrgId) -> StoreResult<Vec<WebhookRecord>> {
        let mut query = of_org::<D>(SELECT_HOOK, org);
        query.push(" ORDER BY created_at, id");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(hook_from_row::<D>).collect()
    }

    async fn webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<WebhookRecord>> {
        let mut query = of_org::<D>(SELECT_HOOK, org);
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        let rows = self.fetch_all(query).await?;
        rows.first().map(hook_from_row::<D>).transpose()
    }

    async fn delete_webhook(&self, org: &OrgId, id: Uuid) -> StoreResult<bool> {
        let mut query = of_org::<D>("DELETE FROM webhooks", org);
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        Ok(self.execute(query).await? > 0)
    }

    async fn insert_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        let mut query = sql::<D>(
            "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event, delivery_id, \
             attempt, outcome, response_status, error, attempted_at)",
        );
        values::<D>(
            &mut query,
            &[
                Value::Uuid(Some(d.id)),
                Value::Uuid(Some(d.webhook_id)),
                Value::Text(d.org.as_str()),
                Value::Text(&d.event),
                Value::Uuid(Some(d.delivery_id)),
                Value::Int(Some(i64::from(d.attempt))),
                Value::Text(d.outcome.as_str()),
                Value::Int(d.response_status.map(i64::from)),
                Value::OptText(d.error.as_deref()),
                Value::Time(d.attempted_at),
            ],
        )?;
        self.execute(query).await?;
        Ok(())
    }

    async fn deliveries(
        &self,
        org: &OrgId,
        webhook_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut query = of_org::<D>(SELECT_DELIVERY, org);
        query.push(" AND webhook_id = ");
        D::push_uuid(&mut query, Some(webhook_id));
        query.push(" ORDER BY attempted_at DESC, attempt DESC LIMIT ");
        D::push_bigint(&mut query, i64::from(limit.clamp(1, MAX_DELIVERY_PAGE)));
        let rows = self.fetch_all(query).await?;
        rows.iter().map(delivery_from_row::<D>).collect()
    }

    async fn remember_receipt(
        &self,
        org: &OrgId,
        service: &str,
        delivery_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut query =
            sql::<D>("INSERT INTO webhook_receipts (org_id, service, delivery_id, received_at)");
        values::<D>(
            &mut query,
            &[
                Value::Text(org.as_str()),
                Value::Text(service),
                Value::Text(delivery_id),
                Value::Time(at),
            ],
        )?;
        query.push(" ON CONFLICT DO NOTHING");
        Ok(self.execute(query).await? == 1)
    }

    async fn prune_receipts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut query = sql::<D>("DELETE FROM webhook_receipts WHERE received_at < ");
        D::push_time(&mut query, before);
        self.execute(query).await
    }

    async fn enqueue_deliveries(&self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut queries = Vec::with_capacity(entries.len());
        for e in entries {
            let mut query = sql::<D>(
                "INSERT INTO webhook_outbox (id, webhook_id, org_id, event, body, attempts, \
                 status, next_attempt_at, created_at, updated_at)",
            );
            values::<D>(
                &mut query,
                &[
                    Value::Uuid(Some(e.id)),
                    Value::Uuid(Some(e.webhook_id)),
                    Value::Text(e.org.as_str()),
                    Value::Text(&e.event),
                    Value::Text(&e.body),
                    Value::Int(Some(i64::from(e.attempts))),
                    Value::Text(e.status.as_str()),
                    Value::Time(e.next_attempt_at),
                    Value::Time(e.created_at),
                    Value::Time(e.created_at),
                ],
            )?;
            query.push(" ON CONFLICT (id) DO NOTHING");
            queries.push(query);
        }
        self.execute_all(queries).await?;
        Ok(())
    }

    async fn pending_deliveries(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let mut query = sql::<D>(SELECT_OUTBOX);
        query.push(" WHERE status = 'pending' ORDER BY next_attempt_at, id LIMIT ");
        D::push_bigint(&mut query, i64::from(limit.clamp(1, MAX_OUTBOX_PAGE)));
        let rows = self.fetch_all(query).await?;
        rows.iter().map(outbox_from_row::<D>).collect()
    }

    async fn update_delivery(
        &self,
        id: Uuid,
        attempts: u32,
        status: OutboxStatus,
        next_attempt_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut query = sql::<D>("UPDATE webhook_outbox SET attempts = ");
        D::push_int(&mut query, Some(i64::from(attempts)));
        query.push(", status = ");
        D::push_text(&mut query, status.as_str());
        query.push(", next_attempt_at = ");
        D::push_time(&mut query, next_attempt_at);
        query.push(", updated_at = ");
        query.push(D::NOW);
        query.push(" WHERE id = ");
        D::push_uuid(&mut query, Some(id));
        query.push(" AND status = 'pending'");
        Ok(self.execute(query).await? == 1)
    }

    async fn outbox_entry(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<OutboxEntry>> {
        let mut query = of_org::<D>(SELECT_OUTBOX, org);
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        let rows = self.fetch_all(query).await?;
        rows.first().map(outbox_from_row::<D>).transpose()
    }

    async fn outbox(
        &self,
        org: &OrgId,
        webhook_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let mut query = of_org::<D>(SELECT_OUTBOX, org);
        query.push(" AND webhook_id = ");
        D::push_uuid(&mut query, Some(webhook_id));
        query.push(" ORDER BY created_at DESC, id LIMIT ");
        D::push_bigint(&mut query, i64::from(limit.clamp(1, MAX_DELIVERY_PAGE)));
        let rows = self.fetch_all(query).await?;
        rows.iter().map(outbox_from_row::<D>).collect()
    }

    async fn prune_outbox(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut query =
            sql::<D>("DELETE FROM webhook_outbox WHERE status <> 'pending' AND updated_at < ");
        D::push_time(&mut query, before);
        self.execute(query).await
    }
}
