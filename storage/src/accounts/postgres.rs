//! [`AccountStore`] on PostgreSQL.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;
use warroom_engine::{OrgId, Role};

use super::{
    finish_page, is_unique_violation, page_limit, parse_role, truncate_us, AccountStore,
    ApiKeyRecord, AuditEntry, AuditFilter, AuditPage, AuditRecord, NewApiKey, NewRefreshToken,
    NewUser, RefreshOutcome, Replacement, UserRecord,
};
use crate::sql::{PgStore, StoreError, StoreResult};

fn user_from_row(row: &PgRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        org: row.try_get::<Option<String>, _>("org_id")?.map(OrgId::new),
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: parse_role(row.try_get("role")?)?,
        active: row.try_get("active")?,
        last_login_at: row.try_get("last_login_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn key_from_row(row: &PgRow) -> StoreResult<ApiKeyRecord> {
    let limit: i32 = row.try_get("rate_limit_per_hour")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        name: row.try_get("name")?,
        key_prefix: row.try_get("key_prefix")?,
        role: parse_role(row.try_get("role")?)?,
        rate_limit_per_hour: u32::try_from(limit)
            .map_err(|_| StoreError::Invalid(format!("stored rate limit {limit}")))?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn audit_from_row(row: &PgRow) -> StoreResult<AuditRecord> {
    let ip: Option<String> = row.try_get("ip")?;
    Ok(AuditRecord {
        id: row.try_get("id")?,
        entry: AuditEntry {
            org: row.try_get::<Option<String>, _>("org_id")?.map(OrgId::new),
            user_id: row.try_get("user_id")?,
            api_key_id: row.try_get("api_key_id")?,
            action: row.try_get("action")?,
            resource_type: row.try_get("resource_type")?,
            resource_id: row.try_get("resource_id")?,
            details: row
                .try_get::<Option<serde_json::Value>, _>("details")?
                .unwrap_or(serde_json::Value::Null),
            ip_address: ip.and_then(|s| s.parse().ok()),
            user_agent: row.try_get("user_agent")?,
            timestamp: row.try_get("timestamp")?,
        },
    })
}

fn ip_text(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| ip.to_string())
}

fn rate(limit: u32) -> StoreResult<i32> {
    i32::try_from(limit).map_err(|_| StoreError::Invalid(format!("rate limit {limit} too large")))
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(
        &self,
        user: &NewUser,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>> {
        let result = sqlx::query(
            "INSERT INTO users (id, org_id, email, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             RETURNING id, org_id, email, password_hash, role, active, last_login_at, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(user.org.as_ref().map(OrgId::as_str))
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(truncate_us(now))
        .fetch_one(self.pool())
        .await;
        match result {
            Ok(row) => Ok(Some(user_from_row(&row)?)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, org_id, email, password_hash, role, active, last_login_at, created_at \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, org_id, email, password_hash, role, active, last_login_at, created_at \
             FROM users WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self, org: &OrgId) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT id, org_id, email, password_hash, role, active, last_login_at, created_at \
             FROM users WHERE org_id = $1 ORDER BY lower(email)",
        )
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_role(
        &self,
        org: &OrgId,
        id: Uuid,
        role: Role,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if !role.is_org_role() {
            return Err(StoreError::Invalid(
                "an organisation user cannot become platform administrator".into(),
            ));
        }
        let done = sqlx::query(
            "UPDATE users SET role = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.as_str())
        .bind(id)
        .bind(role.as_str())
        .bind(truncate_us(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_active(
        &self,
        org: &OrgId,
        id: Uuid,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let now = truncate_us(now);
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE users SET active = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.as_str())
        .bind(id)
        .bind(active)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if !active {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn set_password_hash(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let now = truncate_us(now);
        let mut tx = self.pool().begin().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
             AND family_id IS DISTINCT FROM $3",
        )
        .bind(id)
        .bind(now)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_login(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(id)
            .bind(truncate_us(now))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, org_id, user_id, family_id, token_hash, issued_at, \
             expires_at, ip_address, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet, $9)",
        )
        .bind(token.id)
        .bind(token.org.as_ref().map(OrgId::as_str))
        .bind(token.user_id)
        .bind(token.family_id)
        .bind(&token.token_hash)
        .bind(truncate_us(token.issued_at))
        .bind(truncate_us(token.expires_at))
        .bind(ip_text(token.ip))
        .bind(&token.user_agent)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome> {
        let now = truncate_us(now);
        let mut tx = self.pool().begin().await?;
        // FOR UPDATE: a concurrent use of the same token waits here, then sees it used.
        let Some(row) = sqlx::query(
            "SELECT id, org_id, user_id, family_id, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(RefreshOutcome::Invalid);
        };
        let id: Uuid = row.try_get("id")?;
        let org: Option<String> = row.try_get("org_id")?;
        let user_id: Uuid = row.try_get("user_id")?;
        let family_id: Uuid = row.try_get("family_id")?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
        if used_at.is_some() {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 \
                 WHERE family_id = $1 AND revoked_at IS NULL",
            )
            .bind(family_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Reused { user_id, family_id });
        }
        if revoked_at.is_some() || expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (id, org_id, user_id, family_id, token_hash, issued_at, \
             expires_at, ip_address, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet, $9)",
        )
        .bind(replacement.id)
        .bind(org)
        .bind(user_id)
        .bind(family_id)
        .bind(&replacement.token_hash)
        .bind(now)
        .bind(truncate_us(replacement.expires_at))
        .bind(ip_text(replacement.ip))
        .bind(&replacement.user_agent)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE refresh_tokens SET used_at = $2, replaced_by = $3 WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(replacement.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated { user_id, family_id })
    }

    async fn revoke_refresh_family(
        &self,
        user_id: Uuid,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = $2 AND user_id = $1)",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(truncate_us(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND family_id = $2 \
             AND user_id = $1",
        )
        .bind(user_id)
        .bind(family_id)
        .bind(truncate_us(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn refresh_session(&self, token_hash: &str) -> StoreResult<Option<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn session_active(&self, family_id: Uuid) -> StoreResult<bool> {
        let live: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL)",
        )
        .bind(family_id)
        .fetch_one(self.pool())
        .await?;
        Ok(live)
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let row = sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, key_prefix, key_hash, role, \
             rate_limit_per_hour, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id, org_id, name, key_prefix, role, rate_limit_per_hour, created_by, \
             created_at, revoked_at",
        )
        .bind(key.id)
        .bind(key.org.as_str())
        .bind(&key.name)
        .bind(&key.key_prefix)
        .bind(&key.key_hash)
        .bind(key.role.as_str())
        .bind(rate(key.rate_limit_per_hour)?)
        .bind(key.created_by)
        .bind(truncate_us(key.created_at))
        .fetch_one(self.pool())
        .await?;
        key_from_row(&row)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, org_id, name, key_prefix, role, rate_limit_per_hour, created_by, \
             created_at, revoked_at FROM api_keys WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, org_id, name, key_prefix, role, rate_limit_per_hour, created_by, \
             created_at, revoked_at FROM api_keys WHERE org_id = $1 \
             ORDER BY created_at DESC, id",
        )
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(&self, org: &OrgId, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org.as_str())
        .bind(id)
        .bind(truncate_us(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO audit_logs (id, org_id, user_id, api_key_id, action, resource_type, \
             resource_id, details, ip_address, user_agent, timestamp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11)",
        )
        .bind(id)
        .bind(entry.org.as_ref().map(OrgId::as_str))
        .bind(entry.user_id)
        .bind(entry.api_key_id)
        .bind(&entry.action)
        .bind(&entry.resource_type)
        .bind(&entry.resource_id)
        .bind(&entry.details)
        .bind(ip_text(entry.ip_address))
        .bind(&entry.user_agent)
        .bind(truncate_us(entry.timestamp))
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    async fn audit_page(&self, org: &OrgId, filter: &AuditFilter) -> StoreResult<AuditPage> {
        let limit = page_limit(filter);
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT id, org_id, user_id, api_key_id, action, resource_type, resource_id, \
             details, host(ip_address) AS ip, user_agent, timestamp FROM audit_logs \
             WHERE org_id = ",
        );
        qb.push_bind(org.as_str());
        if let Some(action) = &filter.action {
            qb.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(user) = filter.user_id {
            qb.push(" AND user_id = ").push_bind(user);
        }
        if let Some(from) = filter.from {
            qb.push(" AND timestamp >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            qb.push(" AND timestamp < ").push_bind(to);
        }
        if let Some(after) = filter.after {
            let time = DateTime::from_timestamp_micros(after.timestamp_us)
                .ok_or_else(|| StoreError::InvalidCursor(after.to_string()))?;
            qb.push(" AND (timestamp, id) < (")
                .push_bind(time)
                .push(", ")
                .push_bind(after.id)
                .push(")");
        }
        qb.push(" ORDER BY timestamp DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(self.pool()).await?;
        let entries = rows
            .iter()
            .map(audit_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(finish_page(entries, limit))
    }
}
