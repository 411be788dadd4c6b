//! [`AccountStore`] on SQLite. Times are INTEGER microseconds, UUIDs hyphenated text,
//! booleans 0/1, JSON text (see `migrations/sqlite`). Writes go through the one writer
//! connection, which also serialises concurrent rotations of one refresh token.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;
use warroom_engine::{OrgId, Role};

use super::{
    finish_page, is_unique_violation, page_limit, parse_role, AccountStore, ApiKeyRecord,
    AuditEntry, AuditFilter, AuditPage, AuditRecord, NewApiKey, NewRefreshToken, NewUser,
    RefreshOutcome, Replacement, UserRecord,
};
use crate::sql::{SqliteStore, StoreError, StoreResult};

const SELECT_USER: &str = "SELECT id, org_id, email, password_hash, role, active, \
    last_login_at, created_at FROM users";
const SELECT_KEY: &str = "SELECT id, org_id, name, key_prefix, role, rate_limit_per_hour, \
    created_by, created_at, revoked_at FROM api_keys";

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Invalid(format!("timestamp {us} µs out of range")))
}

fn opt_time(us: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    us.map(time).transpose()
}

fn uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invalid(format!("stored uuid {text:?}")))
}

fn opt_uuid(text: Option<String>) -> StoreResult<Option<Uuid>> {
    text.as_deref().map(uuid).transpose()
}

fn user_from_row(row: &SqliteRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: uuid(row.try_get("id")?)?,
        org: row.try_get::<Option<String>, _>("org_id")?.map(OrgId::new),
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: parse_role(row.try_get("role")?)?,
        active: row.try_get::<i64, _>("active")? != 0,
        last_login_at: opt_time(row.try_get("last_login_at")?)?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

fn key_from_row(row: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    let limit: i64 = row.try_get("rate_limit_per_hour")?;
    Ok(ApiKeyRecord {
        id: uuid(row.try_get("id")?)?,
        org: OrgId::new(row.try_get::<String, _>("org_id")?),
        name: row.try_get("name")?,
        key_prefix: row.try_get("key_prefix")?,
        role: parse_role(row.try_get("role")?)?,
        rate_limit_per_hour: u32::try_from(limit)
            .map_err(|_| StoreError::Invalid(format!("stored rate limit {limit}")))?,
        created_by: opt_uuid(row.try_get("created_by")?)?,
        created_at: time(row.try_get("created_at")?)?,
        revoked_at: opt_time(row.try_get("revoked_at")?)?,
    })
}

fn audit_from_row(row: &SqliteRow) -> StoreResult<AuditRecord> {
    let details: Option<String> = row.try_get("details")?;
    let ip: Option<String> = row.try_get("ip_address")?;
    Ok(AuditRecord {
        id: uuid(row.try_get("id")?)?,
        entry: AuditEntry {
            org: row.try_get::<Option<String>, _>("org_id")?.map(OrgId::new),
            user_id: opt_uuid(row.try_get("user_id")?)?,
            api_key_id: opt_uuid(row.try_get("api_key_id")?)?,
            action: row.try_get("action")?,
            resource_type: row.try_get("resource_type")?,
            resource_id: row.try_get("resource_id")?,
            details: match details {
                Some(text) => serde_json::from_str(&text)?,
                None => serde_json::Value::Null,
            },
            ip_address: ip.and_then(|s| s.parse().ok()),
            user_agent: row.try_get("user_agent")?,
            timestamp: time(row.try_get("timestamp")?)?,
        },
    })
}

fn ip_text(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| ip.to_string())
}

fn opt_org(org: &Option<OrgId>) -> Option<&str> {
    org.as_ref().map(OrgId::as_str)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(
        &self,
        user: &NewUser,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>> {
        let id = Uuid::new_v4();
        let result = sqlx::query(
            "INSERT INTO users (id, org_id, email, password_hash, role, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(opt_org(&user.org))
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(us(now))
        .bind(us(now))
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        // Read back through the writer, which has certainly seen its own commit.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_USER} WHERE id = ?")))
            .bind(id.to_string())
            .fetch_one(&self.writer)
            .await?;
        Ok(Some(user_from_row(&row)?))
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_USER} WHERE id = ?")))
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_USER} WHERE lower(email) = lower(?)"
        )))
        .bind(email)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self, org: &OrgId) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_USER} WHERE org_id = ? ORDER BY lower(email)"
        )))
        .bind(org.as_str())
        .fetch_all(&self.readers)
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
        let done =
            sqlx::query("UPDATE users SET role = ?, updated_at = ? WHERE org_id = ? AND id = ?")
                .bind(role.as_str())
                .bind(us(now))
                .bind(org.as_str())
                .bind(id.to_string())
                .execute(&self.writer)
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
        let mut tx = self.writer.begin().await?;
        let done =
            sqlx::query("UPDATE users SET active = ?, updated_at = ? WHERE org_id = ? AND id = ?")
                .bind(i64::from(active))
                .bind(us(now))
                .bind(org.as_str())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if !active {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(us(now))
            .bind(id.to_string())
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
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(us(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL \
             AND family_id IS NOT ?",
        )
        .bind(us(now))
        .bind(id.to_string())
        .bind(keep.map(|k| k.to_string()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_login(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login_at = ? WHERE id = ?")
            .bind(us(now))
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, org_id, user_id, family_id, token_hash, issued_at, \
             expires_at, ip_address, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(token.id.to_string())
        .bind(opt_org(&token.org))
        .bind(token.user_id.to_string())
        .bind(token.family_id.to_string())
        .bind(&token.token_hash)
        .bind(us(token.issued_at))
        .bind(us(token.expires_at))
        .bind(ip_text(token.ip))
        .bind(&token.user_agent)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.writer.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT id, org_id, user_id, family_id, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(RefreshOutcome::Invalid);
        };
        let id: String = row.try_get("id")?;
        let org: Option<String> = row.try_get("org_id")?;
        let user_id: String = row.try_get("user_id")?;
        let family_id: String = row.try_get("family_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let (user, family) = (uuid(&user_id)?, uuid(&family_id)?);
        if used_at.is_some() {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            )
            .bind(us(now))
            .bind(&family_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Reused {
                user_id: user,
                family_id: family,
            });
        }
        if revoked_at.is_some() || expires_at <= us(now) {
            return Ok(RefreshOutcome::Invalid);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (id, org_id, user_id, family_id, token_hash, issued_at, \
             expires_at, ip_address, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(replacement.id.to_string())
        .bind(org)
        .bind(&user_id)
        .bind(&family_id)
        .bind(&replacement.token_hash)
        .bind(us(now))
        .bind(us(replacement.expires_at))
        .bind(ip_text(replacement.ip))
        .bind(&replacement.user_agent)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE refresh_tokens SET used_at = ?, replaced_by = ? WHERE id = ?")
            .bind(us(now))
            .bind(replacement.id.to_string())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated {
            user_id: user,
            family_id: family,
        })
    }

    async fn revoke_refresh_family(
        &self,
        user_id: Uuid,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = ? AND user_id = ?)",
        )
        .bind(us(now))
        .bind(token_hash)
        .bind(user_id.to_string())
        .execute(&self.writer)
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
            "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id = ? \
             AND user_id = ?",
        )
        .bind(us(now))
        .bind(family_id.to_string())
        .bind(user_id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn refresh_session(&self, token_hash: &str) -> StoreResult<Option<Uuid>> {
        let family: Option<String> =
            sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.readers)
                .await?;
        family.as_deref().map(uuid).transpose()
    }

    async fn session_active(&self, family_id: Uuid) -> StoreResult<bool> {
        let live: i64 = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ? AND revoked_at IS NULL)",
        )
        .bind(family_id.to_string())
        .fetch_one(&self.readers)
        .await?;
        Ok(live != 0)
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, key_prefix, key_hash, role, \
             rate_limit_per_hour, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.to_string())
        .bind(key.org.as_str())
        .bind(&key.name)
        .bind(&key.key_prefix)
        .bind(&key.key_hash)
        .bind(key.role.as_str())
        .bind(i64::from(key.rate_limit_per_hour))
        .bind(key.created_by.map(|u| u.to_string()))
        .bind(us(key.created_at))
        .execute(&self.writer)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_KEY} WHERE id = ?")))
            .bind(key.id.to_string())
            .fetch_one(&self.writer)
            .await?;
        key_from_row(&row)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_KEY} WHERE key_hash = ?"
        )))
        .bind(key_hash)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_KEY} WHERE org_id = ? ORDER BY created_at DESC, id"
        )))
        .bind(org.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(&self, org: &OrgId, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ? AND id = ?",
        )
        .bind(us(now))
        .bind(org.as_str())
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO audit_logs (id, org_id, user_id, api_key_id, action, resource_type, \
             resource_id, details, ip_address, user_agent, timestamp) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(opt_org(&entry.org))
        .bind(entry.user_id.map(|u| u.to_string()))
        .bind(entry.api_key_id.map(|u| u.to_string()))
        .bind(&entry.action)
        .bind(&entry.resource_type)
        .bind(&entry.resource_id)
        .bind(serde_json::to_string(&entry.details)?)
        .bind(ip_text(entry.ip_address))
        .bind(&entry.user_agent)
        .bind(us(entry.timestamp))
        .execute(&self.writer)
        .await?;
        Ok(id)
    }

    async fn audit_page(&self, org: &OrgId, filter: &AuditFilter) -> StoreResult<AuditPage> {
        let limit = page_limit(filter);
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, org_id, user_id, api_key_id, action, resource_type, resource_id, \
             details, ip_address, user_agent, timestamp FROM audit_logs WHERE org_id = ",
        );
        qb.push_bind(org.as_str().to_owned());
        if let Some(action) = &filter.action {
            qb.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(user) = filter.user_id {
            qb.push(" AND user_id = ").push_bind(user.to_string());
        }
        if let Some(from) = filter.from {
            qb.push(" AND timestamp >= ").push_bind(us(from));
        }
        if let Some(to) = filter.to {
            qb.push(" AND timestamp < ").push_bind(us(to));
        }
        if let Some(after) = filter.after {
            qb.push(" AND (timestamp < ")
                .push_bind(after.timestamp_us)
                .push(" OR (timestamp = ")
                .push_bind(after.timestamp_us)
                .push(" AND id < ")
                .push_bind(after.id.to_string())
                .push("))");
        }
        qb.push(" ORDER BY timestamp DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.readers).await?;
        let entries = rows
            .iter()
            .map(audit_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(finish_page(entries, limit))
    }
}
