//! REST read and action endpoints. Every read asks the organisation actor (which holds
//! the materialised state) and never recomputes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use warroom_actors::push::org::{AlertAction, AlertError, AlertQuery, MentionQuery, OrgMsg};
use warroom_engine::{
    CrisisStatus, HealthStatus, KpiSnapshot, Organization, Platform, Role, Window,
};

use crate::auth::permission::Permission;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{parse_id, ApiQuery, CanRespond, OrgScope, RequestMeta, Scoped};
use crate::state::AppState;

/// `?window=` (default 24h).
#[derive(Debug, Deserialize)]
pub struct WindowParam {
    window: Option<String>,
}

impl WindowParam {
    fn window(&self) -> Result<Window, ApiError> {
        match self.window.as_deref() {
            None => Ok(Window::H24),
            Some(name) => Window::parse(name).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_window",
                    format!("window must be one of 15m, 1h, 24h, 7d; got {name:?}"),
                )
            }),
        }
    }
}

/// `GET /api/v1/health`: 200 when ok or degraded, 503 when down. Public; each part's
/// `detail` (paths, hosts, counts) is shown only to an organisation or platform
/// administrator's credential.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "system",
    summary = "Health of the engine and its parts (details for administrators)",
    responses(
        (status = 200, description = "ok or degraded", body = warroom_actors::status::HealthReport),
        (status = 503, description = "down", body = warroom_actors::status::HealthReport)
    ),
    security((), ("bearer" = [])),
)]
pub async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let report = state.runtime.health();
    // An invalid or missing credential sees the public report, never an error: load
    // balancers probe this route without one.
    let admin = state
        .auth
        .authenticate_headers(&headers)
        .await
        .ok()
        .flatten()
        .is_some_and(|p| p.role >= Role::Admin);
    let report = if admin { report } else { report.public() };
    let status = if report.status == HealthStatus::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(report)).into_response()
}

/// `GET /api/v1/orgs`: the organisations served (platform administrator).
#[utoipa::path(
    get,
    path = "/api/v1/orgs",
    tag = "admin",
    summary = "Organisations served (platform administrator)",
    responses(
        (status = 200, description = "the organisations", body = Vec<Organization>),
        (status = 403, description = "not the platform administrator", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn orgs(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Vec<Organization>>, ApiError> {
    principal.require(Permission::ManageOrganizations)?;
    Ok(Json(
        state
            .runtime
            .directory()
            .iter()
            .map(|e| e.org.clone())
            .collect(),
    ))
}

/// `GET /api/v1/metrics/dashboard?window=`: the seed's dashboard KPIs plus live figures.
#[utoipa::path(
    get,
    path = "/api/v1/metrics/dashboard",
    tag = "dashboard",
    summary = "The seed's dashboard KPIs plus the window's live figures",
    params(("window" = Option<warroom_engine::Window>, Query, description = "15m, 1h, 24h (default) or 7d")),
    responses(
        (status = 200, description = "the dashboard", body = warroom_actors::push::org::DashboardView),
        (status = 400, description = "invalid window", body = crate::openapi::ErrorResponse),
        (status = 403, description = "role lacks read", body = crate::openapi::ErrorResponse),
        (status = 404, description = "organisation not found", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<WindowParam>,
) -> Result<Response, ApiError> {
    let window = param.window()?;
    // The current view is published by the organisation actor; only a stale one costs a
    // round trip through its mailbox.
    let published = state
        .runtime
        .directory()
        .get(&org)
        .and_then(|entry| entry.dashboard.get(window));
    if let Some(bytes) = published {
        return Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response());
    }
    let bytes = state
        .runtime
        .directory()
        .call(
            &org,
            |reply| OrgMsg::Dashboard(window, reply),
            state.call_timeout,
        )
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

async fn kpis(
    state: &AppState,
    org: &warroom_engine::OrgId,
    window: Window,
) -> Result<KpiSnapshot, ApiError> {
    Ok(state
        .runtime
        .directory()
        .call(org, |reply| OrgMsg::Kpis(window, reply), state.call_timeout)
        .await?)
}

/// `GET /api/v1/mentions`: recent mentions, newest first, filtered and paginated.
#[utoipa::path(
    get,
    path = "/api/v1/mentions",
    tag = "mentions",
    summary = "Recent mentions, newest first, filtered and paginated",
    params(("source" = Option<warroom_engine::Source>, Query, description = "twitter, facebook, …"), ("sentiment" = Option<warroom_engine::SentimentClass>, Query, description = "positive, neutral or negative"), ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, on event time"), ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, on event time"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1-500, default 50"), ("cursor" = Option<u64>, Query, maximum = 9_223_372_036_854_775_807_u64, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "a page of mentions with next_cursor", body = warroom_actors::push::org::MentionPage),
        (status = 400, description = "invalid filter, range or limit", body = crate::openapi::ErrorResponse),
        (status = 404, description = "organisation not found", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn mentions(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(query): ApiQuery<MentionQuery>,
) -> Result<Response, ApiError> {
    if query
        .limit
        .is_some_and(|l| l == 0 || l > warroom_actors::push::org::MAX_PAGE)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!(
                "limit must be between 1 and {}",
                warroom_actors::push::org::MAX_PAGE
            ),
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
    // Cursors are mention ids, which the store keeps as signed 64-bit integers.
    if query.cursor.is_some_and(|c| i64::try_from(c).is_err()) {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "cursor is the next_cursor of a previous page",
        ));
    }
    let page = state
        .runtime
        .directory()
        .call(
            &org,
            |reply| OrgMsg::Mentions(query, reply),
            state.call_timeout,
        )
        .await?;
    Ok(Json(page).into_response())
}

/// The body of `GET /api/v1/mentions/sentiment`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SentimentBreakdown {
    window: Window,
    as_of: chrono::DateTime<chrono::Utc>,
    mention_count: u64,
    avg_sentiment: Option<f64>,
    positive_share: f64,
    neutral_share: f64,
    negative_share: f64,
    strongly_negative: u64,
    volume: Vec<warroom_engine::VolumePoint>,
    volume_resolution_secs: u32,
    by_source: Vec<warroom_engine::SourceShare>,
}

/// `GET /api/v1/mentions/sentiment?window=`.
#[utoipa::path(
    get,
    path = "/api/v1/mentions/sentiment",
    tag = "mentions",
    summary = "Sentiment shares, volume series and sources of a window",
    params(("window" = Option<warroom_engine::Window>, Query, description = "15m, 1h, 24h (default) or 7d")),
    responses(
        (status = 200, description = "the breakdown", body = SentimentBreakdown),
        (status = 400, description = "invalid window", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn mentions_sentiment(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<WindowParam>,
) -> Result<Json<SentimentBreakdown>, ApiError> {
    let s = kpis(&state, &org, param.window()?).await?;
    Ok(Json(SentimentBreakdown {
        window: s.window,
        as_of: s.as_of,
        mention_count: s.mention_count,
        avg_sentiment: s.avg_sentiment,
        positive_share: s.positive_share,
        neutral_share: s.neutral_share,
        negative_share: s.negative_share,
        strongly_negative: s.strongly_negative,
        volume: s.volume,
        volume_resolution_secs: s.volume_resolution_secs,
        by_source: s.by_source,
    }))
}

/// A top list of a window.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopList<T> {
    window: Window,
    as_of: chrono::DateTime<chrono::Utc>,
    mention_count: u64,
    items: Vec<T>,
}

async fn top_list<T>(
    state: &AppState,
    org: &warroom_engine::OrgId,
    param: &WindowParam,
    items: impl FnOnce(KpiSnapshot) -> Vec<T>,
) -> Result<Json<TopList<T>>, ApiError> {
    let s = kpis(state, org, param.window()?).await?;
    Ok(Json(TopList {
        window: s.window,
        as_of: s.as_of,
        mention_count: s.mention_count,
        items: items(s),
    }))
}

/// `GET /api/v1/mentions/geo?window=`: top countries.
#[utoipa::path(
    get,
    path = "/api/v1/mentions/geo",
    tag = "mentions",
    summary = "Top countries of a window (heavy hitters)",
    params(("window" = Option<warroom_engine::Window>, Query, description = "15m, 1h, 24h (default) or 7d")),
    responses(
        (status = 200, description = "top countries", body = TopList<warroom_engine::CountryCount>),
        (status = 400, description = "invalid window", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn mentions_geo(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<WindowParam>,
) -> Result<Json<TopList<warroom_engine::CountryCount>>, ApiError> {
    top_list(&state, &org, &param, |s| s.top_countries).await
}

/// `GET /api/v1/mentions/influencers?window=`: top authors by reach.
#[utoipa::path(
    get,
    path = "/api/v1/mentions/influencers",
    tag = "mentions",
    summary = "Top authors by reach of a window",
    params(("window" = Option<warroom_engine::Window>, Query, description = "15m, 1h, 24h (default) or 7d")),
    responses(
        (status = 200, description = "top authors", body = TopList<warroom_engine::Influencer>),
        (status = 400, description = "invalid window", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn mentions_influencers(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<WindowParam>,
) -> Result<Json<TopList<warroom_engine::Influencer>>, ApiError> {
    top_list(&state, &org, &param, |s| s.top_influencers).await
}

/// `GET /api/v1/mentions/trending?window=`: heavy-hitter hashtags.
#[utoipa::path(
    get,
    path = "/api/v1/mentions/trending",
    tag = "mentions",
    summary = "Trending hashtags of a window (heavy hitters)",
    params(("window" = Option<warroom_engine::Window>, Query, description = "15m, 1h, 24h (default) or 7d")),
    responses(
        (status = 200, description = "trending hashtags", body = TopList<warroom_engine::TrendingTerm>),
        (status = 400, description = "invalid window", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn mentions_trending(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<WindowParam>,
) -> Result<Json<TopList<warroom_engine::TrendingTerm>>, ApiError> {
    top_list(&state, &org, &param, |s| s.trending).await
}

/// `?platform=`.
#[derive(Debug, Deserialize)]
pub struct PlatformParam {
    platform: Option<Platform>,
}

/// `GET /api/v1/campaigns?platform=`: aggregates per campaign.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns",
    tag = "campaigns",
    summary = "Aggregates per campaign",
    params(("platform" = Option<warroom_engine::Platform>, Query, description = "meta or google_ads")),
    responses(
        (status = 200, description = "the campaigns", body = Vec<warroom_engine::CampaignAggregate>),
        (status = 400, description = "invalid platform", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn campaigns(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<PlatformParam>,
) -> Result<Json<Vec<warroom_engine::CampaignAggregate>>, ApiError> {
    let mut list = state
        .runtime
        .directory()
        .call(&org, OrgMsg::Campaigns, state.call_timeout)
        .await?;
    if let Some(platform) = param.platform {
        list.retain(|c| c.platform == platform);
    }
    Ok(Json(list))
}

/// `GET /api/v1/campaigns/{id}/performance?platform=`: one campaign with its daily series.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}/performance",
    tag = "campaigns",
    summary = "One campaign with its daily series",
    params(("id" = String, Path, description = "campaign id"), ("platform" = Option<warroom_engine::Platform>, Query, description = "meta or google_ads")),
    responses(
        (status = 200, description = "the campaign", body = warroom_engine::CampaignAggregate),
        (status = 400, description = "invalid query", body = crate::openapi::ErrorResponse),
        (status = 404, description = "campaign_not_found", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn campaign_performance(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    Path(id): Path<String>,
    ApiQuery(param): ApiQuery<PlatformParam>,
) -> Result<Json<warroom_engine::CampaignAggregate>, ApiError> {
    let list = state
        .runtime
        .directory()
        .call(&org, OrgMsg::Campaigns, state.call_timeout)
        .await?;
    list.into_iter()
        .find(|c| c.campaign_id == id && param.platform.is_none_or(|p| p == c.platform))
        .map(Json)
        .ok_or_else(|| ApiError::not_found("campaign_not_found", format!("no campaign {id}")))
}

/// `?status=`.
#[derive(Debug, Deserialize)]
pub struct StatusParam {
    status: Option<CrisisStatus>,
}

/// `GET /api/v1/alerts?status=`: crises, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    summary = "Crises, newest first",
    params(("status" = Option<warroom_engine::CrisisStatus>, Query, description = "active, acknowledged or resolved")),
    responses(
        (status = 200, description = "the crises", body = Vec<warroom_engine::CrisisEvent>),
        (status = 400, description = "invalid status", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn alerts(
    State(state): State<Arc<AppState>>,
    Scoped(org, ..): OrgScope,
    ApiQuery(param): ApiQuery<StatusParam>,
) -> Result<Json<Vec<warroom_engine::CrisisEvent>>, ApiError> {
    let query = AlertQuery {
        status: param.status,
    };
    Ok(Json(
        state
            .runtime
            .directory()
            .call(
                &org,
                |reply| OrgMsg::Alerts(query, reply),
                state.call_timeout,
            )
            .await?,
    ))
}

async fn alert_action(
    state: &AppState,
    org: &warroom_engine::OrgId,
    id: &str,
    action: AlertAction,
) -> Result<Json<warroom_engine::CrisisEvent>, ApiError> {
    let id = parse_id(id, "alert_not_found", "alert")?;
    let result = state
        .runtime
        .directory()
        .call(
            org,
            |reply| OrgMsg::AlertAction(id, action, reply),
            state.call_timeout,
        )
        .await?;
    result.map(Json).map_err(|e| match e {
        AlertError::NotFound(_) => ApiError::not_found("alert_not_found", e.to_string()),
        AlertError::Conflict { .. } => {
            ApiError::new(StatusCode::CONFLICT, "alert_conflict", e.to_string())
        }
    })
}

async fn audited_alert_action(
    state: &AppState,
    scope: Scoped<CanRespond>,
    meta: RequestMeta,
    id: &str,
    action: AlertAction,
) -> Result<Json<warroom_engine::CrisisEvent>, ApiError> {
    let Scoped(org, principal, _) = scope;
    let crisis = alert_action(state, &org, id, action).await?;
    let name = match action {
        AlertAction::Acknowledge => "alert.acknowledge",
        AlertAction::Resolve => "alert.resolve",
    };
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            name,
            "alert",
            Some(crisis.0.id.to_string()),
            serde_json::json!({ "status": crisis.0.status, "kind": crisis.0.kind }),
        ))
        .await;
    Ok(crisis)
}

/// `POST /api/v1/alerts/{id}/acknowledge` (user, manager, admin).
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    summary = "Acknowledges an active crisis (idempotent; audited)",
    params(("id" = String, Path, description = "alert id")),
    responses(
        (status = 200, description = "the crisis", body = warroom_engine::CrisisEvent),
        (status = 403, description = "role lacks crisis response", body = crate::openapi::ErrorResponse),
        (status = 404, description = "alert_not_found", body = crate::openapi::ErrorResponse),
        (status = 409, description = "already resolved", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn acknowledge(
    State(state): State<Arc<AppState>>,
    scope: Scoped<CanRespond>,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<warroom_engine::CrisisEvent>, ApiError> {
    audited_alert_action(&state, scope, meta, &id, AlertAction::Acknowledge).await
}

/// `POST /api/v1/alerts/{id}/resolve` (user, manager, admin).
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/resolve",
    tag = "alerts",
    summary = "Resolves a crisis (audited; pushes crisis:resolved)",
    params(("id" = String, Path, description = "alert id")),
    responses(
        (status = 200, description = "the crisis", body = warroom_engine::CrisisEvent),
        (status = 403, description = "role lacks crisis response", body = crate::openapi::ErrorResponse),
        (status = 404, description = "alert_not_found", body = crate::openapi::ErrorResponse),
        (status = 409, description = "already resolved", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn resolve(
    State(state): State<Arc<AppState>>,
    scope: Scoped<CanRespond>,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<warroom_engine::CrisisEvent>, ApiError> {
    audited_alert_action(&state, scope, meta, &id, AlertAction::Resolve).await
}
