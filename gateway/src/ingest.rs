//! `POST /api/v1/ingest/mentions` and `/campaign-metrics`: JSON array or NDJSON.
//!
//! The whole request is read (bounded by `max_body_bytes` → 413) and validated first;
//! any invalid record rejects it with 422 listing each bad record, and nothing is
//! applied. Then it is handed over all-or-nothing: duplicates by
//! `(org, source, external_id)` are accepted and ignored, and when the operators or the
//! storage queue are saturated the answer is 503 with Retry-After and nothing is applied.
//! The 202 comes only after the records are committed to the database. Ingest needs the
//! `manager` or `admin` role (users or API keys).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http_body_util::BodyExt;
use warroom_actors::metrics::Rejection;
use warroom_actors::persist::PersistError;
use warroom_actors::sources::ingest::{IngestError, IngestRefusal, Origin, Records};
use warroom_engine::validate::{
    campaign_from_record, mention_from_record, parse_records, split_records, TimeBounds,
};
use warroom_engine::wire::{CampaignMetricRecord, IngestAccepted, MentionRecord};

use crate::error::ApiError;
use crate::extract::{CanIngest, Scoped};
use crate::state::AppState;

/// The JSON body of `POST /api/v1/ingest/mentions` and of signed webhook deliveries, as
/// the document describes it: an array of at least one record, or one record. Only its
/// schema exists: the handlers frame the body themselves
/// (`warroom_engine::validate::split_records`), which also takes NDJSON.
pub enum MentionBody {}

/// The JSON body of `POST /api/v1/ingest/campaign-metrics`, framed as [`MentionBody`].
pub enum CampaignBody {}

type Schema = utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;

/// `oneOf: [array of at least one T, T]`, referring to `T`'s named schema.
fn one_or_many<T: utoipa::ToSchema>() -> Schema {
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
    use utoipa::openapi::Ref;
    let record = Ref::from_schema_name(T::name());
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(record.clone()).min_items(Some(1)))
        .item(record)
        .into()
}

/// Registers `T`'s named schema and what it refers to.
fn register<T: utoipa::ToSchema>(schemas: &mut Vec<(String, Schema)>) {
    schemas.push((T::name().into(), T::schema()));
    T::schemas(schemas);
}

impl utoipa::PartialSchema for MentionBody {
    fn schema() -> Schema {
        one_or_many::<MentionRecord>()
    }
}

impl utoipa::ToSchema for MentionBody {
    fn schemas(schemas: &mut Vec<(String, Schema)>) {
        register::<MentionRecord>(schemas);
    }
}

impl utoipa::PartialSchema for CampaignBody {
    fn schema() -> Schema {
        one_or_many::<CampaignMetricRecord>()
    }
}

impl utoipa::ToSchema for CampaignBody {
    fn schemas(schemas: &mut Vec<(String, Schema)>) {
        register::<CampaignMetricRecord>(schemas);
    }
}

/// Reads a whole body of at most `limit` bytes (413 above).
pub(crate) async fn read_body(
    limit: usize,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(
            "body_unreadable",
            format!("could not read the body: {e}"),
        )),
    }
}

fn split<'a>(
    state: &AppState,
    body: &'a [u8],
) -> Result<Vec<&'a serde_json::value::RawValue>, ApiError> {
    let raw = split_records(body).map_err(|e| ApiError::bad_request("invalid_json", e.0))?;
    if raw.is_empty() {
        return Err(ApiError::bad_request(
            "empty_request",
            "no records in the body",
        ));
    }
    if raw.len() > state.max_records {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_records",
            format!(
                "at most {} records per request; got {}",
                state.max_records,
                raw.len()
            ),
        ));
    }
    Ok(raw)
}

/// The answer to a refused hand-over.
pub(crate) fn refusal(e: IngestRefusal) -> ApiError {
    match e {
        IngestRefusal::UnknownOrg(org) => {
            ApiError::not_found("org_not_found", format!("no organisation {org}"))
        }
        IngestRefusal::Unavailable(IngestError::Saturated { .. }) => {
            ApiError::unavailable("ingest_saturated", e.to_string(), 1)
        }
        IngestRefusal::Unavailable(IngestError::Stopped)
        | IngestRefusal::Storage(PersistError::Stopped) => {
            ApiError::unavailable("shutting_down", "the engine is shutting down", 5)
        }
        IngestRefusal::Storage(PersistError::Saturated { .. }) => {
            ApiError::unavailable("storage_saturated", e.to_string(), 2)
        }
        IngestRefusal::CommitTimeout(_) => {
            ApiError::unavailable("commit_timeout", e.to_string(), 2)
        }
        // The API ingests without a data mode; only source actors can meet this.
        IngestRefusal::OtherMode { .. } => {
            ApiError::new(StatusCode::CONFLICT, "data_mode_mismatch", e.to_string())
        }
        IngestRefusal::Rejected(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_rejected",
            "the database refused this batch; nothing from it was acknowledged",
        ),
        IngestRefusal::Scoring(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "scoring_failed",
            "scoring this batch failed; nothing from it was acknowledged",
        ),
    }
}

/// 202 with the ingest result.
pub(crate) fn accepted(result: IngestAccepted) -> Response {
    (StatusCode::ACCEPTED, Json(result)).into_response()
}

/// Reads, frames, parses and validates a whole request; returns its records only if
/// every one of them is valid.
async fn validated<R: serde::de::DeserializeOwned, T>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    convert: impl FnMut(usize, R, &mut Vec<warroom_engine::ValidationIssue>) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let body = read_body(state.max_body_bytes, headers, body).await?;
    validated_bytes(state, &body, convert)
}

/// Frames, parses and validates an already read body; returns its records only if every
/// one of them is valid.
pub(crate) fn validated_bytes<R: serde::de::DeserializeOwned, T>(
    state: &AppState,
    body: &[u8],
    mut convert: impl FnMut(usize, R, &mut Vec<warroom_engine::ValidationIssue>) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let raw = split(state, body)?;
    let records: Vec<R> = parse_records(&raw).map_err(ApiError::invalid_records)?;
    let mut issues = Vec::new();
    let valid: Vec<T> = records
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| convert(i, r, &mut issues))
        .collect();
    if issues.is_empty() {
        Ok(valid)
    } else {
        Err(ApiError::invalid_records(issues))
    }
}

/// Counts an ingest answer in the engine metrics (`/metrics`).
pub(crate) fn counted(
    state: &AppState,
    records: usize,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let metrics = state.runtime.metrics();
    match &result {
        Ok(_) => metrics.accept(records),
        Err(e) if e.status == StatusCode::INTERNAL_SERVER_ERROR => {
            metrics.reject(Rejection::Failed)
        }
        Err(e) if e.status.is_server_error() => metrics.reject(Rejection::Unavailable),
        Err(_) => metrics.reject(Rejection::Invalid),
    }
    result
}

/// 422 when a request's records fall on more distinct UTC days than
/// `server.max_days_per_request`: each day is an archive partition per table, so one
/// request cannot fan out into many files (split older history by week instead).
fn within_day_cap(
    state: &AppState,
    days: impl Iterator<Item = chrono::NaiveDate>,
) -> Result<(), ApiError> {
    let cap = state.runtime.config().server.max_days_per_request;
    let distinct: std::collections::BTreeSet<_> = days.collect();
    if distinct.len() > cap {
        let (first, last) = (distinct.first(), distinct.last());
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_days",
            format!(
                "the records fall on {} distinct days ({} to {}); at most {cap} per request \
                 (server.max_days_per_request): split the request by week",
                distinct.len(),
                first.map(ToString::to_string).unwrap_or_default(),
                last.map(ToString::to_string).unwrap_or_default(),
            ),
        ));
    }
    Ok(())
}

/// Validates mention records against the clock, the configured time bounds and the
/// per-request day cap.
pub(crate) fn mention_records(
    state: &AppState,
    body: &[u8],
) -> Result<Vec<warroom_engine::Mention>, ApiError> {
    let now = state.runtime.clock().now();
    let bounds = TimeBounds::from_config(&state.runtime.config().engine);
    let mentions = validated_bytes(state, body, |i, r: MentionRecord, issues| {
        mention_from_record(i, r, now, bounds, issues)
    })?;
    within_day_cap(state, mentions.iter().map(|m| m.event_time.date_naive()))?;
    Ok(mentions)
}

/// `POST /api/v1/ingest/mentions`.
#[utoipa::path(
    post,
    path = "/api/v1/ingest/mentions",
    tag = "ingest",
    summary = "Ingests mentions: a JSON array, one object, or NDJSON",
    request_body(content(
        (MentionBody = "application/json"),
        (MentionBody = "application/x-ndjson")
    ), description = "mention records (docs/api.md, Ingest records): one, an array, or NDJSON (the same records, one JSON object per line)"),
    responses(
        (status = 202, description = "what was applied", body = warroom_engine::wire::IngestAccepted),
        (status = 400, description = "unreadable body", body = crate::openapi::ErrorResponse),
        (status = 403, description = "role lacks ingest", body = crate::openapi::ErrorResponse),
        (status = 413, description = "body or record count over the limit", body = crate::openapi::ErrorResponse),
        (status = 422, description = "invalid records, each listed in issues; or records on more than server.max_days_per_request days (too_many_days)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "ingest saturated; Retry-After", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn mentions(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): Scoped<CanIngest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut records = 0;
    let result = async {
        let body = read_body(state.max_body_bytes, &headers, body).await?;
        let mentions = mention_records(&state, &body)?;
        records = mentions.len();
        let result = state
            .runtime
            .ingestor()
            .ingest(Origin::Api, &org, Records::Mentions(mentions))
            .await
            .map_err(refusal)?;
        Ok(accepted(result))
    }
    .await;
    counted(&state, records, result)
}

/// `POST /api/v1/ingest/campaign-metrics`.
#[utoipa::path(
    post,
    path = "/api/v1/ingest/campaign-metrics",
    tag = "ingest",
    summary = "Ingests campaign reports: a JSON array or NDJSON",
    request_body(content(
        (CampaignBody = "application/json"),
        (CampaignBody = "application/x-ndjson")
    ), description = "campaign reports (docs/api.md, Ingest records): one, an array, or NDJSON (the same records, one JSON object per line)"),
    responses(
        (status = 202, description = "what was applied", body = warroom_engine::wire::IngestAccepted),
        (status = 400, description = "unreadable body", body = crate::openapi::ErrorResponse),
        (status = 403, description = "role lacks ingest", body = crate::openapi::ErrorResponse),
        (status = 413, description = "body or record count over the limit", body = crate::openapi::ErrorResponse),
        (status = 422, description = "invalid records, each listed in issues; or records on more than server.max_days_per_request days (too_many_days)", body = crate::openapi::ErrorResponse),
        (status = 503, description = "ingest saturated; Retry-After", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn campaign_metrics(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): Scoped<CanIngest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let now = state.runtime.clock().now();
    let bounds = TimeBounds::from_config(&state.runtime.config().engine);
    let mut records = 0;
    let result = async {
        let metrics = validated(
            &state,
            &headers,
            body,
            |i, r: CampaignMetricRecord, issues| campaign_from_record(i, r, now, bounds, issues),
        )
        .await?;
        within_day_cap(&state, metrics.iter().map(|m| m.date))?;
        records = metrics.len();
        let result = state
            .runtime
            .ingestor()
            .ingest(Origin::Api, &org, Records::Campaigns(metrics))
            .await
            .map_err(refusal)?;
        Ok(accepted(result))
    }
    .await;
    counted(&state, records, result)
}
