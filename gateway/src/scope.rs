//! Which organisation a request acts on.
//!
//! Until accounts exist (issue 5) the organisation is named by the `org` query parameter
//! or the `X-Warroom-Org` header. This extractor is the one place that decides it, so
//! authentication replaces it here: the organisation will then come from the verified
//! credential and never from a parameter a caller can change.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use warroom_engine::OrgId;

use crate::error::ApiError;
use crate::AppState;

/// The organisation a request is scoped to; guaranteed to exist.
#[derive(Debug, Clone)]
pub struct OrgScope(pub OrgId);

/// The header naming the organisation.
pub const ORG_HEADER: &str = "x-warroom-org";

impl FromRequestParts<Arc<AppState>> for OrgScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let from_query = axum::extract::Query::<OrgParam>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.org);
        let from_header = parts
            .headers
            .get(ORG_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let raw = from_query.or(from_header).ok_or_else(|| {
            ApiError::bad_request(
                "org_required",
                "name the organisation with ?org=<id> or the X-Warroom-Org header",
            )
        })?;
        let org =
            OrgId::parse(&raw).map_err(|reason| ApiError::bad_request("invalid_org", reason))?;
        if state.runtime.directory().get(&org).is_none() {
            return Err(ApiError::not_found(
                "org_not_found",
                format!("no organisation {org}"),
            ));
        }
        Ok(OrgScope(org))
    }
}

#[derive(serde::Deserialize)]
struct OrgParam {
    org: Option<String>,
}
