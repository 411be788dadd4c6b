//! [`AccountStore`] once, over both SQL databases ([`Dialect`]): query text, column lists
//! and row codecs are shared; the dialect says how each value is stored, and what differs
//! in SQL (row locks, the null-safe comparison, reading an IP address as text).

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;
use warroom_engine::{OrgId, Role};

use super::{
    finish_page, page_limit, parse_role, truncate_us, AccountStore, ApiKeyRecord, AuditEntry,
    AuditFilter, AuditPage, AuditRecord, NewApiKey, NewRefreshToken, NewUser, RefreshOutcome,
    Replacement, UserRecord,
};
use crate::sql::dialect::{sql, values, Dialect, RowOf, Value};
use crate::sql::{StoreError, StoreResult};

const SELECT_USER: &str = "SELECT id, org_id, email, password_hash, role, active, \
    last_login_at, created_at FROM users";

const SELECT_KEY: &str = "SELECT id, org_id, name, key_prefix, role, rate_limit_per_hour, \
    created_by, created_at, revoked_at FROM api_keys";

fn user_from_row<D: Dialect>(row: &RowOf<D>) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: D::uuid(row, "id")?,
        org: D::opt_text(row, "org_id")?.map(OrgId::new),
        email: D::text(row, "email")?,
        password_hash: D::text(row, "password_hash")?,
        role: parse_role(&D::text(row, "role")?)?,
        active: D::bool(row, "active")?,
        last_login_at: D::opt_time(row, "last_login_at")?,
        created_at: D::time(row, "created_at")?,
    })
}

fn key_from_row<D: Dialect>(row: &RowOf<D>) -> StoreResult<ApiKeyRecord> {
    let limit = D::int(row, "rate_limit_per_hour")?.unwrap_or(0);
    Ok(ApiKeyRecord {
        id: D::uuid(row, "id")?,
        org: OrgId::new(D::text(row, "org_id")?),
        name: D::text(row, "name")?,
        key_prefix: D::text(row, "key_prefix")?,
        role: parse_role(&D::text(row, "role")?)?,
        rate_limit_per_hour: u32::try_from(limit)
            .map_err(|_| StoreError::Invalid(format!("stored rate limit {limit}")))?,
        created_by: D::opt_uuid(row, "created_by")?,
        created_at: D::time(row, "created_at")?,
        revoked_at: D::opt_time(row, "revoked_at")?,
    })
}

fn audit_from_row<D: Dialect>(row: &RowOf<D>) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: D::uuid(row, "id")?,
        entry: AuditEntry {
            org: D::opt_text(row, "org_id")?.map(OrgId::new),
            user_id: D::opt_uuid(row, "user_id")?,
            api_key_id: D::opt_uuid(row, "api_key_id")?,
            action: D::text(row, "action")?,
            resource_type: D::text(row, "resource_type")?,
            resource_id: D::opt_text(row, "resource_id")?,
            details: D::json(row, "details")?,
            ip_address: D::opt_text(row, "ip")?.and_then(|s| s.parse().ok()),
            user_agent: D::opt_text(row, "user_agent")?,
            timestamp: D::time(row, "timestamp")?,
        },
    })
}

/// `SELECT_USER WHERE id = <id>`.
fn user_by_id<D: Dialect>(id: Uuid) -> QueryBuilder<D::Db> {
    let mut query = sql::<D>(SELECT_USER);
    query.push(" WHERE id = ");
    D::push_uuid(&mut query, Some(id));
    query
}

/// One row of `refresh_tokens` to insert.
struct RefreshRow<'a> {
    id: Uuid,
    org: Option<&'a str>,
    user_id: Uuid,
    family_id: Uuid,
    token_hash: &'a str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ip: Option<IpAddr>,
    user_agent: Option<&'a str>,
}

/// An `INSERT INTO refresh_tokens` of one token.
fn insert_refresh<D: Dialect>(row: &RefreshRow<'_>) -> StoreResult<QueryBuilder<D::Db>> {
    let mut query = sql::<D>(
        "INSERT INTO refresh_tokens (id, org_id, user_id, family_id, token_hash, issued_at, \
         expires_at, ip_address, user_agent)",
    );
    values::<D>(
        &mut query,
        &[
            Value::Uuid(Some(row.id)),
            Value::OptText(row.org),
            Value::Uuid(Some(row.user_id)),
            Value::Uuid(Some(row.family_id)),
            Value::Text(row.token_hash),
            Value::Time(row.issued_at),
            Value::Time(row.expires_at),
            Value::Ip(row.ip),
            Value::OptText(row.user_agent),
        ],
    )?;
    Ok(query)
}

/// `UPDATE refresh_tokens SET revoked_at = <now> WHERE revoked_at IS NULL AND `, to be
/// completed with the tokens to revoke.
fn revoke_tokens<D: Dialect>(now: DateTime<Utc>) -> QueryBuilder<D::Db> {
    let mut query = sql::<D>("UPDATE refresh_tokens SET revoked_at = ");
    D::push_time(&mut query, now);
    query.push(" WHERE revoked_at IS NULL AND ");
    query
}

/// A rate limit as stored (a 32-bit integer on PostgreSQL; the same bound on both).
fn rate(limit: u32) -> StoreResult<i64> {
    i32::try_from(limit)
        .map(i64::from)
        .map_err(|_| StoreError::Invalid(format!("rate limit {limit} too large")))
}

#[async_trait]
impl<D: Dialect> AccountStore for D {
    async fn create_user(
        &self,
        user: &NewUser,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>> {
        let id = Uuid::new_v4();
        let mut query = sql::<D>(
            "INSERT INTO users (id, org_id, email, password_hash, role, created_at, updated_at)",
        );
        values::<D>(
            &mut query,
            &[
                Value::Uuid(Some(id)),
                Value::OptText(user.org.as_ref().map(OrgId::as_str)),
                Value::Text(&user.email),
                Value::Text(&user.password_hash),
                Value::Text(user.role.as_str()),
                Value::Time(now),
                Value::Time(now),
            ],
        )?;
        match self.execute(query).await {
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e),
        }
        // Read back through the writer, which has certainly seen its own commit.
        let rows = self.fetch_all_written(user_by_id::<D>(id)).await?;
        rows.first().map(user_from_row::<D>).transpose()
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let rows = self.fetch_all(user_by_id::<D>(id)).await?;
        rows.first().map(user_from_row::<D>).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let mut query = sql::<D>(SELECT_USER);
        query.push(" WHERE lower(email) = lower(");
        D::push_text(&mut query, email);
        query.push(")");
        let rows = self.fetch_all(query).await?;
        rows.first().map(user_from_row::<D>).transpose()
    }

    async fn users(&self, org: &OrgId) -> StoreResult<Vec<UserRecord>> {
        let mut query = sql::<D>(SELECT_USER);
        query.push(" WHERE org_id = ");
        D::push_text(&mut query, org.as_str());
        query.push(" ORDER BY lower(email)");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(user_from_row::<D>).collect()
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
        let mut query = sql::<D>("UPDATE users SET role = ");
        D::push_text(&mut query, role.as_str());
        query.push(", updated_at = ");
        D::push_time(&mut query, now);
        query.push(" WHERE org_id = ");
        D::push_text(&mut query, org.as_str());
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        Ok(self.execute(query).await? == 1)
    }

    async fn set_active(
        &self,
        org: &OrgId,
        id: Uuid,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut query = sql::<D>("UPDATE users SET active = ");
        D::push_bool(&mut query, active);
        query.push(", updated_at = ");
        D::push_time(&mut query, now);
        query.push(" WHERE org_id = ");
        D::push_text(&mut query, org.as_str());
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        if D::execute_in(&mut tx, query).await? != 1 {
            return Ok(false);
        }
        if !active {
            let mut revoke = revoke_tokens::<D>(now);
            revoke.push("user_id = ");
            D::push_uuid(&mut revoke, Some(id));
            D::execute_in(&mut tx, revoke).await?;
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
        let mut tx = self.begin().await?;
        let mut query = sql::<D>("UPDATE users SET password_hash = ");
        D::push_text(&mut query, password_hash);
        query.push(", updated_at = ");
        D::push_time(&mut query, now);
        query.push(" WHERE id = ");
        D::push_uuid(&mut query, Some(id));
        if D::execute_in(&mut tx, query).await? != 1 {
            return Ok(false);
        }
        let mut revoke = revoke_tokens::<D>(now);
        revoke.push("user_id = ");
        D::push_uuid(&mut revoke, Some(id));
        revoke.push(" AND family_id").push(D::IS_DISTINCT_FROM);
        D::push_uuid(&mut revoke, keep);
        D::execute_in(&mut tx, revoke).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_login(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        let mut query = sql::<D>("UPDATE users SET last_login_at = ");
        D::push_time(&mut query, now);
        query.push(" WHERE id = ");
        D::push_uuid(&mut query, Some(id));
        self.execute(query).await?;
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        let query = insert_refresh::<D>(&RefreshRow {
            id: token.id,
            org: token.org.as_ref().map(OrgId::as_str),
            user_id: token.user_id,
            family_id: token.family_id,
            token_hash: &token.token_hash,
            issued_at: token.issued_at,
            expires_at: token.expires_at,
            ip: token.ip,
            user_agent: token.user_agent.as_deref(),
        })?;
        self.execute(query).await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome> {
        // Compared with stored times, which keep whole microseconds.
        let now = truncate_us(now);
        let mut tx = self.begin().await?;
        let mut select = sql::<D>(
            "SELECT id, org_id, user_id, family_id, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = ",
        );
        D::push_text(&mut select, token_hash);
        // A concurrent use of the same token waits here, then sees it used.
        select.push(D::FOR_UPDATE);
        let rows = D::fetch_all_in(&mut tx, select).await?;
        let Some(row) = rows.first() else {
            return Ok(RefreshOutcome::Invalid);
        };
        let id = D::uuid(row, "id")?;
        let org = D::opt_text(row, "org_id")?;
        let user_id = D::uuid(row, "user_id")?;
        let family_id = D::uuid(row, "family_id")?;
        let expires_at = D::time(row, "expires_at")?;
        let used = D::opt_time(row, "used_at")?.is_some();
        let revoked = D::opt_time(row, "revoked_at")?.is_some();
        if used {
            let mut revoke = revoke_tokens::<D>(now);
            revoke.push("family_id = ");
            D::push_uuid(&mut revoke, Some(family_id));
            D::execute_in(&mut tx, revoke).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Reused { user_id, family_id });
        }
        if revoked || expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        let insert = insert_refresh::<D>(&RefreshRow {
            id: replacement.id,
            org: org.as_deref(),
            user_id,
            family_id,
            token_hash: &replacement.token_hash,
            issued_at: now,
            expires_at: replacement.expires_at,
            ip: replacement.ip,
            user_agent: replacement.user_agent.as_deref(),
        })?;
        D::execute_in(&mut tx, insert).await?;
        let mut used = sql::<D>("UPDATE refresh_tokens SET used_at = ");
        D::push_time(&mut used, now);
        used.push(", replaced_by = ");
        D::push_uuid(&mut used, Some(replacement.id));
        used.push(" WHERE id = ");
        D::push_uuid(&mut used, Some(id));
        D::execute_in(&mut tx, used).await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated { user_id, family_id })
    }

    async fn revoke_refresh_family(
        &self,
        user_id: Uuid,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut query = revoke_tokens::<D>(now);
        query.push("family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ");
        D::push_text(&mut query, token_hash);
        query.push(" AND user_id = ");
        D::push_uuid(&mut query, Some(user_id));
        query.push(")");
        Ok(self.execute(query).await? > 0)
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut query = revoke_tokens::<D>(now);
        query.push("family_id = ");
        D::push_uuid(&mut query, Some(family_id));
        query.push(" AND user_id = ");
        D::push_uuid(&mut query, Some(user_id));
        Ok(self.execute(query).await? > 0)
    }

    async fn refresh_session(&self, token_hash: &str) -> StoreResult<Option<Uuid>> {
        let mut query = sql::<D>("SELECT family_id FROM refresh_tokens WHERE token_hash = ");
        D::push_text(&mut query, token_hash);
        let rows = self.fetch_all(query).await?;
        rows.first()
            .map(|row| D::uuid(row, "family_id"))
            .transpose()
    }

    async fn session_active(&self, family_id: Uuid) -> StoreResult<bool> {
        let mut query = sql::<D>("SELECT 1 AS live FROM refresh_tokens WHERE family_id = ");
        D::push_uuid(&mut query, Some(family_id));
        query.push(" AND revoked_at IS NULL LIMIT 1");
        Ok(!self.fetch_all(query).await?.is_empty())
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut query = sql::<D>(
            "INSERT INTO api_keys (id, org_id, name, key_prefix, key_hash, role, \
             rate_limit_per_hour, created_by, created_at)",
        );
        values::<D>(
            &mut query,
            &[
                Value::Uuid(Some(key.id)),
                Value::Text(key.org.as_str()),
                Value::Text(&key.name),
                Value::Text(&key.key_prefix),
                Value::Text(&key.key_hash),
                Value::Text(key.role.as_str()),
                Value::Int(Some(rate(key.rate_limit_per_hour)?)),
                Value::Uuid(key.created_by),
                Value::Time(key.created_at),
            ],
        )?;
        self.execute(query).await?;
        let mut read = sql::<D>(SELECT_KEY);
        read.push(" WHERE id = ");
        D::push_uuid(&mut read, Some(key.id));
        let rows = self.fetch_all_written(read).await?;
        let row = rows.first().ok_or_else(|| {
            StoreError::Invalid(format!("API key {} not found after insert", key.id))
        })?;
        key_from_row::<D>(row)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let mut query = sql::<D>(SELECT_KEY);
        query.push(" WHERE key_hash = ");
        D::push_text(&mut query, key_hash);
        let rows = self.fetch_all(query).await?;
        rows.first().map(key_from_row::<D>).transpose()
    }

    async fn api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut query = sql::<D>(SELECT_KEY);
        query.push(" WHERE org_id = ");
        D::push_text(&mut query, org.as_str());
        query.push(" ORDER BY created_at DESC, id");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(key_from_row::<D>).collect()
    }

    async fn revoke_api_key(&self, org: &OrgId, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut query = sql::<D>("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ");
        D::push_time(&mut query, now);
        query.push(") WHERE org_id = ");
        D::push_text(&mut query, org.as_str());
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        Ok(self.execute(query).await? == 1)
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        let mut query = sql::<D>(
            "INSERT INTO audit_logs (id, org_id, user_id, api_key_id, action, resource_type, \
             resource_id, details, ip_address, user_agent, timestamp)",
        );
        values::<D>(
            &mut query,
            &[
                Value::Uuid(Some(id)),
                Value::OptText(entry.org.as_ref().map(OrgId::as_str)),
                Value::Uuid(entry.user_id),
                Value::Uuid(entry.api_key_id),
                Value::Text(&entry.action),
                Value::Text(&entry.resource_type),
                Value::OptText(entry.resource_id.as_deref()),
                Value::Json(&entry.details),
                Value::Ip(entry.ip_address),
                Value::OptText(entry.user_agent.as_deref()),
                Value::Time(entry.timestamp),
            ],
        )?;
        self.execute(query).await?;
        Ok(id)
    }

    async fn audit_page(&self, org: &OrgId, filter: &AuditFilter) -> StoreResult<AuditPage> {
        let limit = page_limit(filter);
        let mut query = sql::<D>(
            "SELECT id, org_id, user_id, api_key_id, action, resource_type, resource_id, \
             details, ",
        );
        query.push(D::IP_AS_TEXT);
        query.push(" AS ip, user_agent, timestamp FROM audit_logs WHERE org_id = ");
        D::push_text(&mut query, org.as_str());
        if let Some(action) = &filter.action {
            query.push(" AND action = ");
            D::push_text(&mut query, action);
        }
        if let Some(user) = filter.user_id {
            query.push(" AND user_id = ");
            D::push_uuid(&mut query, Some(user));
        }
        if let Some(from) = filter.from {
            query.push(" AND timestamp >= ");
            D::push_time(&mut query, from);
        }
        if let Some(to) = filter.to {
            query.push(" AND timestamp < ");
            D::push_time(&mut query, to);
        }
        if let Some(after) = filter.after {
            let time = DateTime::from_timestamp_micros(after.timestamp_us)
                .ok_or_else(|| StoreError::InvalidCursor(after.to_string()))?;
            query.push(" AND (timestamp < ");
            D::push_time(&mut query, time);
            query.push(" OR (timestamp = ");
            D::push_time(&mut query, time);
            query.push(" AND id < ");
            D::push_uuid(&mut query, Some(after.id));
            query.push("))");
        }
        query.push(" ORDER BY timestamp DESC, id DESC LIMIT ");
        D::push_bigint(&mut query, i64::from(limit) + 1);
        let rows = self.fetch_all(query).await?;
        let entries = rows
            .iter()
            .map(audit_from_row::<D>)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(finish_page(entries, limit))
    }
}
