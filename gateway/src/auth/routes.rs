//! `POST /api/v1/auth/login`, `/auth/refresh`, `/auth/logout`, `/auth/password` and
//! `GET /auth/me`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use warroom_actors::push::org::OrgMsg;
use warroom_engine::wire::events;
use warroom_engine::{OrgId, Role};
use warroom_storage::accounts::{
    AuditEntry, NewRefreshToken, RefreshOutcome, Replacement, UserRecord,
};

use super::revocation::Revocation;
use super::token::{self, TokenKind};
use super::{check_csrf, cookie, password, Actor, Principal};
use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::state::AppState;

/// Longest accepted login address.
const MAX_EMAIL_BYTES: usize = 255;

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login address.
    #[schema(min_length = 1, max_length = 255)]
    pub email: String,
    /// Password.
    #[schema(min_length = 1)]
    pub password: String,
}

/// `POST /auth/refresh` and `/auth/logout` body (optional with cookies).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token (or the `warroom_refresh` cookie).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// `POST /auth/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new one (at least 12 characters).
    pub new_password: String,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Login address.
    pub email: String,
    /// Organisation (absent for the platform administrator).
    pub org: Option<OrgId>,
    /// Role.
    pub role: Role,
    /// Whether the account can log in.
    pub active: bool,
    /// Last login.
    pub last_login_at: Option<chrono::DateTime<Utc>>,
    /// Creation.
    pub created_at: chrono::DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email,
            org: u.org,
            role: u.role,
            active: u.active,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
        }
    }
}

/// The answer to a login or refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String)]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque refresh token (also set as an httpOnly cookie).
    pub refresh_token: String,
    /// The CSRF token (also set as the readable `warroom_csrf` cookie).
    pub csrf_token: String,
    /// The account.
    pub user: UserView,
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "wrong email or password")
}

fn emit(state: &AppState, org: &Option<OrgId>, event: &'static str, user: Uuid) {
    let Some(org) = org else { return };
    if let Some(actor) = state.runtime.directory().get(org).and_then(|e| e.actor()) {
        let data = json!({ "userId": user, "timestamp": Utc::now() });
        let _ = actor.send_message(OrgMsg::System { event, data });
    }
}

/// Mints an access token and a refresh token for `user`, stores the refresh token's
/// hash, and answers with both in the body and as cookies.
async fn issue(
    state: &AppState,
    user: UserRecord,
    refresh: String,
    session: Uuid,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let now = Utc::now();
    let (access, _) = auth
        .keys()
        .mint(
            &user.id.to_string(),
            user.org.as_ref().map(OrgId::as_str),
            user.role,
            TokenKind::User,
            Some(session),
            now,
        )
        .map_err(|e| ApiError::internal("token_error", e.to_string()))?;
    let csrf = auth.keys().csrf_token(session);
    let config = auth.config();
    let access_secs = auth.keys().ttl().num_seconds();
    let refresh_secs = config.refresh_token_ttl.as_secs() as i64;
    let secure = config.cookie_secure;
    let body = TokenResponse {
        access_token: access.clone(),
        token_type: "Bearer",
        expires_in: access_secs,
        refresh_token: refresh.clone(),
        csrf_token: csrf.clone(),
        user: user.into(),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    for value in [
        cookie::set(
            cookie::ACCESS,
            &access,
            "/api/v1",
            access_secs,
            true,
            secure,
        ),
        cookie::set(
            cookie::REFRESH,
            &refresh,
            "/api/v1/auth",
            refresh_secs,
            true,
            secure,
        ),
        cookie::set(cookie::CSRF, &csrf, "/", refresh_secs, false, secure),
    ]
    .into_iter()
    .flatten()
    {
        headers.append(header::SET_COOKIE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

fn refresh_expiry(state: &AppState) -> chrono::DateTime<Utc> {
    Utc::now()
        + chrono::Duration::from_std(state.auth.config().refresh_token_ttl)
            .unwrap_or_else(|_| chrono::Duration::days(7))
}

/// `POST /api/v1/auth/login`: `{email, password}` → tokens. Throttled per client IP (all
/// attempts) and, for failures only, per account and client with backoff, and per account
/// for clients without its device cookie (429 with Retry-After): [`LoginThrottle`]. An
/// unknown address and a wrong password get the same 401 after the same work.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    summary = "Logs in: tokens in the body and as cookies",
    request_body(content = LoginRequest),
    responses(
        (status = 200, description = "tokens", body = TokenResponse),
        (status = 400, description = "invalid body", body = crate::openapi::ErrorResponse),
        (status = 401, description = "wrong address or password", body = crate::openapi::ErrorResponse),
        (status = 429, description = "too many attempts; Retry-After", body = crate::openapi::ErrorResponse)
    ),
    security(()),
)]
pub async fn login(
    State(state): State<Arc<AppState>>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: LoginRequest = parse_json(&body)?;
    let email = request.email.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES || request.password.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_login",
            "email and password are required (email at most 255 bytes)",
        ));
    }
    let auth = &state.auth;
    let config = auth.config();
    let ip = meta
        .ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let decision = auth
        .limiter()
        .hit(
            &format!("login:ip:{ip}"),
            config.login_attempts_per_ip,
            config.login_window,
        )
        .await;
    if !decision.allowed {
        return Err(too_many_attempts(decision.retry_after));
    }
    let user = auth
        .accounts()
        .user_by_email(&email)
        .await
        .map_err(ApiError::from_store)?;
    let device = match (&user, cookie::get(&headers, cookie::DEVICE)) {
        (Some(user), Some(value)) => auth.keys().device_of(user.id, &value).map(str::to_owned),
        _ => None,
    };
    let throttle = LoginThrottle::new(&email, device.as_deref(), &ip);
    throttle.check(&state).await?;
    let hash = user.as_ref().map_or_else(
        || password::decoy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let matches = password::verify(request.password, hash).await;
    let user = match user {
        Some(user) if matches && user.active => user,
        other => {
            throttle.failed(&state).await;
            if let Some(user) = other {
                auth.audit(AuditEntry {
                    org: user.org.clone(),
                    user_id: Some(user.id),
                    api_key_id: None,
                    action: "user.login_failed".into(),
                    resource_type: "user".into(),
                    resource_id: Some(user.id.to_string()),
                    details: json!({ "reason": if user.active { "password" } else { "inactive" } }),
                    ip_address: meta.ip,
                    user_agent: meta.user_agent.clone(),
                    timestamp: Utc::now(),
                })
                .await;
            }
            return Err(invalid_credentials());
        }
    };
    let refresh = token::random_secret(token::REFRESH_PREFIX);
    let now = Utc::now();
    // The session: the refresh-token family this login starts; its access tokens carry it.
    let session = Uuid::new_v4();
    auth.accounts()
        .insert_refresh_token(&NewRefreshToken {
            id: Uuid::new_v4(),
            user_id: user.id,
            org: user.org.clone(),
            family_id: session,
            token_hash: token::secret_hash(&refresh),
            issued_at: now,
            expires_at: refresh_expiry(&state),
            ip: meta.ip,
            user_agent: meta.user_agent.clone(),
        })
        .await
        .map_err(ApiError::from_store)?;
    auth.accounts()
        .record_login(user.id, now)
        .await
        .map_err(ApiError::from_store)?;
    let principal = Principal {
        org: user.org.clone(),
        role: user.role,
        actor: Actor::User(user.id),
        via_cookie: false,
        token: None,
        session: Some(session),
    };
    auth.audit(meta.audit_entry(
        &principal,
        "user.login",
        "user",
        Some(user.id.to_string()),
        json!({}),
    ))
    .await;
    emit(&state, &user.org, events::USER_LOGIN, user.id);
    let user_id = user.id;
    let mut response = issue(&state, user, refresh, session, StatusCode::OK).await?;
    // This browser now holds the account's device cookie (kept when it already had one).
    if device.is_none() {
        if let Some(value) = cookie::set(
            cookie::DEVICE,
            &auth.keys().device_token(user_id),
            "/api/v1/auth",
            cookie::DEVICE_MAX_AGE_SECS,
            true,
            config.cookie_secure,
        ) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

fn too_many_attempts(retry_after: Duration) -> ApiError {
    ApiError::too_many_requests(
        "too_many_attempts",
        "too many failed logins; retry later",
        retry_after,
    )
}

/// The failure throttles of one login attempt.
///
/// A client is the account's device cookie when the browser has one, else its IP. It gets
/// `auth.login_failures_per_client` free failures per `auth.login_window`; each failure
/// beyond them locks it out for `auth.login_backoff`, doubled per further failure, at
/// most the window. Clients without the device cookie also share one account-wide budget
/// of `auth.login_failures_per_account` failures per window. Successful logins count
/// nothing, so the right password is refused only to a client that is itself locked out.
struct LoginThrottle {
    /// Failures of this account from this client.
    client: String,
    /// The client's current lockout.
    lock: String,
    /// Failures of this account from clients without its device cookie (none when the
    /// client has it).
    account: Option<String>,
}

impl LoginThrottle {
    fn new(email: &str, device: Option<&str>, ip: &str) -> Self {
        let client = match device {
            Some(nonce) => format!("device:{nonce}"),
            None => format!("ip:{ip}"),
        };
        Self {
            client: format!("login:fail:{email}:{client}"),
            lock: format!("login:lock:{email}:{client}"),
            account: device.is_none().then(|| format!("login:fail:{email}")),
        }
    }

    /// 429 while the client is locked out or the account's budget is spent.
    async fn check(&self, state: &AppState) -> Result<(), ApiError> {
        let limiter = state.auth.limiter();
        let locked = limiter.peek(&self.lock, 1).await;
        if !locked.allowed {
            return Err(too_many_attempts(locked.retry_after));
        }
        if let Some(account) = &self.account {
            let budget = state.auth.config().login_failures_per_account;
            let spent = limiter.peek(account, budget).await;
            if !spent.allowed {
                return Err(too_many_attempts(spent.retry_after));
            }
        }
        Ok(())
    }

    /// Counts a failure, and locks the client out once it is past its free failures.
    async fn failed(&self, state: &AppState) {
        let config = state.auth.config();
        let limiter = state.auth.limiter();
        let free = config.login_failures_per_client;
        let failures = limiter
            .hit(&self.client, free, config.login_window)
            .await
            .count;
        if failures > free {
            let doublings = u32::try_from(failures - free - 1)
                .unwrap_or(u32::MAX)
                .min(20);
            let wait = config
                .login_backoff
                .saturating_mul(1 << doublings)
                .min(config.login_window);
            limiter.hit(&self.lock, 1, wait).await;
        }
        if let Some(account) = &self.account {
            limiter
                .hit(
                    account,
                    config.login_failures_per_account,
                    config.login_window,
                )
                .await;
        }
    }
}

/// The refresh token of a request: the body's, else the cookie's (then the CSRF token of
/// the cookie's session must come with it).
async fn presented_refresh(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, ApiError> {
    let request: RefreshRequest = if body.is_empty() {
        RefreshRequest::default()
    } else {
        parse_json(body)?
    };
    if let Some(token) = request.refresh_token {
        return Ok(Some(token));
    }
    match cookie::get(headers, cookie::REFRESH) {
        Some(token) => {
            let session = state
                .auth
                .accounts()
                .refresh_session(&token::secret_hash(&token))
                .await
                .map_err(ApiError::from_store)?;
            check_csrf(state.auth.keys(), headers, session)?;
            Ok(Some(token))
        }
        None => Ok(None),
    }
}

/// `POST /api/v1/auth/refresh`: rotates the refresh token and mints a new access
/// token. Presenting an already rotated token revokes its whole family (401).
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    summary = "Rotates the refresh token (body or cookie) and mints an access token",
    request_body(content = RefreshRequest),
    responses(
        (status = 200, description = "new tokens", body = TokenResponse),
        (status = 400, description = "invalid body", body = crate::openapi::ErrorResponse),
        (status = 401, description = "invalid, expired or reused refresh token (reuse revokes the family)", body = crate::openapi::ErrorResponse),
        (status = 403, description = "cookie refresh without the CSRF header", body = crate::openapi::ErrorResponse)
    ),
    security(()),
)]
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let presented = presented_refresh(&state, &headers, &body)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_refresh_token", "no refresh token"))?;
    let auth = &state.auth;
    let next = token::random_secret(token::REFRESH_PREFIX);
    let outcome = auth
        .accounts()
        .rotate_refresh_token(
            &token::secret_hash(&presented),
            &Replacement {
                id: Uuid::new_v4(),
                token_hash: token::secret_hash(&next),
                expires_at: refresh_expiry(&state),
                ip: meta.ip,
                user_agent: meta.user_agent.clone(),
            },
            Utc::now(),
        )
        .await
        .map_err(ApiError::from_store)?;
    let (user_id, session) = match outcome {
        RefreshOutcome::Rotated { user_id, family_id } => (user_id, family_id),
        RefreshOutcome::Reused { user_id, family_id } => {
            tracing::warn!(%user_id, %family_id, "a rotated refresh token was reused; family revoked");
            // Its access tokens and sockets die with it, on every node.
            auth.revoke(Revocation::Session { id: family_id }).await;
            let user = auth.accounts().user(user_id).await.ok().flatten();
            auth.audit(AuditEntry {
                org: user.and_then(|u| u.org),
                user_id: Some(user_id),
                api_key_id: None,
                action: "auth.refresh_reuse".into(),
                resource_type: "refresh_token_family".into(),
                resource_id: Some(family_id.to_string()),
                details: json!({}),
                ip_address: meta.ip,
                user_agent: meta.user_agent.clone(),
                timestamp: Utc::now(),
            })
            .await;
            return Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; every session of this login is revoked",
            ));
        }
        RefreshOutcome::Invalid => {
            return Err(ApiError::unauthorized(
                "invalid_refresh_token",
                "the refresh token is invalid, expired or revoked",
            ))
        }
    };
    let user = auth
        .accounts()
        .user(user_id)
        .await
        .map_err(ApiError::from_store)?
        .filter(|u| u.active)
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_refresh_token", "the account is deactivated")
        })?;
    issue(&state, user, next, session, StatusCode::OK).await
}

fn cleared_cookies(response: &mut Response, secure: bool) {
    for (name, path, http_only) in [
        (cookie::ACCESS, "/api/v1", true),
        (cookie::REFRESH, "/api/v1/auth", true),
        (cookie::CSRF, "/", false),
    ] {
        if let Some(value) = cookie::set(name, "", path, 0, http_only, secure) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// `POST /api/v1/auth/logout`: ends the session of the access token used (its refresh
/// tokens, every access token minted in it, its sockets on every node) and the presented
/// refresh token's family, and clears the cookies. 204.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    summary = "Revokes the refresh-token family and the access token used",
    request_body(content = RefreshRequest),
    responses(
        (status = 204, description = "logged out")
    ),
)]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    meta: RequestMeta,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let user_id = principal.user_id().ok_or_else(|| {
        ApiError::forbidden(
            "not_a_user",
            "only users log out; API keys are revoked instead",
        )
    })?;
    let auth = &state.auth;
    if let Some(presented) = presented_refresh(&state, &headers, &body).await? {
        auth.accounts()
            .revoke_refresh_family(user_id, &token::secret_hash(&presented), Utc::now())
            .await
            .map_err(ApiError::from_store)?;
    }
    // The session ends (its access tokens and sockets, on every node); a token that
    // names no session is revoked alone.
    if let Some(session) = principal.session {
        auth.accounts()
            .revoke_session(user_id, session, Utc::now())
            .await
            .map_err(ApiError::from_store)?;
        auth.revoke(Revocation::Session { id: session }).await;
    } else if let Some((jti, exp)) = principal.token.clone() {
        auth.revoke(Revocation::AccessToken { jti, exp }).await;
    }
    auth.audit(meta.audit_entry(
        &principal,
        "user.logout",
        "user",
        Some(user_id.to_string()),
        json!({}),
    ))
    .await;
    emit(&state, &principal.org, events::USER_LOGOUT, user_id);
    let mut response = StatusCode::NO_CONTENT.into_response();
    cleared_cookies(&mut response, auth.config().cookie_secure);
    Ok(response)
}

/// `GET /api/v1/auth/me`: the caller.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    summary = "The caller",
    responses(
        (status = 200, description = "the user, API key or service", body = Caller)
    ),
)]
pub async fn me(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Caller>, ApiError> {
    match &principal.actor {
        Actor::User(id) => {
            let user = state
                .auth
                .accounts()
                .user(*id)
                .await
                .map_err(ApiError::from_store)?
                .ok_or_else(|| ApiError::unauthorized("invalid_token", "no such account"))?;
            // The organisation's display name, for the web app's header.
            let organization = user
                .org
                .as_ref()
                .and_then(|org| state.runtime.directory().get(org))
                .map(|entry| entry.org.clone());
            Ok(Json(Caller::User {
                user: UserView::from(user),
                organization,
            }))
        }
        Actor::ApiKey(id) => Ok(Json(Caller::ApiKey {
            id: *id,
            org: principal.org.clone(),
            role: principal.role,
        })),
        Actor::Service(name) => Ok(Json(Caller::Service {
            name: name.clone(),
            org: principal.org.clone(),
            role: principal.role,
        })),
    }
}

/// The answer of `GET /api/v1/auth/me`, by the kind of credential.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caller {
    /// A user's access token or cookie.
    User {
        /// The account.
        user: UserView,
        /// Its organisation (absent for the platform administrator).
        organization: Option<warroom_engine::Organization>,
    },
    /// An API key.
    ApiKey {
        /// The key's id.
        id: Uuid,
        /// The organisation it acts for.
        org: Option<OrgId>,
        /// The role it acts with.
        role: Role,
    },
    /// A service token (minted with the signing secret, e.g. by the load tester).
    Service {
        /// The token's subject.
        name: String,
        /// The organisation it acts for.
        org: Option<OrgId>,
        /// The role it acts with.
        role: Role,
    },
}

/// `POST /api/v1/auth/password`: `{current_password, new_password}`. Ends every other
/// session of the account at once (their refresh and access tokens, their sockets); the
/// session making the change goes on. 204.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    summary = "Changes the password; ends every other session of the account",
    request_body(content = PasswordChange),
    responses(
        (status = 204, description = "changed"),
        (status = 400, description = "weak password or invalid body", body = crate::openapi::ErrorResponse),
        (status = 401, description = "wrong current password", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not a user account", body = crate::openapi::ErrorResponse),
        (status = 429, description = "too many attempts; Retry-After", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: PasswordChange = parse_json(&body)?;
    let user_id = principal
        .user_id()
        .ok_or_else(|| ApiError::forbidden("not_a_user", "only users have passwords"))?;
    password::check_new_password(&request.new_password)
        .map_err(|m| ApiError::bad_request("weak_password", m))?;
    let auth = &state.auth;
    let window = auth.config().login_window;
    let decision = auth
        .limiter()
        .hit(
            &format!("password:{user_id}"),
            auth.config().login_failures_per_client,
            window,
        )
        .await;
    if !decision.allowed {
        return Err(ApiError::too_many_requests(
            "too_many_attempts",
            "too many attempts; retry later",
            decision.retry_after,
        ));
    }
    let user = auth
        .accounts()
        .user(user_id)
        .await
        .map_err(ApiError::from_store)?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "no such account"))?;
    if !password::verify(request.current_password, user.password_hash).await {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the current password is wrong",
        ));
    }
    let hash = password::hash(request.new_password)
        .await
        .map_err(|e| ApiError::internal("hash_failed", e))?;
    auth.accounts()
        .set_password_hash(user_id, &hash, principal.session, Utc::now())
        .await
        .map_err(ApiError::from_store)?;
    // Every other session ends now, on every node; this one goes on.
    auth.revoke(Revocation::UserSessions {
        user: user_id,
        keep: principal.session,
    })
    .await;
    auth.audit(meta.audit_entry(
        &principal,
        "user.password_change",
        "user",
        Some(user_id.to_string()),
        json!({}),
    ))
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Seconds for a Retry-After header, at least one.
pub fn retry_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
