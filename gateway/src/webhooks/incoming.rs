//! `POST /api/v1/webhooks/{service}`: mentions pushed by a source, authenticated by a
//! signature instead of a token.
//!
//! Headers (see `warroom_actors::webhook::signature`):
//! - `X-Warroom-Org`: the organisation;
//! - `X-Warroom-Timestamp`: Unix seconds, within `webhooks.timestamp_tolerance` of the
//!   server clock;
//! - `X-Warroom-Delivery`: the delivery id (1-128 of `A-Z a-z 0-9 - _ . :`), the
//!   idempotency key;
//! - `X-Warroom-Signature`: `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{delivery}.{body}")>`
//!   with the organisation's `webhooks.secrets` entry, compared in constant time.
//!
//! Any of them missing or wrong, an organisation that does not exist or has no secret:
//! 401 (the same answer, so a caller learns nothing about other tenants). An unknown
//! service is 404. The body is then validated and handed over exactly like
//! `POST /api/v1/ingest/mentions` (202 after commit). The delivery id is recorded only
//! after the 202, so a delivery that failed (503) can be retried with the same id; a
//! delivery id already recorded answers 200 `{"duplicate": true}` and applies nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use warroom_actors::sources::ingest::{Origin, Records};
use warroom_actors::webhook::signature;
use warroom_engine::OrgId;

use crate::error::ApiError;
use crate::ingest::{accepted, counted, mention_records, read_body, refusal};
use crate::state::AppState;

/// Longest accepted delivery id.
const MAX_DELIVERY_ID: usize = 128;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::unauthorized(code, message)
}

/// The verified organisation and delivery id of a request, or 401.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(OrgId, String), ApiError> {
    let config = &state.runtime.config().webhooks;
    let (Some(org), Some(timestamp), Some(delivery), Some(sig)) = (
        header(headers, signature::ORG_HEADER),
        header(headers, signature::TIMESTAMP_HEADER),
        header(headers, signature::DELIVERY_HEADER),
        header(headers, signature::SIGNATURE_HEADER),
    ) else {
        return Err(unauthorized(
            "missing_signature",
            "webhooks need X-Warroom-Org, X-Warroom-Timestamp, X-Warroom-Delivery and X-Warroom-Signature",
        ));
    };
    let bad_signature =
        || unauthorized("invalid_signature", "the webhook signature does not verify");
    let timestamp: i64 = timestamp.parse().map_err(|_| bad_signature())?;
    if delivery.is_empty()
        || delivery.len() > MAX_DELIVERY_ID
        || !delivery
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(bad_signature());
    }
    let org = OrgId::parse(org).map_err(|_| bad_signature())?;
    // An organisation that does not exist and one without a secret answer alike.
    let secret = config
        .secrets
        .get(org.as_str())
        .filter(|_| state.runtime.directory().get(&org).is_some())
        .ok_or_else(bad_signature)?;
    if !signature::verify(secret.as_bytes(), timestamp, delivery, body, sig) {
        return Err(bad_signature());
    }
    let now = state.runtime.clock().now().timestamp();
    let tolerance = i64::try_from(config.timestamp_tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(unauthorized(
            "stale_timestamp",
            "X-Warroom-Timestamp is too far from the server clock; sign the delivery again",
        ));
    }
    Ok((org, delivery.to_owned()))
}

/// The answer to a delivery whose id was received before.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DuplicateDelivery {
    /// Always `true`.
    pub duplicate: bool,
    /// The delivery id (`X-Warroom-Delivery`).
    pub delivery: String,
}

/// `POST /api/v1/webhooks/{service}`.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{service}",
    tag = "webhooks",
    summary = "Mentions pushed by a source: signed (HMAC-SHA256), not authenticated",
    params(("service" = String, Path, description = "a configured webhook service")),
    request_body(content = crate::ingest::MentionBody, description = "mention records, as for /ingest/mentions", content_type = "application/json"),
    responses(
        (status = 200, description = "a delivery id received before: nothing applied again", body = DuplicateDelivery),
        (status = 202, description = "accepted", body = warroom_engine::wire::IngestAccepted),
        (status = 401, description = "bad or missing signature, or stale timestamp", body = crate::openapi::ErrorResponse),
        (status = 404, description = "unknown service or organisation", body = crate::openapi::ErrorResponse)
    ),
    security(()),
)]
pub async fn receive(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let config = &state.runtime.config().webhooks;
    if !config.services.contains(&service) {
        return Err(ApiError::not_found(
            "unknown_service",
            "no such webhook service",
        ));
    }
    let body = read_body(config.max_body_bytes, &headers, body).await?;
    let metrics = state.runtime.metrics();
    let (org, delivery) = authenticate(&state, &headers, &body).inspect_err(|_| {
        metrics
            .webhooks_unauthorized
            .fetch_add(1, Ordering::Relaxed);
    })?;
    let mut records = 0;
    let result = async {
        let mentions = mention_records(&state, &body)?;
        records = mentions.len();
        let result = state
            .runtime
            .ingestor()
            .ingest(Origin::Api, &org, Records::Mentions(mentions))
            .await
            .map_err(refusal)?;
        Ok(result)
    }
    .await;
    let result = match result {
        Ok(result) => result,
        Err(e) => return counted(&state, records, Err(e)),
    };
    // Committed: now the delivery id. Mentions are idempotent by external id, so a replay
    // that raced this one applied nothing twice either.
    let first = state
        .runtime
        .store()
        .webhooks()
        .remember_receipt(&org, &service, &delivery, state.runtime.clock().now())
        .await
        .map_err(ApiError::from_store)?;
    if !first {
        metrics.webhooks_duplicate.fetch_add(1, Ordering::Relaxed);
        return Ok((
            StatusCode::OK,
            Json(DuplicateDelivery {
                duplicate: true,
                delivery,
            }),
        )
            .into_response());
    }
    metrics.webhooks_received.fetch_add(1, Ordering::Relaxed);
    counted(&state, records, Ok(accepted(result)))
}
