//! Accounts: users, refresh tokens, API keys and the audit trail, on both backends.
//!
//! A separate trait from [`Store`](crate::Store) so that the system of record's data path
//! and the security tables evolve apart; the store hands it out with
//! [`Store::accounts`](crate::Store::accounts).
//!
//! # Guarantees
//!
//! - **Secrets are never stored.** Passwords arrive already hashed (argon2id, by the
//!   gateway); refresh tokens and API keys are stored as the SHA-256 of a 256-bit random
//!   value, which is as strong as a slow hash for values that cannot be guessed.
//! - **Tenancy.** Every method that reads or changes an organisation's users, keys or
//!   audit rows takes the [`OrgId`] and filters by it in SQL: an id of another
//!   organisation behaves as if it did not exist.
//! - **Rotation is atomic.** [`AccountStore::rotate_refresh_token`] runs in one
//!   transaction (the row is locked on Postgres; SQLite has one writer): of two concurrent
//!   uses of one token, exactly one rotates and the other is a reuse, which revokes the
//!   family.

mod sql;

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use warroom_engine::{OrgId, Role};

use crate::sql::StoreResult;

/// Most audit rows one page returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// A stored user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Account id.
    pub id: Uuid,
    /// Organisation; `None` only for the platform administrator.
    pub org: Option<OrgId>,
    /// Login address (unique on the platform, case-insensitively).
    pub email: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// A deactivated account cannot log in, and its tokens stop working.
    pub active: bool,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Organisation; `None` exactly when `role` is [`Role::PlatformAdmin`].
    pub org: Option<OrgId>,
    /// Login address.
    pub email: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

/// A refresh token to store: the first of a family (login) or the replacement of one.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// Row id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The owner's organisation.
    pub org: Option<OrgId>,
    /// Family: every token rotated from one login shares it.
    pub family_id: Uuid,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// The token that replaces a presented refresh token; owner and family are the old one's.
#[derive(Debug, Clone)]
pub struct Replacement {
    /// Row id.
    pub id: Uuid,
    /// SHA-256 of the new token, hex.
    pub token_hash: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// It was valid and is now replaced by the [`Replacement`].
    Rotated {
        /// Owner.
        user_id: Uuid,
        /// Family.
        family_id: Uuid,
    },
    /// It had already been rotated: someone replayed it. The whole family is revoked.
    Reused {
        /// Owner.
        user_id: Uuid,
        /// The revoked family.
        family_id: Uuid,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyRecord {
    /// Key id.
    pub id: Uuid,
    /// Organisation it acts for.
    pub org: OrgId,
    /// Name given at creation.
    pub name: String,
    /// The first characters of the key, for recognising it.
    pub key_prefix: String,
    /// Role it acts with.
    pub role: Role,
    /// Requests per hour it may make.
    pub rate_limit_per_hour: u32,
    /// The user who created it.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Key id.
    pub id: Uuid,
    /// Organisation.
    pub org: OrgId,
    /// Name.
    pub name: String,
    /// Display prefix.
    pub key_prefix: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// Role (an organisation role).
    pub role: Role,
    /// Requests per hour.
    pub rate_limit_per_hour: u32,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// One audit-trail row (seed 5.2, plus the organisation and the acting API key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Organisation; `None` for platform-level actions.
    pub org: Option<OrgId>,
    /// The acting user, if a user acted.
    pub user_id: Option<Uuid>,
    /// The acting API key, if a key acted.
    pub api_key_id: Option<Uuid>,
    /// What was done, e.g. `user.login`, `alert.resolve`.
    pub action: String,
    /// The kind of thing it was done to, e.g. `user`, `alert`.
    pub resource_type: String,
    /// Its id.
    pub resource_id: Option<String>,
    /// Anything else worth keeping (never a secret).
    pub details: serde_json::Value,
    /// Client address.
    #[schema(value_type = Option<String>)]
    pub ip_address: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When (stored with microsecond precision).
    pub timestamp: DateTime<Utc>,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Row id.
    pub id: Uuid,
    /// The row.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Where an audit page ends: `(timestamp, id)` of its last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// Timestamp of the last row, µs since the epoch.
    pub timestamp_us: i64,
    /// Its id.
    pub id: Uuid,
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.timestamp_us, self.id.simple())
    }
}

impl AuditCursor {
    /// The form [`Display`](std::fmt::Display) writes and [`FromStr`](std::str::FromStr)
    /// reads: the timestamp in µs, a dot, the id as 32 lowercase hex digits.
    pub const PATTERN: &'static str = "^[0-9]{1,18}\\.[0-9a-f]{32}$";
}

impl std::str::FromStr for AuditCursor {
    type Err = String;

    /// Reads exactly [`AuditCursor::PATTERN`]: what `next` gives, nothing looser.
    fn from_str(s: &str) -> Result<Self, String> {
        let malformed = || "cursor is the `next` of a previous page".to_owned();
        let (time, id) = s.split_once('.').ok_or_else(malformed)?;
        let digits = |part: &str, len: std::ops::RangeInclusive<usize>, hex: bool| {
            len.contains(&part.len())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&b)))
        };
        if !digits(time, 1..=18, false) || !digits(id, 32..=32, true) {
            return Err(malformed());
        }
        Ok(Self {
            timestamp_us: time.parse().map_err(|_| malformed())?,
            id: Uuid::parse_str(id).map_err(|_| malformed())?,
        })
    }
}

/// Filters of the audit list; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only rows of this acting user.
    pub user_id: Option<Uuid>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Strictly before.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this row.
    pub after: Option<AuditCursor>,
    /// Rows per page (capped at [`MAX_AUDIT_PAGE`]).
    pub limit: u32,
}

/// A page of audit rows, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// Rows.
    pub entries: Vec<AuditRecord>,
    /// Pass back for the next page; `None` on the last.
    pub next: Option<AuditCursor>,
}

/// Users, tokens, keys and the audit trail. See the module docs for the guarantees.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user; `None` when the address is taken (case-insensitively).
    async fn create_user(
        &self,
        user: &NewUser,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>>;

    /// A user by id, any organisation (authentication needs it before it knows one).
    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;

    /// A user by login address, case-insensitively.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;

    /// The organisation's users, by address.
    async fn users(&self, org: &OrgId) -> StoreResult<Vec<UserRecord>>;

    /// Changes the role of a user of `org` (to an organisation role); `false` when no
    /// such user is in `org`.
    async fn set_role(
        &self,
        org: &OrgId,
        id: Uuid,
        role: Role,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Activates or deactivates a user of `org`; deactivation also revokes every refresh
    /// token of the user, in the same transaction. `false` when no such user is in `org`.
    async fn set_active(
        &self,
        org: &OrgId,
        id: Uuid,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Replaces a user's password hash and revokes all its refresh tokens but those of the
    /// session `keep` (the one changing the password), in one transaction; `false` when
    /// there is no such user.
    async fn set_password_hash(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Records a successful login.
    async fn record_login(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;

    /// Stores the first token of a family.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;

    /// Presents a refresh token (by hash): rotates it, or detects its reuse and revokes
    /// its family. One transaction.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome>;

    /// Revokes the family of a presented token (logout); `false` when the token is
    /// unknown or belongs to another user.
    async fn revoke_refresh_family(
        &self,
        user_id: Uuid,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Revokes a session (the refresh-token family `family_id`) of `user_id`, as logout
    /// does with the session id of its access token; `false` when it was not live.
    async fn revoke_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The session (refresh-token family) of a refresh token, by hash, whatever its state.
    async fn refresh_session(&self, token_hash: &str) -> StoreResult<Option<Uuid>>;

    /// Whether a session (refresh-token family) was never revoked: access tokens carry
    /// their session's id and die with it.
    async fn session_active(&self, family_id: Uuid) -> StoreResult<bool>;

    /// Stores an API key.
    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKeyRecord>;

    /// A key by the hash of its secret (revoked keys included: the caller checks).
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// The organisation's keys, newest first.
    async fn api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Revokes a key of `org`; `false` when no such key is in `org`. Revoking twice keeps
    /// the first time.
    async fn revoke_api_key(&self, org: &OrgId, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Appends an audit row.
    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<Uuid>;

    /// The organisation's audit rows, newest first, filtered, a page at a time.
    async fn audit_page(&self, org: &OrgId, filter: &AuditFilter) -> StoreResult<AuditPage>;
}

/// A time as stored: microsecond precision, so that what is written reads back equal.
pub(crate) fn truncate_us(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A stored role name back.
pub(crate) fn parse_role(name: &str) -> StoreResult<Role> {
    Role::parse(name).ok_or_else(|| crate::StoreError::Invalid(format!("stored role {name:?}")))
}

/// The page size a filter asks for, within bounds.
pub(crate) fn page_limit(filter: &AuditFilter) -> u32 {
    filter.limit.clamp(1, MAX_AUDIT_PAGE)
}

/// Splits one extra row off a page: its presence means there is a next page.
pub(crate) fn finish_page(mut entries: Vec<AuditRecord>, limit: u32) -> AuditPage {
    let next = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|r| AuditCursor {
            timestamp_us: r.entry.timestamp.timestamp_micros(),
            id: r.id,
        })
    } else {
        None
    };
    AuditPage { entries, next }
}

#[cfg(test)]
mod tests {
    use super::AuditCursor;
    use uuid::Uuid;

    #[test]
    fn a_cursor_reads_back_what_it_writes_and_nothing_looser() {
        let cursor = AuditCursor {
            timestamp_us: 1_764_900_000_123_456,
            id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        };
        let text = cursor.to_string();
        assert_eq!(text.parse::<AuditCursor>(), Ok(cursor));
        let pattern = regex::Regex::new(AuditCursor::PATTERN).unwrap();
        assert!(
            pattern.is_match(&text),
            "{text} does not match the documented pattern"
        );
        for bad in [
            "",
            ".",
            "1764900000123456",
            "-1.0123456789abcdef0123456789abcdef",
            "+1.0123456789abcdef0123456789abcdef",
            "1.0123456789ABCDEF0123456789ABCDEF",
            "1.01234567-89ab-cdef-0123-456789abcdef",
            "1234567890123456789.0123456789abcdef0123456789abcdef",
            "1.0123456789abcdef0123456789abcde",
        ] {
            assert!(bad.parse::<AuditCursor>().is_err(), "{bad:?} was accepted");
            assert!(
                !pattern.is_match(bad),
                "{bad:?} matches the documented pattern"
            );
        }
    }
}
