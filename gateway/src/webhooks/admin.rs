//! `/api/v1/admin/webhooks`: the organisation's outgoing webhooks (admin role). The
//! secret that signs deliveries is shown once, in the answer to the creation; changes are
//! audited.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use warroom_actors::webhook::outgoing::WEBHOOK_EVENTS;
use warroom_actors::webhook::target::{self, SystemResolver};
use warroom_storage::webhooks::{DeliveryRecord, WebhookRecord};

use crate::auth::token;
use crate::error::ApiError;
use crate::extract::{parse_id, AdminScope, ApiQuery, RequestMeta, Scoped};
use crate::state::AppState;

/// Prefix of generated webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Longest accepted endpoint URL.
const MAX_URL_CHARS: usize = 2048;

/// `POST /api/v1/admin/webhooks` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http://` or `https://` URL deliveries are POSTed to, at most 2,048 bytes, without
    /// credentials; its host must resolve to public addresses only (unless
    /// `webhooks.allow_private_targets`), else 400 `invalid_url`.
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub url: String,
    /// Events to deliver (at least one), e.g. `["crisis:detected"]`.
    #[schema(value_type = Vec<WebhookEvent>, min_items = 1)]
    pub events: Vec<String>,
}

/// An event an outgoing webhook can receive (`WEBHOOK_EVENTS`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used.
pub enum WebhookEvent {
    /// A crisis began.
    #[schema(rename = "crisis:detected")]
    Detected,
    /// A crisis grew more severe.
    #[schema(rename = "crisis:escalated")]
    Escalated,
    /// Someone acknowledged a crisis.
    #[schema(rename = "crisis:acknowledged")]
    Acknowledged,
    /// A crisis ended.
    #[schema(rename = "crisis:resolved")]
    Resolved,
}

/// The answer to creating an endpoint: the only time the secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    /// HMAC-SHA256 key of the deliveries' `X-Warroom-Signature`: keep it.
    pub secret: String,
    /// The stored endpoint.
    #[serde(flatten)]
    pub record: WebhookRecord,
}

fn invalid_url(message: &str) -> ApiError {
    ApiError::bad_request("invalid_url", message.to_owned())
}

/// Checks an endpoint URL: absolute http(s), no credentials, and a host that resolves
/// to public addresses only unless `allow_private` (the same rule is applied again before
/// every delivery, see `warroom_actors::webhook::target`).
async fn check_url(url: &str, allow_private: bool) -> Result<String, ApiError> {
    let url = url.trim();
    if url.chars().count() > MAX_URL_CHARS {
        return Err(invalid_url("URLs are at most 2048 characters"));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|_| invalid_url("url must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid_url("url must be http:// or https://"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid_url("url must not carry credentials"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid_url("url must name a host"))?;
    target::check_host(&SystemResolver, host, allow_private)
        .await
        .map_err(|refusal| invalid_url(&refusal.to_string()))?;
    Ok(parsed.to_string())
}

fn check_events(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        if !WEBHOOK_EVENTS.contains(&event.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_event",
                format!("events are among {}", WEBHOOK_EVENTS.join(", ")),
            ));
        }
        if !out.contains(&event) {
            out.push(event);
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_event",
            "give at least one event",
        ));
    }
    Ok(out)
}

/// `GET /api/v1/admin/webhooks`: the organisation's endpoints (without secrets).
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks",
    tag = "webhooks",
    summary = "The organisation's outgoing webhooks (no secrets)",
    responses(
        (status = 200, description = "the endpoints", body = Vec<WebhookRecord>),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Scoped(org, _, _): AdminScope,
) -> Result<Json<Vec<WebhookRecord>>, ApiError> {
    let hooks = state
        .runtime
        .store()
        .webhooks()
        .webhooks(&org)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(hooks))
}

/// `POST /api/v1/admin/webhooks`. 201 with the secret.
#[utoipa::path(
    post,
    path = "/api/v1/admin/webhooks",
    tag = "webhooks",
    summary = "Adds an outgoing webhook; its signing secret is shown once",
    request_body(content = CreateWebhook),
    responses(
        (status = 201, description = "the endpoint with its secret", body = CreatedWebhook),
        (status = 400, description = "bad URL or events", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Scoped(org, principal, _): AdminScope,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: CreateWebhook = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    let config = &state.runtime.config().webhooks;
    let url = check_url(&request.url, config.allow_private_targets).await?;
    let events = check_events(request.events)?;
    let store = state.runtime.store().webhooks();
    let existing = store.webhooks(&org).await.map_err(ApiError::from_store)?;
    if existing.len() >= config.max_per_org {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_webhooks",
            format!(
                "an organisation has at most {} webhooks",
                config.max_per_org
            ),
        ));
    }
    let record = WebhookRecord {
        id: Uuid::new_v4(),
        org,
        url,
        events,
        secret: token::random_secret(SECRET_PREFIX),
        created_by: principal.user_id(),
        // Whole microseconds: what the store keeps.
        created_at: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
            .unwrap_or_else(Utc::now),
    };
    store
        .create_webhook(&record)
        .await
        .map_err(ApiError::from_store)?;
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "webhook.create",
            "webhook",
            Some(record.id.to_string()),
            json!({ "url": record.url, "events": record.events }),
        ))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            secret: record.secret.clone(),
            record,
        }),
    )
        .into_response())
}

/// `DELETE /api/v1/admin/webhooks/{id}`: removes an endpoint and its log. 204.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/webhooks/{id}",
    tag = "webhooks",
    summary = "Removes an outgoing webhook and its delivery log",
    params(("id" = String, Path, description = "webhook id")),
    responses(
        (status = 204, description = "removed"),
        (status = 404, description = "no such webhook in the organisation", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Scoped(org, principal, _): AdminScope,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "webhook_not_found", "webhook")?;
    if !state
        .runtime
        .store()
        .webhooks()
        .delete_webhook(&org, id)
        .await
        .map_err(ApiError::from_store)?
    {
        return Err(ApiError::not_found("webhook_not_found", "no such webhook"));
    }
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "webhook.delete",
            "webhook",
            Some(id.to_string()),
            json!({}),
        ))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/admin/webhooks/{id}/deliveries` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Rows, 1-500 (default 100).
    pub limit: Option<u32>,
}

/// `GET /api/v1/admin/webhooks/{id}/deliveries`: the latest attempts, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks/{id}/deliveries",
    tag = "webhooks",
    summary = "Delivery attempts of an outgoing webhook, newest first",
    params(("id" = String, Path, description = "webhook id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1-500")),
    responses(
        (status = 200, description = "the attempts", body = Vec<warroom_storage::webhooks::DeliveryRecord>),
        (status = 400, description = "invalid id or query", body = crate::openapi::ErrorResponse),
        (status = 404, description = "no such webhook in the organisation", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    Scoped(org, _, _): AdminScope,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryRecord>>, ApiError> {
    let id = parse_id(&id, "webhook_not_found", "webhook")?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > warroom_storage::webhooks::MAX_DELIVERY_PAGE {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let store = state.runtime.store().webhooks();
    if store
        .webhook(&org, id)
        .await
        .map_err(ApiError::from_store)?
        .is_none()
    {
        return Err(ApiError::not_found("webhook_not_found", "no such webhook"));
    }
    Ok(Json(
        store
            .deliveries(&org, id, limit)
            .await
            .map_err(ApiError::from_store)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_are_checked() {
        // A public literal needs no lookup (names need DNS, which tests cannot rely on).
        assert!(check_url("https://93.184.216.34/warroom", false)
            .await
            .is_ok());
        for bad in [
            "ftp://example.org/",
            "not a url",
            "https://user:pw@example.org/",
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            // A name is resolved: localhost is loopback.
            "http://localhost:9000/",
        ] {
            assert!(check_url(bad, false).await.is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:8080/", true).await.is_ok());
        let refused = check_url("http://localhost:9000/", false)
            .await
            .unwrap_err();
        assert!(format!("{refused:?}").contains("127.0.0.1"), "{refused:?}");
    }

    #[test]
    fn events_are_checked_and_deduplicated() {
        assert_eq!(
            check_events(vec!["crisis:detected".into(), "crisis:detected".into()]).unwrap(),
            vec!["crisis:detected".to_owned()]
        );
        assert!(check_events(vec![]).is_err());
        assert!(check_events(vec!["dashboard:kpi-update".into()]).is_err());
    }
}
