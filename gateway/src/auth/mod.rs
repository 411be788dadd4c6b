//! Authentication and authorisation: who is calling, for which organisation, with which
//! role. The organisation always comes from the verified credential, never from a
//! parameter the caller can change.
//!
//! Credentials, in the order they are looked for:
//! 1. `Authorization: Bearer <token>`: a JWT access token, or an API key (`wrk_…`);
//! 2. `X-API-Key: <key>`;
//! 3. the `warroom_access` cookie (httpOnly, Secure, SameSite=Strict). A request
//!    authenticated by cookie that changes state must send its session's CSRF token (the
//!    `warroom_csrf` cookie, an HMAC of the session id) in `X-CSRF-Token`, or it is
//!    refused with 403.
//!
//! The permission table is [`permission::Permission`] (and `docs/security.md`).

pub mod cookie;
pub mod password;
pub mod permission;
pub mod revocation;
pub mod routes;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, Method};
use parking_lot::Mutex;
use uuid::Uuid;
use warroom_engine::config::AuthConfig;
use warroom_engine::{Config, OrgId, Role};
use warroom_storage::accounts::{AccountStore, AuditEntry};
use warroom_storage::cache::{Bus, CacheServices, RateLimiter};
use warroom_storage::Store;

use crate::error::ApiError;
use permission::Permission;
use revocation::{
    LiveSockets, Revocation, RevokedTokens, SessionCache, SocketCaps, REVOCATION_CHANNEL,
};
use token::{TokenKeys, TokenKind};

/// Header carrying an API key (alternative to `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "x-api-key";
/// Header echoing the CSRF cookie on cookie-authenticated state changes.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Legacy header naming the organisation; now only checked against the credential.
pub const ORG_HEADER: &str = "x-warroom-org";

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A user account.
    User(Uuid),
    /// An API key.
    ApiKey(Uuid),
    /// A service holding the signing secret (e.g. the load tester), by name.
    Service(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Its organisation; `None` only for the platform administrator.
    pub org: Option<OrgId>,
    /// Its role now (for users, as stored, not as the token said at issue time).
    pub role: Role,
    /// Who it is.
    pub actor: Actor,
    /// Whether the credential came from a cookie (CSRF applies).
    pub via_cookie: bool,
    /// The access token's id and expiry, for revocation at logout.
    pub token: Option<(String, i64)>,
    /// The session (refresh-token family) the access token belongs to, when a user
    /// logged in: logout, a password change elsewhere or a replayed refresh token end it.
    pub session: Option<Uuid>,
}

impl Principal {
    /// The user id, when a user acts.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User(id) => Some(id),
            _ => None,
        }
    }

    /// The API key id, when a key acts.
    pub fn api_key_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::ApiKey(id) => Some(id),
            _ => None,
        }
    }

    /// 403 unless the role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if permission.allows(self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "forbidden",
                format!(
                    "role {} does not allow {}",
                    self.role,
                    permission.describe()
                ),
            ))
        }
    }

    /// The organisation, for a permission that needs one.
    pub fn org(&self) -> Result<&OrgId, ApiError> {
        self.org.as_ref().ok_or_else(|| {
            ApiError::forbidden(
                "no_organisation",
                "platform administrators see no organisation's data",
            )
        })
    }
}

#[derive(Clone)]
struct CachedUser {
    org: Option<OrgId>,
    role: Role,
    active: bool,
}

/// Users' role and active flag, cached per node for `ttl`, at most `capacity` entries.
struct UserCache {
    entries: Mutex<HashMap<Uuid, (tokio::time::Instant, Option<CachedUser>)>>,
    ttl: Duration,
    capacity: usize,
}

impl UserCache {
    fn get(&self, id: Uuid) -> Option<Option<CachedUser>> {
        let entries = self.entries.lock();
        let (at, user) = entries.get(&id)?;
        (at.elapsed() < self.ttl).then(|| user.clone())
    }

    fn put(&self, id: Uuid, user: Option<CachedUser>) {
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(id, (tokio::time::Instant::now(), user));
    }

    fn forget(&self, id: Uuid) {
        self.entries.lock().remove(&id);
    }
}

/// The authentication service every request goes through.
pub struct Auth {
    config: AuthConfig,
    keys: TokenKeys,
    limiter: Arc<dyn RateLimiter>,
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    users: UserCache,
    revoked: RevokedTokens,
    sessions: SessionCache,
    sockets: Arc<LiveSockets>,
}

impl Auth {
    /// Builds the service. An empty `jwt_secret` gets a random per-process secret and a
    /// warning (tokens then die with the process); the secret itself is never logged.
    pub fn new(engine: &Config, store: Arc<dyn Store>, cache: &CacheServices) -> Self {
        let config = &engine.auth;
        let secret = if config.jwt_secret.is_empty() {
            tracing::warn!(
                "auth.jwt_secret is empty: using a random secret for this process; tokens \
                 will not survive a restart nor work on other nodes (set WARROOM__AUTH__JWT_SECRET)"
            );
            token::random_signing_secret()
        } else {
            config.jwt_secret.as_bytes().to_vec()
        };
        Self {
            keys: TokenKeys::new(config, &secret),
            limiter: Arc::clone(&cache.limiter),
            bus: Arc::clone(&cache.bus),
            store,
            users: UserCache {
                entries: Mutex::new(HashMap::new()),
                ttl: config.user_cache_ttl,
                capacity: config.memory_capacity,
            },
            revoked: RevokedTokens::default(),
            // A revoked session is remembered as long as one of its tokens can be valid.
            sessions: SessionCache::new(
                config.user_cache_ttl,
                config.access_token_ttl + config.leeway,
                config.memory_capacity,
            ),
            sockets: Arc::new(LiveSockets::new(SocketCaps {
                per_credential: engine.push.max_sockets_per_credential,
                per_ip: engine.push.max_sockets_per_ip,
                exempt: engine.server.ip_limits_exempt.clone(),
            })),
            config: config.clone(),
        }
    }

    /// The open sockets of this node and what they authenticated with.
    pub fn sockets(&self) -> &Arc<LiveSockets> {
        &self.sockets
    }

    /// Applies `revocation` on this node at once (requests and sockets), then publishes
    /// it to the other nodes. A bus failure is logged: the other nodes then learn of it
    /// from the store within `auth.user_cache_ttl` (sessions, users, keys) or not at all
    /// for a lone access token, which still dies at its expiry.
    pub async fn revoke(&self, revocation: Revocation) {
        self.apply(&revocation);
        match serde_json::to_vec(&revocation) {
            Ok(payload) => {
                if let Err(error) = self.bus.publish(REVOCATION_CHANNEL, &payload).await {
                    tracing::warn!(%error, "revocation not published to the other nodes");
                }
            }
            Err(error) => tracing::error!(%error, "revocation not encoded"),
        }
    }

    /// Applies a revocation decided here or on another node. Idempotent.
    pub fn apply(&self, revocation: &Revocation) {
        match revocation {
            Revocation::AccessToken { jti, exp } => {
                let now = chrono::Utc::now().timestamp();
                self.revoked
                    .revoke(jti.clone(), *exp, now, self.config.memory_capacity);
            }
            Revocation::Session { id } => self.sessions.put(*id, None, false),
            Revocation::UserSessions { user, keep } => self.sessions.revoke_user(*user, *keep),
            Revocation::User { id, .. } => self.users.forget(*id),
            Revocation::ApiKey { .. } => {}
        }
        let closed = self.sockets.close_revoked(revocation);
        if closed > 0 {
            tracing::info!(closed, ?revocation, "sockets closed: credential revoked");
        }
    }

    /// Applies the other nodes' revocations until the service is dropped; re-subscribes
    /// when the bus was unreachable.
    pub async fn follow_revocations(auth: std::sync::Weak<Auth>) {
        let bus = match auth.upgrade() {
            Some(auth) => Arc::clone(&auth.bus),
            None => return,
        };
        loop {
            let mut subscription = match bus.subscribe(REVOCATION_CHANNEL).await {
                Ok(subscription) => subscription,
                Err(error) => {
                    tracing::warn!(%error, "revocation channel unreachable; retrying in 5 s");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if auth.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
            };
            while let Some(message) = subscription.recv().await {
                let Some(auth) = auth.upgrade() else { return };
                match serde_json::from_slice::<Revocation>(&message.payload) {
                    Ok(revocation) => auth.apply(&revocation),
                    Err(error) => tracing::warn!(%error, "unreadable revocation on the bus"),
                }
            }
            // The subscription ended (the bus reconnects): subscribe again, not in a
            // tight loop.
            tokio::time::sleep(Duration::from_secs(1)).await;
            if auth.strong_count() == 0 {
                return;
            }
        }
    }

    /// Whether a session is live: cached, else read from the store.
    async fn session_live(&self, session: Uuid, user: Uuid) -> Result<bool, ApiError> {
        if let Some(live) = self.sessions.get(session) {
            return Ok(live);
        }
        let live = self
            .accounts()
            .session_active(session)
            .await
            .map_err(ApiError::from_store)?;
        self.sessions.put(session, Some(user), live);
        Ok(live)
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The token keys.
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The rate limiter (logins, API keys): the engine's, so counters are in Redis when
    /// `[redis] url` is set (shared by every node) and in process otherwise.
    pub fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.limiter
    }

    /// The account store.
    pub fn accounts(&self) -> &dyn AccountStore {
        self.store.accounts()
    }

    async fn cached_user(&self, id: Uuid) -> Result<Option<CachedUser>, ApiError> {
        if let Some(user) = self.users.get(id) {
            return Ok(user);
        }
        let user = self
            .accounts()
            .user(id)
            .await
            .map_err(ApiError::from_store)?
            .map(|u| CachedUser {
                org: u.org,
                role: u.role,
                active: u.active,
            });
        self.users.put(id, user.clone());
        Ok(user)
    }

    /// Authenticates one credential: an API key (`wrk_…`) or a JWT access token.
    pub async fn authenticate(
        &self,
        credential: &str,
        via_cookie: bool,
    ) -> Result<Principal, ApiError> {
        if credential.starts_with(token::API_KEY_PREFIX) {
            return self.authenticate_key(credential).await;
        }
        let invalid =
            || ApiError::unauthorized("invalid_token", "the access token is invalid or expired");
        let claims = self.keys.verify(credential).map_err(|e| {
            tracing::debug!(error = %e, "access token refused");
            invalid()
        })?;
        if self.revoked.contains(&claims.jti) {
            return Err(invalid());
        }
        let token = Some((claims.jti.clone(), claims.exp));
        let session = claims
            .sid
            .as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| invalid())?;
        match claims.typ {
            TokenKind::Service => {
                let org = claims
                    .org
                    .as_deref()
                    .map(OrgId::parse)
                    .transpose()
                    .map_err(|_| invalid())?;
                if org.is_none() || claims.role > Role::Manager {
                    return Err(invalid());
                }
                Ok(Principal {
                    org,
                    role: claims.role,
                    actor: Actor::Service(claims.sub),
                    via_cookie,
                    token,
                    session: None,
                })
            }
            TokenKind::User => {
                let id = Uuid::parse_str(&claims.sub).map_err(|_| invalid())?;
                let user = self.cached_user(id).await?.ok_or_else(invalid)?;
                if !user.active || user.org.as_ref().map(OrgId::as_str) != claims.org.as_deref() {
                    return Err(invalid());
                }
                if let Some(session) = session {
                    if !self.session_live(session, id).await? {
                        return Err(invalid());
                    }
                }
                Ok(Principal {
                    org: user.org,
                    role: user.role,
                    actor: Actor::User(id),
                    via_cookie,
                    token,
                    session,
                })
            }
        }
    }

    async fn authenticate_key(&self, key: &str) -> Result<Principal, ApiError> {
        let record = self
            .accounts()
            .api_key_by_hash(&token::secret_hash(key))
            .await
            .map_err(ApiError::from_store)?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_api_key", "the API key is invalid or revoked")
            })?;
        let decision = self
            .limiter
            .hit(
                &format!("apikey:{}", record.id),
                u64::from(record.rate_limit_per_hour),
                Duration::from_secs(3600),
            )
            .await;
        if !decision.allowed {
            return Err(ApiError::too_many_requests(
                "rate_limited",
                format!(
                    "this API key is limited to {} requests per hour",
                    record.rate_limit_per_hour
                ),
                decision.retry_after,
            ));
        }
        Ok(Principal {
            org: Some(record.org),
            role: record.role,
            actor: Actor::ApiKey(record.id),
            via_cookie: false,
            token: None,
            session: None,
        })
    }

    /// The credential a request carries, if any: `(credential, via_cookie)`.
    pub fn credential(headers: &HeaderMap) -> Option<(String, bool)> {
        if let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
                return Some((rest.trim().to_owned(), false));
            }
        }
        if let Some(key) = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
            return Some((key.trim().to_owned(), false));
        }
        cookie::get(headers, cookie::ACCESS).map(|v| (v, true))
    }

    /// Authenticates a request's headers; `Ok(None)` when it carries no credential. A
    /// credential that is present but invalid is an error, never "anonymous".
    pub async fn authenticate_headers(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Principal>, ApiError> {
        match Self::credential(headers) {
            None => Ok(None),
            Some((credential, via_cookie)) => {
                self.authenticate(&credential, via_cookie).await.map(Some)
            }
        }
    }

    /// Writes an audit row; a failure is logged (the operation it records already
    /// happened and is not undone).
    pub async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.accounts().insert_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "audit row not written");
        }
    }
}

/// Whether a method changes state (CSRF applies to cookie-authenticated ones).
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// 403 unless a cookie-authenticated request sends its session's CSRF token in
/// `X-CSRF-Token` (the value of the `warroom_csrf` cookie, which login and refresh derive
/// from the session: [`TokenKeys::csrf_token`]). A cookie credential without a session
/// cannot make changes.
pub fn check_csrf(
    keys: &TokenKeys,
    headers: &HeaderMap,
    session: Option<Uuid>,
) -> Result<(), ApiError> {
    let header = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match (session, header) {
        (Some(session), Some(h)) if token::same_secret(&keys.csrf_token(session), h) => Ok(()),
        _ => Err(ApiError::forbidden(
            "csrf",
            "cookie-authenticated changes need the session's csrf token (the warroom_csrf cookie) in X-CSRF-Token",
        )),
    }
}
