//! `/api/v1/admin/data-mode`: reads and switches the global data mode (MOCK/LIVE).
//!
//! The mode is system-wide, not an organisation's, so the permission is its own
//! ([`Permission::DataMode`]: organisation admins and the platform administrator).
//! A switch goes through [`Runtime::set_data_mode`](warroom_actors::runtime::Runtime),
//! which persists it, pushes `system:data-mode-change` to every organisation's sockets and
//! tells the other nodes; every switch request is audited as `data_mode.change`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use warroom_engine::DataMode;

use crate::auth::permission::Permission;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::state::AppState;

/// Body of `GET` and of a `PUT`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
// A `PUT` body with other members is refused (422), so the schema says so.
#[serde(deny_unknown_fields)]
pub struct DataModeView {
    /// The mode now: `MOCK` or `LIVE`.
    pub mode: DataMode,
}

/// Answer of `PUT`: the mode now, the one before, and whether it changed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataModeChange {
    /// The mode now.
    pub mode: DataMode,
    /// The mode before the request.
    pub previous: DataMode,
    /// Whether the request changed it (false when it already was `mode`).
    pub changed: bool,
}

/// `GET /api/v1/admin/data-mode`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/data-mode",
    tag = "admin",
    summary = "The global data mode",
    responses(
        (status = 200, description = "the mode", body = DataModeView),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<DataModeView>, ApiError> {
    principal.require(Permission::DataMode)?;
    Ok(Json(DataModeView {
        mode: state.runtime.data_mode(),
    }))
}

/// The requested mode of a `PUT` body: 400 when it is not JSON, 422 when it names no
/// valid mode.
fn requested_mode(body: &[u8]) -> Result<DataMode, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    let invalid = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_data_mode",
            r#"the body must be {"mode": "MOCK"} or {"mode": "LIVE"}"#,
        )
    };
    let object = value.as_object().ok_or_else(invalid)?;
    if object.len() != 1 {
        return Err(invalid());
    }
    object
        .get("mode")
        .and_then(|m| m.as_str())
        .and_then(DataMode::parse)
        .ok_or_else(invalid)
}

/// `PUT /api/v1/admin/data-mode` with `{"mode": "MOCK" | "LIVE"}`. When the database
/// refuses the write nothing changes and the answer is 503.
#[utoipa::path(
    put,
    path = "/api/v1/admin/data-mode",
    tag = "admin",
    summary = "Switches the global data mode (audited; broadcast as system:data-mode-change)",
    request_body(content = DataModeView),
    responses(
        (status = 200, description = "the switch", body = DataModeChange),
        (status = 400, description = "not JSON", body = crate::openapi::ErrorResponse),
        (status = 403, description = "not an admin", body = crate::openapi::ErrorResponse),
        (status = 422, description = "invalid_data_mode", body = crate::openapi::ErrorResponse),
        (status = 503, description = "not saved; nothing changed", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> Result<Json<DataModeChange>, ApiError> {
    principal.require(Permission::DataMode)?;
    let mode = requested_mode(&body)?;
    let changed = state.runtime.set_data_mode(mode).await.map_err(|e| {
        tracing::error!(error = %e, "data mode not changed");
        ApiError::unavailable(
            "data_mode_not_saved",
            "the data mode could not be saved; nothing changed",
            1,
        )
    })?;
    // Derived from `changed` rather than read before the switch, which another request
    // could have raced: a switch that changed something came from the other mode.
    let previous = match (changed, mode) {
        (false, _) => mode,
        (true, DataMode::Mock) => DataMode::Live,
        (true, DataMode::Live) => DataMode::Mock,
    };
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "data_mode.change",
            "data_mode",
            None,
            json!({ "old": previous, "new": mode, "changed": changed }),
        ))
        .await;
    Ok(Json(DataModeChange {
        mode,
        previous,
        changed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked() {
        assert_eq!(
            requested_mode(br#"{"mode":"LIVE"}"#).unwrap(),
            DataMode::Live
        );
        assert_eq!(
            requested_mode(br#"{"mode":"mock"}"#).unwrap(),
            DataMode::Mock
        );
        for bad in [
            &br#"{"mode":"TEST"}"#[..],
            br#"{"mode":1}"#,
            br#"{}"#,
            br#"["LIVE"]"#,
            br#"{"mode":"LIVE","extra":true}"#,
        ] {
            let err = requested_mode(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        }
        assert_eq!(
            requested_mode(b"not json").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
