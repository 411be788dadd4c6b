//! `/api/v1/admin/*` (users, API keys) and `/api/v1/audit`: admin role, within the
//! admin's own organisation. An id of another organisation answers 404.
//! `/api/v1/admin/overview` is the platform administrator's: every organisation at once.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use warroom_actors::push::org::OrgMsg;
use warroom_engine::{DataMode, Role, Window};
use warroom_storage::accounts::{
    ApiKeyRecord, AuditCursor, AuditFilter, AuditRecord, NewApiKey, NewUser,
};

use crate::auth::permission::Permission;
use crate::auth::revocation::Revocation;
use crate::auth::routes::UserView;
use crate::auth::{password, token, Principal};
use crate::error::ApiError;
use crate::extract::{parse_id, AdminScope, ApiQuery, RequestMeta, Scoped};
use crate::state::AppState;

/// Longest accepted API key name.
const MAX_NAME_CHARS: usize = 100;

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
}

/// An optional member that, when present, must not be `null` (with `#[serde(default)]`,
/// absence is `None`): `{"role": null}` is an error, not "no change".
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn org_role(role: Role) -> Result<Role, ApiError> {
    if role.is_org_role() {
        Ok(role)
    } else {
        Err(ApiError::bad_request(
            "invalid_role",
            "roles within an organisation are admin, manager, user, readonly",
        ))
    }
}

/// `GET /api/v1/admin/users`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    summary = "The organisation's users",
    responses(
        (status = 200, description = "the users", body = Vec<UserView>),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn list_users(
    State(state): State<Arc<AppState>>,
    Scoped(org, _, _): AdminScope,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state
        .auth
        .accounts()
        .users(&org)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// `POST /api/v1/admin/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login address, at most 255 bytes: letters, digits and `.!#$%&'*+-/=?^_\`{|}~`
    /// before the `@` (at most 64, no empty dot-separated part), host name labels after
    /// it; compared case-insensitively.
    #[schema(min_length = 3, max_length = 255, format = Email)]
    pub email: String,
    /// Initial password (at least 12 characters); the user should change it.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// Role within the organisation.
    #[schema(value_type = crate::openapi::params::OrgRole)]
    pub role: Role,
}

/// `POST /api/v1/admin/users`: creates (invites) a user in the admin's organisation. 201.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = "admin",
    summary = "Creates (invites) a user (audited)",
    request_body(content = CreateUser),
    responses(
        (status = 201, description = "the user", body = UserView),
        (status = 400, description = "invalid email, role or weak password", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse),
        (status = 409, description = "email_taken", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    Scoped(org, principal, _): AdminScope,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: CreateUser = parse_body(&body)?;
    let role = org_role(request.role)?;
    let email = warroom_engine::account::normalise_email(&request.email)
        .map_err(|reason| ApiError::bad_request("invalid_email", reason))?;
    password::check_new_password(&request.password)
        .map_err(|m| ApiError::bad_request("weak_password", m))?;
    let hash = password::hash(request.password)
        .await
        .map_err(|e| ApiError::internal("hash_failed", e))?;
    let user = state
        .auth
        .accounts()
        .create_user(
            &NewUser {
                org: Some(org),
                email,
                password_hash: hash,
                role,
            },
            Utc::now(),
        )
        .await
        .map_err(ApiError::from_store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "email_taken",
                "an account with this email exists",
            )
        })?;
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "user.create",
            "user",
            Some(user.id.to_string()),
            json!({ "email": user.email, "role": user.role }),
        ))
        .await;
    Ok((StatusCode::CREATED, Json(UserView::from(user))).into_response())
}

/// `PATCH /api/v1/admin/users/{id}` body: any of role and active.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// At least one property: set in `openapi::Corrections` (utoipa-gen 5.5 misreads
// `min_properties`).
pub struct UpdateUser {
    /// New role.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::openapi::params::OrgRole, nullable = false)]
    pub role: Option<Role>,
    /// `false` deactivates (its tokens stop working), `true` reactivates.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

/// `PATCH /api/v1/admin/users/{id}`: change role, deactivate or reactivate.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    summary = "Changes a role, deactivates or reactivates (audited)",
    params(("id" = uuid::Uuid, Path, description = "user id")),
    request_body(content = UpdateUser),
    responses(
        (status = 200, description = "the user", body = UserView),
        (status = 400, description = "invalid body or role", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not an admin; or cannot_change_self (admins cannot change their own role or deactivate themselves)", body = crate::openapi::ErrorResponse),
        (status = 404, description = "user_not_found (also for other organisations)", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn update_user(
    State(state): State<Arc<AppState>>,
    Scoped(org, principal, _): AdminScope,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<UserView>, ApiError> {
    let id = parse_id(&id, "user_not_found", "user")?;
    let request: UpdateUser = parse_body(&body)?;
    if request.role.is_none() && request.active.is_none() {
        return Err(ApiError::bad_request(
            "empty_update",
            "give role and/or active",
        ));
    }
    if principal.user_id() == Some(id) {
        // Understood but not allowed for this caller: an admin cannot lock themselves
        // out, so an organisation always keeps the admin who acts.
        return Err(ApiError::forbidden(
            "cannot_change_self",
            "admins cannot change their own role or deactivate themselves",
        ));
    }
    let accounts = state.auth.accounts();
    let not_found = || ApiError::not_found("user_not_found", "no such user");
    let before = accounts
        .user(id)
        .await
        .map_err(ApiError::from_store)?
        .filter(|u| u.org.as_ref() == Some(&org))
        .ok_or_else(not_found)?;
    let now = Utc::now();
    if let Some(role) = request.role {
        let role = org_role(role)?;
        if !accounts
            .set_role(&org, id, role, now)
            .await
            .map_err(ApiError::from_store)?
        {
            return Err(not_found());
        }
        state
            .auth
            .revoke(Revocation::User {
                id,
                deactivated: false,
            })
            .await;
        state
            .auth
            .audit(meta.audit_entry(
                &principal,
                "user.role_change",
                "user",
                Some(id.to_string()),
                json!({ "from": before.role, "to": role }),
            ))
            .await;
    }
    if let Some(active) = request.active {
        if !accounts
            .set_active(&org, id, active, now)
            .await
            .map_err(ApiError::from_store)?
        {
            return Err(not_found());
        }
        // Every node drops its cached copy; a deactivated user's sockets close at once.
        state
            .auth
            .revoke(Revocation::User {
                id,
                deactivated: !active,
            })
            .await;
        let action = if active {
            "user.activate"
        } else {
            "user.deactivate"
        };
        state
            .auth
            .audit(meta.audit_entry(&principal, action, "user", Some(id.to_string()), json!({})))
            .await;
    }
    let after = accounts
        .user(id)
        .await
        .map_err(ApiError::from_store)?
        .ok_or_else(not_found)?;
    Ok(Json(UserView::from(after)))
}

/// `POST /api/v1/admin/api-keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The role it acts with (an organisation role).
    #[schema(value_type = crate::openapi::params::OrgRole)]
    pub role: Role,
    /// Requests per hour (default `auth.api_key_rate_limit_per_hour`).
    #[serde(default, deserialize_with = "warroom_engine::whole_number::option")]
    #[schema(minimum = 1, maximum = 2_147_483_647_u32)]
    pub rate_limit_per_hour: Option<u32>,
}

/// The answer to creating a key: the only time the key is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// The key: keep it, it is not shown again.
    pub key: String,
    /// Its stored description.
    #[serde(flatten)]
    pub record: ApiKeyRecord,
}

/// `POST /api/v1/admin/api-keys`. 201.
#[utoipa::path(
    post,
    path = "/api/v1/admin/api-keys",
    tag = "admin",
    summary = "Creates an API key, shown once (audited)",
    request_body(content = CreateApiKey),
    responses(
        (status = 201, description = "the key and its record", body = CreatedApiKey),
        (status = 400, description = "invalid name, role or limit", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn create_api_key(
    State(state): State<Arc<AppState>>,
    Scoped(org, principal, _): AdminScope,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: CreateApiKey = parse_body(&body)?;
    let role = org_role(request.role)?;
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name is 1-100 characters",
        ));
    }
    let limit = request
        .rate_limit_per_hour
        .unwrap_or(state.auth.config().api_key_rate_limit_per_hour);
    if limit == 0 || limit > i32::MAX as u32 {
        return Err(ApiError::bad_request(
            "invalid_rate_limit",
            "rate_limit_per_hour is between 1 and 2147483647",
        ));
    }
    let key = token::random_secret(token::API_KEY_PREFIX);
    let record = state
        .auth
        .accounts()
        .create_api_key(&NewApiKey {
            id: Uuid::new_v4(),
            org,
            name,
            key_prefix: key.chars().take(token::API_KEY_DISPLAY_CHARS).collect(),
            key_hash: token::secret_hash(&key),
            role,
            rate_limit_per_hour: limit,
            created_by: principal.user_id(),
            created_at: Utc::now(),
        })
        .await
        .map_err(ApiError::from_store)?;
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "api_key.create",
            "api_key",
            Some(record.id.to_string()),
            json!({ "name": record.name, "role": record.role, "rate_limit_per_hour": limit }),
        ))
        .await;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key, record })).into_response())
}

/// `GET /api/v1/admin/api-keys`: the organisation's keys (prefix only).
#[utoipa::path(
    get,
    path = "/api/v1/admin/api-keys",
    tag = "admin",
    summary = "The organisation's API keys (never the keys themselves)",
    responses(
        (status = 200, description = "the keys", body = Vec<ApiKeyRecord>),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn list_api_keys(
    State(state): State<Arc<AppState>>,
    Scoped(org, _, _): AdminScope,
) -> Result<Json<Vec<ApiKeyRecord>>, ApiError> {
    Ok(Json(
        state
            .auth
            .accounts()
            .api_keys(&org)
            .await
            .map_err(ApiError::from_store)?,
    ))
}

/// `DELETE /api/v1/admin/api-keys/{id}`: revokes a key. 204.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/api-keys/{id}",
    tag = "admin",
    summary = "Revokes an API key (audited)",
    params(("id" = uuid::Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse),
        (status = 404, description = "api_key_not_found (also for other organisations)", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn revoke_api_key(
    State(state): State<Arc<AppState>>,
    Scoped(org, principal, _): AdminScope,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "api_key_not_found", "API key")?;
    if !state
        .auth
        .accounts()
        .revoke_api_key(&org, id, Utc::now())
        .await
        .map_err(ApiError::from_store)?
    {
        return Err(ApiError::not_found("api_key_not_found", "no such API key"));
    }
    state.auth.revoke(Revocation::ApiKey { id }).await;
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "api_key.revoke",
            "api_key",
            Some(id.to_string()),
            json!({}),
        ))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this action (e.g. `user.login`).
    pub action: Option<String>,
    /// Only this acting user.
    pub actor: Option<Uuid>,
    /// At or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Rows per page, 1-500 (default 100).
    pub limit: Option<u32>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

/// A page of the audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPageView {
    /// Rows, newest first.
    pub entries: Vec<AuditRecord>,
    /// Cursor of the next page, absent on the last.
    pub next: Option<String>,
}

/// `GET /api/v1/audit`: the organisation's audit trail, newest first (admin).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "admin",
    summary = "The organisation's audit trail, newest first",
    params(("action" = Option<String>, Query, description = "e.g. user.login"), ("actor" = Option<uuid::Uuid>, Query, description = "acting user"), ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive"), ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, exclusive"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1-500, default 100"), ("cursor" = Option<String>, Query, pattern = r"^[0-9]{1,18}\.[0-9a-f]{32}$", description = "next of the previous page")),
    responses(
        (status = 200, description = "a page, newest first", body = AuditPageView),
        (status = 400, description = "invalid filter", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn audit(
    State(state): State<Arc<AppState>>,
    Scoped(org, _, _): AdminScope,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPageView>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > warroom_storage::accounts::MAX_AUDIT_PAGE {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    if let (Some(from), Some(to)) = (query.from, query.to) {
        // Equal bounds are an empty range, not an error.
        if from > to {
            return Err(ApiError::bad_request(
                "invalid_range",
                "from must not be after to",
            ));
        }
    }
    let after = query
        .cursor
        .as_deref()
        .map(str::parse::<AuditCursor>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_cursor", e))?;
    let page = state
        .auth
        .accounts()
        .audit_page(
            &org,
            &AuditFilter {
                action: query.action,
                user_id: query.actor,
                from: query.from,
                to: query.to,
                after,
                limit,
            },
        )
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(AuditPageView {
        entries: page.entries,
        next: page.next.map(|c| c.to_string()),
    }))
}

/// `GET /api/v1/admin/connectors`: the state of the admin's organisation's live
/// connectors (empty in MOCK mode), by child name. Never a credential.
#[utoipa::path(
    get,
    path = "/api/v1/admin/connectors",
    tag = "admin",
    summary = "State of the organisation's live connectors (last success, last error, breaker, lag)",
    responses(
        (status = 200, description = "connector states by child name", body = std::collections::BTreeMap<String, warroom_actors::sources::connectors::ConnectorStatus>),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn list_connectors(
    State(state): State<Arc<AppState>>,
    Scoped(org, _, _): AdminScope,
) -> Json<std::collections::BTreeMap<String, warroom_actors::sources::connectors::ConnectorStatus>>
{
    let mut statuses = state.runtime.connector_statuses();
    statuses.retain(|_, s| s.org == org.as_str());
    Json(statuses)
}

/// One organisation in `GET /api/v1/admin/overview`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrgOverview {
    /// Organisation id.
    pub id: warroom_engine::OrgId,
    /// Display name.
    pub name: String,
    /// Mentions per minute, averaged over the last 15 minutes (`null` while the
    /// organisation's actor restarts or does not answer in time).
    pub mentions_per_minute: Option<f64>,
    /// Mentions in the last 24 hours (`null` as above).
    pub mentions_24h: Option<u64>,
    /// Crises not resolved (`null` as above).
    pub active_crises: Option<u64>,
    /// WebSockets of this gateway node subscribed to the organisation now.
    pub open_sockets: usize,
    /// The data mode (global: the same for every organisation).
    pub data_mode: DataMode,
}

/// `GET /api/v1/admin/overview` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Every organisation served, by id.
    pub orgs: Vec<OrgOverview>,
}

/// The figures of a rendered dashboard view the overview needs (the rest is ignored).
#[derive(Debug, Deserialize)]
struct DashboardFigures {
    mentions_24h: u64,
    active_crises: u64,
    kpis: WindowFigures,
}

#[derive(Debug, Deserialize)]
struct WindowFigures {
    mention_count: u64,
}

/// The 15-minute dashboard view of an organisation: the one its actor published, or one
/// rendered through its mailbox. `None` when the actor does not answer.
async fn dashboard_figures(
    state: &AppState,
    entry: &warroom_actors::push::directory::OrgEntry,
) -> Option<DashboardFigures> {
    let bytes = match entry.dashboard.get(Window::M15) {
        Some(bytes) => bytes,
        None => state
            .runtime
            .directory()
            .call(
                &entry.org.id,
                |reply| OrgMsg::Dashboard(Window::M15, reply),
                state.call_timeout,
            )
            .await
            .ok()?,
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!(org = %entry.org.id, error = %e, "unreadable dashboard view"))
        .ok()
}

/// `GET /api/v1/admin/overview`: every organisation's live figures (platform
/// administrator).
#[utoipa::path(
    get,
    path = "/api/v1/admin/overview",
    tag = "admin",
    summary = "Every organisation's live figures: mentions per minute, active crises, open sockets, data mode (platform administrator)",
    responses(
        (status = 200, description = "one row per organisation", body = Overview),
        (status = 403, description = "not the platform administrator", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn overview(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Overview>, ApiError> {
    principal.require(Permission::ManageOrganizations)?;
    let data_mode = state.runtime.data_mode();
    let directory = state.runtime.directory();
    // Concurrently: one slow (restarting) actor costs the call timeout once, not per org.
    let orgs = futures_util::future::join_all(directory.iter().map(|entry| {
        let state = &state;
        async move {
            let figures = dashboard_figures(state, entry).await;
            OrgOverview {
                id: entry.org.id.clone(),
                name: entry.org.name.clone(),
                mentions_per_minute: figures.as_ref().map(|f| {
                    let per_minute = f.kpis.mention_count as f64 / 15.0;
                    (per_minute * 100.0).round() / 100.0
                }),
                mentions_24h: figures.as_ref().map(|f| f.mentions_24h),
                active_crises: figures.as_ref().map(|f| f.active_crises),
                open_sockets: entry.open_sockets(),
                data_mode,
            }
        }
    }))
    .await;
    Ok(Json(Overview { orgs }))
}
