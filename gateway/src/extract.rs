//! What handlers extract from a request, in one place: the authentication middleware
//! and the [`Principal`] it leaves, the organisation a request acts on ([`Scoped`]) with
//! the permission it needs, the client's address ([`RequestMeta`]), query strings
//! ([`ApiQuery`]) and path ids ([`parse_id`]), each refusing with our JSON errors.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;
use uuid::Uuid;
use warroom_engine::OrgId;
use warroom_storage::accounts::AuditEntry;

use crate::auth::permission::Permission;
use crate::auth::{check_csrf, is_state_changing, Actor, Principal, ORG_HEADER};
use crate::error::ApiError;
use crate::state::AppState;

/// Middleware of every protected route: authenticates, applies CSRF, and leaves the
/// [`Principal`] in the request's extensions.
pub async fn require_auth(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = state
        .auth
        .authenticate_headers(request.headers())
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unauthenticated",
                "log in (POST /api/v1/auth/login) and send the access token as a Bearer token, or an API key",
            )
        })?;
    if principal.via_cookie && is_state_changing(request.method()) {
        check_csrf(state.auth.keys(), request.headers(), principal.session)?;
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::unauthorized("unauthenticated", "this endpoint needs a credential")
        })
    }
}

/// A permission an extractor requires.
pub trait Need: Send + Sync {
    /// The permission.
    const PERMISSION: Permission;
}

/// [`Permission::Read`].
pub struct CanRead;
impl Need for CanRead {
    const PERMISSION: Permission = Permission::Read;
}
/// [`Permission::RespondToCrisis`].
pub struct CanRespond;
impl Need for CanRespond {
    const PERMISSION: Permission = Permission::RespondToCrisis;
}
/// [`Permission::Ingest`].
pub struct CanIngest;
impl Need for CanIngest {
    const PERMISSION: Permission = Permission::Ingest;
}
/// [`Permission::Administer`].
pub struct CanAdminister;
impl Need for CanAdminister {
    const PERMISSION: Permission = Permission::Administer;
}

/// The organisation a request acts on, for a principal holding `N`'s permission.
///
/// The organisation is the credential's. A legacy `?org=` or `X-Warroom-Org` naming
/// another organisation answers 404, exactly like an organisation that does not exist,
/// so a caller learns nothing about other tenants.
pub struct Scoped<N: Need>(pub OrgId, pub Principal, pub PhantomData<N>);

/// Read access to the credential's organisation.
pub type OrgScope = Scoped<CanRead>;

/// Admin access to the credential's organisation.
pub type AdminScope = Scoped<CanAdminister>;

#[derive(serde::Deserialize)]
struct OrgParam {
    org: Option<String>,
}

impl<N: Need> FromRequestParts<Arc<AppState>> for Scoped<N> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require(N::PERMISSION)?;
        let org = principal.org()?.clone();
        let named = axum::extract::Query::<OrgParam>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.org)
            .or_else(|| {
                parts
                    .headers
                    .get(ORG_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        if named.is_some_and(|n| n != org.as_str()) || state.runtime.directory().get(&org).is_none()
        {
            return Err(ApiError::not_found("org_not_found", "no such organisation"));
        }
        Ok(Scoped(org, principal, PhantomData))
    }
}

/// The client's address and user agent, for the audit trail and login throttling.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The peer address (proxies' forwarding headers are not trusted).
    pub ip: Option<IpAddr>,
    /// `User-Agent`, at most 512 characters.
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta {
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
        })
    }
}

impl RequestMeta {
    /// An audit row for `principal` doing `action` to `resource_type`/`resource_id`.
    pub fn audit_entry(
        &self,
        principal: &Principal,
        action: &str,
        resource_type: &str,
        resource_id: Option<String>,
        details: serde_json::Value,
    ) -> AuditEntry {
        let details = match (&principal.actor, details) {
            (Actor::Service(name), serde_json::Value::Object(mut map)) => {
                map.insert("service".into(), serde_json::Value::String(name.clone()));
                serde_json::Value::Object(map)
            }
            (_, details) => details,
        };
        AuditEntry {
            org: principal.org.clone(),
            user_id: principal.user_id(),
            api_key_id: principal.api_key_id(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id,
            details,
            ip_address: self.ip,
            user_agent: self.user_agent.clone(),
            timestamp: chrono::Utc::now(),
        }
    }
}

/// `Query` whose rejection is our JSON 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// A path id: a UUID, or 404 `not_found_code` ("no such `what`"): an id that cannot
/// exist is answered as one that does not.
pub fn parse_id(id: &str, not_found_code: &'static str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(not_found_code, format!("no such {what}")))
}
